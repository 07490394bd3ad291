import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Makes `socketPath` free to listen on: removes a socket left by a crashed daemon, but refuses if
 * a live daemon still answers on it (two daemons on one socket would split Docker's calls).
 */
export async function claimSocketPath(socketPath: string): Promise<void> {
  await fs.mkdir(path.dirname(socketPath), { recursive: true });
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another process is serving ${socketPath}; stop it first`);
  await fs.rm(socketPath, { force: true });
}
