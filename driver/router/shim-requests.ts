// One handler per shim request (CONNECT, LISTEN, PEER, IDENTIFY). Each answers with a reply
// buffer and at most one fd, which the caller sends and then closes. Who the caller is comes
// from the kernel (Caller); the request only says what it wants.
import { closeFd, socketCookie } from '../../native/router-addon/index.js';
import type { PolicyGate } from '../policy/gate.js';
import type { SecureMaps } from '../secure/maps.js';
import type { Caller } from './callers.js';
import type { ClusterView, EndpointView } from './cluster-view.js';
import type { ConnectionTable } from './connection-table.js';
import { errnoOf, openListener, startConnect } from './host-sockets.js';
import type { ListenerLookup } from './listener-lookup.js';
import type { ListenerTable } from './listener-table.js';
import type { RouterChannelPool } from './router-channel.js';
import {
  type Addr, connectReply, identifyReply, KIND_CONNECTION, KIND_LISTENER, listenReply, MSG, peerReply, type ShimRequest,
  STATUS_FALLBACK, STATUS_OK,
} from './shim-wire.js';

const ENOENT = -2;
/** What a connect the policy denies returns: the same as the overlay's firewall (a TCP reset). */
const ECONNREFUSED = -111;
const ECONNABORTED = -103;
/** How long accept() may wait for the client router's announcement (normally already there). */
const PEER_WAIT_MS = 500;
const SOMAXCONN = 4096;
const NO_ADDR: Addr = { ip: '0.0.0.0', port: 0 };

export interface Reply {
  message: Buffer;
  fd?: number;
  /** For the router's counters and logs. */
  outcome: 'replaced' | 'fallback' | 'refused' | 'error' | 'answered';
  /** Why the overlay was chosen (logged at debug: operators asking "why not replaced?"). */
  reason?: string;
  /** A hidden listener was added: the table must be saved. */
  listenerAdded?: boolean;
}

export interface RequestContext {
  hostId: string;
  advertiseAddr: string;
  view: ClusterView;
  listeners: ListenerTable;
  lookup: ListenerLookup;
  connections: ConnectionTable;
  pool: RouterChannelPool;
  /** Secure mode: every host socket handed out is recorded for the kernel; absent in trusted mode. */
  secure?: SecureMaps;
  /** Connection policy (driver/policy); absent: everything allowed. */
  policy?: PolicyGate;
}

export async function handleRequest(ctx: RequestContext, caller: Caller | null, req: ShimRequest): Promise<Reply> {
  switch (req.type) {
    case MSG.CONNECT:
      return connect(ctx, caller, req);
    case MSG.LISTEN:
      return listen(ctx, caller, req);
    case MSG.PEER:
      return peer(ctx, caller, req);
    case MSG.IDENTIFY:
      return identify(ctx, caller, req);
  }
}

/** The caller's endpoints on this host that may have host sockets. */
function callerEndpoints(ctx: RequestContext, caller: Caller): EndpointView[] {
  return caller.addresses.flatMap((ip) => ctx.view.endpointsWithIp(ip).filter((e) => e.host === ctx.hostId));
}

async function connect(ctx: RequestContext, caller: Caller | null, req: Extract<ShimRequest, { type: 1 }>): Promise<Reply> {
  const fallback = (reason: string): Reply => ({ message: connectReply(req.seq, STATUS_FALLBACK), outcome: 'fallback', reason });
  if (!caller) return fallback('caller gone or unreadable');
  const mine = callerEndpoints(ctx, caller);
  // The destination's endpoint on a network the caller is on too; otherwise it is not Slim's to serve.
  let pair: { src: EndpointView; dst: EndpointView } | undefined;
  for (const dst of ctx.view.endpointsWithIp(req.dst.ip)) {
    const src = mine.find((e) => e.networkId === dst.networkId);
    if (src) pair = { src, dst };
  }
  if (!pair) return fallback('destination is not on a Slim network of the caller');
  const { src, dst } = pair;
  const refused = (why: string): Reply => {
    if (ctx.policy) ctx.policy.counts.refused++;
    return { message: connectReply(req.seq, ECONNREFUSED), outcome: 'refused', reason: `policy: ${why}` };
  };
  if (ctx.policy) {
    await ctx.policy.settle(src, dst, req.dst.port); // while it hangs on an identity not learnt yet
    const v = ctx.policy.verdict(src, dst, req.dst.port);
    if (v.action !== 'allow') return refused(`${v.action} by rule ${v.rule}`);
  }
  if (pair.src.liveMigration || pair.dst.liveMigration) return fallback('live-migration endpoint');
  const owner = ctx.view.host(pair.dst.host);
  if (!owner) return fallback('destination host not live');
  let hostPort: number | null;
  try {
    hostPort = await ctx.lookup.find(owner, req.dst.ip, req.dst.port);
  } catch {
    return fallback('far router unreachable'); // the overlay still is
  }
  if (hostPort === null) return fallback('no Slim listener there (server without the shim, or not listening yet)');
  // Decided again on the current picture, with no await from here until the socket is tracked:
  // a policy change either reaches this check or the revocation that follows it finds the socket.
  const again = ctx.policy?.verdict(src, dst, req.dst.port);
  if (again && again.action !== 'allow') return refused(`${again.action} by rule ${again.rule}`);
  let started;
  try {
    started = startConnect(req.opts, owner.addr, hostPort);
  } catch (err) {
    ctx.lookup.forget(owner, req.dst.ip, req.dst.port);
    const errno = errnoOf(err);
    if (errno === null) throw err;
    return { message: connectReply(req.seq, errno), outcome: 'refused' };
  }
  const clientOverlay: Addr = { ip: pair.src.ip, port: started.local.port };
  // Sent as the SYN leaves: the far router has it before the server's accept() asks.
  if (owner.id === ctx.hostId) ctx.connections.announce(started.local, { clientOverlay, dst: req.dst, from: ctx.hostId });
  else ctx.pool.announce(owner.addr, owner.routerPort ?? 0, { clientHost: started.local, clientOverlay, dst: req.dst });
  const cookie = socketCookie(started.fd);
  ctx.connections.remember(cookie, { local: clientOverlay, peer: req.dst });
  ctx.secure?.handedOut(cookie, { hostLocal: started.local, hostPeer: { ip: owner.addr, port: hostPort }, overlayLocal: clientOverlay, overlayPeer: req.dst });
  ctx.policy?.track(cookie, started.local, { ip: owner.addr, port: hostPort }, src, dst, req.dst.port);
  return { message: connectReply(req.seq, STATUS_OK, clientOverlay, req.dst), fd: started.fd, outcome: 'replaced' };
}

async function listen(ctx: RequestContext, caller: Caller | null, req: Extract<ShimRequest, { type: 3 }>): Promise<Reply> {
  const fallback = (reason: string): Reply => ({ message: listenReply(req.seq, STATUS_FALLBACK), outcome: 'fallback', reason });
  if (!caller) return fallback('caller gone or unreadable');
  const mine = callerEndpoints(ctx, caller);
  if (mine.some((e) => e.liveMigration)) return fallback('live-migration endpoint');
  const ips = [...new Set(mine.map((e) => e.ip))].filter((ip) => req.bound.ip === '0.0.0.0' || ip === req.bound.ip);
  if (!ips.length) return fallback('not bound to a Slim address of the caller');
  const overlay = ips.map((ip) => ({ ip, port: req.bound.port }));
  const reuseport = (req.opts.reuseport ?? 0) !== 0;
  const backlog = req.backlog < 0 || req.backlog > SOMAXCONN ? SOMAXCONN : req.backlog;
  // Same host port as before if possible: reuseport siblings must share one, and a restarted
  // server keeps client routers' cached answers right.
  const wanted = (reuseport ? ctx.listeners.reuseportGroup(caller.netns, overlay) : null) ?? ctx.listeners.preferredPort(overlay);
  let opened;
  try {
    try {
      opened = openListener(req.opts, ctx.advertiseAddr, wanted ?? 0, backlog);
    } catch (err) {
      if (wanted === null) throw err;
      opened = openListener(req.opts, ctx.advertiseAddr, 0, backlog);
    }
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === null) throw err;
    return { message: listenReply(req.seq, errno), outcome: 'error' };
  }
  const cookie = socketCookie(opened.fd);
  ctx.listeners.add({ overlay, hostPort: opened.port, cookie, netns: caller.netns, reuseport });
  ctx.secure?.handedOut(cookie, { hostLocal: { ip: ctx.advertiseAddr, port: opened.port }, hostPeer: NO_ADDR, overlayLocal: req.bound, overlayPeer: NO_ADDR });
  return { message: listenReply(req.seq, STATUS_OK, { ip: ctx.advertiseAddr, port: opened.port }), fd: opened.fd, outcome: 'answered', listenerAdded: true };
}

async function peer(ctx: RequestContext, caller: Caller | null, req: Extract<ShimRequest, { type: 5 }>): Promise<Reply> {
  const refuse: Reply = { message: peerReply(req.seq, ECONNABORTED), outcome: 'refused' };
  if (!caller) return refuse;
  // Only a listener of the caller's own may ask, and only then is it worth waiting.
  const mine = callerEndpoints(ctx, caller);
  if (!mine.some((e) => req.listen.ip === '0.0.0.0' || e.ip === req.listen.ip)) return refuse;
  // In secure mode the kernel hides host addresses from the shim: which connection this is comes
  // from the kernel's own record of what the hidden listener accepted (by cookie).
  const kernel = ctx.secure?.acceptedConnection(req.cookie);
  if (kernel && kernel.local.ip !== ctx.advertiseAddr) return refuse;
  const hostPeer = kernel?.peer ?? req.hostPeer;
  const a = await ctx.connections.claim(hostPeer, PEER_WAIT_MS);
  // Meant for this listener, in this namespace? A stale cached port can send a client elsewhere.
  if (!a || a.dst.port !== req.listen.port || (req.listen.ip !== '0.0.0.0' && req.listen.ip !== a.dst.ip) || !mine.some((e) => e.ip === a.dst.ip)) {
    return refuse;
  }
  ctx.connections.remember(req.cookie, { local: a.dst, peer: a.clientOverlay });
  // The kernel rewrites only for a socket with exactly these host addresses.
  ctx.secure?.handedOut(req.cookie, { hostLocal: kernel?.local ?? { ip: ctx.advertiseAddr, port: 0 }, hostPeer, overlayLocal: a.dst, overlayPeer: a.clientOverlay });
  return { message: peerReply(req.seq, STATUS_OK, a.dst, a.clientOverlay), outcome: 'answered' };
}

async function identify(ctx: RequestContext, caller: Caller | null, req: Extract<ShimRequest, { type: 7 }>): Promise<Reply> {
  const unknown: Reply = { message: identifyReply(req.seq, ENOENT), outcome: 'answered' };
  if (!caller) return unknown;
  const ownIp = (ip: string) => caller.addresses.includes(ip);
  const conn = ctx.connections.recall(req.cookie);
  if (conn && ownIp(conn.local.ip)) {
    return { message: identifyReply(req.seq, STATUS_OK, KIND_CONNECTION, conn.local, conn.peer), outcome: 'answered' };
  }
  const listener = ctx.listeners.byCookieOf(req.cookie);
  const served = listener?.overlay.find((a) => ownIp(a.ip));
  if (served) return { message: identifyReply(req.seq, STATUS_OK, KIND_LISTENER, served), outcome: 'answered' };
  return unknown;
}

export function closeReplyFd(reply: Reply): void {
  if (reply.fd !== undefined) closeFd(reply.fd);
}
