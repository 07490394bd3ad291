// A real single-member etcd (Debian's etcd-server) inside a test host's network namespace, on the
// host's underlay address, so every other test host reaches it and nothing else does.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { exec, sleep, waitGone } from './exec.js';
import type { Host } from './host.js';

export const ETCD_PORT = 2379;

export class Etcd {
  private proc: ChildProcess | null = null;

  constructor(readonly host: Host) {}

  /** The value for Slim's --store. */
  get storeSpec(): string {
    return `etcd://${this.host.addr}:${ETCD_PORT}`;
  }

  get endpoint(): string {
    return `http://${this.host.addr}:${ETCD_PORT}`;
  }

  async start(): Promise<void> {
    const url = this.endpoint;
    this.proc = this.host.spawnInHost(
      ['etcd', '--name', 'slim-test', '--data-dir', join(this.host.dir, 'etcd-data'),
        '--listen-client-urls', url, '--advertise-client-urls', url,
        // Peers are never used (one member); keep the peer port off the underlay.
        '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
        '--initial-cluster', 'slim-test=http://127.0.0.1:2380'],
      join(this.host.dir, 'etcd.log'),
    );
    const deadline = Date.now() + 20_000;
    while (!(await this.healthy())) {
      if (this.proc.exitCode !== null || Date.now() > deadline) throw new Error(`etcd did not start; see ${join(this.host.dir, 'etcd.log')}`);
      await sleep(200);
    }
  }

  async stop(): Promise<void> {
    const pid = this.proc?.pid;
    this.proc = null;
    if (!pid) return;
    process.kill(pid, 'SIGTERM');
    if (!(await waitGone(pid, 10_000))) process.kill(pid, 'SIGKILL');
  }

  async healthy(): Promise<boolean> {
    const r = await this.host.run(['etcdctl', '--endpoints', this.endpoint, '--dial-timeout', '1s', 'endpoint', 'health'], { allowFail: true, timeoutMs: 5_000 });
    return r.code === 0;
  }
}
