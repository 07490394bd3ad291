// Builds (or finds cached) every default test image before the host-tier tests start, so no
// test's timeout pays for a cold debootstrap. Usage: npx tsx test/harness/build-images.ts [key…]
import { buildImage, DEFAULT_IMAGES, imageCacheDir } from './images.js';

const keys = process.argv.slice(2);
for (const key of keys.length > 0 ? keys : DEFAULT_IMAGES) {
  const t0 = Date.now();
  const img = await buildImage(key);
  console.log(`${img.recipe.name}: ${img.tarball} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
console.log(`image cache: ${imageCacheDir()}`);
