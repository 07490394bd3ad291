// Copies files of this machine into the plugin's rootfs at the same paths, so that binaries, their
// libraries and the dynamic loader find each other exactly as they do on the host. Symlinks on the
// way (usr-merge's /lib -> usr/lib, Debian's alternatives for iptables, versioned .so names) are
// recreated as symlinks with the same target text, and their targets are copied too.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';

// Generous: a real chain is 3 or 4 links long (iptables -> alternatives -> iptables-nft -> multi).
const MAX_LINKS = 40;

/**
 * Mirrors hostPath (absolute) into rootfs and returns the host's real path behind it. Directories
 * on the way are created empty; a file or symlink at the end is copied. Everything is written at
 * its resolved location, never through a symlink already in rootfs (an absolute one would point
 * back into the build machine).
 */
export function mirrorHostPath(hostPath: string, rootfs: string, links = 0): string {
  if (!isAbsolute(hostPath)) throw new Error(`not an absolute path: ${hostPath}`);
  const path = normalize(hostPath);
  if (path === '/') return '/';
  const parent = mirrorHostPath(dirname(path), rootfs, links);
  const real = join(parent, basename(path));
  const st = lstatSync(real);
  const inRootfs = join(rootfs, real);
  if (st.isSymbolicLink()) {
    if (links >= MAX_LINKS) throw new Error(`too many symlinks resolving ${hostPath}`);
    const target = readlinkSync(real);
    if (!existsOrIsLink(inRootfs)) symlinkSync(target, inRootfs);
    return mirrorHostPath(isAbsolute(target) ? target : resolve(parent, target), rootfs, links + 1);
  }
  if (st.isDirectory()) {
    if (!existsSync(inRootfs)) {
      mkdirSync(inRootfs);
      chmodSync(inRootfs, st.mode & 0o7777);
    }
  } else if (st.isFile()) {
    if (!existsSync(inRootfs)) {
      copyFileSync(real, inRootfs);
      chmodSync(inRootfs, st.mode & 0o7777);
    }
  } else {
    throw new Error(`${real} is neither a file, a directory nor a symlink`);
  }
  return real;
}

/** Mirrors every entry directly inside a host directory (e.g. iptables' extension modules). */
export function mirrorHostDir(dir: string, rootfs: string): string[] {
  const real = mirrorHostPath(dir, rootfs);
  return readdirSync(real).map((name) => mirrorHostPath(join(real, name), rootfs));
}

function existsOrIsLink(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A command's path on this machine; sbin first, since the tools Slim runs live there. */
export function findCommand(name: string): string {
  const dirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')];
  for (const d of dirs) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  throw new Error(`${name} is not installed on this machine (the plugin's rootfs is assembled from the host's own tools)`);
}

/**
 * Absolute paths of the shared libraries (and dynamic loader) `ldd` lists for a binary or a
 * shared object; empty for a static one. A library ldd cannot find fails the build here rather
 * than the plugin at start-up.
 */
export async function sharedLibraries(file: string): Promise<string[]> {
  const { code, stdout, stderr } = await run('ldd', [file]);
  if (code !== 0) {
    if (/not a dynamic executable/.test(stdout + stderr)) return [];
    throw new Error(`ldd ${file}: ${stderr.trim() || stdout.trim()}`);
  }
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    if (/=>\s*not found/.test(line)) throw new Error(`ldd ${file}: ${line.trim()}`);
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)";
    // the vDSO has no path.
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code !== 'number') rej(new Error(`${cmd}: ${err.message}`));
      else res({ code: err ? Number((err as NodeJS.ErrnoException).code) : 0, stdout, stderr });
    });
  });
}
