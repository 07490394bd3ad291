// Which overlay client each host connection belongs to. The client's router says so (an
// announcement, sent as its SYN leaves); the server's shim asks when accept() returns the host
// connection. Announcements usually arrive first; a PEER that comes early waits a little.
// Afterwards the pair is remembered by socket cookie, for getpeername after exec (IDENTIFY).
import type { Addr } from './shim-wire.js';

export interface Announced {
  clientOverlay: Addr;
  dst: Addr;
  /** Router host that announced it (this host for local connections). */
  from: string;
}

export interface ConnectionAddrs {
  local: Addr;
  peer: Addr;
}

const ANNOUNCE_TTL_MS = 10_000;
const MAX_PENDING = 65_536;
const MAX_KNOWN = 131_072;

const key = (a: Addr) => `${a.ip}:${a.port}`;

export class ConnectionTable {
  private readonly pending = new Map<string, { a: Announced; at: number }>();
  private readonly waiters = new Map<string, (a: Announced | null) => void>();
  private readonly known = new Map<bigint, ConnectionAddrs>();

  /** A connection from clientHost (host ip:port) is on its way, on behalf of a. */
  announce(clientHost: Addr, a: Announced): void {
    const k = key(clientHost);
    const waiter = this.waiters.get(k);
    if (waiter) {
      this.waiters.delete(k);
      waiter(a);
      return;
    }
    if (this.pending.size >= MAX_PENDING) {
      this.expire();
      const oldest = this.pending.keys().next();
      if (this.pending.size >= MAX_PENDING && !oldest.done) this.pending.delete(oldest.value);
    }
    this.pending.set(k, { a, at: Date.now() });
  }

  /** The announcement for a host connection from clientHost, waiting up to waitMs for it. */
  async claim(clientHost: Addr, waitMs: number): Promise<Announced | null> {
    const k = key(clientHost);
    const found = this.pending.get(k);
    if (found) {
      this.pending.delete(k);
      return found.a;
    }
    if (this.waiters.has(k)) return null;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(k);
        resolve(null);
      }, waitMs);
      this.waiters.set(k, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
  }

  remember(cookie: bigint, addrs: ConnectionAddrs): void {
    if (this.known.size >= MAX_KNOWN) {
      // Oldest first (Map keeps insertion order): a long-lived exec'd process is rare.
      const oldest = this.known.keys().next();
      if (!oldest.done) this.known.delete(oldest.value);
    }
    this.known.set(cookie, addrs);
  }

  recall(cookie: bigint): ConnectionAddrs | undefined {
    return this.known.get(cookie);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Drops announcements nobody claimed (the client's connect failed). */
  expire(): void {
    const cutoff = Date.now() - ANNOUNCE_TTL_MS;
    for (const [k, v] of this.pending) if (v.at < cutoff) this.pending.delete(k);
  }
}
