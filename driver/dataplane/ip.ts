import { execFile } from 'node:child_process';

/** Runs iproute2's `ip`; rejects with its stderr so errors reach the operator verbatim. */
export function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export async function ipJson<T>(args: string[]): Promise<T> {
  const out = await ip(['-j', ...args]);
  return (out.trim() ? JSON.parse(out) : []) as T;
}

export function isMissingDevice(err: unknown): boolean {
  return /Cannot find device|does not exist/.test((err as Error).message);
}
