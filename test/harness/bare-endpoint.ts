// A "container" without Docker: a network namespace that receives the veth Slim hands out in Join,
// configured the way Docker would (rename to eth0, address, MAC). Lets tests drive the plugin API
// on several hosts exactly as Docker would, without a swarm.
import { exec } from './exec.js';
import type { Host } from './host.js';

export class BareEndpoint {
  private constructor(readonly netns: string, readonly ip: string) {}

  /** Moves `srcName` from `host`'s namespace into a new namespace `netns` as eth0 with `address` ("ip/len"). */
  static async plug(host: Host, srcName: string, netns: string, address: string, mac: string): Promise<BareEndpoint> {
    await exec('ip', ['netns', 'add', netns]);
    await exec('ip', ['-n', host.netns, 'link', 'set', srcName, 'netns', netns]);
    await exec('ip', ['-n', netns, 'link', 'set', srcName, 'name', 'eth0']);
    await exec('ip', ['-n', netns, 'link', 'set', 'eth0', 'address', mac]);
    await exec('ip', ['-n', netns, 'addr', 'add', address, 'dev', 'eth0']);
    await exec('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    await exec('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    return new BareEndpoint(netns, address.split('/')[0] ?? '');
  }

  run(cmd: string[], timeoutMs = 15_000, allowFail = false) {
    return exec('ip', ['netns', 'exec', this.netns, ...cmd], { timeoutMs, allowFail });
  }

  async remove(): Promise<void> {
    await exec('ip', ['netns', 'del', this.netns], { allowFail: true });
  }
}
