// Authentication with the cluster secret. Both sides send a fresh random nonce; each proves it
// knows the secret with an HMAC over both nonces and both host IDs (a different label per side, so
// neither proof can be reflected as the other). Every later frame carries
// HMAC-SHA256(secret, label | direction | client nonce | server nonce | sequence | payload) with an
// implicit per-direction sequence number: a frame from another session, a re-sent, reordered,
// reflected or altered frame fails its MAC.
//
// Hello (unauthenticated, then proven): MAGIC | nonce (32) | u8 host ID length | host ID
// [| server proof (32)]. Client proof: 32 bytes. Data frame: payload | MAC (32).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from './wire.js';

export const MAGIC = Buffer.from('SLIMRC01', 'latin1'); // Slim router channel, version 1
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
export const MIN_SECRET_BYTES = 16;
export const HOST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** The largest hello: magic, nonce, length byte, a 64-byte host ID, a proof. */
export const MAX_HELLO = MAGIC.length + NONCE_BYTES + 1 + 64 + MAC_BYTES;

export type Side = 'client' | 'server';

export interface Hello {
  nonce: Buffer;
  hostId: string;
  proof: Buffer | null;
}

/** Everything both proofs and all frame MACs are bound to. */
export interface Transcript {
  clientNonce: Buffer;
  serverNonce: Buffer;
  clientHostId: string;
  serverHostId: string;
}

export function checkSecret(secret: Buffer): void {
  if (!Buffer.isBuffer(secret) || secret.length < MIN_SECRET_BYTES) {
    throw new RangeError(`the cluster secret must be a Buffer of at least ${MIN_SECRET_BYTES} bytes`);
  }
}

export function checkHostId(hostId: string): void {
  if (typeof hostId !== 'string' || !HOST_ID.test(hostId)) {
    throw new TypeError(`host ID must match ${HOST_ID}: ${JSON.stringify(hostId)}`);
  }
}

export function encodeHello(nonce: Buffer, hostId: string, proof: Buffer | null): Buffer {
  const id = Buffer.from(hostId, 'latin1'); // HOST_ID is ASCII
  const length = Buffer.from([id.length]);
  return Buffer.concat([MAGIC, nonce, length, id, ...(proof ? [proof] : [])]);
}

export function decodeHello(body: Buffer, withProof: boolean): Hello {
  const head = MAGIC.length + NONCE_BYTES + 1;
  if (body.length < head || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ProtocolError('not a router channel hello');
  }
  const idLength = body[head - 1]!;
  if (body.length !== head + idLength + (withProof ? MAC_BYTES : 0)) throw new ProtocolError('hello of the wrong size');
  const hostId = body.subarray(head, head + idLength).toString('latin1');
  if (!HOST_ID.test(hostId)) throw new ProtocolError('hello with a malformed host ID');
  return {
    nonce: Buffer.from(body.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES)),
    hostId,
    proof: withProof ? Buffer.from(body.subarray(head + idLength)) : null,
  };
}

function hostIdField(hostId: string): Buffer {
  const id = Buffer.from(hostId, 'latin1');
  return Buffer.concat([Buffer.from([id.length]), id]);
}

/** The proof `side` sends: HMAC(secret, label | nonces | host IDs). */
export function handshakeProof(secret: Buffer, side: Side, t: Transcript): Buffer {
  return createHmac('sha256', secret)
    .update(`slim router channel v1 ${side} proof\0`)
    .update(t.clientNonce)
    .update(t.serverNonce)
    .update(hostIdField(t.clientHostId))
    .update(hostIdField(t.serverHostId))
    .digest();
}

export function macEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const CLIENT_TO_SERVER = 1;
const SERVER_TO_CLIENT = 2;

/** Seals outgoing and opens incoming frames of one session, for one side. */
export class FrameAuth {
  readonly #secret: Buffer;
  readonly #sendPrefix: Buffer;
  readonly #recvPrefix: Buffer;
  #sendSeq = 0n;
  #recvSeq = 0n;

  constructor(secret: Buffer, side: Side, t: Transcript) {
    this.#secret = secret;
    const prefix = (direction: number) =>
      Buffer.concat([Buffer.from('slim router channel v1 frame\0', 'latin1'), Buffer.from([direction]), t.clientNonce, t.serverNonce]);
    this.#sendPrefix = prefix(side === 'client' ? CLIENT_TO_SERVER : SERVER_TO_CLIENT);
    this.#recvPrefix = prefix(side === 'client' ? SERVER_TO_CLIENT : CLIENT_TO_SERVER);
  }

  #mac(prefix: Buffer, seq: bigint, payload: Buffer): Buffer {
    const seqBytes = Buffer.allocUnsafe(8);
    seqBytes.writeBigUInt64BE(seq);
    return createHmac('sha256', this.#secret).update(prefix).update(seqBytes).update(payload).digest();
  }

  /** payload | MAC, the body of the next frame this side sends. */
  seal(payload: Buffer): Buffer {
    const mac = this.#mac(this.#sendPrefix, this.#sendSeq++, payload);
    return Buffer.concat([payload, mac]);
  }

  /** The payload of the next frame received; ProtocolError when it is not that frame. */
  open(body: Buffer): Buffer {
    if (body.length <= MAC_BYTES) throw new ProtocolError('frame too short');
    const payload = body.subarray(0, body.length - MAC_BYTES);
    const expected = this.#mac(this.#recvPrefix, this.#recvSeq, payload);
    if (!macEqual(expected, body.subarray(body.length - MAC_BYTES))) {
      throw new ProtocolError('frame MAC wrong (forged, replayed, reordered or altered)');
    }
    this.#recvSeq++;
    return payload;
  }
}
