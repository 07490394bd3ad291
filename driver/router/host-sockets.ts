// Host sockets made for containers: created non-blocking and close-on-exec, given the options the
// app set on its own socket (before the SYN: buffer sizes and window scaling depend on it).
import { bindIPv4, closeFd, connectIPv4, listenFd, localAddress, setsockoptRaw, socketConstants, tcpSocket } from '../../native/router-addon/index.js';
import type { Addr, SockOpts } from './shim-wire.js';

function int(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

function timeval(us: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigInt64LE(us / 1_000_000n, 0);
  b.writeBigInt64LE(us % 1_000_000n, 8);
  return b;
}

export function applyOptions(fd: number, o: SockOpts): void {
  const c = socketConstants();
  const set = (level: number, name: number, value: Buffer) => setsockoptRaw(fd, level, name, value);
  if (o.reuseaddr !== undefined) set(c.SOL_SOCKET, c.SO_REUSEADDR, int(o.reuseaddr));
  if (o.reuseport !== undefined) set(c.SOL_SOCKET, c.SO_REUSEPORT, int(o.reuseport));
  if (o.sndbuf !== undefined) set(c.SOL_SOCKET, c.SO_SNDBUF, int(o.sndbuf));
  if (o.rcvbuf !== undefined) set(c.SOL_SOCKET, c.SO_RCVBUF, int(o.rcvbuf));
  if (o.keepalive !== undefined) set(c.SOL_SOCKET, c.SO_KEEPALIVE, int(o.keepalive));
  if (o.keepidle !== undefined) set(c.IPPROTO_TCP, c.TCP_KEEPIDLE, int(o.keepidle));
  if (o.keepintvl !== undefined) set(c.IPPROTO_TCP, c.TCP_KEEPINTVL, int(o.keepintvl));
  if (o.keepcnt !== undefined) set(c.IPPROTO_TCP, c.TCP_KEEPCNT, int(o.keepcnt));
  if (o.nodelay !== undefined) set(c.IPPROTO_TCP, c.TCP_NODELAY, int(o.nodelay));
  if (o.tos !== undefined) set(c.IPPROTO_IP, c.IP_TOS, int(o.tos));
  if (o.userTimeout !== undefined) set(c.IPPROTO_TCP, c.TCP_USER_TIMEOUT, int(o.userTimeout));
  if (o.linger !== undefined) {
    const b = Buffer.alloc(8);
    b.writeInt32LE(o.linger.onoff, 0);
    b.writeInt32LE(o.linger.secs, 4);
    set(c.SOL_SOCKET, c.SO_LINGER, b);
  }
  if (o.sndtimeoUs !== undefined) set(c.SOL_SOCKET, c.SO_SNDTIMEO, timeval(o.sndtimeoUs));
  if (o.rcvtimeoUs !== undefined) set(c.SOL_SOCKET, c.SO_RCVTIMEO, timeval(o.rcvtimeoUs));
}

/** Runs fn with a fresh non-blocking host socket; closes it if fn throws. */
function withSocket<T>(fn: (fd: number) => T): T {
  const fd = tcpSocket({ nonblock: true, cloexec: true });
  try {
    return fn(fd);
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/** Starts a connect to hostAddr:hostPort; the handshake goes on in the kernel. */
export function startConnect(opts: SockOpts, hostAddr: string, hostPort: number): { fd: number; local: Addr } {
  return withSocket((fd) => {
    applyOptions(fd, opts);
    connectIPv4(fd, hostAddr, hostPort);
    return { fd, local: localAddress(fd) };
  });
}

/** A listener on hostAddr, on `port` (0 = any); throws EADDRINUSE and the like. */
export function openListener(opts: SockOpts, hostAddr: string, port: number, backlog: number): { fd: number; port: number } {
  return withSocket((fd) => {
    applyOptions(fd, opts);
    bindIPv4(fd, hostAddr, port);
    listenFd(fd, backlog);
    return { fd, port: localAddress(fd).port };
  });
}

/** The negative errno the addon put on a failed syscall's error, for the wire; null if none. */
export function errnoOf(err: unknown): number | null {
  const n = (err as { errno?: unknown }).errno;
  return typeof n === 'number' && Number.isInteger(n) && n < 0 && n > -4096 ? n : null;
}
