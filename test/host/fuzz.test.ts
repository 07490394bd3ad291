// Fuzz test of the plugin socket (host tier, needs root): the real daemon in its own network
// namespace gets 1,000+ malformed or hostile requests spread over every method of its route table.
// It must never crash, answer each with a clear error (or the success the protocol defines), and
// leave its state, its kernel objects and its status exactly as they were.
//
// Reproduce a failure with SLIM_FUZZ_SEED=<seed printed by the test>; SLIM_FUZZ_COUNT sets the
// number of generated requests (default 1500).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { pluginRoutes } from '../../driver/plugin/routes.js';
import { policyRoutes } from '../../driver/policy/rules-api.js';
import { generate, UNCLEAR_ERROR, uncoveredMethods, type Baseline, type FuzzCase } from './fuzz-cases.js';
import { rawRequest, type RawReply } from '../harness/raw-request.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// SLIM_FUZZ_CLI points the test at another build (e.g. an older commit's, to check the test itself).
const CLI = process.env.SLIM_FUZZ_CLI ?? path.join(ROOT, 'dist/driver/cli.js');
const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

const SEED = process.env.SLIM_FUZZ_SEED ? Number(process.env.SLIM_FUZZ_SEED) : randomInt(2 ** 31);
const COUNT = Number(process.env.SLIM_FUZZ_COUNT ?? 1500);
const CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 10_000;

// Unique per run: interface names stay within 15 characters ("slfz" + 6 hex + "a").
const RUN = randomBytes(3).toString('hex');
const NETNS = `slfz-${RUN}`;
const VETH_ROOT = `slfz${RUN}a`;
const VETH_NS = `slfz${RUN}b`;
const OCTET = randomInt(1, 255);
const UNDERLAY_ADDR = `10.254.${OCTET}.2`;

interface Ctx {
  dir: string;
  sock: string;
  stateFile: string;
  logFile: string;
  daemon: ChildProcess;
  exited: string | null;
  agent: http.Agent;
  baseline: Baseline;
  snapshot: { status: unknown; stateText: string; links: string[] };
}

// One daemon for the whole file, shared by the serial tests below (ava copies t.context per test,
// so shared mutable state lives here instead).
const S = { exited: null } as Ctx;

// ------------------------------------------------------------------------------------ helpers

function sh(cmd: string, args: string[], allowFail = false): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PATH: SYSTEM_PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (allowFail) return '';
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

function nsLinks(): string[] {
  const links = JSON.parse(sh('ip', ['-n', NETNS, '-j', 'link', 'show'])) as { ifname: string }[];
  return links.map((l) => l.ifname).sort();
}

function send(ctx: Pick<Ctx, 'sock' | 'agent'>, c: Pick<FuzzCase, 'verb' | 'path' | 'body' | 'headers'>): Promise<RawReply> {
  return rawRequest(ctx.sock, {
    method: c.verb,
    path: c.path,
    body: c.body,
    agent: ctx.agent,
    timeoutMs: REQUEST_TIMEOUT_MS,
    headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': c.body.length, ...c.headers },
  });
}

async function call(ctx: Pick<Ctx, 'sock' | 'agent'>, method: string, body: unknown = {}): Promise<{ status: number; body: any }> {
  const r = await send(ctx, { verb: 'POST', path: `/${method}`, body: Buffer.from(body === '' ? '' : JSON.stringify(body)), headers: {} });
  if (r.json === undefined) throw new Error(`${method}: reply is not JSON: ${r.text.slice(0, 200)}`);
  return { status: r.status, body: r.json };
}

async function ok(ctx: Pick<Ctx, 'sock' | 'agent'>, method: string, body: unknown = {}): Promise<any> {
  const r = await call(ctx, method, body);
  if (r.status !== 200) throw new Error(`${method} ${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

function logTail(ctx: Ctx, lines = 30): string {
  try {
    return readFileSync(ctx.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Daemon log entries at error level or above ("request failed": an exception that was not a PluginError). */
function unexpectedFailures(ctx: Ctx): string[] {
  const out: string[] = [];
  for (const line of readFileSync(ctx.logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      if ((entry.level ?? 0) >= 50) out.push(line.slice(0, 400));
    } catch {
      // not a pino line
    }
  }
  return out;
}

/** Checks one reply against its classification; returns a description of what is wrong, or null. */
function judge(c: FuzzCase, r: RawReply): string | null {
  const body = r.json as { Err?: unknown } | undefined;
  if (body === undefined || typeof body !== 'object' || body === null) return `reply is not a JSON object: ${r.status} ${r.text.slice(0, 200)}`;
  switch (c.expect.kind) {
    case 'okOrError':
      if (r.status === 200) {
        if (JSON.stringify(sortKeys(body)) !== JSON.stringify(sortKeys(c.expect.reply))) return `expected ${JSON.stringify(c.expect.reply).slice(0, 300)} or an error, got ${r.text.slice(0, 300)}`;
        return null;
      }
      if (r.status < 400 || r.status > 599) return `expected 200 or an error, got ${r.status} ${r.text.slice(0, 300)}`;
      break;
    case 'ok':
      if (r.status !== 200) return `expected 200 ${JSON.stringify(c.expect.reply)}, got ${r.status} ${r.text.slice(0, 300)}`;
      if (JSON.stringify(sortKeys(body)) !== JSON.stringify(sortKeys(c.expect.reply))) return `expected ${JSON.stringify(c.expect.reply).slice(0, 300)}, got ${r.text.slice(0, 300)}`;
      return null;
    case 'notfound':
      if (r.status !== 404) return `expected 404, got ${r.status} ${r.text.slice(0, 300)}`;
      break;
    case 'error':
      if (r.status === 200 || r.status < 400 || r.status > 599) return `expected an error, got ${r.status} ${r.text.slice(0, 300)}`;
      break;
  }
  const keys = Object.keys(body);
  if (typeof body.Err !== 'string' || body.Err.trim() === '') return `expected {"Err": "<message>"}, got ${r.text.slice(0, 300)}`;
  if (keys.some((k) => k !== 'Err' && k !== 'Error')) return `error reply has other fields: ${keys.join(', ')}`;
  if (UNCLEAR_ERROR.test(body.Err)) return `unclear error message (internals leak): ${body.Err.slice(0, 300)}`;
  if (body.Err.length > 2000) return `error message of ${body.Err.length} characters (echoes the input?)`;
  return null;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, sortKeys(x)]));
  return v;
}

async function runPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(item);
      }
    }),
  );
}

function daemonAlive(ctx: Ctx): boolean {
  if (ctx.exited !== null || ctx.daemon.pid === undefined) return false;
  try {
    process.kill(ctx.daemon.pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------ set-up / clean-up

function cleanupSync(ctx: Partial<Ctx>): void {
  if (ctx.daemon?.pid !== undefined && ctx.exited === null) {
    try {
      process.kill(ctx.daemon.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  ctx.agent?.destroy();
  sh('ip', ['netns', 'del', NETNS], true);
  sh('ip', ['link', 'del', VETH_ROOT], true);
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
}

const onSignal = (sig: NodeJS.Signals) => {
  cleanupSync(S);
  process.kill(process.pid, sig);
};

test.before(async (t) => {
  if (process.getuid?.() !== 0) throw new Error('the fuzz test needs root (network namespaces)');
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (or npx tsc -p .) first`);
  t.log(`seed ${SEED} (SLIM_FUZZ_SEED=${SEED} to replay), ${COUNT} generated requests, netns ${NETNS}`);
  console.log(`fuzz: seed ${SEED}, netns ${NETNS}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const dir = path.join(os.tmpdir(), `slfz-${RUN}`);
  mkdirSync(dir, { recursive: true });
  Object.assign(S, { dir, sock: path.join(dir, 'slim.sock'), stateFile: path.join(dir, 'state', 'state.json'), logFile: path.join(dir, 'daemon.log') });
  const ctx = S;

  sh('ip', ['netns', 'add', NETNS]);
  sh('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
  sh('ip', ['link', 'add', VETH_ROOT, 'type', 'veth', 'peer', 'name', VETH_NS, 'netns', NETNS]);
  sh('ip', ['link', 'set', VETH_ROOT, 'up']);
  sh('ip', ['-n', NETNS, 'addr', 'add', `${UNDERLAY_ADDR}/24`, 'dev', VETH_NS]);
  sh('ip', ['-n', NETNS, 'link', 'set', VETH_NS, 'up']);

  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${SYSTEM_PATH}:${process.env.PATH ?? ''}` };
  for (const k of ['PLUGIN_SOCKET', 'STATE_DIR', 'RUN_DIR', 'ADVERTISE_ADDR', 'LOG_LEVEL', 'SCOPE', 'STORE', 'HOST_TTL', 'DEFAULT_POOL', 'DEFAULT_POOL_SIZE', 'SECURE_MODE', 'SECURE_CGROUP']) delete env[k];
  const logFd = openSync(ctx.logFile, 'a');
  const daemon = spawn(
    'nsenter',
    // The daemon shares the machine's mounts (slave: it sees the netns files made below) but not
    // its bpffs, and its run directory is the test's: it leaves nothing in the machine's /run/slim
    // or /sys/fs/bpf/slim. Secure mode is off (it would make a cgroup in the machine's hierarchy;
    // the plugin protocol is what is fuzzed here), and with the private bpffs its start-up clean-up
    // of earlier pins cannot reach a Slim installed on the machine.
    [`--net=/run/netns/${NETNS}`, '--', 'unshare', '--mount', '--propagation', 'slave', '--',
      'sh', '-c', 'mount -t bpf bpf /sys/fs/bpf && exec "$@"', 'sh', process.execPath, CLI, 'daemon', '--plugin-socket', ctx.sock, '--state-dir', path.join(dir, 'state'), '--run-dir', path.join(dir, 'run'),
      '--secure-mode', 'off', '--advertise-addr', UNDERLAY_ADDR, '--log-level', 'info'],
    { stdio: ['ignore', logFd, logFd], env },
  );
  closeSync(logFd);
  S.daemon = daemon;
  daemon.on('exit', (code, signal) => {
    S.exited = `exit ${code ?? ''} ${signal ?? ''}`.trim();
  });
  S.agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (S.exited !== null) throw new Error(`the daemon exited during start-up (${S.exited}):\n${logTail(S)}`);
    try {
      const r = await call(S, 'Plugin.Activate', '');
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the daemon did not answer Plugin.Activate within 20 s:\n${logTail(S)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

test.after.always(() => {
  cleanupSync(S);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
});

// ------------------------------------------------------------------------------------ the tests

async function createBaseline(t: ExecutionContext): Promise<Baseline> {
  const ctx = S;
  const networkId = randomBytes(32).toString('hex');
  const endpointId = randomBytes(32).toString('hex');
  const sandboxKey = `/var/run/docker/netns/${RUN}`;
  const activate = await ok(ctx, 'Plugin.Activate', '');
  const netCaps = await ok(ctx, 'NetworkDriver.GetCapabilities', '');
  const ipamCaps = await ok(ctx, 'IpamDriver.GetCapabilities', '');
  const addressSpaces = await ok(ctx, 'IpamDriver.GetDefaultAddressSpaces', '');

  const poolReq = { AddressSpace: 'slim-local', Pool: '10.77.0.0/24', SubPool: '', Options: {}, V6: false };
  const pool = await ok(ctx, 'IpamDriver.RequestPool', poolReq);
  const gw = await ok(ctx, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const allocReq = { NetworkID: networkId, Options: { 'com.docker.network.driver.mtu': '1400' }, IPv4Data: [{ AddressSpace: 'slim-local', Pool: pool.Pool, Gateway: gw.Address }], IPv6Data: [] };
  const alloc = await ok(ctx, 'NetworkDriver.AllocateNetwork', allocReq);
  await ok(ctx, 'NetworkDriver.CreateNetwork', {
    NetworkID: networkId,
    Options: { 'com.docker.network.generic': alloc.Options, 'com.docker.network.enable_ipv6': false, 'com.docker.network.internal': false },
    IPv4Data: [{ AddressSpace: 'slim-local', Pool: pool.Pool, Gateway: gw.Address, AuxAddresses: {} }],
    IPv6Data: [],
  });
  const addr = await ok(ctx, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: {} });
  const epReq = { NetworkID: networkId, EndpointID: endpointId, Interface: { Address: addr.Address, AddressIPv6: '', MacAddress: '' }, Options: {} };
  const epReply = await ok(ctx, 'NetworkDriver.CreateEndpoint', epReq);
  const join = await ok(ctx, 'NetworkDriver.Join', { NetworkID: networkId, EndpointID: endpointId, SandboxKey: sandboxKey, Options: {} });
  t.is(join.InterfaceName?.DstPrefix, 'eth');
  const operInfo = await ok(ctx, 'NetworkDriver.EndpointOperInfo', { NetworkID: networkId, EndpointID: endpointId });

  const full = await ok(ctx, 'IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: '10.78.0.0/30' });
  const fullAddresses = [
    (await ok(ctx, 'IpamDriver.RequestAddress', { PoolID: full.PoolID, Address: '' })).Address as string,
    (await ok(ctx, 'IpamDriver.RequestAddress', { PoolID: full.PoolID, Address: '' })).Address as string,
  ];
  const status = await ok(ctx, 'Slim.Status');
  t.is(status.networks.length, 1);
  t.is(status.endpoints.length, 1);

  return {
    networkId,
    endpointId,
    poolId: pool.PoolID,
    pool: pool.Pool,
    gateway: gw.Address,
    address: addr.Address,
    vni: Number(alloc.Options['slim.vni']),
    sandboxKey,
    fullPoolId: full.PoolID,
    fullPool: full.Pool,
    fullAddresses,
    replies: {
      activate,
      netCaps,
      ipamCaps,
      addressSpaces,
      status,
      allocate: { request: allocReq, reply: alloc },
      requestPool: { request: poolReq, reply: pool },
      createEndpoint: { request: epReq, reply: epReply },
      operInfo,
    },
  };
}

/** The route table as the daemon has it, `slim policy`'s methods included (handlers are never called here). */
function routeMethods(): string[] {
  return Object.keys({ ...pluginRoutes({} as never, {} as never, async () => ({})), ...policyRoutes({} as never, { info: () => undefined }) });
}

test.serial('storm: 1,000+ malformed or hostile requests to every method; the daemon survives and nothing changes', async (t) => {
  const ctx = S;
  const started = Date.now();
  const b = await createBaseline(t);
  ctx.baseline = b;
  const links = nsLinks();
  t.true(links.includes(`slb-${b.networkId.slice(0, 11)}`), `the baseline network's bridge exists: ${links.join(' ')}`);
  ctx.snapshot = { status: b.replies.status, stateText: readFileSync(ctx.stateFile, 'utf8'), links };

  const methods = routeMethods();
  t.deepEqual(uncoveredMethods(methods, b), [], 'every method of the route table has fuzz families (add them to fuzz-cases.ts)');
  const cases = generate({ seed: SEED, count: COUNT, methods, baseline: b, hugeBodies: 6 });

  const failures: string[] = [];
  const perMethod = new Map<string, { n: number; ok: number; err: number }>();
  const byFamily = new Map<string, number>();
  await runPool(cases, CONCURRENCY, async (c) => {
    const name = c.path.slice(1);
    const m = c.verb !== 'POST' ? '(wrong verb)' : methods.includes(name) ? name : '(unknown method)';
    const stat = perMethod.get(m) ?? { n: 0, ok: 0, err: 0 };
    perMethod.set(m, stat);
    stat.n++;
    byFamily.set(c.family, (byFamily.get(c.family) ?? 0) + 1);
    let problem: string | null;
    try {
      const r = await send(ctx, c);
      if (r.status === 200) stat.ok++;
      else stat.err++;
      problem = judge(c, r);
    } catch (err) {
      problem = `request failed: ${(err as Error).message}`;
    }
    if (problem) failures.push(`#${c.n} ${c.verb} ${c.path.slice(0, 80)} [${c.family}] body ${JSON.stringify(c.body.subarray(0, 160).toString('utf8'))}${c.body.length > 160 ? `… (${c.body.length} bytes)` : ''}: ${problem}`);
  });

  // raw connections that are not HTTP at all: the daemon must shrug them off
  const rawGarbage = [Buffer.from('GARBAGE\r\n\r\n'), Buffer.from('POST /Plugin.Activate HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"trunc'), randomBytes(4096), Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'), Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\n\r\n`)];
  for (const bytes of rawGarbage) {
    await new Promise<void>((resolve) => {
      const s = net.connect(ctx.sock, () => s.end(bytes));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.setTimeout(2000, () => s.destroy());
      s.resume();
    });
  }

  const seconds = (Date.now() - started) / 1000;
  const total = cases.length + rawGarbage.length;
  const summary = [...perMethod.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([m, s]) => `${m}: ${s.n} (${s.ok} ok, ${s.err} errors)`);
  t.log(`${cases.length} HTTP requests + ${rawGarbage.length} raw connections in ${seconds.toFixed(1)} s, seed ${SEED}, ${byFamily.size} families`);
  t.log(summary.join('\n'));
  t.true(cases.length >= 1000, `only ${cases.length} requests`);
  for (const m of methods) t.true((perMethod.get(m)?.n ?? 0) >= 10, `${m} got only ${perMethod.get(m)?.n ?? 0} requests`);
  t.true(total > 1000);

  t.deepEqual(failures.slice(0, 40), [], `${failures.length} of ${cases.length} replies were wrong (seed ${SEED}); first ones listed`);
  t.true(daemonAlive(ctx), `the daemon died (${ctx.exited}):\n${logTail(ctx)}`);
  t.deepEqual(unexpectedFailures(ctx).slice(0, 10), [], 'the daemon logged unexpected failures (non-PluginError exceptions)');

  const status = await ok(ctx, 'Slim.Status');
  t.deepEqual(status, ctx.snapshot.status, 'Slim.Status is unchanged');
  t.is(readFileSync(ctx.stateFile, 'utf8'), ctx.snapshot.stateText, 'the state file is unchanged');
  t.deepEqual(nsLinks(), ctx.snapshot.links, 'the namespace holds the same links');
  t.true(seconds < 60, `the storm took ${seconds} s`);
});

// Hostile inputs the daemon once accepted: kept out of the storm (whose point is that nothing
// changes) because an acceptance would change the state.
test.serial('malformed addresses and duplicate endpoint IPs/MACs are refused by the real daemon', async (t) => {
  const b = S.baseline;
  if (!b) {
    t.fail('no baseline (the storm test did not run)');
    return;
  }
  const stateBefore = readFileSync(S.stateFile, 'utf8');
  const created: string[] = [];
  const allocated: string[] = [];
  const problems: string[] = [];
  try {
    for (const address of ['10.77.0.60/xyz', '10.77.0.61/24/24', '10.77.0.62/']) {
      const r = await call(S, 'IpamDriver.RequestAddress', { PoolID: b.poolId, Address: address });
      if (r.status === 200) {
        allocated.push(address.split('/')[0] as string);
        problems.push(`RequestAddress ${JSON.stringify(address)} → 200 ${JSON.stringify(r.body)}`);
      }
    }
    const baselineIp = b.address.split('/')[0];
    const r = await call(S, 'IpamDriver.ReleaseAddress', { PoolID: b.poolId, Address: `${baselineIp}/garbage` });
    const pools = (JSON.parse(readFileSync(S.stateFile, 'utf8')) as { pools: Record<string, { allocated: string[] }> }).pools;
    if (!pools[b.poolId]?.allocated.includes(baselineIp as string)) {
      problems.push(`ReleaseAddress "${baselineIp}/garbage" → ${r.status} and freed the baseline endpoint's address`);
    }
    const mac = (b.replies.createEndpoint.reply as { Interface: { MacAddress: string } }).Interface.MacAddress;
    const attempts: [string, object][] = [
      ['same IP as the baseline endpoint', { Address: b.address }],
      ['same MAC as the baseline endpoint', { Address: '10.77.0.71/24', MacAddress: mac }],
      ['multicast MAC', { Address: '10.77.0.72/24', MacAddress: '01:00:5e:00:00:01' }],
      ['network address', { Address: '10.77.0.0/24' }],
    ];
    for (const [what, iface] of attempts) {
      const id = randomBytes(32).toString('hex');
      const e = await call(S, 'NetworkDriver.CreateEndpoint', { NetworkID: b.networkId, EndpointID: id, Interface: iface });
      if (e.status === 200) {
        created.push(id);
        problems.push(`CreateEndpoint with the ${what} ${JSON.stringify(iface)} → 200`);
      }
    }
    t.deepEqual(problems, []);
  } finally {
    for (const id of created) await call(S, 'NetworkDriver.DeleteEndpoint', { NetworkID: b.networkId, EndpointID: id });
    for (const ip of allocated) await call(S, 'IpamDriver.ReleaseAddress', { PoolID: b.poolId, Address: ip });
    // put back what a malformed release may have freed
    await call(S, 'IpamDriver.RequestAddress', { PoolID: b.poolId, Address: b.address });
  }
  t.is(readFileSync(S.stateFile, 'utf8'), stateBefore, 'the state is back to the baseline');
});

test.serial('after the storm the baseline is deleted through the API and nothing is left', async (t) => {
  const ctx = S;
  const b = ctx.baseline;
  t.truthy(b, 'the storm test created a baseline');
  if (!b) return;
  t.true(daemonAlive(ctx), `the daemon died (${ctx.exited}):\n${logTail(ctx)}`);
  await ok(ctx, 'NetworkDriver.Leave', { NetworkID: b.networkId, EndpointID: b.endpointId });
  await ok(ctx, 'NetworkDriver.DeleteEndpoint', { NetworkID: b.networkId, EndpointID: b.endpointId });
  await ok(ctx, 'IpamDriver.ReleaseAddress', { PoolID: b.poolId, Address: b.address });
  await ok(ctx, 'NetworkDriver.DeleteNetwork', { NetworkID: b.networkId });
  await ok(ctx, 'NetworkDriver.FreeNetwork', { NetworkID: b.networkId });
  await ok(ctx, 'IpamDriver.ReleaseAddress', { PoolID: b.poolId, Address: b.gateway });
  await ok(ctx, 'IpamDriver.ReleasePool', { PoolID: b.poolId });
  for (const a of b.fullAddresses) await ok(ctx, 'IpamDriver.ReleaseAddress', { PoolID: b.fullPoolId, Address: a });
  await ok(ctx, 'IpamDriver.ReleasePool', { PoolID: b.fullPoolId });

  const status = await ok(ctx, 'Slim.Status');
  t.deepEqual([status.networks, status.endpoints], [[], []]);
  const state = JSON.parse(readFileSync(ctx.stateFile, 'utf8')) as { networks: object; endpoints: object; pools: object; allocatedVnis: object };
  t.deepEqual([state.networks, state.endpoints, state.pools, state.allocatedVnis], [{}, {}, {}, {}]);
  t.deepEqual(nsLinks(), ['lo', VETH_NS].sort(), 'only lo and the underlay veth are left in the namespace');
  t.true(daemonAlive(ctx));
});
