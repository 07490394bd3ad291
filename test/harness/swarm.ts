// A swarm of namespace hosts running the managed Slim plugin from a test registry, with etcd as
// the cluster store: what an operator builds, done offline. Shared by the swarm tests, the bench
// and the demo.
import { SYSTEM_PATH, exec } from './exec.js';
import { Etcd } from './etcd.js';
import { loadImages } from './images.js';
import { INSECURE_REGISTRY_ARGS, startRegistry, type Registry } from './registry.js';
import { SLIM_CLI } from './slim.js';
import { World, type Host } from './world.js';

export interface SwarmOptions {
  hosts: number;
  name: string;
  /** Seconds until a dead host's endpoints are dropped (the plugin's HOST_TTL). */
  hostTtl?: number;
  images?: string[];
}

export class SlimSwarm {
  private constructor(
    readonly world: World,
    readonly registry: Registry,
    readonly etcd: Etcd,
    /** The plugin reference, also the driver name: "ADDR:5000/slim:latest". */
    readonly plugin: string,
  ) {}

  get manager(): Host {
    return this.world.hosts[0] as Host;
  }

  get workers(): Host[] {
    return this.world.hosts.slice(1);
  }

  static async create(opts: SwarmOptions): Promise<SlimSwarm> {
    const world = await World.create({ hosts: opts.hosts, name: opts.name, dockerdArgs: INSECURE_REGISTRY_ARGS });
    try {
      const manager = world.hosts[0] as Host;
      const registry = await startRegistry(manager);
      const etcd = new Etcd(manager);
      await etcd.start();
      const plugin = `${registry.addr}/slim:latest`;
      await exec('node', [SLIM_CLI, 'plugin', 'build', plugin], {
        env: { ...process.env, PATH: SYSTEM_PATH, DOCKER_HOST: `unix://${manager.dockerSock}` },
        timeoutMs: 240_000,
      });
      await manager.docker(['plugin', 'push', plugin], { timeoutMs: 120_000 });
      await manager.docker(['plugin', 'rm', '-f', plugin]); // installed from the registry like everywhere else
      const swarm = new SlimSwarm(world, registry, etcd, plugin);
      await swarm.formSwarm();
      await Promise.all(world.hosts.map((h) => swarm.installPlugin(h, opts.hostTtl ?? 10)));
      await Promise.all(world.hosts.map((h) => loadImages(h, opts.images)));
      return swarm;
    } catch (err) {
      await world.destroy();
      throw err;
    }
  }

  async installPlugin(host: Host, hostTtl: number): Promise<void> {
    await host.docker(['plugin', 'install', '--grant-all-permissions', this.plugin,
      `STORE=${this.etcd.storeSpec}`, `ADVERTISE_ADDR=${host.addr}`, `HOST_TTL=${hostTtl}`, `docker-socket.source=${host.dockerSock}`], { timeoutMs: 120_000 });
  }

  private async formSwarm(): Promise<void> {
    const m = this.manager;
    await m.docker(['swarm', 'init', '--advertise-addr', m.addr, '--listen-addr', `${m.addr}:2377`]);
    const token = (await m.docker(['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    for (const w of this.workers) {
      await w.docker(['swarm', 'join', '--token', token, '--advertise-addr', w.addr, '--listen-addr', `${w.addr}:2377`, `${m.addr}:2377`]);
    }
  }

  /** `docker` on the manager from the root namespace with extra environment (stack files use it). */
  dockerWithEnv(args: string[], env: Record<string, string>) {
    return exec('/usr/bin/docker', ['-H', `unix://${this.manager.dockerSock}`, ...args], {
      env: { ...process.env, PATH: SYSTEM_PATH, ...env },
      timeoutMs: 120_000,
    });
  }

  /** Pids of the managed plugin's daemon on host h (to kill it as a crash would). */
  async pluginPids(h: Host): Promise<string[]> {
    const { stdout } = await exec('ip', ['netns', 'pids', h.netns]);
    const out: string[] = [];
    for (const pid of stdout.split(/\s+/).filter(Boolean)) {
      const r = await exec('cat', [`/proc/${pid}/cmdline`], { allowFail: true });
      if (r.stdout.includes('/opt/slim/dist/driver/cli.js')) out.push(pid);
    }
    return out;
  }

  async destroy(): Promise<void> {
    await this.world.destroy();
  }
}
