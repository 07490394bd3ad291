// /proc/self/mountinfo, the few fields secure mode needs: where the cgroup v2 hierarchy and the
// bpf filesystem are mounted, and which part of the hierarchy a mount shows.
import { readFileSync } from 'node:fs';

export interface Mount {
  /** The part of the filesystem the mount shows ("/" for a whole cgroup hierarchy). */
  root: string;
  mountPoint: string;
  fsType: string;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 2) continue;
    mounts.push({ root: unescape(f[3] ?? ''), mountPoint: unescape(f[4] ?? ''), fsType: f[sep + 1] ?? '' });
  }
  return mounts;
}

export function readMounts(): Mount[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The mount that shows the most of the cgroup v2 hierarchy (root "/" preferred), if any. */
export function cgroup2Mount(mounts: Mount[]): Mount | undefined {
  const all = mounts.filter((m) => m.fsType === 'cgroup2');
  return all.find((m) => m.root === '/') ?? all[0];
}

/** Is `dir` itself a mount point of type fsType? (The last mount on a path is the one in use.) */
export function mountedAt(mounts: Mount[], dir: string, fsType: string): boolean {
  const on = mounts.filter((m) => m.mountPoint === dir);
  return on.length > 0 && on[on.length - 1]!.fsType === fsType;
}
