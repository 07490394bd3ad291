// `npm run bench [-- --reps N --seconds S --modes H,V,O]`: a first comparison of Slim's overlay
// (V) with Docker's own overlay (O) and host networking (H) between two namespace hosts of one
// SlimSwarm. Per mode a server container on h2 and a client container on h1; interleaved across
// modes (the order rotates every repetition), N repetitions of a single-flow iperf3 TCP run and a
// sockperf TCP ping-pong run (client and server pinned to one CPU by default, see RrCpus), the
// whole machine's CPU from /proc/stat around each run. Prints a
// markdown table (medians, min–max, ratios) and writes bench/results/overlay-<time>.{json,md}.
// It also checks from the underlay counters that V really went through Slim's VXLAN device and O
// through Docker's. A benchmark, not a test: it fails only if it cannot measure.
//
// Teardown: try/finally here; SIGINT/SIGTERM are handled by the harness's World (it destroys every
// live world and exits); a SIGKILLed run is cleaned by test/harness/cleanup-check.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IMAGES } from '../test/harness/images.js';
import { SlimSwarm } from '../test/harness/swarm.js';
import { waitFor } from '../test/harness/wait.js';
import type { Host } from '../test/harness/world.js';
import { fmt, markdownTable, METRICS, MODE_ORDER, summarize, type ModeKey, type Sample } from './report.js';
import { cpuBetween, parseCpuLine, type CpuTicks, type CpuUse } from './stats.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(BENCH_DIR, '..');
const IMAGE = IMAGES.bench.name;
const IPERF_PORT = 5201;
const SOCKPERF_PORT = 11111;
const MSG_SIZE = 64;
const VXLAN_PORT = 4789;
const SLIM_NET = 'bench-slim';
const SLIM_SUBNET = '10.91.0.0/24';
const OVERLAY_NET = 'bench-overlay';
const OVERLAY_SUBNET = '10.92.0.0/24';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const CPUS = os.cpus().length;
/** "within 10 %" of the issue: V/O ≥ 0.9 where higher is better, ≤ 1.1 where lower is better */
const TOLERANCE = 0.1;

// ---------------------------------------------------------------------------------------------
// Modes. S (Slim's host-socket mode) will be one more entry here once it exists.

interface Ctx {
  swarm: SlimSwarm;
  /** runs the client containers: the manager (h1) */
  client: Host;
  /** runs the server containers: the worker (h2) */
  server: Host;
}

interface Mode {
  key: ModeKey;
  title: string;
  /** `docker run` arguments that attach a container to this mode's network */
  runArgs(ctx: Ctx): string[];
  /** the address the client dials, given the running server container */
  serverAddr(ctx: Ctx, serverContainer: string): Promise<string>;
}

async function containerIp(h: Host, container: string, network: string): Promise<string> {
  const { stdout } = await h.docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container]);
  const ip = stdout.trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`${container} has no address on ${network}: "${ip}"`);
  return ip;
}

const MODES: Partial<Record<ModeKey, Mode>> = {
  H: {
    key: 'H',
    title: 'host networking: both containers --network host, the client dials h2\'s underlay address',
    runArgs: () => ['--network', 'host'],
    serverAddr: async (ctx) => ctx.server.addr,
  },
  V: {
    key: 'V',
    title: `Slim's overlay: the managed Slim plugin (network and IPAM driver), attachable, ${SLIM_SUBNET}`,
    runArgs: () => ['--network', SLIM_NET],
    serverAddr: (ctx, c) => containerIp(ctx.server, c, SLIM_NET),
  },
  O: {
    key: 'O',
    title: `Docker's own overlay: -d overlay --attachable, ${OVERLAY_SUBNET}`,
    runArgs: () => ['--network', OVERLAY_NET],
    serverAddr: (ctx, c) => containerIp(ctx.server, c, OVERLAY_NET),
  },
};

// ---------------------------------------------------------------------------------------------
// Options

/**
 * Where the request/response client and server run. All test hosts share one kernel, so the
 * sender's CPU carries a packet through the whole path (both hosts' stacks) in its softirq and then
 * wakes the receiving process; on an idle other vCPU that wake-up costs tens of µs here and makes
 * "free" placement bimodal.
 */
type RrCpus = 'free' | 'same' | 'split';
const RR_CPUS: readonly RrCpus[] = ['free', 'same', 'split'];
const RR_CPU_TEXT: Record<RrCpus, string> = {
  free: 'placed by the scheduler',
  same: 'client and server pinned to CPU 1',
  split: 'client pinned to CPU 0, server to CPU 1',
};

function taskset(rrCpus: RrCpus, side: 'client' | 'server'): string {
  if (rrCpus === 'free') return '';
  return `taskset -c ${rrCpus === 'split' && side === 'client' ? 0 : 1} `;
}

interface Options {
  reps: number;
  seconds: number;
  modes: ModeKey[];
  outDir: string;
  keep: boolean;
  rrCpus: RrCpus;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '5' },
      modes: { type: 'string', default: 'H,V,O' },
      out: { type: 'string', default: path.join(BENCH_DIR, 'results') },
      keep: { type: 'boolean', default: false },
      'rr-cpus': { type: 'string', default: 'same' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--reps N (5)] [--seconds S (5)] [--modes H,V,O] [--out DIR (bench/results)] [--rr-cpus same|split|free] [--keep]\n  --rr-cpus: where the request/response (sockperf) client and server run: same (default, both on CPU 1),\n     split (client CPU 0, server CPU 1), free (the scheduler decides); taskset inside the containers\n  --keep: leave the swarm up after measuring, until Ctrl-C\n');
    process.exit(0);
  }
  const reps = Number(values.reps);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
  // sockperf needs more than its 0.4 s warm-up to report anything
  if (!Number.isInteger(seconds) || seconds < 2) throw new Error('--seconds must be an integer ≥ 2');
  const modes = values.modes.split(',').map((m) => m.trim().toUpperCase()).filter(Boolean) as ModeKey[];
  for (const m of modes) {
    if (!MODE_ORDER.includes(m)) throw new Error(`unknown mode ${m}; modes are ${MODE_ORDER.join(', ')}`);
    if (!MODES[m]) throw new Error(`mode ${m} is not implemented yet`);
  }
  if (modes.length === 0) throw new Error('--modes is empty');
  const rrCpus = values['rr-cpus'] as RrCpus;
  if (!RR_CPUS.includes(rrCpus)) throw new Error(`--rr-cpus must be one of ${RR_CPUS.join(', ')}`);
  if (rrCpus !== 'free' && CPUS < 2) throw new Error('--rr-cpus same|split needs two CPUs');
  return { reps, seconds, modes: MODE_ORDER.filter((m) => modes.includes(m)), outDir: values.out, keep: values.keep, rrCpus };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};


function readCpu(): CpuTicks {
  return parseCpuLine(readFileSync('/proc/stat', 'utf8').split('\n')[0]!);
}

function git(args: string[]): string {
  try {
    return execFileSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** dockerd processes on the machine that are not this run's: other work competing for the 2 CPUs. */
function foreignDockerds(worldDir: string): string[] {
  try {
    const out = execFileSync('pgrep', ['-a', 'dockerd'], { encoding: 'utf8' });
    return out.split('\n').filter((l) => l && !l.includes(worldDir));
  } catch {
    return [];
  }
}

/** A shell snippet around a command: the /proc/stat cpu line and a clock before and after it. */
function timed(cmd: string, outFile: string): string {
  return [
    `rm -f ${outFile}`,
    'echo "@@T0 $(date +%s.%N)"',
    'echo "@@S0 $(head -1 /proc/stat)"',
    `${cmd} >${outFile} 2>&1`,
    'rc=$?',
    'echo "@@S1 $(head -1 /proc/stat)"',
    'echo "@@T1 $(date +%s.%N)"',
    'echo "@@RC $rc"',
    `cat ${outFile}`,
  ].join('; ');
}

interface TimedResult {
  cpu: CpuUse;
  wallSeconds: number;
  output: string;
}

async function runTimed(h: Host, container: string, cmd: string, outFile: string, timeoutMs: number): Promise<TimedResult> {
  const { stdout } = await h.docker(['exec', container, 'sh', '-c', timed(cmd, outFile)], { timeoutMs });
  const marker = (k: string): string => {
    const m = new RegExp(`^@@${k} (.*)$`, 'm').exec(stdout);
    if (!m) throw new Error(`no @@${k} in the output of ${cmd}:\n${stdout}`);
    return m[1]!;
  };
  const rc = Number(marker('RC'));
  const output = stdout.slice(stdout.indexOf('\n', stdout.indexOf('@@RC ')) + 1);
  if (rc !== 0) throw new Error(`${cmd} exited ${rc}:\n${output.slice(-2000)}`);
  return {
    cpu: cpuBetween(parseCpuLine(marker('S0')), parseCpuLine(marker('S1')), CLK_TCK, CPUS),
    wallSeconds: Number(marker('T1')) - Number(marker('T0')),
    output,
  };
}

// ---------------------------------------------------------------------------------------------
// The two measurements

interface ThroughputRun {
  gbps: number;
  bytes: number;
  retransmits: number;
  mss: number | null;
  cpu: CpuUse;
  wallSeconds: number;
}

async function iperf(h: Host, container: string, addr: string, seconds: number): Promise<ThroughputRun> {
  const r = await runTimed(h, container, `iperf3 -c ${addr} -p ${IPERF_PORT} -t ${seconds} -J`, '/tmp/iperf.json', (seconds + 60) * 1000);
  const j = JSON.parse(r.output) as {
    start?: { tcp_mss_default?: number };
    end: { sum_received: { bytes: number; bits_per_second: number }; sum_sent: { retransmits?: number } };
  };
  return {
    gbps: j.end.sum_received.bits_per_second / 1e9,
    bytes: j.end.sum_received.bytes,
    retransmits: j.end.sum_sent.retransmits ?? 0,
    mss: j.start?.tcp_mss_default ?? null,
    cpu: r.cpu,
    wallSeconds: r.wallSeconds,
  };
}

interface LatencyRun {
  rttAvg: number;
  rttP50: number;
  rttP99: number;
  /** round trips in the "valid" (post-warm-up) part, over which the percentiles are */
  transactions: number;
  transactionsPerSecond: number;
  /** every round trip of the run, warm-up included: the CPU window covers all of them */
  totalTransactions: number;
  cpu: CpuUse;
  wallSeconds: number;
}

async function sockperf(h: Host, container: string, addr: string, seconds: number, rrCpus: RrCpus): Promise<LatencyRun> {
  const cmd = `${taskset(rrCpus, 'client')}sockperf ping-pong --tcp -i ${addr} -p ${SOCKPERF_PORT} -t ${seconds} -m ${MSG_SIZE} --full-rtt --no-rdtsc`;
  const r = await runTimed(h, container, cmd, '/tmp/sockperf.txt', (seconds + 60) * 1000);
  // eslint-disable-next-line no-control-regex
  const text = r.output.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (re: RegExp): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`sockperf output without ${re}:\n${text}`);
    return Number(m[1]);
  };
  const validSeconds = num(/\[Valid Duration\] RunTime=([\d.]+) sec/);
  const transactions = num(/\[Valid Duration\] RunTime=[\d.]+ sec; SentMessages=\d+; ReceivedMessages=(\d+)/);
  return {
    rttAvg: num(/avg-rtt=\s*([\d.]+)/),
    rttP50: num(/percentile 50\.000 =\s*([\d.]+)/),
    rttP99: num(/percentile 99\.000 =\s*([\d.]+)/),
    transactions,
    transactionsPerSecond: transactions / validSeconds,
    totalTransactions: num(/\[Total Run\] RunTime=[\d.]+ sec; Warm up time=\d+ msec; SentMessages=\d+; ReceivedMessages=(\d+)/),
    cpu: r.cpu,
    wallSeconds: r.wallSeconds,
  };
}

// ---------------------------------------------------------------------------------------------
// Where the bytes went: h1's counters. UDP 4789 leaving h1 is counted per VNI by iptables rules
// in h1's OUTPUT chain (the kernel's VXLAN sends pass through it in the underlay namespace, also
// for Docker's VXLAN device that lives in its own overlay namespace); Slim's VXLAN device counts
// its own transmits; eth0 is h1's underlay link.

interface Counters {
  eth0TxBytes: number;
  slimVxlanTxBytes: number;
  /** bytes of UDP 4789 sent from h1 by VNI owner (V: Slim's network, O: Docker's overlay) */
  vxlanBytes: { V: number; O: number };
}

interface Underlay {
  slimVxlanDev: string;
  slimVni: number;
  overlayVni: number;
}

function vniRule(vni: number, owner: 'V' | 'O'): string[] {
  // u32: skip the IP header (IHL), then bytes 12..14 of UDP+VXLAN are the VNI (UDP 8 + VXLAN flags 4).
  return ['OUTPUT', '-p', 'udp', '--dport', String(VXLAN_PORT), '-m', 'u32', '--u32', `0>>22&0x3C@12>>8=${vni}`,
    '-m', 'comment', '--comment', `bench-vni-${owner}`];
}

async function findUnderlay(ctx: Ctx): Promise<Underlay> {
  const h1 = ctx.client;
  const { stdout } = await h1.run(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan']);
  const links = JSON.parse(stdout || '[]') as { ifname: string; linkinfo?: { info_data?: { id?: number } } }[];
  const slim = links.filter((l) => l.ifname.startsWith('slx-'));
  if (slim.length !== 1 || slim[0]!.linkinfo?.info_data?.id === undefined) {
    throw new Error(`expected one Slim VXLAN device on ${h1.name}, found ${JSON.stringify(slim.map((l) => l.ifname))}`);
  }
  const ov = await h1.docker(['network', 'inspect', '-f', '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}', OVERLAY_NET]);
  const overlayVni = Number(ov.stdout.trim().split(',')[0]);
  if (!Number.isInteger(overlayVni) || overlayVni <= 0) throw new Error(`no VNI for ${OVERLAY_NET}: "${ov.stdout.trim()}"`);
  const u: Underlay = { slimVxlanDev: slim[0]!.ifname, slimVni: slim[0]!.linkinfo!.info_data!.id!, overlayVni };
  if (u.slimVni === u.overlayVni) log(`note: Slim and Docker chose the same VNI ${u.slimVni}; the per-VNI counters cannot tell them apart`);
  await h1.run(['iptables', '-w', '-I', ...vniRule(u.slimVni, 'V')]);
  await h1.run(['iptables', '-w', '-I', ...vniRule(u.overlayVni, 'O')]);
  return u;
}

async function readCounters(ctx: Ctx, u: Underlay): Promise<Counters> {
  const h1 = ctx.client;
  const [links, rules] = await Promise.all([
    h1.run(['ip', '-s', '-j', 'link', 'show']),
    h1.run(['iptables', '-w', '-nvxL', 'OUTPUT']),
  ]);
  const stats = JSON.parse(links.stdout) as { ifname: string; stats64?: { tx?: { bytes?: number } } }[];
  const tx = (name: string): number => stats.find((l) => l.ifname === name)?.stats64?.tx?.bytes ?? Number.NaN;
  const ruleBytes = (owner: string): number => {
    const line = rules.stdout.split('\n').find((l) => l.includes(`/* bench-vni-${owner} */`));
    return line ? Number(line.trim().split(/\s+/)[1]) : Number.NaN;
  };
  return { eth0TxBytes: tx('eth0'), slimVxlanTxBytes: tx(u.slimVxlanDev), vxlanBytes: { V: ruleBytes('V'), O: ruleBytes('O') } };
}

function delta(a: Counters, b: Counters): Counters {
  return {
    eth0TxBytes: b.eth0TxBytes - a.eth0TxBytes,
    slimVxlanTxBytes: b.slimVxlanTxBytes - a.slimVxlanTxBytes,
    vxlanBytes: { V: b.vxlanBytes.V - a.vxlanBytes.V, O: b.vxlanBytes.O - a.vxlanBytes.O },
  };
}

interface PathCheck {
  mode: ModeKey;
  payloadBytes: number;
  counters: Counters;
  ok: boolean;
  statement: string;
}

function checkPath(mode: ModeKey, payload: number, c: Counters, u: Underlay): PathCheck {
  const big = (x: number): boolean => x >= 0.9 * payload;
  const none = (x: number): boolean => x < 0.01 * payload;
  const gb = (x: number): string => `${fmt(x / 1e9, 2)} GB`;
  const facts = `iperf3 payload ${gb(payload)}; h1 sent: ${u.slimVxlanDev} ${gb(c.slimVxlanTxBytes)}, UDP ${VXLAN_PORT} VNI ${u.slimVni} (Slim) ${gb(c.vxlanBytes.V)}, UDP ${VXLAN_PORT} VNI ${u.overlayVni} (Docker) ${gb(c.vxlanBytes.O)}, eth0 ${gb(c.eth0TxBytes)}`;
  let ok: boolean;
  let claim: string;
  switch (mode) {
    case 'V':
      ok = big(c.slimVxlanTxBytes) && big(c.vxlanBytes.V) && none(c.vxlanBytes.O);
      claim = "through Slim's VXLAN device";
      break;
    case 'O':
      ok = big(c.vxlanBytes.O) && none(c.vxlanBytes.V) && none(c.slimVxlanTxBytes);
      claim = "through Docker's overlay VXLAN";
      break;
    default:
      ok = big(c.eth0TxBytes) && none(c.vxlanBytes.V) && none(c.vxlanBytes.O) && none(c.slimVxlanTxBytes);
      claim = 'straight over the underlay, no VXLAN';
  }
  return { mode, payloadBytes: payload, counters: c, ok, statement: `${mode}: ${ok ? 'went' : 'did NOT go (only)'} ${claim} — ${facts}` };
}

// What may explain a difference between the modes, read once after measuring: whether bridged
// frames in h1's namespace go through iptables (br_netfilter), and whether each mode's flows were
// tracked by conntrack in h1's namespace (Slim's bridge lives there; Docker's overlay bridge lives
// in a namespace of its own without conntrack).
interface Diagnostics {
  h1BridgeNfCallIptables: string;
  /** conntrack entries in h1's namespace towards each mode's server address (H: h2's underlay address) */
  h1ConntrackEntries: Partial<Record<ModeKey, number>>;
}

async function diagnostics(ctx: Ctx, setups: Map<ModeKey, { addr: string }>): Promise<Diagnostics> {
  const h1 = ctx.client;
  const nf = await h1.run(['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'], { allowFail: true });
  const ct = await h1.run(['cat', '/proc/net/nf_conntrack'], { allowFail: true });
  const entries: Partial<Record<ModeKey, number>> = {};
  for (const [k, s] of setups) entries[k] = ct.stdout.split('\n').filter((l) => l.includes(` dst=${s.addr} `)).length;
  return { h1BridgeNfCallIptables: nf.code === 0 ? nf.stdout.trim() : 'n/a', h1ConntrackEntries: entries };
}

// ---------------------------------------------------------------------------------------------
// Set-up of the two networks and the containers of each mode

interface ModeSetup {
  mode: Mode;
  clientContainer: string;
  serverContainer: string;
  addr: string;
  /** the client's route to the server: device and MTU */
  dev: string;
  mtu: number;
}

function serverCmd(rrCpus: RrCpus): string {
  return `${taskset(rrCpus, 'server')}sockperf server --tcp -i 0.0.0.0 -p ${SOCKPERF_PORT} --no-rdtsc >/tmp/sockperf-server.log 2>&1 & exec iperf3 -s -p ${IPERF_PORT}`;
}

async function createNetworks(ctx: Ctx, modes: readonly ModeKey[]): Promise<void> {
  const m = ctx.swarm.manager;
  const plugin = ctx.swarm.plugin;
  if (modes.includes('V')) {
    await m.docker(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--attachable', '--subnet', SLIM_SUBNET, SLIM_NET]);
    // The manager allocates the network asynchronously after `network create` returns.
    await waitFor('the Slim network to be allocated', async () => {
      const { stdout } = await m.docker(['network', 'ls', '--filter', `name=${SLIM_NET}`, '--format', '{{.Driver}}']);
      return stdout.trim() === plugin;
    }, 60_000, 500);
  }
  if (modes.includes('O')) {
    await m.docker(['network', 'create', '-d', 'overlay', '--attachable', '--subnet', OVERLAY_SUBNET, OVERLAY_NET]);
  }
}

async function startMode(ctx: Ctx, mode: Mode, rrCpus: RrCpus): Promise<ModeSetup> {
  const k = mode.key.toLowerCase();
  const serverContainer = `bench-${k}-server`;
  const clientContainer = `bench-${k}-client`;
  await ctx.server.docker(['run', '-d', '--name', serverContainer, '--stop-timeout', '1', ...mode.runArgs(ctx), IMAGE, 'sh', '-c', serverCmd(rrCpus)]);
  await ctx.client.docker(['run', '-d', '--name', clientContainer, '--stop-timeout', '1', ...mode.runArgs(ctx), IMAGE, 'sleep', 'infinity']);
  const addr = await mode.serverAddr(ctx, serverContainer);
  const { stdout } = await ctx.client.docker(['exec', clientContainer, 'sh', '-c', `dev=$(ip -o route get ${addr} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'); echo "$dev $(cat /sys/class/net/$dev/mtu)"`]);
  const [dev = '?', mtu = 'NaN'] = stdout.trim().split(' ');
  return { mode, clientContainer, serverContainer, addr, dev, mtu: Number(mtu) };
}

// ---------------------------------------------------------------------------------------------

interface RunRecord {
  rep: number;
  mode: ModeKey;
  test: 'throughput' | 'latency';
  startedAt: string;
  result: ThroughputRun | LatencyRun;
  counters: Counters;
}

async function main(): Promise<void> {
  const opts = options();
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces, dockerd)');
  const started = new Date();
  const stamp = started.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  log(`modes ${opts.modes.join(',')}, ${opts.reps} repetitions of ${opts.seconds} s; setting up a 2-host swarm`);

  const swarm = await SlimSwarm.create({ hosts: 2, name: 'bench', images: ['bench'] });
  const timings: Record<string, number> = { setupSeconds: (Date.now() - started.getTime()) / 1000 };
  try {
    const ctx: Ctx = { swarm, client: swarm.world.hosts[0]!, server: swarm.world.hosts[1]! };
    log(`swarm up in ${fmt(timings.setupSeconds, 1)} s (client ${ctx.client.name} ${ctx.client.addr}, server ${ctx.server.name} ${ctx.server.addr})`);
    await createNetworks(ctx, opts.modes);
    const setups = new Map<ModeKey, ModeSetup>();
    for (const k of opts.modes) {
      const s = await startMode(ctx, MODES[k]!, opts.rrCpus);
      setups.set(k, s);
      log(`${k}: client ${s.clientContainer} on ${ctx.client.name} → ${s.addr} on ${ctx.server.name}, via ${s.dev} mtu ${s.mtu}`);
    }
    const underlay = opts.modes.includes('V') && opts.modes.includes('O')
      ? await findUnderlay(ctx)
      : undefined;
    if (!underlay) log('path check needs both V and O (their VNIs): skipped');

    // Warm-up, not counted: servers answering, neighbour and forwarding entries in place.
    for (const s of setups.values()) {
      await waitFor(`${s.mode.key}: iperf3 server`, async () => (await iperf(ctx.client, s.clientContainer, s.addr, 1)).bytes > 0, 60_000, 500);
      await waitFor(`${s.mode.key}: sockperf server`, async () => (await sockperf(ctx.client, s.clientContainer, s.addr, 2, opts.rrCpus)).transactions > 0, 60_000, 500);
    }

    // Background: what the idle swarm (dockerds, etcd, the plugins) and anything else costs.
    const idle0 = readCpu();
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    const idleCpu = cpuBetween(idle0, readCpu(), CLK_TCK, CPUS);
    const foreignSeen = new Set(foreignDockerds(swarm.world.dir));
    log(`idle swarm: ${fmt(idleCpu.busyCpus, 2)} of ${CPUS} CPUs busy`);

    const measureStart = Date.now();
    const runs: RunRecord[] = [];
    const samples: Sample[] = [];
    for (let rep = 1; rep <= opts.reps; rep++) {
      // Rotate the order each repetition: no mode always runs first or right after another.
      const order = opts.modes.map((_, i) => opts.modes[(i + rep - 1) % opts.modes.length]!);
      const others = foreignDockerds(swarm.world.dir);
      if (others.length) log(`WARNING: ${others.length} other dockerd(s) running on this machine: results may be noisy`);
      for (const o of others) foreignSeen.add(o);
      const values = new Map<ModeKey, Record<string, number>>(order.map((k) => [k, {}]));
      for (const test of ['throughput', 'latency'] as const) {
        for (const k of order) {
          const s = setups.get(k)!;
          const before = underlay ? await readCounters(ctx, underlay) : undefined;
          const startedAt = new Date().toISOString();
          const v = values.get(k)!;
          let result: ThroughputRun | LatencyRun;
          if (test === 'throughput') {
            const t = await iperf(ctx.client, s.clientContainer, s.addr, opts.seconds);
            result = t;
            Object.assign(v, { gbps: t.gbps, cpuSecondsPerGB: t.cpu.busySeconds / (t.bytes / 1e9), retransmits: t.retransmits });
            log(`rep ${rep}/${opts.reps} ${k} throughput ${fmt(t.gbps, 2)} Gbit/s, ${fmt(t.cpu.busyCpus, 2)} CPUs busy (steal ${fmt(t.cpu.stealSeconds, 2)} s), ${fmt(t.cpu.busySeconds / (t.bytes / 1e9), 2)} CPU-s/GB, ${t.retransmits} retransmits`);
          } else {
            const l = await sockperf(ctx.client, s.clientContainer, s.addr, opts.seconds, opts.rrCpus);
            result = l;
            Object.assign(v, {
              rttP50: l.rttP50, rttP99: l.rttP99, transactionsPerSecond: l.transactionsPerSecond,
              cpuMicrosPerTransaction: (l.cpu.busySeconds / l.totalTransactions) * 1e6,
            });
            log(`rep ${rep}/${opts.reps} ${k} latency p50 ${fmt(l.rttP50, 1)} µs, p99 ${fmt(l.rttP99, 1)} µs, ${fmt(l.transactionsPerSecond, 0)}/s`);
          }
          const after = underlay ? await readCounters(ctx, underlay) : undefined;
          const counters = before && after ? delta(before, after) : { eth0TxBytes: Number.NaN, slimVxlanTxBytes: Number.NaN, vxlanBytes: { V: Number.NaN, O: Number.NaN } };
          runs.push({ rep, mode: k, test, startedAt, result, counters });
        }
      }
      for (const [k, v] of values) samples.push({ mode: k, rep, values: v });
    }
    timings.measureSeconds = (Date.now() - measureStart) / 1000;
    const foreign = [...foreignSeen];
    const diag = await diagnostics(ctx, setups);
    const mss = Object.fromEntries(opts.modes.map((k) => [k, (runs.find((r) => r.mode === k && r.test === 'throughput')?.result as ThroughputRun | undefined)?.mss ?? null]));
    const steal = runs.reduce((a, r) => a + r.result.cpu.stealSeconds, 0);

    // Path check over the throughput runs (the latency runs carry too few bytes to tell).
    const checks: PathCheck[] = [];
    if (underlay) {
      for (const k of opts.modes) {
        const tr = runs.filter((r) => r.mode === k && r.test === 'throughput');
        const payload = tr.reduce((a, r) => a + (r.result as ThroughputRun).bytes, 0);
        const sum = tr.reduce<Counters>((a, r) => ({
          eth0TxBytes: a.eth0TxBytes + r.counters.eth0TxBytes,
          slimVxlanTxBytes: a.slimVxlanTxBytes + r.counters.slimVxlanTxBytes,
          vxlanBytes: { V: a.vxlanBytes.V + r.counters.vxlanBytes.V, O: a.vxlanBytes.O + r.counters.vxlanBytes.O },
        }), { eth0TxBytes: 0, slimVxlanTxBytes: 0, vxlanBytes: { V: 0, O: 0 } });
        checks.push(checkPath(k, payload, sum, underlay));
      }
    }

    const { summary, ratios } = summarize(samples, opts.modes);
    const verdicts: string[] = [];
    if (opts.modes.includes('V') && opts.modes.includes('O')) {
      for (const m of METRICS.filter((x) => ['gbps', 'rttP50', 'rttP99'].includes(x.key))) {
        const r = ratios[m.key]?.['V/O'];
        if (r === undefined) continue;
        const within = m.better === 'higher' ? r >= 1 - TOLERANCE : r <= 1 + TOLERANCE;
        verdicts.push(`${m.label}: V/O = ${fmt(r, 2)} → ${within ? 'within' : 'NOT within'} 10 % of Docker's overlay`);
      }
    }
    const finished = new Date();
    timings.totalSeconds = (finished.getTime() - started.getTime()) / 1000;

    const table = markdownTable(summary, ratios, opts.modes);
    const commit = git(['rev-parse', '--short=12', 'HEAD']);
    // Slim itself: what the plugin is built from (dist/ is built from these).
    const dirty = git(['status', '--porcelain', '--', 'driver', 'ipam']);
    const machine = { kernel: os.release(), cpus: CPUS, cpuModel: os.cpus()[0]?.model ?? '', memoryGB: Math.round(os.totalmem() / 2 ** 30), clkTck: CLK_TCK };
    const modesInfo = Object.fromEntries([...setups].map(([k, s]) => [k, { title: s.mode.title, serverAddr: s.addr, clientDev: s.dev, mtu: s.mtu, tcpMss: mss[k] }]));

    const md = [
      `# Overlay benchmark, ${finished.toISOString()}`,
      '',
      `Slim ${commit}${dirty ? ' (with uncommitted changes)' : ''}; ${machine.cpus} × ${machine.cpuModel}, kernel ${machine.kernel}. ` +
        `${opts.reps} repetitions × ${opts.seconds} s per run, modes interleaved (order rotated per repetition); ` +
        `client on h1, server on h2; request/response CPUs: ${RR_CPU_TEXT[opts.rrCpus]}. CPU is the whole machine's, from /proc/stat. Idle swarm: ${fmt(idleCpu.busyCpus, 2)} CPUs busy.`,
      '',
      ...[...setups].map(([k, s]) => `- **${k}**: ${s.mode.title}; client route via ${s.dev}, MTU ${s.mtu}, TCP MSS ${mss[k] ?? '?'}`),
      '',
      table,
      '',
      ...verdicts.map((v) => `- ${v}`),
      '',
      ...(checks.length ? ['Path check (h1 counters, summed over the throughput runs):', '', ...checks.map((c) => `- ${c.ok ? '✓' : '✗'} ${c.statement}`), ''] : []),
      `Diagnostics: in h1's namespace net.bridge.bridge-nf-call-iptables = ${diag.h1BridgeNfCallIptables}; conntrack entries there towards each server: ` +
        `${Object.entries(diag.h1ConntrackEntries).map(([k, n]) => `${k} ${n}`).join(', ')}. CPU stolen by the hypervisor during the runs: ${fmt(steal, 1)} s.`,
      '',
      ...(foreign.length ? [`Warning: ${foreign.length} other dockerd process(es) ran on the machine during the measurements.`, ''] : []),
      `One run took ${fmt(timings.totalSeconds, 0)} s (set-up ${fmt(timings.setupSeconds, 0)} s, measuring ${fmt(timings.measureSeconds, 0)} s).`,
      '',
    ].join('\n');

    const json = {
      benchmark: 'overlay',
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      timings,
      git: { commit, dirty: dirty.split('\n').filter(Boolean) },
      machine,
      params: { reps: opts.reps, seconds: opts.seconds, modes: opts.modes, rrCpus: opts.rrCpus, msgSize: MSG_SIZE, image: IMAGE },
      modes: modesInfo,
      underlay: underlay ?? null,
      idleCpu,
      stealSecondsDuringRuns: steal,
      diagnostics: diag,
      foreignDockerds: foreign,
      metrics: METRICS,
      summary,
      ratios,
      verdicts,
      pathChecks: checks,
      samples,
      runs,
    };
    mkdirSync(opts.outDir, { recursive: true });
    const base = path.join(opts.outDir, `overlay-${stamp}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(`${base}.md`, md);
    process.stdout.write(`\n${md}\nWritten: ${path.relative(process.cwd(), base)}.{json,md}\n`);
    if (opts.keep) {
      // The harness's SIGINT handler destroys the world and exits.
      for (const h of swarm.world.hosts) log(`kept: ${h.name} netns ${h.netns}, docker -H unix://${h.dockerSock}`);
      log('kept until Ctrl-C (SIGINT)');
      await new Promise<never>(() => setInterval(() => undefined, 1 << 30));
    }
  } finally {
    log('tearing down');
    const t0 = Date.now();
    await swarm.destroy();
    log(`torn down in ${fmt((Date.now() - t0) / 1000, 1)} s`);
    const problems = swarm.world.cleanupProblems;
    if (problems.length) log(`cleanup problems: ${problems.join('; ')}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
