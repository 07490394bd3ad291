// The daemon's own cgroup v2: secure mode's programs are attached there, because cgroup programs
// run for the sockets created by the cgroup's processes, and the router creates every host socket.
// Never the root cgroup (that would reach every process of the machine).
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { cgroup2Mount, type Mount, readMounts } from './mountinfo.js';

const run = promisify(execFile);

/** Where cgroup v2 is mounted when nothing mounted it (hybrid hosts mount v1 under /sys/fs/cgroup). */
export const CGROUP2_FALLBACK_MOUNT = '/sys/fs/cgroup/unified';
/** The daemon's own cgroup when it was started in the root cgroup. */
export const DEFAULT_CHILD = 'slim';

/** The "0::PATH" line of /proc/PID/cgroup: the cgroup v2 path, relative to the namespace's root. */
export function ownCgroupPath(procCgroup: string): string | null {
  for (const line of procCgroup.split('\n')) if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  return null;
}

/** The directory of cgroup path `own` under mount `m`, or null if the mount does not show it. */
export function cgroupDir(m: Mount, own: string): string | null {
  const rel = relative(m.root, own);
  if (rel.startsWith('..')) return null;
  return rel ? join(m.mountPoint, rel) : m.mountPoint;
}

function holds(dir: string, pid: number): boolean {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid));
  } catch {
    return false;
  }
}

/** The cgroup directory whose cgroup.procs lists pid (breadth first, bounded): for a cgroup
 *  namespace whose paths do not match the mount's. */
function search(top: string, pid: number, limit = 20_000): string | null {
  const queue = [top];
  for (let seen = 0; queue.length && seen < limit; seen++) {
    const dir = queue.shift()!;
    if (holds(dir, pid)) return dir;
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) queue.push(join(dir, e.name));
    } catch {
      // vanished meanwhile
    }
  }
  return null;
}

async function mountCgroup2(): Promise<Mount> {
  await fs.mkdir(CGROUP2_FALLBACK_MOUNT, { recursive: true });
  try {
    await run('mount', ['-t', 'cgroup2', 'cgroup2', CGROUP2_FALLBACK_MOUNT]);
  } catch (err) {
    throw new Error(`cgroup v2 is not mounted and mounting it on ${CGROUP2_FALLBACK_MOUNT} failed: ${(err as Error).message}`);
  }
  const m = cgroup2Mount(readMounts());
  if (!m) throw new Error(`mounted cgroup v2 on ${CGROUP2_FALLBACK_MOUNT} but /proc/self/mountinfo does not show it`);
  return m;
}

export interface Placement {
  /** The cgroup v2 directory the daemon now runs in. */
  dir: string;
  /** How it was chosen, for the log. */
  how: 'given' | 'own' | 'created below the root';
}

/** Moves this process (all its threads) into its cgroup for secure mode and returns it: `wanted`
 *  when given (created if missing), else the one it is in, else (root cgroup) DEFAULT_CHILD. */
export async function placeDaemon(wanted: string | null, pid = process.pid): Promise<Placement> {
  const m = cgroup2Mount(readMounts()) ?? (await mountCgroup2());
  let dir: string;
  let how: Placement['how'];
  if (wanted) {
    if (relative(m.mountPoint, wanted).startsWith('..') || wanted === m.mountPoint) {
      throw new Error(`secure cgroup ${wanted} is not a cgroup below the cgroup v2 mount ${m.mountPoint}`);
    }
    [dir, how] = [wanted, 'given'];
  } else {
    const own = ownCgroupPath(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    let found = own ? cgroupDir(m, own) : null;
    if (!found || !holds(found, pid)) found = search(m.mountPoint, pid);
    if (!found) throw new Error(`cannot find this process's cgroup under ${m.mountPoint}`);
    [dir, how] = found === m.mountPoint ? [join(m.mountPoint, DEFAULT_CHILD), 'created below the root' as const] : [found, 'own' as const];
  }
  if (!existsSync(dir)) await fs.mkdir(dir, { recursive: true });
  if (!holds(dir, pid)) await fs.writeFile(join(dir, 'cgroup.procs'), String(pid));
  return { dir, how };
}
