// Process helpers shared by the harness: every external command goes through here so that
// timeouts, error messages and "allowed to fail" are handled the same way everywhere.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ExecOptions {
  timeoutMs?: number;
  input?: string;
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

// dockerd, iptables, ip and friends live in sbin, and /usr/local/bin holds a newer docker client
// that must never be picked up by accident: system directories first, the caller's PATH after.
export const SYSTEM_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]
  .filter((d, i, all) => d && all.indexOf(d) === i)
  .join(':');

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_BUFFER = 64 * 1024 * 1024;

export class ExecError extends Error {
  constructor(
    message: string,
    readonly result: ExecResult,
  ) {
    super(message);
    this.name = 'ExecError';
  }
}

function describe(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

export function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        timeout,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_BUFFER,
        encoding: 'utf8',
        env: opts.env ?? { ...process.env, PATH: SYSTEM_PATH },
      },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string };
          if (typeof e.code === 'number') code = e.code;
          else if (e.killed || e.signal) code = 128 + 9;
          else {
            // spawn failure (ENOENT…): nothing ran, so allowFail must not hide it
            reject(new Error(`${describe(cmd, args)}: ${e.message}`));
            return;
          }
          if (e.killed && !opts.allowFail) {
            reject(new ExecError(`${describe(cmd, args)}: timed out after ${timeout} ms\n${stderr}`, { stdout, stderr, code }));
            return;
          }
        }
        const result = { stdout, stderr, code };
        if (code !== 0 && !opts.allowFail) {
          reject(new ExecError(`${describe(cmd, args)}: exit ${code}\n${stderr.trim() || stdout.trim()}`, result));
          return;
        }
        resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

// For the process-exit path only, where nothing asynchronous can run any more.
export function execSyncQuiet(cmd: string, args: readonly string[], timeoutMs = 10_000): boolean {
  try {
    execFileSync(cmd, args, {
      timeout: timeoutMs,
      stdio: 'ignore',
      env: { ...process.env, PATH: SYSTEM_PATH },
    });
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** true if p settles within ms; the timer is cleared so it cannot keep the process alive */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

// Waits for a pid to vanish; zombies of processes we did not spawn count as gone.
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid) || isZombie(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid) || isZombie(pid);
}

export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
