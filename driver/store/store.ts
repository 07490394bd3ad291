import type { HostRecord, SlimState } from './state.js';

/**
 * Where the cluster state lives. `update` runs its function on a private copy and commits the
 * result atomically, or not at all if the function throws: a failed request changes nothing.
 * The function may run more than once (a shared store retries on conflicting writes), so it must
 * only change the state it is given. Updates from one process are serialised.
 */
export interface Store {
  readonly description: string;
  read(): Promise<SlimState>;
  update<T>(change: (state: SlimState) => T | Promise<T>): Promise<T>;
  /** Announces this host for as long as the daemon lives (a lease in etcd). */
  registerHost(host: HostRecord): Promise<void>;
  /** Hosts that are alive now. */
  liveHosts(): Promise<HostRecord[]>;
  /** Calls `listener` after any change to the state or the hosts, from this or another host. */
  onChange(listener: () => void): void;
  close(): Promise<void>;
}
