// Policy where the router hands out host sockets: the verdict for a replaced connect, taken on the
// router's current picture of the cluster; and revocation of the replaced connections this router
// made, when a new picture no longer allows them. A connect is decided, and its host socket made
// and tracked, without yielding to the event loop in between, and revocation runs synchronously
// as a new picture arrives: a connection is either decided on the new picture or found by the
// revocation that follows it.
import { endianness } from 'node:os';
import type { Logger } from 'pino';
import { destroyTcp, tcpConnections } from '../../native/router-addon/index.js';
import type { ClusterView, EndpointView } from '../router/cluster-view.js';
import { evaluate, type Subject, type Verdict } from './model.js';

/** How long a connect may wait for a container's identity (dockerd is asked right after Join).
 *  Well inside the shim's 2 s wait for the router's reply. */
const IDENTITY_WAIT_MS = 1_000;
const MAX_TRACKED = 262_144;
const PRUNE_MS = 60_000;

export function subjectOf(view: ClusterView, ep: EndpointView): Subject {
  const networkName = view.networkName(ep.networkId);
  return {
    networkId: ep.networkId,
    ...(networkName === undefined ? {} : { networkName }),
    ...(ep.container ? { container: { id: ep.container.id, name: ep.container.name, labels: ep.container.labels } } : {}),
  };
}

interface Tracked {
  /** The kernel's inet_diag_sockid of the host socket. */
  id: Buffer;
  src: string;
  dst: string;
  port: number;
}

export class PolicyGate {
  private readonly tracked = new Map<bigint, Tracked>();
  private waiters: (() => void)[] = [];
  private pruner: NodeJS.Timeout | null = null;
  readonly counts = { refused: 0, revoked: 0 };

  constructor(
    private readonly view: ClusterView,
    private readonly log: Logger,
  ) {
    view.onRefresh(() => {
      const waiting = this.waiters;
      this.waiters = [];
      for (const w of waiting) w();
    });
  }

  start(): void {
    this.pruner = setInterval(() => this.prune(), PRUNE_MS);
    this.pruner.unref();
  }

  stop(): void {
    if (this.pruner) clearInterval(this.pruner);
  }

  /** The verdict on the current picture (endpoints looked up again: the caller's copies may be old). */
  verdict(src: EndpointView, dst: EndpointView, port: number): Verdict {
    const s = this.view.endpoint(src.id) ?? src;
    const d = this.view.endpoint(dst.id) ?? dst;
    return evaluate(this.view.policies, subjectOf(this.view, s), subjectOf(this.view, d), port);
  }

  /** Waits (bounded) while the verdict hangs on identities not learnt yet. Call verdict() after. */
  async settle(src: EndpointView, dst: EndpointView, port: number): Promise<void> {
    const deadline = Date.now() + IDENTITY_WAIT_MS;
    while (this.verdict(src, dst, port).action === 'unknown' && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** A replaced connection just started: host socket `cookie` from local to remote (host
   *  addresses), on behalf of endpoint src connecting to dst on `port`. */
  track(cookie: bigint, local: { ip: string; port: number }, remote: { ip: string; port: number }, src: EndpointView, dst: EndpointView, port: number): void {
    if (this.tracked.size >= MAX_TRACKED) this.prune();
    if (this.tracked.size >= MAX_TRACKED) {
      const oldest = this.tracked.keys().next();
      if (!oldest.done) this.tracked.delete(oldest.value);
    }
    this.tracked.set(cookie, { id: sockid(local, remote, cookie), src: src.id, dst: dst.id, port });
  }

  /** Destroys the tracked connections the current picture does not allow; returns how many. */
  revoke(): number {
    const doomed: bigint[] = [];
    for (const [cookie, t] of this.tracked) {
      const src = this.view.endpoint(t.src);
      const dst = this.view.endpoint(t.dst);
      if (!src || !dst) continue; // an end is gone: so is the connection, or it soon will be
      if (this.verdict(src, dst, t.port).action !== 'allow') doomed.push(cookie);
    }
    if (!doomed.length) return 0;
    let n = 0;
    try {
      n = destroyTcp(doomed.map((c) => this.tracked.get(c)!));
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'policy: cannot destroy replaced connections');
      return 0;
    }
    for (const c of doomed) this.tracked.delete(c);
    this.counts.revoked += n;
    return n;
  }

  get trackedCount(): number {
    return this.tracked.size;
  }

  /** Forgets connections the host's socket table no longer has. */
  private prune(): void {
    try {
      const live = new Set(tcpConnections().map((c) => c.cookie));
      for (const cookie of this.tracked.keys()) if (!live.has(cookie)) this.tracked.delete(cookie);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'policy: cannot list host sockets');
    }
  }
}

/** struct inet_diag_sockid: ports and addresses in network order, interface and cookie in host order. */
export function sockid(local: { ip: string; port: number }, remote: { ip: string; port: number }, cookie: bigint): Buffer {
  const b = Buffer.alloc(48);
  b.writeUInt16BE(local.port, 0);
  b.writeUInt16BE(remote.port, 2);
  ipv4(local.ip).copy(b, 4);
  ipv4(remote.ip).copy(b, 20);
  const le = endianness() === 'LE';
  const lo = Number(cookie & 0xffffffffn);
  const hi = Number(cookie >> 32n);
  if (le) {
    b.writeUInt32LE(lo, 40);
    b.writeUInt32LE(hi, 44);
  } else {
    b.writeUInt32BE(lo, 40);
    b.writeUInt32BE(hi, 44);
  }
  return b;
}

function ipv4(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}
