// Finds the harness's kernel objects, processes, mounts and directories by name pattern alone.
// Synchronous on purpose: the process-exit cleanup path cannot await.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SYSTEM_PATH } from './exec.js';
import { BASE_DIR, PREFIX, RUN_ID_RE } from './names.js';

/** Matches names of one run (runId given) or of any run. */
export function matcher(runId?: string): (name: string) => boolean {
  return runId ? (n) => n.startsWith(`${PREFIX}${runId}`) : (n) => RUN_ID_RE.test(n);
}

function out(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, env: { ...process.env, PATH: SYSTEM_PATH }, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

export function listNetns(runId?: string): string[] {
  const m = matcher(runId);
  return out('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n && m(n));
}

export function netnsPids(ns: string): number[] {
  return out('ip', ['netns', 'pids', ns])
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

/** Links in the root namespace (bridge, root ends of veths, stray temporary peers). */
export function listLinks(runId?: string): string[] {
  const m = matcher(runId);
  const names: string[] = [];
  for (const line of out('ip', ['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name && m(name)) names.push(name);
  }
  return names;
}

/** FORWARD rules tagged with our comment, as argument lists ready for `iptables -D`. */
export function listIptablesRules(runId?: string): string[][] {
  const m = matcher(runId);
  const rules: string[][] = [];
  for (const line of out('iptables', ['-w', '5', '-S', 'FORWARD']).split('\n')) {
    const args = line.trim().split(/\s+/).map((a) => a.replace(/^"(.*)"$/, '$1'));
    const i = args.indexOf('--comment');
    if (args[0] === '-A' && i > 0 && m(args[i + 1] ?? '')) rules.push(['-D', ...args.slice(1)]);
  }
  return rules;
}

/** Every cgroup directory named like ours, in every mounted hierarchy (v1 and v2). */
export function listCgroups(runId?: string): string[] {
  const m = matcher(runId);
  const roots = ['/sys/fs/cgroup'];
  try {
    for (const e of readdirSync('/sys/fs/cgroup', { withFileTypes: true })) {
      if (e.isDirectory()) roots.push(join('/sys/fs/cgroup', e.name));
    }
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const root of roots) {
    try {
      for (const e of readdirSync(root, { withFileTypes: true })) {
        if (e.isDirectory() && m(e.name)) found.push(join(root, e.name));
      }
    } catch {
      // not a cgroup hierarchy
    }
  }
  return found;
}

/** cgroup directories below (and including) dir, deepest first. */
export function cgroupTree(dir: string): string[] {
  const dirs: string[] = [];
  const walk = (d: string): void => {
    try {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      dirs.push(d);
    } catch {
      // vanished meanwhile
    }
  };
  walk(dir);
  return dirs;
}

export function cgroupPids(dir: string): number[] {
  const pids: number[] = [];
  for (const d of cgroupTree(dir)) {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.push(Number(p));
    } catch {
      // vanished meanwhile
    }
  }
  return pids;
}

export interface MountEntry {
  id: number;
  mountPoint: string;
  fsType: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function listMounts(): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-');
    mounts.push({ id: Number(f[0]), mountPoint: unescapeMount(f[4] ?? ''), fsType: f[sep + 1] ?? '' });
  }
  return mounts;
}

/** Mounts at or below dir in our mount namespace, deepest (latest) first. */
export function mountsUnder(dir: string): MountEntry[] {
  const d = dir.replace(/\/+$/, '');
  return listMounts()
    .filter((m) => m.mountPoint === d || m.mountPoint.startsWith(`${d}/`))
    .reverse();
}

/** World directories under BASE_DIR. */
export function listWorldDirs(runId?: string): string[] {
  const m = matcher(runId);
  try {
    return readdirSync(BASE_DIR)
      .filter(m)
      .map((n) => join(BASE_DIR, n));
  } catch {
    return [];
  }
}

export interface ProcInfo {
  pid: number;
  cmdline: string;
}

export function procCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** Processes whose command line names a world directory (dockerd, containerd, shims, daemons). */
export function processesMentioning(dirs: string[]): ProcInfo[] {
  if (dirs.length === 0) return [];
  const found: ProcInfo[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    const cmdline = procCmdline(pid);
    if (dirs.some((d) => cmdline.includes(`${d}/`) || cmdline.endsWith(d))) found.push({ pid, cmdline });
  }
  return found;
}
