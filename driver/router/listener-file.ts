// Hidden listeners belong to the apps, not to the router: after a router restart they still
// listen, and a client router's connect must still find them. So the table is saved on every
// change (atomically, in the state directory — not the run directory, which containers mount)
// and read back at start; the kernel's list of listeners then decides which entries are alive.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { HiddenListener } from './listener-table.js';

const FILE = 'hidden-listeners.json';
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/);
const port = z.number().int().min(0).max(65535);
const saved = z.array(z.object({
  overlay: z.array(z.object({ ip: ipv4, port })).max(64),
  hostPort: port,
  cookie: z.string().regex(/^\d{1,20}$/),
  netns: z.number().int().nonnegative(),
  reuseport: z.boolean(),
})).max(1_000_000);

export async function loadListeners(dir: string): Promise<HiddenListener[]> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const parsed = saved.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${join(dir, FILE)} is not a list of hidden listeners: ${parsed.error.message}`);
  return parsed.data.map((l) => ({ ...l, cookie: BigInt(l.cookie) }));
}

export async function saveListeners(dir: string, listeners: HiddenListener[]): Promise<void> {
  const file = join(dir, FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(listeners.map((l) => ({ ...l, cookie: l.cookie.toString() }))));
  await fs.rename(tmp, file);
}
