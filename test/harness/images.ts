// Test images, built offline (no registry is reachable): a rootfs tarball per recipe, cached by a
// hash of the recipe so later runs only `docker import` it. Add an image by adding a recipe.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exec, isAlive, sleep } from './exec.js';
import type { Host } from './host.js';
import { mountsUnder } from './objects.js';
import { unmountUnderSync } from './teardown.js';

export interface ImageRecipe {
  /** image reference inside each test dockerd */
  name: string;
  base: 'busybox' | 'debian';
  /** Debian packages on top of minbase (base "debian" only) */
  packages?: string[];
  cmd: string[];
  env?: string[];
  /**
   * Small files written into the rootfs after the packages are installed (absolute path → content),
   * e.g. a config or a start script; a file whose content starts with "#!" is made executable.
   */
  files?: Record<string, string>;
}

export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_TOOLS = ['socat', 'iproute2', 'iputils-ping', 'netcat-openbsd', 'procps', 'ca-certificates', 'dnsutils'];
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// Bump to rebuild every cached tarball after changing how rootfs trees are made.
const RECIPE_VERSION = 1;

// nginx for the apps image: two workers as www-data serving one small static page, the peer's
// address first on every access-log line (tests read who connected from it).
const NGINX_CONF = `user www-data;
worker_processes 2;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  log_format peer '$remote_addr $status $request';
  access_log /tmp/nginx-access.log peer;
  keepalive_requests 1000000;
  server {
    listen 80 default_server;
    root /srv/www;
    location / { index index.html; }
  }
}
`;

// PostgreSQL 15 for the apps image: a fresh cluster in a temporary directory at every start,
// listening everywhere, trusting every address (a test network only), in the foreground as postgres.
const POSTGRES_START = `#!/bin/sh
set -eu
bin=/usr/lib/postgresql/15/bin
data=$(mktemp -d /tmp/pgdata.XXXXXX)
chown postgres:postgres "$data"
setpriv --reuid=postgres --regid=postgres --init-groups "$bin/initdb" -D "$data" --auth=trust --username=postgres --encoding=UTF8 --locale=C.UTF-8 >/tmp/initdb.log
echo 'host all all 0.0.0.0/0 trust' >>"$data/pg_hba.conf"
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$data" \\
  -c listen_addresses='*' -c unix_socket_directories=/tmp -c max_connections=200
`;

export const IMAGES = {
  busybox: { name: 'slim-test/busybox:latest', base: 'busybox', cmd: ['sh'] },
  debian: { name: 'slim-test/debian:latest', base: 'debian', packages: DEBIAN_TOOLS, cmd: ['bash'] },
  // bench/bench.ts: iperf3 (throughput), sockperf (TCP request/response latency), memcached and
  // libmemcached-tools (memcaslap), ethtool (offloads). Its connrate tool is built by the bench and copied in.
  bench: { name: 'slim-test/bench:latest', base: 'debian', packages: [...DEBIAN_TOOLS, 'iperf3', 'sockperf', 'memcached', 'libmemcached-tools', 'ethtool'], cmd: ['bash'] },
  // test/host/apps.test.ts: real servers and their real load generators in one image (one
  // debootstrap, one import per host). The servers' foreground commands are in APP_COMMANDS.
  apps: {
    name: 'slim-test/apps:latest',
    base: 'debian',
    packages: [...DEBIAN_TOOLS, 'memcached', 'libmemcached-tools', 'redis-server', 'redis-tools', 'nginx-light', 'wrk', 'postgresql-15', 'postgresql-client-15'],
    cmd: ['bash'],
    files: {
      '/etc/slim-test/nginx.conf': NGINX_CONF,
      '/srv/www/index.html': '<!doctype html><title>slim</title><p>hello from nginx over Slim</p>\n',
      '/usr/local/bin/slim-postgres': POSTGRES_START,
    },
  },
} satisfies Record<string, ImageRecipe>;

export type ImageKey = keyof typeof IMAGES;
/** What every host gets from loadImages() without names. */
export const DEFAULT_IMAGES: ImageKey[] = ['busybox', 'debian'];
/** What build-images.ts builds before the host tier starts: the defaults and the images a test loads by name. */
export const TEST_IMAGES: ImageKey[] = [...DEFAULT_IMAGES, 'apps'];

/** The apps image's servers, each in the foreground as its Debian package's user (or nobody). */
export const APP_COMMANDS = {
  memcached: ['memcached', '-u', 'nobody', '-p', '11211', '-U', '0', '-t', '4', '-c', '4096', '-m', '256'],
  redis: ['setpriv', '--reuid=redis', '--regid=redis', '--init-groups', 'redis-server',
    '--protected-mode', 'no', '--bind', '0.0.0.0', '--port', '6379', '--save', '', '--appendonly', 'no', '--dir', '/tmp'],
  nginx: ['nginx', '-c', '/etc/slim-test/nginx.conf', '-g', 'daemon off;'],
  postgres: ['/usr/local/bin/slim-postgres'],
} as const;

export function imageCacheDir(): string {
  return process.env.SLIM_TEST_IMAGE_CACHE ?? '/var/cache/slim-test-images';
}

function recipeOf(keyOrName: string): [string, ImageRecipe] {
  const byKey = (IMAGES as Record<string, ImageRecipe>)[keyOrName];
  if (byKey) return [keyOrName, byKey];
  const found = Object.entries(IMAGES as Record<string, ImageRecipe>).find(([, r]) => r.name === keyOrName || r.name === `${keyOrName}:latest`);
  if (!found) throw new Error(`unknown test image ${keyOrName}; known: ${Object.keys(IMAGES).join(', ')}`);
  return found;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function recipeHash(r: ImageRecipe): string {
  const inputs: unknown[] = [RECIPE_VERSION, r];
  if (r.base === 'busybox') inputs.push(sha256(readFileSync('/bin/busybox')));
  if (r.base === 'debian') inputs.push(DEBIAN_SUITE);
  return sha256(JSON.stringify(inputs)).slice(0, 12);
}

/** The Debian mirror this machine's apt uses (one-line and deb822 source formats). */
export function debianMirror(): string {
  if (process.env.SLIM_TEST_DEBIAN_MIRROR) return process.env.SLIM_TEST_DEBIAN_MIRROR;
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) if (/\.(list|sources)$/.test(f)) files.push(join('/etc/apt/sources.list.d', f));
  } catch {
    // no drop-in directory
  }
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m && m[2] === DEBIAN_SUITE) return m[1]!;
    }
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (k: string): string[] => new RegExp(`^${k}:\\s*(.*)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      if (field('Types').includes('deb') && field('Suites').includes(DEBIAN_SUITE) && field('URIs')[0]) return field('URIs')[0]!;
    }
  }
  throw new Error(`no apt source for Debian ${DEBIAN_SUITE} found; set SLIM_TEST_DEBIAN_MIRROR`);
}

async function requireTool(path: string, pkg: string): Promise<void> {
  if (!existsSync(path)) throw new Error(`${path} is missing: install the Debian package ${pkg} (see test/harness/README.md)`);
}

function writeFiles(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    if (!path.startsWith('/') || path.split('/').includes('..')) throw new Error(`image file ${path}: must be an absolute path without ".."`);
    const p = join(root, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    chmodSync(p, content.startsWith('#!') ? 0o755 : 0o644);
  }
}

function busyboxRootfs(root: string): void {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'tmp', 'var/tmp']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  chmodSync(join(root, 'var/tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

async function busyboxApplets(root: string): Promise<void> {
  // Links at each applet's usual place (bin/sh, sbin/ip, usr/bin/nc…), like `busybox --install -s`
  // but without running anything chrooted.
  const { stdout } = await exec('/bin/busybox', ['--list-full']);
  for (const rel of stdout.split('\n').filter(Boolean)) {
    const p = join(root, rel);
    if (existsSync(p)) continue;
    mkdirSync(dirname(p), { recursive: true });
    symlinkSync('/bin/busybox', p);
  }
}

async function debianRootfs(root: string, r: ImageRecipe, log: string): Promise<void> {
  await requireTool('/usr/sbin/debootstrap', 'debootstrap');
  const args = ['--variant=minbase'];
  if (r.packages?.length) args.push(`--include=${r.packages.join(',')}`);
  args.push(DEBIAN_SUITE, root, debianMirror());
  const res = await exec('/usr/sbin/debootstrap', args, { timeoutMs: 30 * 60_000, allowFail: true });
  writeFileSync(log, `${res.stdout}\n${res.stderr}`);
  if (res.code !== 0) {
    let detail = '';
    try {
      detail = readFileSync(join(root, 'debootstrap/debootstrap.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      detail = res.stderr.split('\n').slice(-30).join('\n');
    }
    throw new Error(`debootstrap ${r.name} failed (exit ${res.code}):\n${detail}`);
  }
  // Caches and docs are half of a minbase tree and no test needs them.
  for (const d of ['var/cache/apt', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale']) {
    const p = join(root, d);
    rmSync(p, { recursive: true, force: true });
    mkdirSync(p, { recursive: true });
  }
  mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  mkdirSync(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
}

/** Removes a build tree, but never through a mount debootstrap left behind (/proc, /sys). */
function removeBuildDir(dir: string): void {
  unmountUnderSync(dir);
  if (mountsUnder(dir).length > 0) throw new Error(`cannot remove ${dir}: still has mounts below it`);
  rmSync(dir, { recursive: true, force: true });
}

async function withLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 45 * 60_000;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSync(lockFile, 'utf8') || '0');
      // A builder that died leaves its lock behind; a fresh lock may still be empty for a moment.
      const stale = holder > 0 ? !isAlive(holder) : Date.now() - statSync(lockFile).mtimeMs > 10_000;
      if (stale) rmSync(lockFile, { force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockFile} (held by pid ${holder})`);
      else await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

export interface BuiltImage {
  key: string;
  recipe: ImageRecipe;
  hash: string;
  tarball: string;
}

/** Returns the cached tarball for a recipe, building it first if needed. */
export async function buildImage(keyOrName: string): Promise<BuiltImage> {
  const [key, recipe] = recipeOf(keyOrName);
  const hash = recipeHash(recipe);
  const cache = imageCacheDir();
  const tarball = join(cache, `${key}-${hash}.tar`);
  const built: BuiltImage = { key, recipe, hash, tarball };
  if (existsSync(tarball)) return built;
  mkdirSync(cache, { recursive: true });
  return withLock(join(cache, `${key}.lock`), async () => {
    if (existsSync(tarball)) return built; // another process built it while we waited
    const tmp = join(cache, `tmp-${key}-${process.pid}-${randomBytes(3).toString('hex')}`);
    const root = join(tmp, 'rootfs');
    mkdirSync(root, { recursive: true });
    try {
      if (recipe.base === 'busybox') {
        busyboxRootfs(root);
        await busyboxApplets(root);
      } else {
        await debianRootfs(root, recipe, join(tmp, 'build.log'));
      }
      writeFiles(root, recipe.files ?? {});
      unmountUnderSync(root);
      await exec('tar', ['--numeric-owner', '-C', root, '-cf', join(tmp, 'image.tar'), '.'], { timeoutMs: 10 * 60_000 });
      // rename: readers see either no tarball or a complete one
      renameSync(join(tmp, 'image.tar'), tarball);
      return built;
    } finally {
      removeBuildDir(tmp);
    }
  });
}

export async function buildImages(keys: string[] = DEFAULT_IMAGES): Promise<BuiltImage[]> {
  const out: BuiltImage[] = [];
  for (const k of keys) out.push(await buildImage(k));
  return out;
}

const LABEL = 'slim-test.recipe';

/** Imports the test images into a host's dockerd (all default images when names is omitted). */
export async function loadImages(host: Host, names: string[] = DEFAULT_IMAGES): Promise<void> {
  for (const n of names) {
    const img = await buildImage(n);
    const have = await host.docker(['image', 'inspect', '-f', `{{index .Config.Labels "${LABEL}"}}`, img.recipe.name], { allowFail: true });
    if (have.code === 0 && have.stdout.trim() === img.hash) continue;
    const changes = [`CMD ${JSON.stringify(img.recipe.cmd)}`, `ENV ${PATH_ENV}`, `LABEL ${LABEL}=${img.hash}`, ...(img.recipe.env ?? []).map((e) => `ENV ${e}`)];
    await host.docker(['import', ...changes.flatMap((c) => ['--change', c]), img.tarball, img.recipe.name], { timeoutMs: 10 * 60_000 });
  }
}
