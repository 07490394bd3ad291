// Many-host store: the state document in one etcd key, changed by compare-and-swap on its revision
// (so concurrent allocations on several hosts never hand out one address twice), and one key per
// live host under a lease (so a dead host's record expires and the others forget its endpoints).
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type Lease, type Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { PluginError } from '../plugin/errors.js';
import { emptyState, type HostRecord, type SlimState } from './state.js';
import type { Store } from './store.js';

const PREFIX = '/slim/v1/';
const STATE_KEY = `${PREFIX}state`;
const HOSTS_PREFIX = `${PREFIX}hosts/`;
const CALL_DEADLINE_MS = 5_000;
const MAX_ATTEMPTS = 50;

export interface EtcdStoreOptions {
  endpoints: string[];
  /** Seconds a host's record outlives its last keep-alive. */
  hostTtl: number;
}

export class EtcdStore implements Store {
  readonly description: string;
  private readonly client: Etcd3;
  private queue: Promise<unknown> = Promise.resolve();
  private lease: Lease | null = null;
  private watcher: Promise<Watcher> | null = null;
  private readonly listeners: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: EtcdStoreOptions, private readonly log: Logger) {
    this.description = `etcd (${options.endpoints.join(',')})`;
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: 3_000,
      // Every unary call has a deadline: Docker gives a plugin call 30 s in all.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
      faultHandling: {
        // No circuit breaker: it kept calls failing for 5 s after etcd was back. Two tries (the
        // second on another member) still fit Docker's 30 s with the deadline above.
        host: () => noop,
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
        // Watches reconnect within 2 s of etcd coming back (the default backs off to 30 s).
        watchBackoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: 2_000 }).next(),
      },
    });
  }

  async read(): Promise<SlimState> {
    return (await this.fetch()).state;
  }

  update<T>(change: (state: SlimState) => T | Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const { state, revision, text } = await this.fetch();
        const result = await change(state);
        const next = JSON.stringify(state);
        if (next === text) return result;
        const guard = revision === null ? this.client.if(STATE_KEY, 'Create', '==', 0) : this.client.if(STATE_KEY, 'Mod', '==', revision);
        const { succeeded } = await unavailableAs('writing the cluster state', guard.then(this.client.put(STATE_KEY).value(next)).commit());
        if (succeeded) return result;
        // Another host wrote in between: run the change again on what it wrote.
      }
      throw new PluginError(`cluster state is too contended: gave up after ${MAX_ATTEMPTS} attempts`);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async registerHost(host: HostRecord): Promise<void> {
    const lease = this.client.lease(this.options.hostTtl);
    lease.on('lost', (err) => {
      if (this.closed) return;
      this.log.warn({ err: err.message }, 'lost the host lease; registering again');
      setTimeout(() => void this.registerHost(host).catch((e: Error) => this.log.error({ err: e.message }, 'host registration failed')), 500);
    });
    await unavailableAs('registering this host', lease.put(`${HOSTS_PREFIX}${host.id}`).value(JSON.stringify(host)).exec());
    this.lease = lease;
  }

  async liveHosts(): Promise<HostRecord[]> {
    const values = await unavailableAs('listing hosts', this.client.getAll().prefix(HOSTS_PREFIX).strings());
    return Object.values(values).map((v) => JSON.parse(v) as HostRecord);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
    this.watcher ??= this.client
      .watch()
      .prefix(PREFIX)
      .create()
      .then((w) => {
        const notify = () => this.listeners.forEach((l) => l());
        w.on('put', notify).on('delete', notify).on('connected', notify);
        w.on('disconnected', (err) => this.log.warn({ err: err.message }, 'etcd watch disconnected; retrying'));
        w.on('error', (err) => this.log.warn({ err: err.message }, 'etcd watch error'));
        return w;
      });
    this.watcher.catch((err: Error) => this.log.error({ err: err.message }, 'cannot watch etcd'));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    // The lease is not revoked: a restarting daemon must not make other hosts drop our endpoints.
    // It expires after hostTtl unless the next daemon re-registers first.
    this.lease?.removeAllListeners();
    this.client.close();
  }

  private async fetch(): Promise<{ state: SlimState; revision: string | null; text: string | null }> {
    const res = await unavailableAs('reading the cluster state', this.client.get(STATE_KEY).exec());
    const kv = res.kvs[0];
    if (!kv) return { state: emptyState(), revision: null, text: null };
    const text = kv.value.toString('utf8');
    const state = JSON.parse(text) as SlimState;
    if (state.version !== 1) throw new PluginError(`cluster state in etcd has unknown version ${String(state.version)}`);
    return { state, revision: kv.mod_revision, text };
  }
}

async function unavailableAs<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw new PluginError(`cluster store (etcd) unavailable while ${what}: ${(err as Error).message}`);
  }
}
