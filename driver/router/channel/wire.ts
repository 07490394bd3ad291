// The router channel's byte layer. Every unit on the wire is a frame: a 4-byte big-endian length,
// then that many bytes. A length is checked against the cap as soon as its 4 bytes are in, so an
// oversized claim closes the connection before anything of it is buffered.

const LENGTH_BYTES = 4;
const EMPTY = Buffer.alloc(0);

/** What the peer did wrong. The connection it came on is closed; nothing in it takes effect. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export function encodeFrame(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, LENGTH_BYTES);
  return out;
}

/** Cuts a byte stream into frame bodies. Holds at most what the socket delivered beyond the last
 *  whole frame (one partial frame plus the rest of one read). */
export class FrameReader {
  #buffer: Buffer = EMPTY;
  #offset = 0;

  /** Largest body accepted; the caller lowers or raises it as the protocol moves on. */
  constructor(public maxBody: number) {}

  push(chunk: Buffer): void {
    const rest = this.#buffer.length - this.#offset;
    this.#buffer = rest === 0 ? chunk : Buffer.concat([this.#buffer.subarray(this.#offset), chunk]);
    this.#offset = 0;
  }

  /** The next whole body, or null until more bytes come. Throws ProtocolError on a bad length. */
  next(): Buffer | null {
    const available = this.#buffer.length - this.#offset;
    if (available < LENGTH_BYTES) return null;
    const length = this.#buffer.readUInt32BE(this.#offset);
    if (length === 0 || length > this.maxBody) {
      throw new ProtocolError(`frame of ${length} bytes (at most ${this.maxBody} here)`);
    }
    if (available < LENGTH_BYTES + length) return null;
    const start = this.#offset + LENGTH_BYTES;
    this.#offset = start + length;
    return this.#buffer.subarray(start, this.#offset);
  }
}
