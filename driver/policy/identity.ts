// Who holds each endpoint: Docker tells a network driver neither the container's name, nor its
// service, nor its labels, so after every Join (seen as a store change) this host asks its dockerd
// — never from inside a plugin request, which dockerd may be waiting on — and writes the answer on
// the endpoint's record in the cluster state, where every host's router and firewall find it.
// Also learns the names of this host's networks. The endpoint is listed by dockerd as soon as the
// Join completes; its process id once the container runs: both normally within a few hundred ms.
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { own, type ContainerIdentity, type EndpointRecord, type SlimState } from '../store/state.js';
import { StateFollower } from '../store/state-follower.js';
import type { Store } from '../store/store.js';

const DEFAULT_SOCKET = '/run/docker.sock';
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2_000;
const DOCKER_TIMEOUT_MS = 10_000;
const MAX_LABELS = 200;
const MAX_LABEL_BYTES = 4_096;

/** Local endpoints still to be asked about: joined, and not (fully) known for this sandbox. */
export function pendingEndpoints(state: SlimState, hostId: string): EndpointRecord[] {
  return Object.values(state.endpoints).filter(
    (e) => e.host === hostId && e.sandboxKey !== null && (e.container?.sandboxKey !== e.sandboxKey || e.container.pid <= 0),
  );
}

export function dockerAddress(): string {
  return process.env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`;
}

export class IdentityResolver {
  private readonly follower: StateFollower;
  private retry: NodeJS.Timeout | null = null;
  private delay = FIRST_RETRY_MS;
  private docker: Docker | null = null;
  private stopped = false;
  /** Why the last attempt failed (`slim policy ls` says it); null when it went well. */
  lastError: string | null = null;

  constructor(
    private readonly store: Store,
    private readonly hostId: string,
    private readonly log: Logger,
  ) {
    this.follower = new StateFollower(store, () => this.resolve());
  }

  start(): void {
    this.follower.start();
  }

  stop(): void {
    this.stopped = true;
    this.follower.stop();
    if (this.retry) clearTimeout(this.retry);
  }

  schedule(): void {
    this.follower.schedule();
  }

  private async client(): Promise<Docker> {
    if (!this.docker) {
      const { default: Dockerode } = await import('dockerode');
      // Without DOCKER_HOST docker-modem would prefer ~/.docker/run/docker.sock when one exists.
      this.docker = process.env.DOCKER_HOST ? new Dockerode({ timeout: DOCKER_TIMEOUT_MS }) : new Dockerode({ socketPath: DEFAULT_SOCKET, timeout: DOCKER_TIMEOUT_MS });
    }
    return this.docker;
  }

  private async resolve(): Promise<void> {
    let pending: EndpointRecord[];
    let unnamed: string[];
    try {
      const state = await this.store.read();
      pending = pendingEndpoints(state, this.hostId);
      unnamed = Object.values(state.networks).filter((n) => n.hosts.includes(this.hostId) && !n.name).map((n) => n.id);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'policy: cannot read the cluster state to resolve containers');
      return;
    }
    if (!pending.length && !unnamed.length) {
      this.delay = FIRST_RETRY_MS;
      return;
    }
    const found = new Map<string, ContainerIdentity>();
    const names = new Map<string, string>();
    try {
      const docker = await this.client();
      for (const networkId of new Set([...unnamed, ...pending.map((e) => e.networkId)])) {
        const net = await inspectNetwork(docker, networkId);
        if (!net) continue;
        names.set(networkId, net.Name);
        for (const ep of pending.filter((e) => e.networkId === networkId)) {
          const cid = Object.entries(net.Containers ?? {}).find(([, c]) => c.EndpointID === ep.id)?.[0];
          if (!cid) continue; // the Join is not finished in dockerd yet
          const c = await docker.getContainer(cid).inspect();
          found.set(ep.id, { id: c.Id, name: c.Name.replace(/^\//, ''), labels: boundedLabels(c.Config.Labels ?? {}), pid: c.State.Pid ?? 0, sandboxKey: ep.sandboxKey! });
        }
      }
      this.lastError = null;
    } catch (err) {
      const error = `dockerd at ${dockerAddress()}: ${(err as Error).message}`;
      // Once per kind of failure: retries come every few seconds.
      if (error !== this.lastError) this.log.warn({ err: error }, 'policy: cannot ask dockerd who holds the endpoints; rules naming services, containers or labels treat them as unknown (deny)');
      this.lastError = error;
    }
    if (found.size || names.size) {
      try {
        await this.store.update((state) => {
          for (const [id, identity] of found) {
            const ep = own(state.endpoints, id);
            if (ep && ep.sandboxKey === identity.sandboxKey) ep.container = identity;
          }
          for (const [id, name] of names) {
            const net = own(state.networks, id);
            if (net && !net.name) net.name = name;
          }
        });
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'policy: cannot record container identities');
      }
      for (const [id, c] of found) this.log.debug({ endpoint: id, container: c.name, pid: c.pid }, 'policy: endpoint resolved');
    }
    const left = pending.filter((e) => !(found.get(e.id)?.pid ?? 0)).length;
    if (left && !this.stopped) {
      // Soon again, backing off: the container may not be running yet.
      if (this.retry) clearTimeout(this.retry);
      this.retry = setTimeout(() => this.schedule(), this.delay);
      this.retry.unref();
      this.delay = Math.min(this.delay * 2, MAX_RETRY_MS);
    } else {
      this.delay = FIRST_RETRY_MS;
    }
  }
}

interface NetworkInfo {
  Name: string;
  Containers?: Record<string, { EndpointID?: string }>;
}

async function inspectNetwork(docker: Docker, id: string): Promise<NetworkInfo | null> {
  try {
    return (await docker.getNetwork(id).inspect()) as NetworkInfo;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return null;
    throw err;
  }
}

/** At most MAX_LABELS labels of bounded size (fromEntries: a "__proto__" label stays a label). */
function boundedLabels(labels: Record<string, string>): Record<string, string> {
  const kept = Object.entries(labels).filter(([k, v]) => typeof v === 'string' && k.length + v.length <= MAX_LABEL_BYTES);
  return Object.fromEntries(kept.slice(0, MAX_LABELS));
}
