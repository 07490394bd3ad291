// The router's read-only picture of the cluster: endpoints by IP and live hosts, refreshed on every
// store change (and every few seconds), so a connect() costs no store round trip. When the store
// cannot be read the last picture stays: existing knowledge keeps serving.
import type { Logger } from 'pino';
import type { PolicyRule } from '../policy/model.js';
import type { ContainerIdentity, EndpointRecord, HostRecord } from '../store/state.js';
import { StateFollower } from '../store/state-follower.js';
import type { Store } from '../store/store.js';

export interface EndpointView {
  id: string;
  networkId: string;
  host: string;
  ip: string;
  /** The endpoint asked never to get host sockets (it must stay live-migratable). */
  liveMigration: boolean;
  /** Who holds it, once dockerd has been asked (policy matches on it). */
  container?: ContainerIdentity;
  /** Its container's main process while joined to the sandbox it was resolved for. */
  pid?: number;
}

export class ClusterView {
  private byIp = new Map<string, EndpointView[]>();
  private hosts = new Map<string, HostRecord>();
  private byId = new Map<string, EndpointView>();
  private networkNames = new Map<string, string>();
  /** The connection policy, in evaluation order. */
  policies: PolicyRule[] = [];
  private readonly follower: StateFollower;
  private readonly listeners: (() => void)[] = [];
  /** Bumped on every refresh: caches keyed on the picture compare it. */
  generation = 0;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.follower = new StateFollower(store, () => this.refresh());
  }

  async start(): Promise<void> {
    this.follower.start();
    await this.follower.settled();
  }

  stop(): void {
    this.follower.stop();
  }

  onRefresh(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Endpoints with this IP (one per network that has it). */
  endpointsWithIp(ip: string): EndpointView[] {
    return this.byIp.get(ip) ?? [];
  }

  endpoint(id: string): EndpointView | undefined {
    return this.byId.get(id);
  }

  allEndpoints(): IterableIterator<EndpointView> {
    return this.byId.values();
  }

  /** Docker's name for a network, once learnt. */
  networkName(id: string): string | undefined {
    return this.networkNames.get(id);
  }

  host(id: string): HostRecord | undefined {
    return this.hosts.get(id);
  }

  hostByAddr(addr: string): HostRecord | undefined {
    for (const h of this.hosts.values()) if (h.addr === addr) return h;
    return undefined;
  }

  private async refresh(): Promise<void> {
    try {
      const [state, hosts] = await Promise.all([this.store.read(), this.store.liveHosts()]);
      const byIp = new Map<string, EndpointView[]>();
      for (const ep of Object.values(state.endpoints)) {
        const view = toView(ep);
        byIp.set(view.ip, [...(byIp.get(view.ip) ?? []), view]);
      }
      this.byIp = byIp;
      this.byId = new Map([...byIp.values()].flat().map((v) => [v.id, v]));
      this.networkNames = new Map(Object.values(state.networks).flatMap((n) => (n.name ? [[n.id, n.name] as const] : [])));
      this.policies = state.policies ?? [];
      this.hosts = new Map(hosts.map((h) => [h.id, h]));
      this.generation++;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'router: cannot read the cluster state; keeping what it knew');
      return;
    }
    for (const l of this.listeners) l();
  }
}

function toView(ep: EndpointRecord): EndpointView {
  return {
    id: ep.id, networkId: ep.networkId, host: ep.host, ip: ep.address.split('/')[0] ?? '', liveMigration: ep.liveMigration === true,
    ...(ep.container ? { container: ep.container } : {}),
    ...(ep.container && ep.sandboxKey === ep.container.sandboxKey ? { pid: ep.container.pid } : {}),
  };
}
