// The Slim daemon: listens on the plugin socket first (Docker gives up on a plugin that does not
// answer), then does the slower start-up work; requests wait for it to finish.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import type { Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { IpamDriver } from '../ipam/ipam-driver.js';
import type { DaemonConfig } from './config.js';
import { detectAdvertiseAddr, LinuxBridgeDataPlane } from './dataplane/linux-bridge.js';
import { loadHostId } from './host-identity.js';
import { NetworkDriver } from './network-driver.js';
import { Forwarder } from './overlay/forwarder.js';
import { pluginRoutes, type Handler } from './plugin/routes.js';
import { ConnectionPolicy } from './policy/policy.js';
import { createPluginApp } from './plugin/server.js';
import { claimSocketPath } from './plugin/socket.js';
import { ClusterView } from './router/cluster-view.js';
import { SlimRouter } from './router/router.js';
import { secureStatus, startSecureMode } from './secure/secure-mode.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';

const VXLAN_OVERHEAD = 50;
const FALLBACK_UNDERLAY_MTU = 1500;

export async function runDaemon(config: DaemonConfig): Promise<void> {
  const log = pino({ level: config.logLevel, base: { pid: process.pid } });
  // Requests that arrive during start-up wait for the route table.
  let ready!: (routes: Record<string, Handler>) => void;
  let failed!: (err: Error) => void;
  const started = new Promise<Record<string, Handler>>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  started.catch(() => undefined);

  await claimSocketPath(config.pluginSocket);
  const app = createPluginApp(started, log);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.pluginSocket, () => resolve(s));
    s.once('error', reject);
  });
  log.info({ socket: config.pluginSocket }, 'listening on the plugin socket');

  let store: Store | undefined;
  let forwarder: Forwarder | undefined;
  let router: SlimRouter | undefined;
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.close();
    forwarder?.stop();
    await router?.stop();
    await store?.close();
    await fs.rm(config.pluginSocket, { force: true });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  try {
    const started = await start(config, log);
    store = started.store;
    forwarder = started.forwarder;
    router = started.router;
    ready(started.routes);
  } catch (err) {
    failed(err as Error);
    log.fatal({ err }, 'start-up failed');
    server.close();
    await fs.rm(config.pluginSocket, { force: true });
    process.exit(1);
  }
}

async function start(config: DaemonConfig, log: Logger) {
  const hostId = await loadHostId(config.stateDir);
  const store = await openStore(config.store, config.stateDir, config.hostTtl, log);
  const advertiseAddr = config.advertiseAddr ?? (await detectAdvertiseAddr());
  if (!advertiseAddr && config.store !== 'embedded') throw new Error('no underlay address found: pass --advertise-addr (ADVERTISE_ADDR)');
  const dataplane = new LinuxBridgeDataPlane(log, advertiseAddr);
  const underlayMtu = advertiseAddr ? await dataplane.underlayMtu(advertiseAddr) : FALLBACK_UNDERLAY_MTU;
  const forwarder = new Forwarder(store, dataplane, hostId, log);
  const network = new NetworkDriver(store, dataplane, { scope: config.scope, hostId, defaultMtu: underlayMtu - VXLAN_OVERHEAD }, log, () => forwarder.schedule());
  const ipam = new IpamDriver(store, config.defaultPools, hostId, log);
  const hostAddr = advertiseAddr ?? '127.0.0.1';
  // Before the router makes any host socket: they must be created in the daemon's cgroup.
  const secure = await startSecureMode(config.secureMode, config.secureCgroup, log);
  const view = new ClusterView(store, log);
  const policy = new ConnectionPolicy(store, view, hostId, log);
  const router = new SlimRouter(
    { runDir: config.runDir, stateDir: config.stateDir, hostId, advertiseAddr: hostAddr, routerPort: config.routerPort, secret: config.secret ?? (await clusterSecret(store)), secure: secure.maps },
    view,
    log,
    policy.gate,
  );
  const routerPort = await router.start();
  await store.registerHost({ id: hostId, hostname: os.hostname(), addr: hostAddr, routerPort });
  await network.reconcile();
  forwarder.start();
  await view.start();
  policy.start();
  const status = async () => ({
    mode: secure.mode,
    modeNote: secure.note,
    secure: secureStatus(secure),
    store: store.description,
    advertiseAddr,
    underlayMtu,
    pid: process.pid,
    hosts: await store.liveHosts().catch((err: Error) => err.message),
    router: { runDir: config.runDir, port: routerPort, ...router.status() },
    policy: await policy.status(),
    ...(await network.status()),
  });
  log.info({ store: store.description, hostId, advertiseAddr, scope: config.scope, mode: secure.mode }, 'ready');
  if (secure.mode === 'trusted') log.warn(`trusted mode: ${secure.note}`);
  return { store, forwarder, router, routes: { ...pluginRoutes(network, ipam, status), ...policy.routes() } };
}

/** The secret routers authenticate each other with when none is configured: made once, kept in
 *  the cluster state, so every host of the cluster finds the same one. */
async function clusterSecret(store: Store): Promise<Buffer> {
  const hex = await store.update((state) => (state.routerSecret ??= randomBytes(32).toString('hex')));
  return Buffer.from(hex, 'hex');
}
