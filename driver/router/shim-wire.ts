// The shim <-> router messages of native/shim/slim_wire.h, version 1, read and written at fixed
// offsets. Both ends share a host: integers in host (little-endian) order, addresses and ports in
// network order as in sockaddr_in. Anything that does not match a known layout exactly is
// rejected; the caller closes that shim connection.

export const WIRE_MAGIC = 0x4d494c53;
export const WIRE_VERSION = 1;
export const WIRE_MAX_SIZE = 256;
export const HEADER_SIZE = 16;

export const MSG = {
  CONNECT: 1,
  CONNECT_REPLY: 2,
  LISTEN: 3,
  LISTEN_REPLY: 4,
  PEER: 5,
  PEER_REPLY: 6,
  IDENTIFY: 7,
  IDENTIFY_REPLY: 8,
} as const;

export const STATUS_OK = 0;
export const STATUS_FALLBACK = 1;
export const CONNECT_NONBLOCK = 1;
export const KIND_CONNECTION = 1;
export const KIND_LISTENER = 2;

export const OPT = {
  NODELAY: 1 << 0,
  KEEPALIVE: 1 << 1,
  KEEPIDLE: 1 << 2,
  KEEPINTVL: 1 << 3,
  KEEPCNT: 1 << 4,
  SNDBUF: 1 << 5,
  RCVBUF: 1 << 6,
  TOS: 1 << 7,
  USER_TIMEOUT: 1 << 8,
  LINGER: 1 << 9,
  SNDTIMEO: 1 << 10,
  RCVTIMEO: 1 << 11,
  REUSEADDR: 1 << 12,
  REUSEPORT: 1 << 13,
} as const;
const OPT_ALL = (1 << 14) - 1;

const SIZES: Record<number, number> = { [MSG.CONNECT]: 104, [MSG.LISTEN]: 104, [MSG.PEER]: 40, [MSG.IDENTIFY]: 24 };

export interface Addr {
  ip: string;
  port: number;
}

/** The options the app set, as in struct slim_sockopts: absent = not set by the app. */
export interface SockOpts {
  nodelay?: number;
  keepalive?: number;
  keepidle?: number;
  keepintvl?: number;
  keepcnt?: number;
  sndbuf?: number;
  rcvbuf?: number;
  tos?: number;
  userTimeout?: number;
  linger?: { onoff: number; secs: number };
  sndtimeoUs?: bigint;
  rcvtimeoUs?: bigint;
  reuseaddr?: number;
  reuseport?: number;
}

export type ShimRequest =
  | { type: typeof MSG.CONNECT; seq: number; dst: Addr; nonblock: boolean; opts: SockOpts }
  | { type: typeof MSG.LISTEN; seq: number; bound: Addr; backlog: number; opts: SockOpts }
  | { type: typeof MSG.PEER; seq: number; hostPeer: Addr; listen: Addr; cookie: bigint }
  | { type: typeof MSG.IDENTIFY; seq: number; cookie: bigint };

export class WireError extends Error {}

function readAddr(b: Buffer, at: number): Addr {
  if (b.readUInt16LE(at + 6) !== 0) throw new WireError('address padding is not zero');
  return { ip: `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`, port: b.readUInt16BE(at + 4) };
}

function writeAddr(b: Buffer, at: number, a: Addr): void {
  const parts = a.ip.split('.').map(Number);
  for (let i = 0; i < 4; i++) b[at + i] = parts[i] ?? 0;
  b.writeUInt16BE(a.port, at + 4);
}

/** SLIM_TIMEO_MAX_US in slim_wire.h */
const TIMEO_MAX_US = 365n * 24n * 3600n * 1_000_000n;

function readOpts(b: Buffer, at: number): SockOpts {
  const set = b.readUInt32LE(at);
  if (set & ~OPT_ALL) throw new WireError(`unknown option bits 0x${set.toString(16)}`);
  const int = (i: number) => b.readInt32LE(at + 4 + 4 * i);
  const opts: SockOpts = {};
  const has = (bit: number) => (set & bit) !== 0;
  if (has(OPT.NODELAY)) opts.nodelay = int(0);
  if (has(OPT.KEEPALIVE)) opts.keepalive = int(1);
  if (has(OPT.KEEPIDLE)) opts.keepidle = int(2);
  if (has(OPT.KEEPINTVL)) opts.keepintvl = int(3);
  if (has(OPT.KEEPCNT)) opts.keepcnt = int(4);
  if (has(OPT.SNDBUF)) opts.sndbuf = int(5);
  if (has(OPT.RCVBUF)) opts.rcvbuf = int(6);
  if (has(OPT.TOS)) opts.tos = int(7);
  if (has(OPT.USER_TIMEOUT)) opts.userTimeout = b.readUInt32LE(at + 4 + 4 * 8);
  if (has(OPT.LINGER)) opts.linger = { onoff: int(9), secs: int(10) };
  if (has(OPT.REUSEADDR)) opts.reuseaddr = int(11);
  if (has(OPT.REUSEPORT)) opts.reuseport = int(12);
  const timeo = (off: number) => {
    const v = b.readBigInt64LE(at + off);
    if (v < 0n || v > TIMEO_MAX_US) throw new WireError('timeout out of range');
    return v;
  };
  if (has(OPT.SNDTIMEO)) opts.sndtimeoUs = timeo(56);
  if (has(OPT.RCVTIMEO)) opts.rcvtimeoUs = timeo(64);
  return opts;
}

/** Decodes one request; throws WireError for anything that is not exactly a v1 request. */
export function decodeRequest(b: Buffer): ShimRequest {
  if (b.length < HEADER_SIZE) throw new WireError(`message of ${b.length} bytes is shorter than a header`);
  if (b.readUInt32LE(0) !== WIRE_MAGIC) throw new WireError('bad magic');
  const version = b.readUInt16LE(4);
  if (version !== WIRE_VERSION) throw new WireError(`unsupported version ${version}`);
  const type = b.readUInt16LE(6);
  const seq = b.readUInt32LE(8);
  const size = b.readUInt32LE(12);
  const expected = SIZES[type];
  if (expected === undefined) throw new WireError(`unknown request type ${type}`);
  if (size !== b.length || size !== expected) throw new WireError(`type ${type} must be ${expected} bytes, got ${b.length} (header says ${size})`);
  switch (type) {
    case MSG.CONNECT: {
      const flags = b.readUInt32LE(24);
      if (flags & ~CONNECT_NONBLOCK || b.readUInt32LE(28) !== 0) throw new WireError('bad connect flags');
      return { type, seq, dst: readAddr(b, 16), nonblock: (flags & CONNECT_NONBLOCK) !== 0, opts: readOpts(b, 32) };
    }
    case MSG.LISTEN: {
      const backlog = b.readInt32LE(24);
      if (b.readUInt32LE(28) !== 0) throw new WireError('bad listen padding');
      return { type, seq, bound: readAddr(b, 16), backlog, opts: readOpts(b, 32) };
    }
    case MSG.PEER:
      return { type, seq, hostPeer: readAddr(b, 16), listen: readAddr(b, 24), cookie: b.readBigUInt64LE(32) };
    default:
      return { type: MSG.IDENTIFY, seq, cookie: b.readBigUInt64LE(16) };
  }
}

function header(type: number, seq: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(WIRE_MAGIC, 0);
  b.writeUInt16LE(WIRE_VERSION, 4);
  b.writeUInt16LE(type, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(size, 12);
  return b;
}

const NO_ADDR: Addr = { ip: '0.0.0.0', port: 0 };

export function connectReply(seq: number, status: number, local: Addr = NO_ADDR, peer: Addr = NO_ADDR): Buffer {
  const b = header(MSG.CONNECT_REPLY, seq, 40);
  b.writeInt32LE(status, 16);
  writeAddr(b, 24, local);
  writeAddr(b, 32, peer);
  return b;
}

export function listenReply(seq: number, status: number, host: Addr = NO_ADDR): Buffer {
  const b = header(MSG.LISTEN_REPLY, seq, 32);
  b.writeInt32LE(status, 16);
  writeAddr(b, 24, host);
  return b;
}

export function peerReply(seq: number, status: number, local: Addr = NO_ADDR, peer: Addr = NO_ADDR): Buffer {
  const b = header(MSG.PEER_REPLY, seq, 40);
  b.writeInt32LE(status, 16);
  writeAddr(b, 24, local);
  writeAddr(b, 32, peer);
  return b;
}

export function identifyReply(seq: number, status: number, kind = 0, local: Addr = NO_ADDR, peer: Addr = NO_ADDR): Buffer {
  const b = header(MSG.IDENTIFY_REPLY, seq, 40);
  b.writeInt32LE(status, 16);
  b.writeUInt32LE(kind, 20);
  writeAddr(b, 24, local);
  writeAddr(b, 32, peer);
  return b;
}
