import type { Logger } from 'pino';
import { EmbeddedStore } from './embedded.js';
import { EtcdStore } from './etcd.js';
import type { Store } from './store.js';

/** `""` or `embedded` → the state file; `etcd://host:port[,host:port…]` → an etcd cluster. */
export async function openStore(spec: string, stateDir: string, hostTtl: number, log: Logger): Promise<Store> {
  if (spec === '' || spec === 'embedded') return EmbeddedStore.open(stateDir);
  const m = /^etcd:\/\/(.+)$/.exec(spec);
  if (!m?.[1]) throw new Error(`store must be "embedded" or etcd://HOST:PORT[,HOST:PORT…], not ${JSON.stringify(spec)}`);
  const endpoints = m[1].split(',').map((h) => {
    if (!/^[\w.-]+:\d{1,5}$/.test(h)) throw new Error(`bad etcd endpoint ${JSON.stringify(h)} (want HOST:PORT)`);
    return `http://${h}`;
  });
  return new EtcdStore({ endpoints, hostTtl }, log);
}
