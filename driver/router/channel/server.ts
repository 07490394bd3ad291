// The serving side of router channels: answers other routers' lookups and takes their
// announcements, only once they have proven the cluster secret.
import net from 'node:net';
import type { Logger } from 'pino';
import { checkHostId, checkSecret } from './auth.js';
import { ChannelConnection } from './connection.js';
import { decodeRequest, encodeMessage, type Reply } from './messages.js';
import type { Announcement, ChannelHandlers } from './types.js';

export interface RouterChannelServerOptions {
  secret: Buffer;
  hostId: string;
  handlers: ChannelHandlers;
  log: Logger;
  /** A peer that has not finished the handshake by then is dropped. Default 5 s. */
  handshakeTimeoutMs?: number;
  /** Lookups of one connection being answered at once; beyond it the connection is not read
   *  until some finish (TCP then pushes back on the peer). Default 256. */
  maxInFlight?: number;
  /** Connections at once, handshaking or not. Default 1024. */
  maxConnections?: number;
}

export class RouterChannelServer {
  #o: RouterChannelServerOptions;
  #server: net.Server | null = null;
  #connections = new Set<ChannelConnection>();
  #closing = false;
  #allGone: (() => void) | null = null;

  constructor(opts: RouterChannelServerOptions) {
    checkSecret(opts.secret);
    checkHostId(opts.hostId);
    this.#o = opts;
  }

  /** Connections open now (handshaking or authenticated). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Listens on host:port (0: an ephemeral port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    if (this.#server) return Promise.reject(new Error('router channel server: already listening'));
    const server = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    server.maxConnections = this.#o.maxConnections ?? 1024;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        this.#server = null;
        reject(err);
      });
      server.listen({ host, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.#o.log.error({ err }, 'router channel server error'));
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops listening and closes every connection; resolves once all are gone. */
  async close(): Promise<void> {
    this.#closing = true;
    const server = this.#server;
    const gone = this.#connections.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#allGone = resolve));
    for (const c of this.#connections) c.destroy();
    if (server?.listening) await new Promise((resolve) => server.close(resolve));
    await gone;
  }

  #accept(socket: net.Socket): void {
    const log = this.#o.log;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.#closing) return void socket.destroy();
    const max = this.#o.maxInFlight ?? 256;
    let inFlight = 0;
    let waitingForDrain = false;
    let peerHostId = '';
    // Read requests only while fewer than max are being answered and the peer takes our replies.
    const flow = (): void => {
      if (conn.closed) return;
      if (inFlight >= max) return conn.pause();
      if (conn.writableNeedDrain) {
        conn.pause();
        if (!waitingForDrain) {
          waitingForDrain = true;
          conn.onDrain(() => {
            waitingForDrain = false;
            flow();
          });
        }
        return;
      }
      conn.resume();
    };
    const conn: ChannelConnection = new ChannelConnection({
      socket,
      side: 'server',
      secret: this.#o.secret,
      hostId: this.#o.hostId,
      peer,
      log,
      handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
      onReady: (id) => {
        peerHostId = id;
        log.debug({ peer, peerHostId }, 'router channel: peer authenticated');
      },
      onMessage: (payload) => {
        const m = decodeRequest(payload);
        if (m.t === 'announce') return this.#announce(m.a, peerHostId, peer);
        inFlight++;
        flow();
        void this.#lookup(m.ip, m.port, m.id, peer).then((reply) => {
          inFlight--;
          if (conn.closed) return;
          conn.send(encodeMessage(reply));
          flow();
        });
      },
      onClose: (error) => {
        this.#connections.delete(conn);
        if (this.#connections.size === 0) this.#allGone?.();
        log.debug({ peer, peerHostId, err: error ?? undefined }, 'router channel: connection closed');
      },
    });
    this.#connections.add(conn);
  }

  async #lookup(ip: string, port: number, id: number, peer: string): Promise<Reply> {
    try {
      const answer = await this.#o.handlers.lookup(ip, port);
      if (answer === null) return { t: 'port', id, port: null };
      if (Number.isInteger(answer) && answer >= 1 && answer <= 65535) return { t: 'port', id, port: answer };
      this.#o.log.error({ peer, ip, port, answer }, 'router channel: lookup handler answered no port');
      return { t: 'error', id, message: 'lookup failed' };
    } catch (err) {
      this.#o.log.error({ peer, ip, port, err }, 'router channel: lookup handler failed');
      return { t: 'error', id, message: 'lookup failed' };
    }
  }

  #announce(a: Announcement, fromHostId: string, peer: string): void {
    try {
      this.#o.handlers.announce(a, fromHostId);
    } catch (err) {
      this.#o.log.error({ peer, fromHostId, err }, 'router channel: announce handler failed');
    }
  }
}
