// What test runs leaked: kernel objects, processes, mounts and directories carrying the harness's
// prefix. Without runId it reports every run's leftovers (e.g. before a CI run starts).
import { BASE_DIR } from './names.js';
import {
  listCgroups,
  listIptablesRules,
  listLinks,
  listNetns,
  listWorldDirs,
  mountsUnder,
  procCmdline,
} from './objects.js';
import { runPids, teardownSync } from './teardown.js';

export async function leftovers(runId?: string): Promise<string[]> {
  const found: string[] = [];
  for (const ns of listNetns(runId)) found.push(`netns ${ns}`);
  for (const l of listLinks(runId)) found.push(`link ${l}`);
  for (const r of listIptablesRules(runId)) found.push(`iptables FORWARD rule: ${r.slice(1).join(' ')}`);
  for (const c of listCgroups(runId)) found.push(`cgroup ${c}`);
  for (const p of runPids(runId)) found.push(`process ${p}: ${procCmdline(p)}`);
  const dirs = runId ? listWorldDirs(runId) : [BASE_DIR];
  for (const d of dirs) for (const m of mountsUnder(d)) found.push(`mount ${m.mountPoint} (${m.fsType})`);
  for (const d of listWorldDirs(runId)) found.push(`dir ${d}`);
  return found;
}

/** Removes what leftovers() reports; returns what could not be removed. */
export async function cleanupLeftovers(runId?: string): Promise<string[]> {
  return teardownSync(runId);
}
