// Keeps every local VXLAN device's forwarding and neighbour entries equal to the cluster state:
// on every store change (etcd watch), and every few seconds as a safety net. When the store is
// unreachable it changes nothing, so existing traffic keeps flowing.
import type { Logger } from 'pino';
import { CoalescedRun } from '../coalesced-run.js';
import type { DataPlane } from '../dataplane/dataplane.js';
import type { Store } from '../store/store.js';
import { desiredForwarding } from './forwarding.js';

const RESYNC_MS = 5_000;

export class Forwarder {
  private readonly run = new CoalescedRun(() => this.sync());
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly dataplane: DataPlane,
    private readonly hostId: string,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.store.onChange(() => this.schedule());
    this.timer = setInterval(() => this.schedule(), RESYNC_MS);
    this.timer.unref();
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Runs a sync now, or once more after the one in progress: changes are never missed, never piled up. */
  schedule(): void {
    this.run.schedule();
  }

  private async sync(): Promise<void> {
    let plan;
    try {
      const [state, hosts] = await Promise.all([this.store.read(), this.store.liveHosts()]);
      plan = desiredForwarding(state, hosts, this.hostId);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot read the cluster state; forwarding entries left as they are');
      return;
    }
    for (const { net, remotes } of plan) {
      try {
        const changes = await this.dataplane.programForwarding(net, remotes);
        if (changes) this.log.info({ network: net.id, remotes: remotes.length, changes }, 'forwarding entries updated');
      } catch (err) {
        this.log.warn({ network: net.id, err: (err as Error).message }, 'cannot program forwarding entries');
      }
    }
  }
}
