// The built app inside the plugin: dist/, package.json and the production dependencies. Those are
// copied from the checkout's node_modules, choosing packages by package-lock.json (every entry
// not marked "dev"), which is exactly what `npm ci --omit=dev` would install, without a network
// round trip or an npm cache outside the temp dir.
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
}

// Files Node never loads at run time: type declarations, TypeScript sources, source maps and
// read-me style documents. They are about half the bytes of the production dependencies.
// Licences stay: the plugin is redistributed through a registry.
const NOT_AT_RUNTIME = /(\.d\.[cm]?ts|\.ts|\.map|\.md|\.markdown)$/i;
const LICENCE = /^(licen[cs]e|copying|notice)/i;

const NATIVE_FILES = [
  'native/router-addon/build/Release/slim_router_addon.node',
  'native/shim/build/glibc/libslimsocket.so',
  'native/shim/build/musl/libslimsocket.so',
  // Secure mode: the loader (static) and the objects it loads from its own directory.
  'kernel-module/build/slim-loader',
  'kernel-module/build/slim_cgroup.bpf.o',
];
/** Shipped when built (kernel-module/lsm/ exists): the BPF LSM half of secure mode. */
const OPTIONAL_NATIVE_FILES = ['kernel-module/build/slim_lsm.bpf.o'];

export function copyApp(repoRoot: string, appDir: string): { packages: number } {
  const dist = join(repoRoot, 'dist');
  if (!existsSync(join(dist, 'driver', 'cli.js'))) throw new Error(`${dist} has no build: run "npm run build" first`);
  mkdirSync(appDir, { recursive: true });
  cpSync(dist, join(appDir, 'dist'), { recursive: true });
  cpSync(join(repoRoot, 'package.json'), join(appDir, 'package.json'));
  // Native parts at the same paths as in the checkout: the router's addon (found from the app
  // root) and the shim builds the router installs into the run directory.
  for (const file of [...NATIVE_FILES, ...OPTIONAL_NATIVE_FILES]) {
    const src = join(repoRoot, file);
    if (!existsSync(src) && OPTIONAL_NATIVE_FILES.includes(file)) continue;
    if (!existsSync(src)) throw new Error(`${src} is missing: run "npm run build" first`);
    mkdirSync(dirname(join(appDir, file)), { recursive: true });
    cpSync(src, join(appDir, file));
  }
  return { packages: copyProductionModules(repoRoot, appDir) };
}

function copyProductionModules(repoRoot: string, appDir: string): number {
  const lockFile = join(repoRoot, 'package-lock.json');
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { lockfileVersion?: number; packages?: Record<string, LockEntry> };
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) throw new Error(`${lockFile}: needs lockfileVersion 2 or 3 (npm 7 or later)`);
  let copied = 0;
  for (const [key, entry] of Object.entries(lock.packages)) {
    // "" is the project itself; nested packages ("node_modules/a/node_modules/b") are entries too.
    if (!key.startsWith('node_modules/') || entry.dev) continue;
    if (entry.link) throw new Error(`${key} is a linked package (workspace): not supported in the plugin build`);
    const src = join(repoRoot, key);
    const installed = readVersion(src);
    if (installed === undefined && entry.optional) continue; // not for this platform, or its build was skipped
    if (installed !== entry.version) {
      throw new Error(`${key} is ${installed ?? 'missing'} but package-lock.json wants ${entry.version}: run "npm ci" first`);
    }
    const nested = join(src, 'node_modules');
    cpSync(src, join(appDir, key), {
      recursive: true,
      // Nested dependencies are lock entries of their own (and may be dev-only).
      filter: (p) => p !== nested && (LICENCE.test(basename(p)) || !NOT_AT_RUNTIME.test(basename(p))),
    });
    copied++;
  }
  return copied;
}

function readVersion(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}
