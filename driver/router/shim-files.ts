// The opt-in contract: the run directory holds the shim builds next to router.sock, so a container
// needs only `-v /run/slim:/slim -e LD_PRELOAD=/slim/libslimsocket.so` (musl images:
// /slim/musl/libslimsocket.so). Files are replaced by rename: running containers keep the copy
// they mapped.
import { existsSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILDS = [
  { from: join('native', 'shim', 'build', 'glibc', 'libslimsocket.so'), to: 'libslimsocket.so' },
  { from: join('native', 'shim', 'build', 'musl', 'libslimsocket.so'), to: join('musl', 'libslimsocket.so') },
];

export function appRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** Copies the shim builds into runDir; returns the ones that were missing from the build. */
export async function installShim(runDir: string): Promise<string[]> {
  const root = appRoot();
  const missing: string[] = [];
  for (const { from, to } of BUILDS) {
    const src = join(root, from);
    if (!existsSync(src)) {
      missing.push(src);
      continue;
    }
    const dst = join(runDir, to);
    await fs.mkdir(dirname(dst), { recursive: true, mode: 0o755 });
    const tmp = `${dst}.${process.pid}.tmp`;
    await fs.copyFile(src, tmp);
    await fs.chmod(tmp, 0o755);
    await fs.rename(tmp, dst);
  }
  return missing;
}
