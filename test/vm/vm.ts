// The VM tier: a Debian kernel that offers the BPF LSM (this machine's does not), booted under
// QEMU with a small initramfs that runs the secure-mode scenario and prints its results on the
// serial console. No network leaves the VM: QEMU gets no network device at all.
//
//   kernel   Debian's linux-image-<abi>-amd64 .deb, fetched with `apt-get download` and unpacked
//            with `dpkg-deb` (no install); only its vmlinuz is kept, in the image cache
//            (/var/cache/slim-test-images, SLIM_TEST_IMAGE_CACHE overrides).
//   guest    busybox-static, secure mode as kernel-module builds it (slim_cgroup.bpf.o,
//            slim_lsm.bpf.o, slim-loader, attacks) and test/vm/guest/*.c linked statically
//            (glibc, libbpf, libelf, zlib), with guest/init.sh as /init.
//   boot     qemu-system-x86_64 -accel tcg (SLIM_VM_ACCEL=kvm where /dev/kvm works).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { SYSTEM_PATH } from '../harness/exec.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, '..', '..');
const GUEST_SRC = join(HERE, 'guest');
const KM_DIR = join(REPO, 'kernel-module');

/** The VM tier cannot run here (no QEMU, no kernel package, no BPF toolchain): a reason, not a failure. */
export class VmUnavailable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'VmUnavailable';
  }
}

interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** execFile without a shell; never rejects: a spawn failure or a timeout is a non-zero code. */
function run(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20, encoding: 'utf8', env: { ...process.env, PATH: SYSTEM_PATH } },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
        const code = !e ? 0 : typeof e.code === 'number' ? e.code : e.killed ? 137 : 127;
        resolve({ stdout, stderr: e && !stderr ? e.message : stderr, code });
      },
    ).stdin?.end();
  });
}

async function runOk(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}\n${(r.stderr || r.stdout).trim()}`);
  return r;
}

/** Where the kernel is kept: the test images' cache (SLIM_TEST_IMAGE_CACHE overrides), or the
 * user's cache directory when that is not writable (the VM tier needs no root). */
export function vmCacheDir(): string {
  if (process.env.SLIM_TEST_IMAGE_CACHE) return process.env.SLIM_TEST_IMAGE_CACHE;
  const shared = '/var/cache/slim-test-images';
  try {
    mkdirSync(shared, { recursive: true });
    accessSync(shared, constants.W_OK);
    return shared;
  } catch {
    return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'slim-test-images');
  }
}

async function which(cmd: string): Promise<string | undefined> {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/** An ELF64 executable without a PT_INTERP program header (no dynamic loader). */
function isStaticElf(path: string): boolean {
  const b = readFileSync(path);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

function busyboxPath(): string | undefined {
  return ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
}

/** What the guest needs on this machine; throws VmUnavailable naming what is missing. */
export async function checkTools(): Promise<void> {
  const missing: string[] = [];
  for (const [cmd, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['clang', 'clang'],
    ['bpftool', 'bpftool'],
    ['gcc', 'gcc'],
    ['apt-get', 'apt'],
    ['dpkg-deb', 'dpkg'],
  ] as const) {
    if (!(await which(cmd))) missing.push(`${cmd} (${pkg})`);
  }
  const bb = busyboxPath();
  if (!bb || !isStaticElf(bb)) missing.push('a static busybox (busybox-static)');
  for (const [lib, pkg] of [
    ['libbpf.a', 'libbpf-dev'],
    ['libelf.a', 'libelf-dev'],
    ['libz.a', 'zlib1g-dev'],
  ] as const) {
    if (!existsSync(join('/usr/lib/x86_64-linux-gnu', lib))) missing.push(`${lib} (${pkg})`);
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) missing.push('/sys/kernel/btf/vmlinux (kernel BTF, for vmlinux.h)');
  if (missing.length > 0) throw new VmUnavailable(`missing ${missing.join(', ')}; run test/install-prereqs.sh`);
}

export interface Kernel {
  pkg: string;
  version: string;
  vmlinuz: string;
}

/** The Debian kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64, and
 * its candidate version (undefined when apt does not know it). */
async function kernelPackage(): Promise<{ pkg: string; version?: string }> {
  let pkg = process.env.SLIM_VM_KERNEL_PACKAGE;
  if (!pkg) {
    const dep = await run('apt-cache', ['depends', 'linux-image-amd64']);
    pkg = /Depends: (linux-image-[^\s]+-amd64)\b/.exec(dep.stdout)?.[1];
    if (!pkg) return { pkg: 'linux-image-amd64' };
  }
  const show = await run('apt-cache', ['show', '--no-all-versions', pkg]);
  return { pkg, version: /^Version: (\S+)/m.exec(show.stdout)?.[1] };
}

function cachedKernels(): Kernel[] {
  const dir = vmCacheDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => /^vm-kernel-(linux-image-.+)_([^_]+)\.vmlinuz$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pkg: m[1]!, version: m[2]!, vmlinuz: join(dir, m[0]) }))
    .sort((a, b) => statSync(b.vmlinuz).mtimeMs - statSync(a.vmlinuz).mtimeMs);
}

/**
 * The kernel to boot: from the cache, else downloaded (once; the .deb is unpacked in a temporary
 * directory and only vmlinuz is kept). A failed download is retried once after `apt-get update`
 * (stale package lists). With no registry reachable, any cached kernel is used.
 */
export async function ensureKernel(log: (s: string) => void = () => {}): Promise<Kernel> {
  const pkg = await kernelPackage();
  const want = pkg.version ? { pkg: pkg.pkg, version: pkg.version } : undefined;
  const cache = vmCacheDir();
  if (want) {
    const vmlinuz = join(cache, `vm-kernel-${want.pkg}_${want.version}.vmlinuz`);
    if (existsSync(vmlinuz)) return { ...want, vmlinuz };
    const dl = mkdtempSync(join(tmpdir(), 'slim-vm-kernel-'));
    try {
      const t0 = Date.now();
      let got = await run('apt-get', ['download', '-q', `${want.pkg}=${want.version}`], { cwd: dl, timeoutMs: 300_000 });
      if (got.code !== 0 && process.getuid?.() === 0) {
        log(`apt-get download failed (${got.stderr.trim().split('\n').pop()}); apt-get update, then again`);
        await run('apt-get', ['update', '-q'], { timeoutMs: 300_000 });
        got = await run('apt-get', ['download', '-q', `${want.pkg}=${want.version}`], { cwd: dl, timeoutMs: 300_000 });
      }
      const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
      if (got.code === 0 && deb) {
        const unpack = join(dl, 'x');
        mkdirSync(unpack);
        await runOk('dpkg-deb', ['-x', join(dl, deb), unpack], { timeoutMs: 300_000 });
        const boot = join(unpack, 'boot');
        const image = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
        if (!image) throw new Error(`${deb} holds no boot/vmlinuz-*`);
        mkdirSync(cache, { recursive: true });
        const tmp = `${vmlinuz}.${randomBytes(4).toString('hex')}.tmp`;
        writeFileSync(tmp, readFileSync(join(boot, image)));
        renameSync(tmp, vmlinuz);
        log(`kernel ${want.pkg} ${want.version}: downloaded and unpacked in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return { ...want, vmlinuz };
      }
      log(`apt-get download ${want.pkg}=${want.version} failed: ${got.stderr.trim().split('\n').pop() ?? ''}`);
    } finally {
      rmSync(dl, { recursive: true, force: true });
    }
  }
  const cached = cachedKernels()[0];
  if (cached) return cached;
  throw new VmUnavailable(
    want ? `the kernel package ${want.pkg} ${want.version} could not be downloaded` : `apt knows no package ${pkg.pkg}, and no kernel is cached`,
  );
}

export interface Guest {
  dir: string;
  /** path in the initramfs → file on this machine */
  files: Record<string, string>;
}

const STATIC_BPF_LIBS = ['-l:libbpf.a', '-l:libelf.a', '-l:libz.a'];

/**
 * Builds secure mode (kernel-module: both BPF objects, the static slim-loader and the static
 * attacks program, into kernel-module/build/) and the static guest programs (into dir).
 */
export async function buildGuest(dir: string): Promise<Guest> {
  // SLIM_VM_SECURE_BUILD: a directory with another build of those four files, used as is.
  const prebuilt = process.env.SLIM_VM_SECURE_BUILD;
  const withAttacks = prebuilt ? existsSync(join(prebuilt, 'attacks-static')) : existsSync(join(KM_DIR, 'test', 'attacks.c'));
  if (!prebuilt) await runOk('make', ['-s', '-C', KM_DIR, 'bpf', 'loader', ...(withAttacks ? ['attacks'] : [])], { timeoutMs: 300_000 });
  const cflags = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-static', `-I${join(KM_DIR, 'include')}`];
  await Promise.all([
    runOk('gcc', [...cflags, '-o', join(dir, 'scenario'), join(GUEST_SRC, 'scenario.c'), '-pthread', ...STATIC_BPF_LIBS]),
    runOk('gcc', [...cflags, '-o', join(dir, 'lsm-load'), join(GUEST_SRC, 'lsm-load.c'), ...STATIC_BPF_LIBS]),
  ]);
  const km = (f: string) => join(prebuilt ?? join(KM_DIR, 'build'), f);
  return {
    dir,
    files: {
      '/init': join(GUEST_SRC, 'init.sh'),
      '/bin/busybox': busyboxPath()!,
      '/slim/scenario': join(dir, 'scenario'),
      '/slim/lsm-load': join(dir, 'lsm-load'),
      '/slim/slim-loader': km('slim-loader'),
      '/slim/objects/slim_cgroup.bpf.o': km('slim_cgroup.bpf.o'),
      '/slim/objects/slim_lsm.bpf.o': km('slim_lsm.bpf.o'),
      '/slim/objects-cgroup/slim_cgroup.bpf.o': km('slim_cgroup.bpf.o'),
      ...(withAttacks ? { '/slim/attacks': km('attacks-static') } : {}),
    },
  };
}

// cpio "newc", the initramfs format: a 110-byte ASCII header per entry, name and data each padded
// to 4 bytes. Written here so no root (device nodes) or cpio tool is needed.
function cpioEntry(ino: number, name: string, mode: number, data: Buffer, rdev: [number, number] = [0, 0]): Buffer {
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const nameBuf = Buffer.from(`${name}\0`);
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
  const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
  return Buffer.concat([header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length)]);
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** A gzipped newc initramfs holding the guest files, the directories they need, and /dev/console. */
export function writeInitramfs(path: string, guest: Guest): number {
  const parts: Buffer[] = [];
  let ino = 1;
  const dirs = new Set(['/dev', '/proc', '/sys', '/run', '/tmp', '/bin', '/slim']);
  for (const p of Object.keys(guest.files)) for (let d = dirname(p); d !== '/'; d = dirname(d)) dirs.add(d);
  for (const d of [...dirs].sort()) parts.push(cpioEntry(ino++, d.slice(1), S_IFDIR | 0o755, Buffer.alloc(0)));
  // The kernel opens /dev/console for init's stdin/out/err before devtmpfs is mounted.
  parts.push(cpioEntry(ino++, 'dev/console', S_IFCHR | 0o600, Buffer.alloc(0), [5, 1]));
  for (const [p, src] of Object.entries(guest.files)) {
    const mode = p === '/init' || (statSync(src).mode & 0o111) !== 0 ? 0o755 : 0o644;
    parts.push(cpioEntry(ino++, p.slice(1), S_IFREG | mode, readFileSync(src)));
  }
  parts.push(cpioEntry(ino++, 'TRAILER!!!', 0, Buffer.alloc(0)));
  const gz = gzipSync(Buffer.concat(parts), { level: 6 });
  writeFileSync(path, gz);
  return gz.length;
}

const running = new Set<number>();
let exitHook = false;

/** Kills a process group we started (QEMU under its `timeout` guard), by its leader's pid. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export interface Boot {
  output: string;
  seconds: number;
  /** QEMU's exit code, or null when it was killed (timeout) */
  code: number | null;
  timedOut: boolean;
}

/**
 * Boots kernel + initramfs under QEMU (no network device, serial console on stdout) and returns
 * everything the guest printed once it powers off. QEMU runs under `timeout` in a process group
 * of its own: at timeoutMs (or when this process exits) the group is killed by its pid, and
 * `timeout` ends QEMU by itself should this process be killed first.
 */
export function bootVm(kernel: string, initramfs: string, timeoutMs: number): Promise<Boot> {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const pid of running) killGroup(pid);
    });
  }
  const accel = process.env.SLIM_VM_ACCEL ?? 'tcg';
  const qemu = [
    'qemu-system-x86_64', '-accel', accel, '-cpu', accel === 'kvm' ? 'host' : 'max', '-smp', '2', '-m', '1024',
    '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-nic', 'none',
    '-kernel', kernel, '-initrd', initramfs,
    '-append', 'console=ttyS0 panic=-1 quiet',
  ];
  const guard = ['-s', 'KILL', String(Math.ceil(timeoutMs / 1000) + 15)];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn('timeout', [...guard, ...qemu], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: killed as one
      env: { ...process.env, PATH: SYSTEM_PATH },
    });
    const pid = child.pid;
    if (pid) running.add(pid);
    const out: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => out.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid) killGroup(pid);
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      if (pid) running.delete(pid);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pid) running.delete(pid);
      // The serial console ends lines with CRLF; the firmware clears the screen with escapes.
      const output = Buffer.concat(out).toString('utf8').replace(/\r/g, '').replace(/\x1b(\[[0-9;?]*[A-Za-z]|c)/g, '');
      resolve({ output, seconds: (Date.now() - t0) / 1000, code, timedOut: timedOut || code === 137 });
    });
  });
}

export interface CaseResult {
  kind: 'ATTACK' | 'NORMAL';
  name: string;
  verdict: string;
  detail: string;
}

export interface Phase {
  name: string;
  lines: string[];
  /** the scenario's own cases */
  cases: Map<string, CaseResult>;
  /** kernel-module/test/attacks.c's lines, when it ran (between ATTACKS-C BEGIN/END) */
  attacksC?: { results: CaseResult[]; exit?: number };
  ended: boolean;
}

/** Splits the console output into phases ("PHASE x" … "PHASE-END x") and their result lines. */
export function parsePhases(output: string): Map<string, Phase> {
  const phases = new Map<string, Phase>();
  let cur: Phase | undefined;
  let inAttacksC = false;
  for (const raw of output.split('\n')) {
    const l = raw.trimEnd();
    let m = /^PHASE (\S+)$/.exec(l);
    if (m) {
      cur = { name: m[1]!, lines: [], cases: new Map(), ended: false };
      inAttacksC = false;
      phases.set(cur.name, cur);
      continue;
    }
    m = /^PHASE-END (\S+)$/.exec(l);
    if (m && cur && cur.name === m[1]) {
      cur.ended = true;
      cur = undefined;
      continue;
    }
    if (!cur) continue;
    cur.lines.push(l);
    if (l === 'ATTACKS-C BEGIN') {
      cur.attacksC = { results: [] };
      inAttacksC = true;
      continue;
    }
    m = /^ATTACKS-C END exit (\d+)$/.exec(l);
    if (m && cur.attacksC) {
      cur.attacksC.exit = Number(m[1]);
      inAttacksC = false;
      continue;
    }
    m = /^(ATTACK|NORMAL) (\S+) (\S+) ?(.*)$/.exec(l);
    if (!m) continue;
    const c = { kind: m[1] as 'ATTACK' | 'NORMAL', name: m[2]!, verdict: m[3]!, detail: m[4]! };
    if (inAttacksC) cur.attacksC!.results.push(c);
    else cur.cases.set(c.name, c);
  }
  return phases;
}

export interface ScenarioRun {
  kernel: Kernel;
  boot: Boot;
  phases: Map<string, Phase>;
  initramfsBytes: number;
}

/** Everything for one run: kernel, guest build, initramfs, one boot. Temporary files are removed. */
export async function runScenarioVm(opts: { timeoutMs?: number; log?: (s: string) => void } = {}): Promise<ScenarioRun> {
  const log = opts.log ?? (() => {});
  await checkTools();
  const kernel = await ensureKernel(log);
  const dir = mkdtempSync(join(tmpdir(), 'slim-vm-'));
  try {
    const t0 = Date.now();
    const guest = await buildGuest(dir);
    const initramfs = join(dir, 'initramfs.cpio.gz');
    const initramfsBytes = writeInitramfs(initramfs, guest);
    log(`guest built, initramfs ${(initramfsBytes / 1e6).toFixed(1)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const boot = await bootVm(kernel.vmlinuz, initramfs, opts.timeoutMs ?? 240_000);
    log(`VM (${kernel.pkg} ${kernel.version}) ran ${boot.seconds.toFixed(1)} s${boot.timedOut ? ', killed at the timeout' : ''}`);
    return { kernel, boot, phases: parsePhases(boot.output), initramfsBytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
