// Connection set-up, measured small and taken apart. Two namespace hosts with a Slim daemon each
// (as test/host/shim-semantics.test.ts builds them: real etcd, no dockerd), bare endpoints a (h1)
// and b (h2) on one Slim network, and bench/tools/connrate.c (connect, 1 B each way, close; one
// connection at a time) between them:
//   S  a → b with the shim on both sides (replaced: host sockets)
//   V  a → b without the shim (Slim's overlay)
//   H  h1 → h2 in the hosts' own namespaces
// Client and server pinned to CPU 1, as the bench's --rr-cpus same. Per run: connrate's figures,
// and CPU per connection of each router, the client, the server and the whole machine (the
// machine is shared: compare runs taken close together, several times, and look at the spread).
//
// --trace turns on the routers' SLIM_ROUTER_TRACE and the shims' SLIM_SHIM_TRACE and prints, from
// the measured runs: each router stage's median (CONNECT, PEER), the shims' round trips, and one
// timeline per connection joined across the four processes by the client's host port.
//
//   npm run build && tsx test/perf/connsetup.ts [--reps 5] [--seconds 3] [--modes S,V,H] [--trace]
//       [--secure-mode auto|off] [--nice=-10] [--router-cpu 0|1] [--perf] [--out DIR]
//
// --nice renices the routers, client and server (against other work on the machine); --router-cpu
// pins both routers; --perf records both routers with perf (call graphs, JIT symbols) during the
// last S run into DIR/perf.data.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { callPlugin } from '../../driver/plugin/client.js';
import { BareEndpoint } from '../harness/bare-endpoint.js';
import { Etcd } from '../harness/etcd.js';
import { exec } from '../harness/exec.js';
import { REPO_ROOT, SlimDaemon } from '../harness/slim.js';
import { World, type Host } from '../harness/world.js';

const { values: o } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'S,V,H' },
    trace: { type: 'boolean', default: false },
    'secure-mode': { type: 'string', default: 'auto' },
    nice: { type: 'string' },
    'router-cpu': { type: 'string' },
    perf: { type: 'boolean', default: false },
    out: { type: 'string', default: '/tmp/slim-connsetup' },
  },
});
const REPS = Number(o.reps);
const SECONDS = Number(o.seconds);
const MODES = o.modes!.split(',');
const OUT = o.out!;
const TRACE_DIR = path.join(OUT, 'trace');
const BIN = path.join(OUT, 'connrate');
const NET_ID = 'perfconnaaaaaaaaaaaaaaaaa';
const SUBNET = '10.87.0.0/24';
const CPU = '1';
const TICK_US = 10_000; // /proc/<pid>/stat counts in clock ticks of 10 ms

const log = (...a: unknown[]) => process.stdout.write(`${a.map(String).join(' ')}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
}

// ---------------------------------------------------------------------------------------- set-up

async function call(slim: SlimDaemon, method: string, body: object): Promise<Record<string, any>> {
  const r = await callPlugin(slim.socket, method, body, 30_000);
  if (r.status !== 200) throw new Error(`${method} on ${slim.host.name}: ${JSON.stringify(r.body)}`);
  return r.body as Record<string, any>;
}

/** What a swarm manager does on `docker network create`, then a task's endpoint on each host. */
async function endpoints(world: World, s1: SlimDaemon, s2: SlimDaemon): Promise<[BareEndpoint, BareEndpoint]> {
  const pool = await call(s1, 'IpamDriver.RequestPool', { AddressSpace: 'slim-global', Pool: SUBNET, Options: {} });
  const gw = await call(s1, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const alloc = await call(s1, 'NetworkDriver.AllocateNetwork', { NetworkID: NET_ID, Options: {}, IPv4Data: [{ Pool: SUBNET, Gateway: gw.Address }] });
  let n = 0;
  const attach = async (slim: SlimDaemon): Promise<BareEndpoint> => {
    const local = await call(slim, 'IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: SUBNET, Options: {} });
    await call(slim, 'IpamDriver.RequestAddress', { PoolID: local.PoolID, Address: gw.Address.split('/')[0], Options: { RequestAddressType: 'com.docker.network.gateway' } });
    await call(slim, 'NetworkDriver.CreateNetwork', {
      NetworkID: NET_ID, Options: { 'com.docker.network.generic': alloc.Options }, IPv4Data: [{ AddressSpace: 'slim-local', Pool: SUBNET, Gateway: gw.Address }], IPv6Data: [],
    });
    const task = await call(s1, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: {} });
    await call(slim, 'IpamDriver.RequestAddress', { PoolID: local.PoolID, Address: task.Address.split('/')[0], Options: {} });
    const epId = `p${++n}${world.tag}`.padEnd(24, '0');
    const ep = await call(slim, 'NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: epId, Interface: { Address: task.Address, MacAddress: '' }, Options: {} });
    const join = await call(slim, 'NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: epId, SandboxKey: `/var/run/docker/netns/${epId}`, Options: {} });
    return BareEndpoint.plug(slim.host, join.InterfaceName.SrcName, `${world.tag}n${n}`, task.Address, ep.Interface.MacAddress);
  };
  return [await attach(s1), await attach(s2)];
}

async function waitFor(what: string, f: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** utime + stime of a process, in µs; NaN once it is gone. */
function cpuUs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US;
  } catch {
    return NaN;
  }
}

/** The machine's busy time (all CPUs), µs. */
function machineUs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[4]! + f[5]! + f[6]! + f[7]!) * TICK_US;
}

async function pidsOf(pattern: string): Promise<number[]> {
  const r = await exec('pgrep', ['-f', pattern], { allowFail: true });
  return r.stdout.trim().split('\n').filter(Boolean).map(Number);
}

// ------------------------------------------------------------------------------------------ main

interface Target {
  ns: string;
  env: string[];
  addr: string;
  port: number;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  rmSync(TRACE_DIR, { recursive: true, force: true });
  mkdirSync(TRACE_DIR, { recursive: true });
  await exec('gcc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', BIN, path.join(REPO_ROOT, 'bench/tools/connrate.c')]);
  const world = await World.create({ hosts: 2, name: 'connsetup', startDockerd: false });
  const servers: ChildProcess[] = [];
  try {
    const [h1, h2] = world.hosts as [Host, Host];
    const etcd = new Etcd(h1);
    await etcd.start();
    const slims: SlimDaemon[] = [];
    for (const h of [h1, h2]) {
      // The daemon inherits this process's environment.
      if (o.trace) process.env.SLIM_ROUTER_TRACE = path.join(TRACE_DIR, `router-${h.name}`);
      if (o.perf) process.env.NODE_OPTIONS = '--perf-basic-prof';
      const s = new SlimDaemon(h, ['--store', etcd.storeSpec, '--secure-mode', o['secure-mode']!, '--log-level', 'info']);
      await s.start();
      slims.push(s);
    }
    delete process.env.SLIM_ROUTER_TRACE;
    delete process.env.NODE_OPTIONS;
    const [s1, s2] = slims as [SlimDaemon, SlimDaemon];
    for (const h of [h1, h2]) await waitFor(`router.sock on ${h.name}`, async () => existsSync(path.join(h.slimRunDir, 'router.sock')));
    const [a, b] = await endpoints(world, s1, s2);
    await waitFor('the overlay', async () => (await a.run(['busybox', 'ping', '-c', '1', '-W', '1', b.ip], 5_000, true)).code === 0);
    const status = await exec('node', [path.join(REPO_ROOT, 'dist/driver/cli.js'), 'status', '--json', '--plugin-socket', s1.socket], { allowFail: true });
    log(`h1's daemon: ${(JSON.parse(status.stdout || '{}') as { mode?: string }).mode ?? status.stderr.trim()}`);

    const shimEnv = (h: Host) => [`LD_PRELOAD=${path.join(h.slimRunDir, 'libslimsocket.so')}`, ...(o.trace ? [`SLIM_SHIM_TRACE=${path.join(TRACE_DIR, `shim-${h.name}`)}`] : [])];
    const targets: Record<string, Target> = {
      S: { ns: a.netns, env: shimEnv(h1), addr: b.ip, port: 7000 },
      V: { ns: a.netns, env: [], addr: b.ip, port: 7001 },
      H: { ns: h1.netns, env: [], addr: h2.addr, port: 7002 },
    };
    const serverEnv: Record<string, [string, string[]]> = { S: [b.netns, shimEnv(h2)], V: [b.netns, []], H: [h2.netns, []] };
    for (const m of MODES) {
      const [ns, env] = serverEnv[m]!;
      servers.push(spawn('ip', ['netns', 'exec', ns, 'env', ...env, 'taskset', '-c', CPU, BIN, 'server', String(targets[m]!.port)], { stdio: 'ignore' }));
    }
    await sleep(1000);
    const client = (t: Target, seconds: number) =>
      exec('ip', ['netns', 'exec', t.ns, 'env', ...t.env, 'nice', '-n', o.nice ?? '0', 'taskset', '-c', CPU, 'bash', '-c', `${BIN} client ${t.addr} ${t.port} ${seconds}; times >&2`],
        { timeoutMs: (seconds + 30) * 1000 });
    for (const m of MODES) await client(targets[m]!, 0.5); // warm-up: JIT, caches, router lookups
    if (o.trace) {
      await sleep(1500); // the routers' buffered lines of the warm-up, then nothing of it counts
      for (const f of readdirSync(TRACE_DIR)) rmSync(path.join(TRACE_DIR, f));
    }

    const routers = await Promise.all(slims.map(async (s) => (await pidsOf(`node .*cli.js daemon --plugin-socket ${s.socket}`))[0]!));
    if (o.nice !== undefined) {
      for (const pid of [...routers, ...(await pidsOf(`${BIN} server`))]) await exec('renice', ['-n', o.nice, '-p', String(pid)]);
    }
    if (o['router-cpu'] !== undefined) for (const pid of routers) await exec('taskset', ['-a', '-p', '-c', o['router-cpu'], String(pid)]);

    const results: Record<string, Record<string, number>[]> = {};
    for (let r = 0; r < REPS; r++) {
      for (const m of MODES.map((_, i) => MODES[(i + r) % MODES.length]!)) {
        const t = targets[m]!;
        const perf = o.perf && m === 'S' && r === REPS - 1
          ? spawn('perf', ['record', '-g', '-F', '4999', '-o', path.join(OUT, 'perf.data'), '-p', routers.join(','), '--', 'sleep', String(Math.max(1, SECONDS - 1))], { stdio: 'ignore' })
          : null;
        const server = (await pidsOf(`${BIN} server ${t.port}`)).at(-1)!;
        const before = { r: routers.map(cpuUs), s: cpuUs(server), m: machineUs() };
        const res = await client(t, SECONDS);
        const after = { r: routers.map(cpuUs), s: cpuUs(server), m: machineUs() };
        if (perf) await new Promise((done) => (perf.exitCode !== null ? done(null) : perf.on('exit', done)));
        const v: Record<string, number> = Object.fromEntries(res.stdout.trim().split(/\s+/).map((kv) => kv.split('=')).map(([k, x]) => [k!, Number(x)]));
        const conns = v.conns!;
        const times = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(res.stderr.trim().split('\n').at(-1) ?? '');
        v.clientUs = times ? ((Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4])) * 1e6) / conns : NaN;
        v.serverUs = (after.s - before.s) / conns;
        v.router1Us = (after.r[0]! - before.r[0]!) / conns;
        v.router2Us = (after.r[1]! - before.r[1]!) / conns;
        v.machineUs = (after.m - before.m) / conns;
        (results[m] ??= []).push(v);
        log(`rep ${r + 1} ${m}: ${res.stdout.trim()}  CPU µs/conn: h1 router ${v.router1Us.toFixed(0)}, h2 router ${v.router2Us.toFixed(0)}, ` +
          `client ${v.clientUs.toFixed(0)}, server ${v.serverUs.toFixed(0)}, machine ${v.machineUs.toFixed(0)}`);
      }
    }
    log('\nmedian over the repetitions (min–max):');
    const keys = ['rate', 'total_p50_us', 'total_p99_us', 'connect_p50_us', 'router1Us', 'router2Us', 'clientUs', 'serverUs', 'machineUs'];
    for (const m of MODES) {
      const rs = results[m]!;
      const f = (k: string) => {
        const xs = rs.map((x) => x[k]!);
        return `${k}=${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
      };
      log(`${m}: ${keys.map(f).join('  ')}`);
    }
    writeFileSync(path.join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    if (o.trace) {
      await sleep(1500); // the routers write once a second
      for (const p of servers) p.kill('SIGTERM');
      await sleep(300);
      analyse();
    }
  } finally {
    for (const p of servers) if (p.exitCode === null) p.kill('SIGTERM');
    await world.destroy();
  }
}

// ---------------------------------------------------------------------------------- the traces

/** A router's line: driver/router/trace.ts. */
interface RouterLine {
  kind: string;
  pid: number;
  seq: number;
  t0: bigint;
  stages: [string, number][];
  notes: Record<string, number>;
}

/** A shim's stamp: native/shim/src/trace.c. */
interface Stamp {
  e: string;
  pid: number;
  seq: number;
  ns: bigint;
}

const us = (ns: bigint | number) => Number(ns) / 1000;

function lines(prefix: string): string[] {
  return readdirSync(TRACE_DIR).filter((f) => f.startsWith(prefix)).flatMap((f) => readFileSync(path.join(TRACE_DIR, f), 'utf8').split('\n').filter(Boolean));
}

function routerLines(): RouterLine[] {
  return lines('router-').map((l) => {
    const [kind, pid, seq, t0, ...rest] = l.split(' ');
    return {
      kind: kind!, pid: Number(pid), seq: Number(seq), t0: BigInt(t0!),
      stages: rest.filter((x) => !x.startsWith('@')).map((x) => x.split('=')).map(([k, v]) => [k!, Number(v)] as [string, number]),
      notes: Object.fromEntries(rest.filter((x) => x.startsWith('@')).map((x) => x.slice(1).split('=')).map(([k, v]) => [k!, Number(v)])),
    };
  });
}

function stageTable(title: string, rows: RouterLine[]): void {
  if (!rows.length) return;
  log(`\n${title}: ${rows.length} requests; router stages, median µs since the previous one [p90] (how many went through it)`);
  for (const name of [...new Set(rows.flatMap((r) => r.stages.map(([k]) => k)))]) {
    const d: number[] = [];
    for (const r of rows) {
      const i = r.stages.findIndex(([k]) => k === name);
      if (i >= 0) d.push(us(r.stages[i]![1] - (i ? r.stages[i - 1]![1] : 0)));
    }
    log(`  ${name.padEnd(14)} ${median(d).toFixed(1).padStart(7)} [${pct(d, 0.9).toFixed(1)}] (${d.length})`);
  }
  const total = rows.map((r) => us(r.stages.at(-1)?.[1] ?? 0));
  log(`  ${'total'.padEnd(14)} ${median(total).toFixed(1).padStart(7)} [${pct(total, 0.9).toFixed(1)}]`);
}

function analyse(): void {
  const routerRows = routerLines();
  const connects = routerRows.filter((r) => r.kind === 'connect');
  const peers = routerRows.filter((r) => r.kind === 'peer');
  stageTable('CONNECT (h1 router)', connects);
  stageTable('PEER (h2 router)', peers);

  // Each shim process's stamps in time order; a router request is found by the shim's pid and seq.
  const byPid = new Map<number, Stamp[]>();
  for (const l of lines('shim-')) {
    const [e, pid, seq, ns] = l.split(' ');
    const s = { e: e!, pid: Number(pid), seq: Number(seq), ns: BigInt(ns!) };
    (byPid.get(s.pid) ?? byPid.set(s.pid, []).get(s.pid)!).push(s);
  }
  for (const ss of byPid.values()) ss.sort((x, y) => (x.ns < y.ns ? -1 : x.ns > y.ns ? 1 : 0));
  const sendOf = (pid: number, seq: number) => {
    const ss = byPid.get(pid);
    const i = ss?.findIndex((x) => x.e === 'send' && x.seq === seq) ?? -1;
    return i < 0 ? null : { ss: ss!, i };
  };
  const byPort = <T>(items: T[], port: (x: T) => number | undefined) => {
    const m = new Map<number, T[]>();
    for (const x of items) {
      const p = port(x);
      if (p !== undefined) (m.get(p) ?? m.set(p, []).get(p)!).push(x);
    }
    return m;
  };
  const peersByPort = byPort(peers, (r) => r.notes.port);
  const announcements = byPort(routerRows.filter((r) => r.kind.startsWith('announce:')), (r) => Number(r.kind.split(':')[2]));
  const stageEnd = (r: RouterLine, k: string) => {
    const f = r.stages.find(([n]) => n === k);
    return f ? r.t0 + BigInt(f[1]) : undefined;
  };
  // Client host ports repeat across a run: the PEER and the announcement of a connection are the
  // ones with its port that come soonest after its CONNECT.
  const WINDOW = 50_000_000n;
  const soonAfter = <T>(xs: T[] | undefined, t: bigint, at: (x: T) => bigint) => xs?.find((x) => at(x) >= t && at(x) - t < WINDOW);

  const timeline: Record<string, number[]> = {};
  const at = (k: string, t: bigint | undefined, base: bigint) => {
    if (t !== undefined) (timeline[k] ??= []).push(us(t - base));
  };
  let waited = 0;
  for (const c of connects) {
    const port = c.notes.port;
    const cs = port === undefined ? null : sendOf(c.pid, c.seq);
    const enter = cs?.ss[cs.i - 1];
    if (!cs || enter?.e !== 'c_enter') continue;
    const base = enter.ns;
    at('client: CONNECT sent', cs.ss[cs.i]!.ns, base);
    at('h1 router: CONNECT read', c.t0, base);
    for (const k of ['connect', 'announce', 'syn', 'secure', 'sent']) at(`h1 router: ${k} done`, stageEnd(c, k), base);
    const recv = cs.ss[cs.i + 1];
    const connected = cs.ss.slice(cs.i + 1, cs.i + 4).find((x) => x.e === 'c_connected');
    if (recv?.e === 'recv') at('client: CONNECT reply in', recv.ns, base);
    at('client: connect() returns', connected?.ns, base);
    at('h2 router: announcement read', soonAfter(announcements.get(port!), c.t0, (r) => r.t0)?.t0, base);
    const p = soonAfter(peersByPort.get(port!), c.t0, (r) => r.t0);
    const ps = p ? sendOf(p.pid, p.seq) : null;
    if (!p || !ps) continue;
    if (p.stages.some(([k]) => k === 'waited')) waited++;
    const polled = ps.ss.slice(Math.max(0, ps.i - 4), ps.i).reverse().find((x) => x.e === 'a_polled');
    at('server: poll() woke', polled?.ns, base);
    at('server: PEER sent', ps.ss[ps.i]!.ns, base);
    at('h2 router: PEER read', p.t0, base);
    at('h2 router: PEER answered', stageEnd(p, 'sent'), base);
    const done = ps.ss[ps.i + 2];
    if (done?.e === 'a_done') at('server: accept() returns', done.ns, base);
  }
  log(`\nper connection, µs after the client entered connect(): median [p10–p90] (n)`);
  const rows = Object.entries(timeline).map(([k, v]) => [k, median(v), pct(v, 0.1), pct(v, 0.9), v.length] as const).sort((x, y) => x[1] - y[1]);
  for (const [k, m, lo, hi, n] of rows) log(`  ${m.toFixed(1).padStart(7)}  ${k.padEnd(32)} [${lo.toFixed(1)}–${hi.toFixed(1)}] (${n})`);
  log(`PEER waited for the announcement: ${waited} of ${peers.length}`);

  // The shims' own view: the round trips and what is around them.
  const seg: Record<string, number[]> = {};
  const add = (k: string, v: bigint) => (seg[k] ??= []).push(us(v));
  for (const ss of byPid.values()) {
    for (let i = 0; i < ss.length; i++) {
      const [x, send, recv] = [ss[i]!, ss[i + 1], ss[i + 2]];
      if (x.e === 'c_enter' && send?.e === 'send' && recv?.e === 'recv') {
        add('connect: enter → CONNECT sent', send.ns - x.ns);
        add('connect: CONNECT round trip', recv.ns - send.ns);
        const swapped = ss[i + 3], connected = ss[i + 4];
        if (swapped?.e === 'c_swapped') add('connect: reply → fd in place', swapped.ns - recv.ns);
        if (swapped?.e === 'c_swapped' && connected?.e === 'c_connected') add('connect: POLLOUT wait', connected.ns - swapped.ns);
      }
      if (x.e === 'a_accepted' && send?.e === 'send' && recv?.e === 'recv') {
        const prev = ss[i - 1];
        if (prev?.e === 'a_polled') add('accept: poll woke → accept4 done', x.ns - prev.ns);
        add('accept: accept4 → PEER sent', send.ns - x.ns);
        add('accept: PEER round trip', recv.ns - send.ns);
        if (ss[i + 3]?.e === 'a_done') add('accept: reply → accept() returns', ss[i + 3]!.ns - recv.ns);
      }
    }
  }
  log('\nthe shims: median µs [p90] (n)');
  for (const [k, v] of Object.entries(seg)) log(`  ${k.padEnd(36)} ${median(v).toFixed(1).padStart(7)} [${pct(v, 0.9).toFixed(1)}] (${v.length})`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
