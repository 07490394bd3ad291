// Client side: which host port serves overlay ip:port on the host that owns that IP. Asked of
// that host's router (or this host's own table) and cached briefly, so most connects cost no
// round trip. A stale positive answer is safe: the server's router checks every connection
// against the listener it was meant for, and a listener restarted on the same overlay port gets
// its old host port back.
import type { HostRecord } from '../store/state.js';
import type { ListenerTable } from './listener-table.js';
import type { RouterChannelPool } from './router-channel.js';

const POSITIVE_TTL_MS = 5_000;
const NEGATIVE_TTL_MS = 1_000;
const MAX_ENTRIES = 65_536;

export class ListenerLookup {
  private readonly cache = new Map<string, { port: number | null; until: number }>();

  constructor(
    private readonly selfId: string,
    private readonly local: ListenerTable,
    private readonly pool: RouterChannelPool,
  ) {}

  async find(owner: HostRecord, ip: string, port: number): Promise<number | null> {
    const key = `${owner.id}|${ip}:${port}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.port;
    let found: number | null;
    if (owner.id === this.selfId) found = this.local.lookup(ip, port);
    else if (owner.routerPort) found = await this.pool.lookup(owner.addr, owner.routerPort, ip, port);
    else found = null;
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(key, { port: found, until: Date.now() + (found === null ? NEGATIVE_TTL_MS : POSITIVE_TTL_MS) });
    return found;
  }

  /** After a connect to the cached port failed. */
  forget(owner: HostRecord, ip: string, port: number): void {
    this.cache.delete(`${owner.id}|${ip}:${port}`);
  }

  /** Hosts or endpoints changed: answers about them may be wrong now. */
  clear(): void {
    this.cache.clear();
  }
}
