// A real Slim daemon inside a test host's network namespace, serving that host's dockerd.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { waitGone } from './exec.js';
import { callPlugin } from '../../driver/plugin/client.js';
import { CGROUP2_FALLBACK_MOUNT } from '../../driver/secure/cgroup.js';
import { cgroup2Mount, readMounts } from '../../driver/secure/mountinfo.js';
import type { EndpointRecord, NetworkRecord, SlimState } from '../../driver/store/state.js';
import type { Host } from './world.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SLIM_CLI = path.join(REPO_ROOT, 'dist/driver/cli.js');

export interface SlimStatus {
  mode: string;
  modeNote: string;
  secure?: {
    setting: string;
    cgroup: string | null;
    pin: string | null;
    programs: string[];
    lsm: { state: string; detail: string; programs: string[] } | null;
    kernel?: Record<string, number>;
  };
  store: string;
  scope: string;
  advertiseAddr: string | null;
  underlayMtu: number;
  pid: number;
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
}

export class SlimDaemon {
  private proc: ChildProcess | null = null;
  private starts = 0;

  constructor(
    readonly host: Host,
    private readonly extraArgs: string[] = [],
  ) {}

  get socket(): string {
    return path.join(this.host.pluginDir, 'slim.sock');
  }

  get stateDir(): string {
    return path.join(this.host.dir, 'slim-state');
  }

  /** The daemon's own cgroup v2 (--secure-cgroup), where secure mode's programs attach: named for
   *  the run like the hosts' cgroups, so teardown and the leftover checks find it. */
  get cgroup(): string {
    let m = cgroup2Mount(readMounts());
    if (!m) {
      // What the daemon would do itself (in its host's mount namespace), done here in ours, so
      // that teardown and the leftover checks see the same hierarchy at the same path.
      mkdirSync(CGROUP2_FALLBACK_MOUNT, { recursive: true });
      execFileSync('mount', ['-t', 'cgroup2', 'cgroup2', CGROUP2_FALLBACK_MOUNT]);
      m = cgroup2Mount(readMounts());
      if (!m) throw new Error(`cgroup v2 is not mounted and mounting it on ${CGROUP2_FALLBACK_MOUNT} did not work`);
    }
    return path.join(m.mountPoint, `${this.host.cgroupParent}-slimd`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    if (!existsSync(SLIM_CLI)) throw new Error(`${SLIM_CLI} is missing: run "npm run build" first`);
    const log = path.join(this.host.dir, `slim-${++this.starts}.log`);
    this.proc = this.host.spawnInHost(
      ['node', SLIM_CLI, 'daemon', '--plugin-socket', this.socket, '--state-dir', this.stateDir,
        '--advertise-addr', this.host.addr, '--log-level', 'debug', '--secure-cgroup', this.cgroup, ...this.extraArgs],
      log,
      // The host's own dockerd (who holds each endpoint, for connection policy).
      { DOCKER_HOST: `unix://${this.host.dockerSock}` },
    );
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`slim daemon exited with ${this.proc.exitCode}:\n${await tail(log)}`);
      try {
        if ((await callPlugin(this.socket, 'Slim.Status', {}, 2000)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`slim daemon did not become ready:\n${await tail(log)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Kills the daemon (SIGKILL by default, as a crash would) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const proc = this.proc;
    this.proc = null;
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    proc.kill(signal);
    // Poll rather than await 'exit': the child is unref'd, and a lone listener keeps no test alive.
    if (!(await waitGone(proc.pid, 15_000))) throw new Error(`slim daemon ${proc.pid} did not exit on ${signal}`);
    return proc.exitCode;
  }

  async status(): Promise<SlimStatus> {
    const reply = await callPlugin(this.socket, 'Slim.Status');
    if (reply.status !== 200) throw new Error(`Slim.Status: ${JSON.stringify(reply.body)}`);
    return reply.body as SlimStatus;
  }

  async stateFile(): Promise<SlimState> {
    return JSON.parse(await fs.readFile(path.join(this.stateDir, 'state.json'), 'utf8')) as SlimState;
  }
}

async function tail(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}
