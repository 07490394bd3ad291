// SlimRouter: serves the shims on <run-dir>/router.sock, hands out host sockets, and talks to
// the other hosts' routers over the authenticated channel. State lives in three tables (hidden
// listeners, announced connections, cached lookups); the kernel work is in host-sockets.ts.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { closeFd, listeningSockets, listenSeqpacket, type SeqpacketConnection, type SeqpacketServer } from '../../native/router-addon/index.js';
import type { PolicyGate } from '../policy/gate.js';
import type { SecureMaps } from '../secure/maps.js';
import { identifyCaller, type Caller } from './callers.js';
import type { ClusterView } from './cluster-view.js';
import { ConnectionTable } from './connection-table.js';
import { loadListeners, saveListeners } from './listener-file.js';
import { ListenerLookup } from './listener-lookup.js';
import { ListenerTable } from './listener-table.js';
import { type Announcement, RouterChannelPool, RouterChannelServer } from './router-channel.js';
import { installShim } from './shim-files.js';
import { closeReplyFd, handleRequest, type Reply, type RequestContext } from './shim-requests.js';
import { decodeRequest, WIRE_MAX_SIZE, WireError } from './shim-wire.js';

export interface RouterConfig {
  runDir: string;
  /** Where the hidden-listener table is kept across restarts (never a directory containers mount). */
  stateDir: string;
  hostId: string;
  advertiseAddr: string;
  /** Underlay TCP port for other routers; 0 = any free port (it is published in the host record). */
  routerPort: number;
  secret: Buffer;
  /** Secure mode's maps: every host socket handed out is recorded for the kernel. Null or absent
   *  in trusted mode. */
  secure?: SecureMaps | null;
}

const SWEEP_MS = 2_000;
/** A shim asks one thing at a time; a connection with more requests open than this is hostile. */
const MAX_IN_FLIGHT = 16;

export class SlimRouter {
  private readonly listeners: ListenerTable;
  private readonly connections = new ConnectionTable();
  private readonly pool: RouterChannelPool;
  private readonly channel: RouterChannelServer;
  private readonly ctx: RequestContext;
  private shimServer: SeqpacketServer | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private saving: Promise<void> = Promise.resolve();
  private savedCount = -1;
  private readonly counts = { shimConnections: 0, replaced: 0, fallback: 0, refused: 0, error: 0, answered: 0, hostile: 0 };

  constructor(
    private readonly config: RouterConfig,
    view: ClusterView,
    private readonly log: Logger,
    policy?: PolicyGate,
  ) {
    this.listeners = new ListenerTable(() => liveListenersOn(config.advertiseAddr));
    this.pool = new RouterChannelPool({ secret: config.secret, hostId: config.hostId, log });
    this.channel = new RouterChannelServer({
      secret: config.secret,
      hostId: config.hostId,
      log,
      handlers: { lookup: (ip, port) => this.listeners.lookup(ip, port), announce: (a, from) => this.announced(view, a, from) },
    });
    const lookup = new ListenerLookup(config.hostId, this.listeners, this.pool);
    view.onRefresh(() => lookup.clear());
    this.ctx = { hostId: config.hostId, advertiseAddr: config.advertiseAddr, view, listeners: this.listeners, lookup, connections: this.connections, pool: this.pool, ...(policy ? { policy } : {}) };
    if (config.secure) this.ctx.secure = config.secure;
  }

  /** Installs the shim, opens the router port and router.sock. Returns the router port. */
  async start(): Promise<number> {
    const { runDir } = this.config;
    await fs.mkdir(runDir, { recursive: true, mode: 0o755 });
    try {
      for (const l of await loadListeners(this.config.stateDir)) this.listeners.add(l);
      this.listeners.sweep();
      if (this.listeners.size) this.log.info({ hiddenListeners: this.listeners.size }, 'router: hidden listeners of running apps taken back');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'router: saved hidden listeners unreadable; apps listening now get the overlay until they listen again');
    }
    const missing = await installShim(runDir);
    if (missing.length) this.log.warn({ missing }, 'router: shim builds missing (run "npm run build"); containers cannot opt in from this run directory');
    const port = await this.channel.listen(this.config.advertiseAddr, this.config.routerPort);
    this.shimServer = listenSeqpacket(join(runDir, 'router.sock'), { mode: 0o666, maxMessage: WIRE_MAX_SIZE, maxFdsPerMessage: 1 });
    this.shimServer.on('connection', (c) => this.serve(c));
    this.sweeper = setInterval(() => {
      this.listeners.sweep();
      this.connections.expire();
      if (this.listeners.size !== this.savedCount) this.save();
    }, SWEEP_MS);
    this.sweeper.unref();
    this.log.info({ socket: join(runDir, 'router.sock'), routerPort: port }, 'router: serving shims');
    return port;
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.shimServer?.close();
    await Promise.allSettled([this.channel.close(), this.pool.close(), this.saving]);
  }

  status() {
    return { ...this.counts, hiddenListeners: this.listeners.size, pendingAnnouncements: this.connections.pendingCount };
  }

  private serve(conn: SeqpacketConnection): void {
    this.counts.shimConnections++;
    // Read once, while the caller is surely alive: its namespace and addresses.
    const caller = identifyCaller(conn.cred.pid);
    let inFlight = 0;
    conn.on('message', (message, fds) => {
      for (const fd of fds) closeFd(fd); // shims never send fds
      if (++inFlight > MAX_IN_FLIGHT) {
        this.counts.hostile++;
        this.log.warn({ pid: conn.cred.pid }, `router: more than ${MAX_IN_FLIGHT} requests open on one shim connection; closing it`);
        conn.close();
        return;
      }
      void this.answer(conn, caller, message).finally(() => inFlight--);
    });
  }

  private async answer(conn: SeqpacketConnection, callerP: Promise<Caller | null>, message: Buffer): Promise<void> {
    let reply: Reply;
    try {
      const req = decodeRequest(message);
      reply = await handleRequest(this.ctx, await callerP, req);
    } catch (err) {
      if (err instanceof WireError) {
        this.counts.hostile++;
        this.log.warn({ pid: conn.cred.pid, err: err.message }, 'router: malformed shim message; closing that connection');
      } else {
        this.counts.error++;
        this.log.error({ pid: conn.cred.pid, err }, 'router: request failed; closing that connection (the shim falls back)');
      }
      conn.close();
      return;
    }
    this.counts[reply.outcome]++;
    if (reply.reason) this.log.debug({ pid: conn.cred.pid, reason: reply.reason }, `router: ${reply.outcome}`);
    if (reply.listenerAdded) this.save();
    try {
      if (!conn.closed) conn.send(reply.message, reply.fd === undefined ? [] : [reply.fd]);
    } catch (err) {
      this.log.debug({ pid: conn.cred.pid, err: (err as Error).message }, 'router: cannot reply to a shim');
      conn.close();
    } finally {
      closeReplyFd(reply);
    }
  }

  /** Saves the hidden-listener table, one write at a time, after the ones already queued. */
  private save(): void {
    this.savedCount = this.listeners.size;
    this.saving = this.saving
      .then(() => saveListeners(this.config.stateDir, this.listeners.entries()))
      .catch((err: Error) => this.log.warn({ err: err.message }, 'router: cannot save the hidden listeners'));
  }

  /** Another router says a connection to one of our listeners is on its way. Believed only for
   *  that router's own host address and its own endpoints. */
  private announced(view: ClusterView, a: Announcement, from: string): void {
    const host = view.host(from);
    const owns = view.endpointsWithIp(a.clientOverlay.ip).some((e) => e.host === from);
    if (!host || host.addr !== a.clientHost.ip || !owns) {
      this.counts.hostile++;
      this.log.warn({ from, announcement: a }, 'router: announcement that does not match the sender; ignored');
      return;
    }
    this.connections.announce(a.clientHost, { clientOverlay: a.clientOverlay, dst: a.dst, from });
  }
}

function liveListenersOn(addr: string): Map<number, Set<bigint>> {
  const live = new Map<number, Set<bigint>>();
  for (const s of listeningSockets()) {
    if (s.ip !== addr) continue;
    const set = live.get(s.port) ?? new Set<bigint>();
    set.add(s.cookie);
    live.set(s.port, set);
  }
  return live;
}
