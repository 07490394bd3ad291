// Typed API over slim_router_addon.node: the Unix SOCK_SEQPACKET server the shims talk to (peer
// credentials, fd passing) and the raw socket syscalls the router makes host sockets with. Node has
// none of these. The addon is loaded on first use, so importing this module never fails.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface SeqpacketConnection {
  /** SO_PEERCRED, read once at accept: who called connect(), as the kernel saw it. */
  readonly cred: PeerCred;
  readonly closed: boolean;
  /** One sendmsg, fds as SCM_RIGHTS (the kernel duplicates them: close your own copies). Never
   *  blocks. Throws with .code = 'EPIPE', 'EAGAIN' (peer not reading), 'EBADF' (closed)… */
  send(message: Buffer, fds?: number[]): void;
  /** Idempotent. 'close' follows asynchronously, once. */
  close(): void;
  /** One recvmsg = one message. The fds (O_CLOEXEC) are the listener's to close. */
  on(event: 'message', cb: (message: Buffer, fds: number[]) => void): this;
  /** Exactly once: peer gone, hostile message, error, or close(). */
  on(event: 'close', cb: () => void): this;
  once(event: 'message', cb: (message: Buffer, fds: number[]) => void): this;
  once(event: 'close', cb: () => void): this;
}

export interface SeqpacketServer {
  readonly path: string;
  /** Stops accepting and removes the socket file (if still ours). Idempotent; open connections stay. */
  close(): void;
  on(event: 'connection', cb: (c: SeqpacketConnection) => void): this;
  once(event: 'connection', cb: (c: SeqpacketConnection) => void): this;
}

export interface ListenOptions {
  /** Socket file mode, default 0o666: nginx workers run as nobody; identity is SO_PEERCRED anyway. */
  mode?: number;
  /** Larger messages close the connection. Default 4096, at most 1 MiB. */
  maxMessage?: number;
  /** More fds in one message close the connection. Default 4, at most 253. */
  maxFdsPerMessage?: number;
}

export interface LocalAddress {
  ip: string;
  port: number;
}

/** An IPv4 TCP listener as the kernel's socket table shows it. */
export interface ListeningSocket {
  /** The bound address, '0.0.0.0' for a wildcard listener. */
  ip: string;
  port: number;
  /** SO_COOKIE of the socket: equal to socketCookie(fd) on any fd for it. */
  cookie: bigint;
}

/** An IPv4 TCP socket that is not listening (nor in TIME_WAIT), as the kernel's table shows it. */
export interface TcpConnection {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** The kernel's TCP state number (1 ESTABLISHED, 2 SYN_SENT, 3 SYN_RECV, 10 LISTEN…). */
  state: number;
  cookie: bigint;
  /** The kernel's inet_diag_sockid (tuple, interface, cookie): what destroyTcp() takes. */
  id: Buffer;
}

type Handle = object & { readonly __brand: 'router-addon handle' };

interface Native {
  listen(path: string, mode: number, maxMessage: number, maxFds: number,
    onConnection: (conn: Handle, pid: number, uid: number, gid: number) => void): Handle;
  start(conn: Handle, onMessage: (message: Buffer, fds: number[]) => void, onClose: () => void): void;
  send(conn: Handle, message: Buffer, fds: number[]): void;
  close(handle: Handle): void;
  tcpSocket(nonblock: boolean, cloexec: boolean): number;
  setsockoptRaw(fd: number, level: number, name: number, value: Buffer): void;
  getsockoptInt(fd: number, level: number, name: number): number;
  connectIPv4(fd: number, ip: string, port: number): 'connected' | 'in-progress';
  bindIPv4(fd: number, ip: string, port: number): void;
  listenFd(fd: number, backlog: number): void;
  localAddress(fd: number): LocalAddress;
  socketCookie(fd: number): bigint;
  closeFd(fd: number): void;
  listeningSockets(): ListeningSocket[];
  tcpConnections(netns: string | null, withListeners: boolean): TcpConnection[];
  destroyTcp(netns: string | null, ids: Buffer): number;
  bpfObjGet(path: string): number;
  bpfMapUpdate(fd: number, key: Buffer, value: Buffer): void;
  bpfMapDelete(fd: number, key: Buffer): boolean;
  bpfMapLookup(fd: number, key: Buffer): Buffer | null;
  constants: SocketConstants;
}

/** Option levels and names for setsockoptRaw/getsockoptInt, read from the C headers. */
export interface SocketConstants {
  SOL_SOCKET: number; SO_ERROR: number; SO_REUSEADDR: number; SO_REUSEPORT: number;
  SO_KEEPALIVE: number; SO_RCVBUF: number; SO_SNDBUF: number; SO_RCVTIMEO: number;
  SO_SNDTIMEO: number; SO_LINGER: number; SO_TYPE: number; IPPROTO_IP: number; IP_TOS: number;
  IPPROTO_TCP: number; TCP_NODELAY: number; TCP_KEEPIDLE: number; TCP_KEEPINTVL: number;
  TCP_KEEPCNT: number; TCP_USER_TIMEOUT: number; TCP_FASTOPEN_CONNECT: number;
}

const ADDON = join('native', 'router-addon', 'build', 'Release', 'slim_router_addon.node');

/** The checkout (or app directory) this module runs from, sources or dist/: the first package.json
 *  up. The .node file is found from there, so the same path works for both. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('router-addon: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

let loaded: Native | undefined;

function native(): Native {
  if (!loaded) {
    const file = join(repoRoot(), ADDON);
    if (!existsSync(file)) throw new Error(`router-addon: ${file} is not built: run "npm run build:native"`);
    loaded = createRequire(import.meta.url)(file) as Native;
  }
  return loaded;
}

class Connection extends EventEmitter implements SeqpacketConnection {
  #handle: Handle;
  #closed = false;

  constructor(handle: Handle, readonly cred: PeerCred) {
    super();
    this.#handle = handle;
    native().start(
      handle,
      (message, fds) => {
        // Nobody to own them: close rather than leak.
        if (this.listenerCount('message') === 0) for (const fd of fds) closeQuietly(fd);
        else this.emit('message', message, fds);
      },
      () => {
        this.#closed = true;
        this.emit('close');
      },
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: Buffer, fds: number[] = []): void {
    native().send(this.#handle, message, fds);
  }

  close(): void {
    native().close(this.#handle);
  }
}

class Server extends EventEmitter implements SeqpacketServer {
  #handle: Handle;

  constructor(readonly path: string, opts: ListenOptions) {
    super();
    const { mode = 0o666, maxMessage = 4096, maxFdsPerMessage = 4 } = opts;
    this.#handle = native().listen(path, mode, maxMessage, maxFdsPerMessage, (conn, pid, uid, gid) => {
      // Built (and its reading started) before any listener runs: one that closes it, or throws,
      // cannot leave it half set up.
      let connection: Connection;
      try {
        connection = new Connection(conn, { pid, uid, gid });
      } catch (error) {
        native().close(conn);
        throw error;
      }
      this.emit('connection', connection);
    });
  }

  close(): void {
    native().close(this.#handle);
  }
}

function closeQuietly(fd: number): void {
  try {
    native().closeFd(fd);
  } catch {
    // already closed by someone: nothing left to leak
  }
}

/** A Unix SOCK_SEQPACKET server at path (a stale socket file there is replaced; a live one or
 *  another file is an EADDRINUSE error). Keeps the process alive until close(), like net.Server. */
export function listenSeqpacket(path: string, opts: ListenOptions = {}): SeqpacketServer {
  return new Server(path, opts);
}

/** socket(AF_INET, SOCK_STREAM). */
export function tcpSocket(opts: { nonblock: boolean; cloexec: boolean }): number {
  return native().tcpSocket(opts.nonblock, opts.cloexec);
}

/** setsockopt with the value's bytes as the kernel takes them (an int is 4 bytes, host order). */
export function setsockoptRaw(fd: number, level: number, name: number, value: Buffer): void {
  native().setsockoptRaw(fd, level, name, value);
}

export function getsockoptInt(fd: number, level: number, name: number): number {
  return native().getsockoptInt(fd, level, name);
}

/** 'in-progress' for a non-blocking socket (then wait for POLLOUT and read SO_ERROR). A blocking
 *  socket blocks the whole Node thread until the handshake ends. */
export function connectIPv4(fd: number, ip: string, port: number): 'connected' | 'in-progress' {
  return native().connectIPv4(fd, ip, port);
}

export function bindIPv4(fd: number, ip: string, port: number): void {
  native().bindIPv4(fd, ip, port);
}

export function listenFd(fd: number, backlog: number): void {
  native().listenFd(fd, backlog);
}

export function localAddress(fd: number): LocalAddress {
  return native().localAddress(fd);
}

/** SO_COOKIE: the socket's id for its lifetime; the same through dup and SCM_RIGHTS. */
export function socketCookie(fd: number): bigint {
  return native().socketCookie(fd);
}

export function closeFd(fd: number): void {
  native().closeFd(fd);
}

/** Every IPv4 TCP socket in LISTEN state in this process's network namespace (any process's, not
 *  only ours), from NETLINK_SOCK_DIAG. Synchronous: one netlink dump, microseconds to a few ms.
 *  IPv6 sockets (including dual-stack '::' listeners) are not listed. Throws as Node does
 *  (.code 'ETIMEDOUT' if the kernel does not answer within 5 s, 'EAGAIN' if the table kept
 *  changing during three dumps). */
export function listeningSockets(): ListeningSocket[] {
  return native().listeningSockets();
}

/** The IPv4 TCP sockets of a network namespace (a path such as /proc/PID/ns/net; omitted: this
 *  process's) in every state but TIME_WAIT and CLOSE, listeners only when asked. The calling
 *  thread enters the namespace only to open the netlink socket (CAP_SYS_ADMIN). Synchronous, one
 *  dump: microseconds to a few ms. */
export function tcpConnections(netns?: string, opts: { withListeners?: boolean } = {}): TcpConnection[] {
  return native().tcpConnections(netns ?? null, opts.withListeners ?? false);
}

/** SOCK_DESTROY for each socket (sock_diag, CONFIG_INET_DIAG_DESTROY; CAP_NET_ADMIN): the kernel
 *  aborts it, sending a RST; its owner's next call fails with ECONNABORTED. Sockets closed
 *  meanwhile are skipped. Returns how many were destroyed; throws (.code) on anything else. */
export function destroyTcp(sockets: readonly Pick<TcpConnection, 'id'>[], netns?: string): number {
  if (sockets.length === 0) return 0;
  return native().destroyTcp(netns ?? null, Buffer.concat(sockets.map((s) => s.id)));
}

/** Option levels and names for setsockoptRaw/getsockoptInt, from the C headers. */
export function socketConstants(): SocketConstants {
  return native().constants;
}

/** bpf(BPF_OBJ_GET): an fd (close-on-exec) for a map pinned on a bpffs (secure mode's maps,
 *  kernel-module/). Close it with closeFd. */
export function bpfObjGet(path: string): number {
  return native().bpfObjGet(path);
}

/** Creates or replaces one entry. key and value must be exactly the map's key and value sizes
 *  (RangeError otherwise). */
export function bpfMapUpdate(fd: number, key: Buffer, value: Buffer): void {
  native().bpfMapUpdate(fd, key, value);
}

/** True if there was an entry to delete. */
export function bpfMapDelete(fd: number, key: Buffer): boolean {
  return native().bpfMapDelete(fd, key);
}

/** The entry's value (a per-CPU map: one 8-byte-aligned slot per possible CPU), or null. */
export function bpfMapLookup(fd: number, key: Buffer): Buffer | null {
  return native().bpfMapLookup(fd, key);
}
