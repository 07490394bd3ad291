// The Slim daemon: listens on the plugin socket first (Docker gives up on a plugin that does not
// answer), then does the slower start-up work; requests wait for it to finish.
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { IpamDriver } from '../ipam/ipam-driver.js';
import type { DaemonConfig } from './config.js';
import { detectAdvertiseAddr, LinuxBridgeDataPlane } from './dataplane/linux-bridge.js';
import { NetworkDriver } from './network-driver.js';
import { pluginRoutes, type Handler } from './plugin/routes.js';
import { createPluginApp } from './plugin/server.js';
import { claimSocketPath } from './plugin/socket.js';
import { EmbeddedStore } from './store/embedded.js';
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
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.close();
    await store?.close();
    await fs.rm(config.pluginSocket, { force: true });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  try {
    store = await EmbeddedStore.open(config.stateDir);
    const advertiseAddr = config.advertiseAddr ?? (await detectAdvertiseAddr());
    const dataplane = new LinuxBridgeDataPlane(log, advertiseAddr);
    const underlayMtu = advertiseAddr ? await dataplane.underlayMtu(advertiseAddr) : FALLBACK_UNDERLAY_MTU;
    const network = new NetworkDriver(store, dataplane, { scope: config.scope, defaultMtu: underlayMtu - VXLAN_OVERHEAD }, log);
    const ipam = new IpamDriver(store, config.defaultPools, log);
    await network.reconcile();
    const statusStore = store;
    const status = async () => ({
      mode: 'trusted',
      modeNote: 'no kernel enforcement: containers holding host sockets are trusted (secure mode is not built yet)',
      store: statusStore.description,
      advertiseAddr,
      underlayMtu,
      pid: process.pid,
      ...(await network.status()),
    });
    ready(pluginRoutes(network, ipam, status));
    log.info({ store: store.description, advertiseAddr, scope: config.scope, mode: 'trusted' }, 'ready');
    log.warn('trusted mode: no kernel enforcement is active; any container given host sockets is trusted with them');
  } catch (err) {
    failed(err as Error);
    log.fatal({ err }, 'start-up failed');
    server.close();
    await fs.rm(config.pluginSocket, { force: true });
    process.exit(1);
  }
}

