// A World: a test bridge in the root namespace and N hosts (netns + own dockerd) on it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from './host.js';
import { BASE_DIR, cgroupParent, newRunId, tag, worldDirName } from './names.js';
import { teardownSync } from './teardown.js';
import { addHostNetns, createUnderlay, type Underlay } from './underlay.js';

export { Host } from './host.js';
export type { CommandOptions } from './host.js';

export interface WorldOptions {
  hosts: number;
  /** shows up in the world's directory name, to tell runs apart while debugging */
  name?: string;
  /** extra dockerd flags for every host, e.g. ['--insecure-registry', '10.77.30.1:5000'] */
  dockerdArgs?: string[];
  /** default true; false leaves every host without a running dockerd */
  startDockerd?: boolean;
}

const MAX_HOSTS = 50;
const live = new Set<World>();
// Runs that have kernel objects but no World object yet (failure inside create()).
const pendingRuns = new Set<string>();

export class World {
  readonly runId: string;
  /** "st" + runId: prefix of every netns, link, cgroup and directory of this world */
  readonly tag: string;
  readonly dir: string;
  readonly bridge: string;
  /** the bridge's address in the root namespace; hosts reach root-namespace services here */
  readonly bridgeAddr: string;
  readonly hosts: Host[] = [];
  private destroying: Promise<void> | undefined;
  private problems: string[] = [];

  private constructor(runId: string, dir: string, underlay: Underlay) {
    this.runId = runId;
    this.tag = tag(runId);
    this.dir = dir;
    this.bridge = underlay.bridge;
    this.bridgeAddr = underlay.bridgeAddr;
  }

  static async create(opts: WorldOptions): Promise<World> {
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
      throw new Error(`hosts must be 1..${MAX_HOSTS}`);
    }
    if (process.getuid?.() !== 0) throw new Error('the host-tier harness needs root');
    installExitHandlers();
    const runId = newRunId();
    const dir = join(BASE_DIR, worldDirName(runId, opts.name));
    // Registered before anything exists so that an exit half-way through is still cleaned up.
    pendingRuns.add(runId);
    mkdirSync(dir, { recursive: true });
    let world: World | undefined;
    try {
      const underlay = await createUnderlay(runId);
      world = new World(runId, dir, underlay);
      live.add(world);
      pendingRuns.delete(runId);
      for (let i = 1; i <= opts.hosts; i++) {
        const name = `h${i}`;
        const addr = `${underlay.net}.${10 + i}`;
        const netns = await addHostNetns(runId, underlay, name, addr);
        const host = new Host({
          name,
          netns,
          addr,
          dir: join(dir, name),
          cgroupParent: cgroupParent(runId, name),
          dockerdArgs: opts.dockerdArgs ?? [],
          nameserver: underlay.bridgeAddr,
        });
        world.hosts.push(host);
        await host.createNamespaces();
      }
      if (opts.startDockerd !== false) {
        // allSettled: destroy() must not race a start-up that is still polling.
        const started = await Promise.allSettled(world.hosts.map((h) => h.startDockerd()));
        const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      }
      return world;
    } catch (e) {
      if (world) await world.destroy();
      else teardownSync(runId);
      pendingRuns.delete(runId);
      throw e;
    }
  }

  host(name: string): Host {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in world ${this.tag}`);
    return h;
  }

  /** What the last destroy() could not remove (empty when all went well). */
  get cleanupProblems(): string[] {
    return [...this.problems];
  }

  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    try {
      await Promise.all(this.hosts.map((h) => h.shutdown().catch(() => undefined)));
    } finally {
      this.problems = teardownSync(this.runId);
      live.delete(this);
      if (this.problems.length > 0) {
        process.emitWarning(`world ${this.tag}: cleanup left ${this.problems.join('; ')}`);
      }
    }
  }
}

let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort: synchronous, forceful. Covers a test that never called destroy().
  process.on('exit', () => {
    for (const w of live) teardownSync(w.runId);
    for (const r of pendingRuns) teardownSync(r);
  });
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) process.exit(130); // second signal: skip the graceful part
    interrupted = true;
    const code = sig === 'SIGINT' ? 130 : 143;
    void Promise.allSettled([...live].map((w) => w.destroy())).finally(() => process.exit(code));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
