// Forceful, synchronous removal of everything one run (or every run) left behind, found by name.
// World.destroy() runs it after the graceful part; the exit handler runs it alone; a CI script
// can run it for a run that was SIGKILLed. It never throws: it returns what it could not remove.
import { rmdirSync, rmSync } from 'node:fs';
import { execSyncQuiet, isAlive, isZombie, signal } from './exec.js';
import {
  cgroupPids,
  cgroupTree,
  listCgroups,
  listIptablesRules,
  listLinks,
  listNetns,
  listWorldDirs,
  mountsUnder,
  netnsPids,
  processesMentioning,
} from './objects.js';

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Every process that belongs to the run: inside its netns, in its cgroups, or naming its dirs. */
export function runPids(runId?: string): number[] {
  const pids = new Set<number>();
  for (const ns of listNetns(runId)) for (const p of netnsPids(ns)) pids.add(p);
  for (const cg of listCgroups(runId)) for (const p of cgroupPids(cg)) pids.add(p);
  for (const p of processesMentioning(listWorldDirs(runId))) pids.add(p.pid);
  pids.delete(process.pid);
  return [...pids].filter(isAlive);
}

export function killRunProcessesSync(runId?: string, boundMs = 10_000): number[] {
  const deadline = Date.now() + boundMs;
  let pids = runPids(runId);
  // Repeat: killing containerd can make a shim's child visible elsewhere, and so on.
  while (pids.length > 0 && Date.now() < deadline) {
    for (const p of pids) signal(p, 'SIGKILL');
    sleepSync(100);
    pids = runPids(runId).filter((p) => !isZombieish(p));
  }
  return pids;
}

// A SIGKILLed child of ours stays a zombie until node reaps it; it holds nothing any more.
const isZombieish = (pid: number): boolean => !isAlive(pid) || isZombie(pid);

export function unmountUnderSync(dir: string): string[] {
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return [];
    for (const m of mounts) {
      if (!execSyncQuiet('umount', [m.mountPoint])) execSyncQuiet('umount', ['-l', m.mountPoint]);
    }
  }
  return mountsUnder(dir).map((m) => `mount ${m.mountPoint} (${m.fsType})`);
}

function removeCgroupsSync(runId?: string, boundMs = 5_000): string[] {
  const deadline = Date.now() + boundMs;
  let left = listCgroups(runId);
  while (left.length > 0) {
    for (const cg of left) {
      for (const p of cgroupPids(cg)) signal(p, 'SIGKILL');
      for (const d of cgroupTree(cg)) {
        try {
          rmdirSync(d);
        } catch {
          // busy until its last task is gone
        }
      }
    }
    left = listCgroups(runId);
    if (Date.now() > deadline) break;
    if (left.length > 0) sleepSync(100);
  }
  return left.map((c) => `cgroup ${c}`);
}

export function teardownSync(runId?: string): string[] {
  const problems: string[] = [];
  const pids = killRunProcessesSync(runId);
  problems.push(...pids.map((p) => `process ${p} survived SIGKILL`));
  problems.push(...removeCgroupsSync(runId));

  const dirs = listWorldDirs(runId);
  for (const d of dirs) problems.push(...unmountUnderSync(d));

  for (const ns of listNetns(runId)) {
    if (!execSyncQuiet('ip', ['netns', 'del', ns])) problems.push(`netns ${ns}`);
  }
  for (const link of listLinks(runId)) {
    // The root end of a veth may vanish by itself once its peer's netns is gone.
    if (!execSyncQuiet('ip', ['link', 'del', link]) && listLinks(runId).includes(link)) problems.push(`link ${link}`);
  }
  for (const rule of listIptablesRules(runId)) {
    if (!execSyncQuiet('iptables', ['-w', '5', ...rule])) problems.push(`iptables ${rule.join(' ')}`);
  }
  for (const d of dirs) {
    // Never recurse into a live mount (a leaked bind of /dev or /proc would be emptied).
    if (mountsUnder(d).length > 0) {
      problems.push(`dir ${d} kept: mounts below it`);
      continue;
    }
    try {
      rmSync(d, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      problems.push(`dir ${d}: ${(e as Error).message}`);
    }
  }
  return problems;
}
