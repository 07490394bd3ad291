import type { SlimState } from './state.js';

/**
 * Where the cluster state lives. `update` runs its function on a private copy and commits the
 * result atomically, or not at all if the function throws: a failed request changes nothing.
 * Updates are serialised.
 */
export interface Store {
  readonly description: string;
  read(): Promise<SlimState>;
  update<T>(change: (state: SlimState) => T | Promise<T>): Promise<T>;
  close(): Promise<void>;
}
