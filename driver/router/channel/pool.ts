// The asking side of router channels: one kept-open, authenticated connection per peer router,
// opened on first use (concurrent first uses share it), reopened on the next use after it failed.
// Lookups are matched to answers by id, any number in flight; announcements go down the same
// connection, in order with the lookups, and never wait.
import net from 'node:net';
import type { Logger } from 'pino';
import { checkHostId, checkSecret } from './auth.js';
import { ChannelConnection } from './connection.js';
import { announcementSchema, decodeReply, encodeMessage, lookupTarget, type Reply } from './messages.js';
import { ChannelError, type Announcement } from './types.js';
import { ProtocolError } from './wire.js';

export interface RouterChannelPoolOptions {
  secret: Buffer;
  hostId: string;
  log: Logger;
  /** A lookup not answered by then rejects with ETIMEDOUT. Default 3 s. */
  requestTimeoutMs?: number;
  /** TCP connect plus handshake. Default 5 s. */
  handshakeTimeoutMs?: number;
  /** Messages held per peer while its channel opens; beyond, lookups reject (EBUSY) and
   *  announcements are dropped. Default 4096. */
  maxQueued?: number;
  /** Unsent bytes per channel beyond which announcements are dropped instead of buffered. 1 MiB. */
  maxWriteBuffer?: number;
}

interface Pending {
  resolve(port: number | null): void;
  reject(error: ChannelError): void;
  timer: NodeJS.Timeout;
  /** received-frame count when the request was made: unchanged at its timeout = peer silent */
  heardAtSend: number;
}

/** One peer's channel: a connection and what waits on it. */
class PeerChannel {
  readonly conn: ChannelConnection;
  readonly closed: Promise<void>;
  #queue: Buffer[] = [];
  #pending = new Map<number, Pending>();
  #lastId = 0;
  #heard = 0;

  constructor(
    readonly peer: string,
    host: string,
    port: number,
    private readonly o: Required<Omit<RouterChannelPoolOptions, 'log'>> & { log: Logger },
    onGone: (ch: PeerChannel) => void,
  ) {
    let closed!: () => void;
    this.closed = new Promise((resolve) => (closed = resolve));
    const socket = net.connect({ host, port, noDelay: true });
    this.conn = new ChannelConnection({
      socket,
      side: 'client',
      secret: o.secret,
      hostId: o.hostId,
      peer,
      log: o.log,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      onReady: (peerHostId) => {
        o.log.debug({ peer, peerHostId }, 'router channel: connected');
        for (const payload of this.#queue) this.conn.send(payload);
        this.#queue = [];
      },
      onMessage: (payload) => this.#reply(decodeReply(payload)),
      onClose: (error) => {
        onGone(this);
        const reason = error ? `${error.message}` : 'closed';
        if (error && !(error instanceof ProtocolError)) o.log.info({ peer, reason }, 'router channel: connection failed');
        else o.log.debug({ peer, reason }, 'router channel: connection closed');
        const failure = new ChannelError('ECHANNEL', `router channel to ${peer}: ${reason}`);
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(failure);
        }
        this.#pending.clear();
        this.#queue = [];
        closed();
      },
    });
  }

  lookup(ip: string, port: number): Promise<number | null> {
    if (!this.conn.ready && this.#queue.length >= this.o.maxQueued) {
      return Promise.reject(new ChannelError('EBUSY', `router channel to ${this.peer}: too many requests waiting`));
    }
    const id = ++this.#lastId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#timeout(id), this.o.requestTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer, heardAtSend: this.#heard });
      this.#post(encodeMessage({ t: 'lookup', id, ip, port }));
    });
  }

  /** false when dropped (queue or write buffer full) */
  announce(a: Announcement): boolean {
    if (this.conn.ready ? this.conn.writableLength > this.o.maxWriteBuffer : this.#queue.length >= this.o.maxQueued) return false;
    this.#post(encodeMessage({ t: 'announce', a }));
    return true;
  }

  #post(payload: Buffer): void {
    if (this.conn.ready) this.conn.send(payload);
    else this.#queue.push(payload);
  }

  #reply(m: Reply): void {
    this.#heard++;
    if (m.id > this.#lastId) throw new ProtocolError(`answer to request ${m.id}, never asked`);
    const p = this.#pending.get(m.id);
    if (!p) return; // answered after its timeout
    this.#pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.t === 'port') p.resolve(m.port);
    else p.reject(new ChannelError('EREMOTE', `router channel to ${this.peer}: ${m.message}`));
  }

  #timeout(id: number): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.reject(new ChannelError('ETIMEDOUT', `router channel to ${this.peer}: no answer within ${this.o.requestTimeoutMs} ms`));
    // Nothing at all came back since: the connection is presumed dead; the next use opens another.
    if (this.#heard === p.heardAtSend) {
      this.o.log.warn({ peer: this.peer }, 'router channel: peer silent, closing connection');
      this.conn.destroy(new Error('peer silent'));
    }
  }
}

/** A peer is reached by address (underlay IP or name) and router port. */
function validPeer(addr: string, port: number): boolean {
  return typeof addr === 'string' && addr.length > 0 && addr.length <= 255 && Number.isInteger(port) && port >= 1 && port <= 65535;
}

export class RouterChannelPool {
  #o: Required<Omit<RouterChannelPoolOptions, 'log'>> & { log: Logger };
  #channels = new Map<string, PeerChannel>();
  #closing = new Set<Promise<void>>();
  #closed = false;

  constructor(opts: RouterChannelPoolOptions) {
    checkSecret(opts.secret);
    checkHostId(opts.hostId);
    this.#o = {
      requestTimeoutMs: 3_000,
      handshakeTimeoutMs: 5_000,
      maxQueued: 4096,
      maxWriteBuffer: 1 << 20,
      ...opts,
    };
  }

  /** Channels open or opening now. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** The host port serving overlay ip:port on that peer (null: none). Rejects with a ChannelError
   *  (.code ETIMEDOUT, ECHANNEL, EREMOTE, EBUSY, ECLOSED) or a TypeError for a bad argument. */
  lookup(peerAddr: string, peerPort: number, ip: string, port: number): Promise<number | null> {
    if (!validPeer(peerAddr, peerPort)) {
      return Promise.reject(new TypeError(`router channel lookup: not a peer address and port: ${peerAddr}:${peerPort}`));
    }
    if (!lookupTarget.safeParse({ ip, port }).success) {
      return Promise.reject(new TypeError(`router channel lookup: not an IPv4 address and port: ${ip}:${port}`));
    }
    const ch = this.#channel(peerAddr, peerPort);
    if (!ch) return Promise.reject(new ChannelError('ECLOSED', 'router channel pool is closed'));
    return ch.lookup(ip, port);
  }

  /** Sends the announcement and returns at once; never throws. One the channel cannot take (pool
   *  closed, queue or buffer full) is dropped with a warning, a malformed one or a bad peer
   *  address with an error line. */
  announce(peerAddr: string, peerPort: number, a: Announcement): void {
    const parsed = announcementSchema.safeParse(a);
    if (!parsed.success || !validPeer(peerAddr, peerPort)) {
      this.#o.log.error({ peer: `${peerAddr}:${peerPort}`, announcement: a }, 'router channel: malformed announcement or peer, dropped');
      return;
    }
    const ch = this.#channel(peerAddr, peerPort);
    if (!ch || !ch.announce(parsed.data)) {
      this.#o.log.warn({ peer: `${peerAddr}:${peerPort}`, dst: a.dst }, 'router channel: announcement dropped');
    }
  }

  /** Closes every channel; pending lookups reject (ECHANNEL), later calls with ECLOSED. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const ch of this.#channels.values()) ch.conn.destroy();
    await Promise.all([...this.#closing]);
  }

  #channel(host: string, port: number): PeerChannel | null {
    if (this.#closed) return null;
    const key = `${host}:${port}`;
    let ch = this.#channels.get(key);
    if (!ch || ch.conn.closed) {
      ch = new PeerChannel(key, host, port, this.#o, (gone) => {
        if (this.#channels.get(key) === gone) this.#channels.delete(key);
      });
      this.#channels.set(key, ch);
      const closed = ch.closed;
      this.#closing.add(closed);
      void closed.then(() => this.#closing.delete(closed));
    }
    return ch;
  }
}
