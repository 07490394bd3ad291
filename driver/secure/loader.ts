// Runs kernel-module's loader (build/slim-loader, next to the BPF objects): once at start-up to
// load, attach and pin secure mode's programs; `unload` to remove them.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { appRoot } from '../router/shim-files.js';

const run = promisify(execFile);

export const PIN_ROOT = '/sys/fs/bpf/slim';
const LOADER = join('kernel-module', 'build', 'slim-loader');
const TIMEOUT_MS = 60_000;

/** The loader's JSON line after `load`. */
export interface LoadResult {
  cgroup: string;
  cgroupId: number;
  pin: string;
  programs: string[];
  maps: string[];
  reusedMaps: string[];
  lsm: { state: 'loaded' | 'absent' | 'unsupported' | 'failed'; detail: string; programs: string[]; skipped?: string[] };
}

/** The loader binary of this app (checkout or plugin), or null if it was not built. */
export function loaderPath(): string | null {
  const p = join(appRoot(), LOADER);
  return existsSync(p) ? p : null;
}

function failure(err: unknown): Error {
  const e = err as { stderr?: string; message: string };
  const said = e.stderr?.trim().split('\n').filter((l) => l.startsWith('slim-loader:')).join('; ');
  return new Error(said || e.stderr?.trim() || e.message);
}

export async function loadPrograms(loader: string, cgroup: string, pin = PIN_ROOT): Promise<{ result: LoadResult; warnings: string }> {
  try {
    const { stdout, stderr } = await run(loader, ['load', '--cgroup', cgroup, '--pin', pin], { timeout: TIMEOUT_MS });
    return { result: JSON.parse(stdout.trim().split('\n').pop() ?? '') as LoadResult, warnings: stderr.trim() };
  } catch (err) {
    throw failure(err);
  }
}

/** Removes every pin (the programs detach). Returns how many pins were removed. */
export async function unloadPrograms(loader: string, pin = PIN_ROOT): Promise<number> {
  try {
    const { stdout } = await run(loader, ['unload', '--pin', pin], { timeout: TIMEOUT_MS });
    return (JSON.parse(stdout.trim()) as { removed: number }).removed;
  } catch (err) {
    throw failure(err);
  }
}
