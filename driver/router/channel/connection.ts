// One router-channel TCP connection, either side: the handshake, then authenticated frames.
//
//   client                                   server
//   hello(Nc, client host ID)          →
//                                      ←     hello(Ns, server host ID, server proof)
//   client proof, data frames…         →     (nothing is acted on before the proof checks out)
//                                      ←     data frames…
//
// The client may send its first requests right behind its proof: one round trip after TCP's.
// Anything wrong (bad length, bad hello, wrong proof, bad MAC, a message its owner rejects with
// a ProtocolError) closes the connection at once, logged at warn with the peer's address; frames
// after it are never read.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  decodeHello,
  encodeHello,
  FrameAuth,
  handshakeProof,
  MAC_BYTES,
  macEqual,
  MAX_HELLO,
  NONCE_BYTES,
  type Side,
  type Transcript,
} from './auth.js';
import { MAX_PAYLOAD } from './messages.js';
import { encodeFrame, FrameReader, ProtocolError } from './wire.js';

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
const KEEPALIVE_MS = 10_000;

type State = 'hello' | 'proof' | 'ready' | 'closed';

export interface ConnectionOptions {
  socket: Socket;
  side: Side;
  secret: Buffer;
  hostId: string;
  /** "address:port" of the other end, for logs */
  peer: string;
  log: Logger;
  handshakeTimeoutMs?: number;
  /** Handshake done; frames may be sent. */
  onReady(peerHostId: string): void;
  /** One authenticated payload, in order. Throw ProtocolError to reject it (closes). */
  onMessage(payload: Buffer): void;
  /** Exactly once, when the socket is gone. error: why, when it was not a clean close. */
  onClose(error: Error | null): void;
}

export class ChannelConnection {
  readonly peer: string;
  #o: ConnectionOptions;
  #socket: Socket;
  #state: State;
  #reader = new FrameReader(MAX_HELLO);
  #myNonce = randomBytes(NONCE_BYTES);
  #transcript: Transcript | null = null;
  #auth: FrameAuth | null = null;
  #timer: NodeJS.Timeout | null;
  #paused = false;
  #error: Error | null = null;
  peerHostId: string | null = null;

  constructor(o: ConnectionOptions) {
    this.#o = o;
    this.peer = o.peer;
    this.#socket = o.socket;
    this.#state = 'hello';
    const timeout = o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#timer = setTimeout(() => this.fail(new ProtocolError(`no handshake within ${timeout} ms`)), timeout);
    const s = this.#socket;
    s.setNoDelay(true);
    s.setKeepAlive(true, KEEPALIVE_MS);
    s.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk);
      this.#drain();
    });
    s.on('error', (error) => {
      this.#error ??= error;
    });
    s.on('close', () => {
      this.#state = 'closed';
      this.#clearTimer();
      this.#o.onClose(this.#error);
    });
    if (o.side === 'client') {
      if (s.connecting) s.once('connect', () => this.#write(encodeHello(this.#myNonce, o.hostId, null)));
      else this.#write(encodeHello(this.#myNonce, o.hostId, null));
    }
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  get closed(): boolean {
    return this.#state === 'closed' || this.#socket.destroyed;
  }

  /** Bytes written but not yet taken by the kernel. */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  get writableNeedDrain(): boolean {
    return this.#socket.writableNeedDrain;
  }

  onDrain(cb: () => void): void {
    this.#socket.once('drain', cb);
  }

  /** Seals and writes one payload (only once ready). */
  send(payload: Buffer): void {
    if (this.#state !== 'ready' || !this.#auth) throw new Error('router channel: send before the handshake');
    if (payload.length > MAX_PAYLOAD) throw new RangeError(`router channel payload of ${payload.length} bytes`);
    this.#write(this.#auth.seal(payload));
  }

  /** Stops handing out messages (and reading the socket) until resume(). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket.resume();
    this.#drain();
  }

  /** The peer broke the protocol: warn, close, read nothing more. */
  fail(error: Error): void {
    if (this.closed) return;
    this.#o.log.warn({ peer: this.peer, side: this.#o.side, reason: error.message }, 'router channel: closing connection');
    this.destroy(error);
  }

  destroy(error: Error | null = null): void {
    if (this.#state === 'closed') return;
    this.#error ??= error;
    this.#state = 'closed';
    this.#clearTimer();
    this.#socket.destroy();
  }

  #write(body: Buffer): void {
    if (!this.#socket.destroyed) this.#socket.write(encodeFrame(body));
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #drain(): void {
    try {
      while (!this.#paused && this.#state !== 'closed') {
        const body = this.#reader.next();
        if (!body) return;
        this.#handle(body);
      }
    } catch (error) {
      if (error instanceof ProtocolError) this.fail(error);
      else {
        this.#o.log.error({ peer: this.peer, err: error }, 'router channel: internal error, closing connection');
        this.destroy(error as Error);
      }
    }
  }

  #handle(body: Buffer): void {
    const o = this.#o;
    if (this.#state === 'ready') return o.onMessage(this.#auth!.open(body));
    if (o.side === 'client') {
      // The server's hello and proof, in answer to ours.
      const hello = decodeHello(body, true);
      const t: Transcript = { clientNonce: this.#myNonce, serverNonce: hello.nonce, clientHostId: o.hostId, serverHostId: hello.hostId };
      if (!macEqual(handshakeProof(o.secret, 'server', t), hello.proof!)) {
        throw new ProtocolError('server proof wrong (not our cluster secret)');
      }
      this.#write(handshakeProof(o.secret, 'client', t));
      return this.#becomeReady(t, hello.hostId);
    }
    if (this.#state === 'hello') {
      const hello = decodeHello(body, false);
      const t: Transcript = { clientNonce: hello.nonce, serverNonce: this.#myNonce, clientHostId: hello.hostId, serverHostId: o.hostId };
      if (t.clientNonce.equals(t.serverNonce)) throw new ProtocolError('hello echoes our nonce');
      this.#transcript = t;
      this.#state = 'proof';
      this.#reader.maxBody = MAC_BYTES;
      this.#write(encodeHello(this.#myNonce, o.hostId, handshakeProof(o.secret, 'server', t)));
      return;
    }
    // state 'proof': the client's
    const t = this.#transcript!;
    if (!macEqual(handshakeProof(o.secret, 'client', t), body)) throw new ProtocolError('client proof wrong (not our cluster secret)');
    this.#becomeReady(t, t.clientHostId);
  }

  #becomeReady(t: Transcript, peerHostId: string): void {
    this.#auth = new FrameAuth(this.#o.secret, this.#o.side, t);
    this.#reader.maxBody = MAX_PAYLOAD + MAC_BYTES;
    this.#state = 'ready';
    this.peerHostId = peerHostId;
    this.#clearTimer();
    this.#o.onReady(peerHostId);
  }
}
