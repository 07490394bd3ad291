// One naming scheme for every kernel object, directory and cgroup the harness creates, so that
// cleanup-check.ts can find leaks from any run (including crashed ones) by pattern alone.
import { randomBytes } from 'node:crypto';

// Interface names are limited to 15 characters: "st" + 6 hex + a short suffix fits.
export const PREFIX = 'st';
export const RUN_ID_RE = /^st[0-9a-f]{6}/;

export const BASE_DIR = process.env.SLIM_TEST_BASE ?? '/tmp/slim-test';

export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

// "st" + runId: the tag carried by every object of one World.
export const tag = (runId: string): string => `${PREFIX}${runId}`;

export const bridgeName = (runId: string): string => `${tag(runId)}br`;
export const vethRoot = (runId: string, host: string): string => `${tag(runId)}${host}`;
export const vethPeerTmp = (runId: string, host: string): string => `${tag(runId)}${host}p`;
export const netnsName = (runId: string, host: string): string => `${tag(runId)}${host}`;
// A top-level cgroup per host (dockerd --cgroup-parent) lets cleanup find container processes
// even when dockerd and its shims are already gone.
export const cgroupParent = (runId: string, host: string): string => `${tag(runId)}${host}`;

export function worldDirName(runId: string, name?: string): string {
  // Short: unix socket paths below it (plugin socket, containerd) must stay under 108 bytes.
  const safe = (name ?? '').replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 20);
  return safe ? `${tag(runId)}-${safe}` : tag(runId);
}
