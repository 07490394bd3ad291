// Keeps every local VXLAN device's forwarding and neighbour entries equal to the cluster state:
// on every store change (etcd watch), and every few seconds as a safety net. When the store is
// unreachable it changes nothing, so existing traffic keeps flowing.
import type { Logger } from 'pino';
import type { DataPlane } from '../dataplane/dataplane.js';
import { StateFollower } from '../store/state-follower.js';
import type { Store } from '../store/store.js';
import { desiredForwarding } from './forwarding.js';

export class Forwarder {
  private readonly follower: StateFollower;

  constructor(
    private readonly store: Store,
    private readonly dataplane: DataPlane,
    private readonly hostId: string,
    private readonly log: Logger,
  ) {
    this.follower = new StateFollower(store, () => this.sync());
  }

  start(): void {
    this.follower.start();
  }

  stop(): void {
    this.follower.stop();
  }

  /** Runs a sync now, or once more after the one in progress: changes are never missed, never piled up. */
  schedule(): void {
    this.follower.schedule();
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
