// Runs a job on every change of the cluster state, and every few seconds as a safety net (a watch
// can miss changes while the store is unreachable). Runs are coalesced (../coalesced-run.ts): never
// two at once, never a change missed.
import { CoalescedRun } from '../coalesced-run.js';
import type { Store } from './store.js';

export const RESYNC_MS = 5_000;

export class StateFollower {
  private readonly run: CoalescedRun;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly store: Store,
    job: () => Promise<void>,
    private readonly resyncMs = RESYNC_MS,
  ) {
    this.run = new CoalescedRun(job);
  }

  /** Starts following and runs the job once now. */
  start(): void {
    this.store.onChange(() => this.schedule());
    this.timer = setInterval(() => this.schedule(), this.resyncMs);
    this.timer.unref();
    this.schedule();
  }

  /** No run starts after this (the store keeps no way to unsubscribe). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  schedule(): void {
    if (!this.stopped) this.run.schedule();
  }

  /** Resolves when the run in progress (if any) ends. */
  settled(): Promise<void> {
    return this.run.settled();
  }
}
