// This host's hidden listeners: which host port serves which overlay ip:port. An entry is only as
// good as its socket: the app closes its listener without telling anyone, so every answer is
// checked against the kernel's list of listening sockets (by cookie: a port reused by someone
// else does not count), and dead entries are dropped.
import type { Addr } from './shim-wire.js';

export interface HiddenListener {
  /** Overlay addresses this listener serves (one per endpoint IP when the app bound 0.0.0.0). */
  overlay: Addr[];
  hostPort: number;
  cookie: bigint;
  /** The app's network namespace: listeners of one namespace and port may share a host port. */
  netns: number;
  reuseport: boolean;
}

/** The kernel's LISTEN sockets on the host address, as port → cookies. */
export type LiveListeners = () => Map<number, Set<bigint>>;

const key = (a: Addr) => `${a.ip}:${a.port}`;

export class ListenerTable {
  private readonly byOverlay = new Map<string, HiddenListener[]>();
  private readonly byCookie = new Map<bigint, HiddenListener>();
  /** Host port last used for an overlay ip:port: a restarted server gets it back when free, so a
   *  client router's cached answer stays right. */
  private readonly lastPort = new Map<string, number>();

  constructor(private readonly live: LiveListeners) {}

  add(l: HiddenListener): void {
    this.byCookie.set(l.cookie, l);
    for (const a of l.overlay) {
      this.byOverlay.set(key(a), [...(this.byOverlay.get(key(a)) ?? []), l]);
      this.lastPort.set(key(a), l.hostPort);
    }
  }

  /** The host port serving overlay ip:port, if a listener for it is alive. */
  lookup(ip: string, port: number): number | null {
    const entries = this.byOverlay.get(key({ ip, port }));
    if (!entries?.length) return null;
    const live = this.live();
    for (const l of entries) if (live.get(l.hostPort)?.has(l.cookie)) return l.hostPort;
    this.sweep(live);
    return null;
  }

  /** A live reuseport listener of this namespace on this overlay port: a new one joins its group. */
  reuseportGroup(netns: number, overlay: Addr[]): number | null {
    const live = this.live();
    for (const a of overlay) {
      for (const l of this.byOverlay.get(key(a)) ?? []) {
        if (l.netns === netns && l.reuseport && live.get(l.hostPort)?.has(l.cookie)) return l.hostPort;
      }
    }
    return null;
  }

  preferredPort(overlay: Addr[]): number | null {
    for (const a of overlay) {
      const p = this.lastPort.get(key(a));
      if (p !== undefined) return p;
    }
    return null;
  }

  /** Every entry, for saving: the sockets outlive the router (the apps hold them). */
  entries(): HiddenListener[] {
    return [...this.byCookie.values()];
  }

  byCookieOf(cookie: bigint): HiddenListener | undefined {
    return this.byCookie.get(cookie);
  }

  get size(): number {
    return this.byCookie.size;
  }

  /** Drops entries whose socket is gone. */
  sweep(live = this.live()): void {
    for (const [cookie, l] of this.byCookie) {
      if (live.get(l.hostPort)?.has(cookie)) continue;
      this.byCookie.delete(cookie);
      for (const a of l.overlay) {
        const rest = (this.byOverlay.get(key(a)) ?? []).filter((x) => x !== l);
        if (rest.length) this.byOverlay.set(key(a), rest);
        else this.byOverlay.delete(key(a));
      }
    }
  }
}
