// Builds (or finds cached) every image the host-tier tests use (TEST_IMAGES) before they start, so
// no test's timeout pays for a cold debootstrap. Usage: npx tsx test/harness/build-images.ts [key…]
import { buildImage, imageCacheDir, TEST_IMAGES } from './images.js';

const keys = process.argv.slice(2);
for (const key of keys.length > 0 ? keys : TEST_IMAGES) {
  const t0 = Date.now();
  const img = await buildImage(key);
  console.log(`${img.recipe.name}: ${img.tarball} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
console.log(`image cache: ${imageCacheDir()}`);
