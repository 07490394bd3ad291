// One test "host": a named netns on the World's bridge plus persistent mount and UTS namespaces in
// which its dockerd (and anything started with spawnInHost) runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { exec, isAlive, settlesWithin, signal, sleep, SYSTEM_PATH, waitGone, type ExecOptions, type ExecResult } from './exec.js';
import { netnsPids, processesMentioning } from './objects.js';

export interface HostConfig {
  name: string;
  netns: string;
  addr: string;
  dir: string;
  cgroupParent: string;
  dockerdArgs: string[];
  /** The resolver containers get: the test bridge's own address, where nothing answers on port 53. */
  nameserver: string;
}

export type CommandOptions = Pick<ExecOptions, 'timeoutMs' | 'input' | 'allowFail'>;

const DOCKERD = '/usr/sbin/dockerd';
// Not /usr/local/bin/docker (a 28.x client) which is first on PATH on the test machines.
const DOCKER = '/usr/bin/docker';
const DOCKERD_READY_MS = 60_000;
const DOCKERD_STOP_MS = 30_000;

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCKER_')) env[k] = v;
  return { ...env, PATH: SYSTEM_PATH, ...extra };
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class Host {
  readonly name: string;
  readonly netns: string;
  readonly netnsPath: string;
  readonly addr: string;
  readonly dir: string;
  readonly pluginDir: string;
  readonly dockerSock: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly dockerdLog: string;
  /** bind mount of this host's mount namespace (nsenter --mount=…) */
  readonly mountNs: string;
  /** bind mount of this host's UTS namespace: its hostname is the host's name */
  readonly utsNs: string;
  /** private /etc/docker of this host (daemon.json, key.json, plugins/*.spec) */
  readonly etcDocker: string;
  /** this host's /var/lib/slim (a managed Slim plugin's state mount) */
  readonly slimLibDir: string;
  /** this host's /run/slim (a managed Slim plugin's socket mount, shared with containers) */
  readonly slimRunDir: string;
  readonly cgroupParent: string;

  private readonly nsDir: string;
  private readonly pidFile: string;
  private readonly clientConfig: string;
  private readonly dockerdArgs: string[];
  private readonly nameserver: string;
  private dockerd: ChildProcess | undefined;
  private dockerdExit: Promise<void> | undefined;
  private readonly spawned = new Set<ChildProcess>();

  constructor(cfg: HostConfig) {
    this.name = cfg.name;
    this.netns = cfg.netns;
    this.netnsPath = `/run/netns/${cfg.netns}`;
    this.addr = cfg.addr;
    this.dir = cfg.dir;
    this.cgroupParent = cfg.cgroupParent;
    this.dockerdArgs = cfg.dockerdArgs;
    this.nameserver = cfg.nameserver;
    this.pluginDir = join(cfg.dir, 'plugins');
    this.etcDocker = join(cfg.dir, 'etc-docker');
    this.slimLibDir = join(cfg.dir, 'var-lib-slim');
    this.slimRunDir = join(cfg.dir, 'run-slim');
    this.dataRoot = join(cfg.dir, 'data');
    this.execRoot = join(cfg.dir, 'exec');
    this.dockerSock = join(cfg.dir, 'docker.sock');
    this.dockerdLog = join(cfg.dir, 'dockerd.log');
    this.pidFile = join(cfg.dir, 'dockerd.pid');
    this.clientConfig = join(cfg.dir, 'docker-client');
    this.nsDir = join(cfg.dir, 'ns');
    this.mountNs = join(this.nsDir, 'mnt');
    this.utsNs = join(this.nsDir, 'uts');
  }

  /**
   * A persistent mount namespace outlives dockerd restarts, so a daemon started with spawnInHost
   * keeps seeing what dockerd mounts (container netns files at SandboxKey, the plugin dir).
   * Propagation "slave": new netns under /run/netns still show up inside, nothing leaks out.
   */
  async createNamespaces(): Promise<void> {
    for (const d of [this.pluginDir, this.etcDocker, this.slimLibDir, this.slimRunDir, this.dataRoot, this.execRoot, this.clientConfig, this.nsDir]) {
      mkdirSync(d, { recursive: true });
    }
    // A mount-namespace file may only be bound on a private mount, or it would propagate into
    // the namespace it names.
    await exec('mount', ['--bind', this.nsDir, this.nsDir]);
    await exec('mount', ['--make-private', this.nsDir]);
    // dockerd forwards names it does not know to the host's resolvers: keep those queries on
    // the test bridge (refused at once) instead of the machine's real nameserver.
    writeFileSync(join(this.dir, 'resolv.conf'), `nameserver ${this.nameserver}\n`);
    writeFileSync(this.mountNs, '');
    writeFileSync(this.utsNs, '');
    // Own hostname: dockerd reports it as the node name, and swarm placement uses it.
    // Own bpffs on /sys/fs/bpf: a Slim daemon of this host pins secure mode's programs there
    // (/sys/fs/bpf/slim), apart from other hosts'; the pins go with the mount namespace.
    // /var/lib/slim and /run/slim: the host paths a managed Slim plugin mounts; per host, so that
    // plugins on different test hosts share no state (the mkdir leaves empty dirs on the machine).
    const setup =
      'set -e; mkdir -p /run/docker/plugins /etc/docker /var/lib/slim /run/slim; mount --bind "$1" /run/docker/plugins; mount --bind "$2" /etc/docker; mount --bind "$4" /etc/resolv.conf; mount --bind "$5" /var/lib/slim; mount --bind "$6" /run/slim; mount -t bpf bpf /sys/fs/bpf; hostname "$3"';
    await exec('unshare', [
      `--mount=${this.mountNs}`, `--uts=${this.utsNs}`, '--propagation', 'slave', '--', 'sh', '-c', setup, 'sh',
      this.pluginDir, this.etcDocker, this.name, join(this.dir, 'resolv.conf'), this.slimLibDir, this.slimRunDir,
    ]);
  }

  /** argv prefix that runs a command on this host (its netns, mount and UTS namespaces). */
  enterArgs(): string[] {
    // Entering a mount namespace resets the working directory to "/": keep the caller's.
    return ['nsenter', `--net=${this.netnsPath}`, `--mount=${this.mountNs}`, `--uts=${this.utsNs}`, `--wd=${process.cwd()}`, '--'];
  }

  docker(args: string[], opts: CommandOptions = {}): Promise<ExecResult> {
    return exec(DOCKER, ['-H', `unix://${this.dockerSock}`, ...args], {
      timeoutMs: 120_000,
      ...opts,
      env: cleanEnv({ DOCKER_CONFIG: this.clientConfig }),
    });
  }

  run(cmd: string[], opts: CommandOptions = {}): Promise<ExecResult> {
    const [nsenter, ...pre] = this.enterArgs();
    return exec(nsenter!, [...pre, ...cmd], { ...opts, env: cleanEnv() });
  }

  /** Long-running process on this host; output appended to logFile (relative to host.dir). */
  spawnInHost(cmd: string[], logFile: string, env: Record<string, string> = {}): ChildProcess {
    const child = this.spawnLogged(cmd, isAbsolute(logFile) ? logFile : join(this.dir, logFile), env);
    this.spawned.add(child);
    child.once('exit', () => this.spawned.delete(child));
    return child;
  }

  private spawnLogged(cmd: string[], logFile: string, env: Record<string, string>): ChildProcess {
    const fd = openSync(logFile, 'a');
    try {
      const [nsenter, ...pre] = this.enterArgs();
      // nsenter without --fork execs in place, so child.pid is the command itself. Own process
      // group: a terminal's Ctrl-C must reach our cleanup first, not kill dockerd mid-test.
      const child = spawn(nsenter!, [...pre, ...cmd], { stdio: ['ignore', fd, fd], detached: true, env: cleanEnv(env) });
      child.on('error', () => {
        // reported through 'exit' / readiness checks
      });
      child.unref();
      return child;
    } finally {
      closeSync(fd);
    }
  }

  get dockerdPid(): number | undefined {
    return this.dockerd?.pid;
  }

  /** pids of processes started with spawnInHost that are still running */
  get spawnedPids(): number[] {
    return [...this.spawned].map((c) => c.pid).filter((p): p is number => p !== undefined && isAlive(p));
  }

  async startDockerd(): Promise<void> {
    if (this.dockerd) throw new Error(`${this.name}: dockerd already running`);
    const args = [
      DOCKERD,
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '--pidfile', this.pidFile,
      '-H', `unix://${this.dockerSock}`,
      '--cgroup-parent', `/${this.cgroupParent}`,
      '--iptables=true',
      ...this.dockerdArgs,
    ];
    writeFileSync(this.dockerdLog, `--- start ${new Date().toISOString()}: ${args.join(' ')}\n`, { flag: 'a' });
    const child = this.spawnLogged(args, this.dockerdLog, {});
    this.dockerd = child;
    let exited = false;
    this.dockerdExit = new Promise((resolve) => {
      child.once('exit', () => {
        exited = true;
        resolve();
      });
    });
    const deadline = Date.now() + DOCKERD_READY_MS;
    for (;;) {
      if (exited) {
        this.dockerd = undefined;
        throw new Error(`${this.name}: dockerd exited during start-up; log tail:\n${tail(this.dockerdLog)}`);
      }
      const r = await this.docker(['info', '--format', '{{.ID}}'], { allowFail: true, timeoutMs: 5_000 }).catch(() => undefined);
      if (r && r.code === 0 && r.stdout.trim()) return;
      if (Date.now() > deadline) {
        await this.stopDockerd();
        throw new Error(`${this.name}: dockerd did not answer within ${DOCKERD_READY_MS} ms; log tail:\n${tail(this.dockerdLog)}`);
      }
      await sleep(200);
    }
  }

  /**
   * The host "loses power": every process in its network namespace (dockerd, containerd, shims,
   * containers, plugins) is SIGKILLed at once. startDockerd() brings it back as after a reboot,
   * except that the namespace's kernel objects survive.
   */
  async crash(): Promise<void> {
    const pids = netnsPids(this.netns);
    for (const pid of pids) signal(pid, 'SIGKILL');
    for (const pid of pids) await waitGone(pid, 5_000);
    this.dockerd = undefined;
    this.dockerdExit = undefined;
  }

  async stopDockerd(): Promise<void> {
    const child = this.dockerd;
    if (!child?.pid) return;
    const pid = child.pid;
    signal(pid, 'SIGTERM');
    const gone = await settlesWithin(this.dockerdExit!, DOCKERD_STOP_MS);
    if (!gone) {
      signal(pid, 'SIGKILL');
      await waitGone(pid, 5_000);
    }
    // A killed dockerd leaves its containerd and shims orphaned; they name the exec root.
    for (const p of processesMentioning([join(this.execRoot, 'containerd')])) signal(p.pid, 'SIGKILL');
    this.dockerd = undefined;
    this.dockerdExit = undefined;
  }

  async restartDockerd(): Promise<void> {
    await this.stopDockerd();
    await this.startDockerd();
  }

  /** Graceful part of World.destroy(): containers, dockerd, spawned daemons. Never throws. */
  async shutdown(): Promise<void> {
    if (this.dockerd) {
      const ps = await this.docker(['ps', '-aq'], { allowFail: true, timeoutMs: 20_000 }).catch(() => undefined);
      const ids = ps?.stdout.split('\n').filter(Boolean) ?? [];
      if (ids.length > 0) await this.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 60_000 }).catch(() => undefined);
      await this.stopDockerd().catch(() => undefined);
    }
    const pids = this.spawnedPids;
    for (const p of pids) signal(p, 'SIGTERM');
    await Promise.all(pids.map((p) => waitGone(p, 5_000)));
    for (const p of this.spawnedPids) signal(p, 'SIGKILL');
  }
}
