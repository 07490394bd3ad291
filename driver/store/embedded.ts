import { promises as fs } from 'node:fs';
import path from 'node:path';
import { emptyState, type HostRecord, type SlimState } from './state.js';
import type { Store } from './store.js';

/**
 * Single-host store: one JSON file under the state directory. Each commit writes a temporary file,
 * fsyncs it and renames it over the old one, so a crash (kill -9, power loss) leaves either the old
 * or the new state, never a torn one.
 */
export class EmbeddedStore implements Store {
  readonly description: string;
  private state: SlimState;
  private queue: Promise<unknown> = Promise.resolve();
  private self: HostRecord | null = null;
  private readonly listeners: (() => void)[] = [];

  private constructor(private readonly file: string, state: SlimState) {
    this.description = `embedded (${file})`;
    this.state = state;
  }

  static async open(stateDir: string): Promise<EmbeddedStore> {
    await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(stateDir, 'state.json');
    let state: SlimState;
    try {
      state = parseState(await fs.readFile(file, 'utf8'), file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      state = emptyState();
    }
    return new EmbeddedStore(file, state);
  }

  async read(): Promise<SlimState> {
    return structuredClone(this.state);
  }

  update<T>(change: (state: SlimState) => T | Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const draft = structuredClone(this.state);
      const result = await change(draft);
      if (JSON.stringify(draft) !== JSON.stringify(this.state)) {
        await this.write(draft);
        this.state = draft;
        for (const listener of this.listeners) listener();
      }
      return result;
    });
    // Keep the chain alive after a failed update; the caller still sees the failure.
    this.queue = run.catch(() => undefined);
    return run;
  }

  // One host only: the registry is this process.
  async registerHost(host: HostRecord): Promise<void> {
    this.self = host;
  }

  async liveHosts(): Promise<HostRecord[]> {
    return this.self ? [this.self] : [];
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    await this.queue;
  }

  private async write(state: SlimState): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const handle = await fs.open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(state, null, 1));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, this.file);
    const dir = await fs.open(path.dirname(this.file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

function parseState(text: string, file: string): SlimState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`state file ${file} is not valid JSON (${(err as Error).message}); refusing to start over it`);
  }
  const doc = parsed as Partial<SlimState> | null;
  if (!doc || doc.version !== 1) {
    throw new Error(`state file ${file} has an unknown format (version ${String(doc?.version)}); refusing to start over it`);
  }
  return { ...emptyState(), ...doc } as SlimState;
}
