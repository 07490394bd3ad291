import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * This host's ID in the cluster state: random once, then kept in the state directory, so that a
 * restarted daemon (or an upgraded managed plugin) is the same host to everyone else.
 */
export async function loadHostId(stateDir: string): Promise<string> {
  const file = path.join(stateDir, 'host-id');
  try {
    const id = (await fs.readFile(file, 'utf8')).trim();
    if (/^[0-9a-f]{16}$/.test(id)) return id;
    throw new Error(`${file} does not hold a host ID; remove it to get a new one`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const id = randomBytes(8).toString('hex');
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${id}\n`, { mode: 0o600 });
  await fs.rename(tmp, file);
  return id;
}
