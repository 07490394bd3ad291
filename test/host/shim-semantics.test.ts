// The shim's semantics suite (native/shim/test, C programs) against the real router: two namespace
// hosts with a real etcd and a Slim daemon each; "containers" are bare namespaces joined to one
// Slim network through the plugin API, as a swarm node would. native/shim/test/run-suite.sh runs
// every case (connect blocking and not, ECONNREFUSED, epoll/poll/select, accept4 flags, forked
// workers, dup/exec, 200 concurrent connects, shim and static clients on one listener, …) with the
// server in one namespace and the client in another, each with its own host's router.
import anyTest, { type TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { callPlugin } from '../../driver/plugin/client.js';
import { BareEndpoint } from '../harness/bare-endpoint.js';
import { Etcd } from '../harness/etcd.js';
import { exec } from '../harness/exec.js';
import { REPO_ROOT, SlimDaemon } from '../harness/slim.js';
import { World, type Host } from '../harness/world.js';
import { waitFor } from './docker-helpers.js';

const SHIM_DIR = path.join(REPO_ROOT, 'native/shim');
const SUITE = path.join(SHIM_DIR, 'test/run-suite.sh');
const NET_ID = 'shimsemaaaaaaaaaaaaaaaaaa';
const SUBNET = '10.86.0.0/24';

interface Ctx {
  world: World;
  slims: SlimDaemon[];
  /** a1, a2 on host 1; b on host 2. */
  a1: BareEndpoint;
  a2: BareEndpoint;
  b: BareEndpoint;
}

const test = anyTest as TestFn<Ctx>;
let counter = 0;

async function call(slim: SlimDaemon, method: string, body: object): Promise<Record<string, any>> {
  const r = await callPlugin(slim.socket, method, body, 30_000);
  if (r.status !== 200) throw new Error(`${method} on ${slim.host.name}: ${JSON.stringify(r.body)}`);
  return r.body as Record<string, any>;
}

/** What a swarm manager does on `docker network create`. */
async function createNetwork(manager: SlimDaemon) {
  const pool = await call(manager, 'IpamDriver.RequestPool', { AddressSpace: 'slim-global', Pool: SUBNET, Options: {} });
  const gw = await call(manager, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const alloc = await call(manager, 'NetworkDriver.AllocateNetwork', { NetworkID: NET_ID, Options: {}, IPv4Data: [{ Pool: SUBNET, Gateway: gw.Address }] });
  return { poolId: pool.PoolID as string, gateway: gw.Address as string, options: alloc.Options as Record<string, string> };
}

type Net = Awaited<ReturnType<typeof createNetwork>>;
const created = new Set<SlimDaemon>();

/** What a node does to start a task on the network: a bare namespace gets the endpoint's veth. */
async function attach(world: World, slim: SlimDaemon, manager: SlimDaemon, net: Net): Promise<BareEndpoint> {
  const local = await call(slim, 'IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: SUBNET, Options: {} });
  if (!created.has(slim)) {
    created.add(slim);
    await call(slim, 'IpamDriver.RequestAddress', { PoolID: local.PoolID, Address: net.gateway.split('/')[0], Options: { RequestAddressType: 'com.docker.network.gateway' } });
    await call(slim, 'NetworkDriver.CreateNetwork', {
      NetworkID: NET_ID, Options: { 'com.docker.network.generic': net.options }, IPv4Data: [{ AddressSpace: 'slim-local', Pool: SUBNET, Gateway: net.gateway }], IPv6Data: [],
    });
  }
  const task = await call(manager, 'IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} });
  await call(slim, 'IpamDriver.RequestAddress', { PoolID: local.PoolID, Address: task.Address.split('/')[0], Options: {} });
  const epId = `s${String(++counter).padStart(4, '0')}${world.tag}`.padEnd(24, '0');
  const ep = await call(slim, 'NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: epId, Interface: { Address: task.Address, MacAddress: '' }, Options: {} });
  const join = await call(slim, 'NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: epId, SandboxKey: `/var/run/docker/netns/${epId}`, Options: {} });
  return BareEndpoint.plug(slim.host, join.InterfaceName.SrcName, `${world.tag}n${counter}`, task.Address, ep.Interface.MacAddress);
}

const routerSock = (h: Host) => path.join(h.slimRunDir, 'router.sock');

/** Runs the suite; fails the test with the suite's own report if any case failed. */
async function suite(t: { log: (...a: unknown[]) => void; is: (a: unknown, b: unknown, m?: string) => void }, args: string[]) {
  const r = await exec(SUITE, args, { timeoutMs: 600_000, allowFail: true });
  t.log(r.stdout.trim());
  if (r.stderr.trim()) t.log(r.stderr.trim());
  t.is(r.code, 0, `run-suite.sh ${args.join(' ')}: ${r.code} case(s) failed`);
}

function sides(server: BareEndpoint, client: BareEndpoint): string[] {
  return ['--server-ns', server.netns, '--server-ip', server.ip, '--client-ns', client.netns, '--client-ip', client.ip];
}

test.before(async (t) => {
  // The test programs are not part of `npm run build`; building them takes a few seconds.
  await exec('make', ['-s', '-C', SHIM_DIR, 'lib', 'tests'], { timeoutMs: 300_000 });
  t.context.world = await World.create({ hosts: 2, name: 'shimsem', startDockerd: false });
  const [h1, h2] = t.context.world.hosts as [Host, Host];
  const etcd = new Etcd(h1);
  await etcd.start();
  t.context.slims = [h1, h2].map((h) => new SlimDaemon(h, ['--store', etcd.storeSpec]));
  for (const s of t.context.slims) await s.start();
  const [s1, s2] = t.context.slims as [SlimDaemon, SlimDaemon];
  for (const h of [h1, h2]) await waitFor(`router.sock on ${h.name}`, async () => existsSync(routerSock(h)) || undefined);
  const net = await createNetwork(s1);
  t.context.a1 = await attach(t.context.world, s1, s1, net);
  t.context.a2 = await attach(t.context.world, s1, s1, net);
  t.context.b = await attach(t.context.world, s2, s1, net);
  // The overlay itself must work first (the fallback cases use it).
  const { a1, b } = t.context;
  await waitFor('the overlay between the hosts', async () => (await a1.run(['busybox', 'ping', '-c', '1', '-W', '1', b.ip], 5_000, true)).code === 0 || undefined);
});

test.after.always(async (t) => {
  await t.context.world?.destroy();
});

test.serial('across hosts, as in a container: glibc shim from each host\'s run directory, router found next to it', async (t) => {
  const [h1, h2] = t.context.world.hosts as [Host, Host];
  await suite(t, [...sides(t.context.b, t.context.a1), '--router', 'default', '--server-shim-dir', h2.slimRunDir, '--client-shim-dir', h1.slimRunDir, '--port-base', '21000']);
});

test.serial('across hosts, ASan/UBSan shim and programs', async (t) => {
  const [h1, h2] = t.context.world.hosts as [Host, Host];
  await suite(t, [...sides(t.context.b, t.context.a1), '--variant', 'asan', '--server-router', routerSock(h2), '--client-router', routerSock(h1), '--port-base', '22000']);
});

test.serial('across hosts, musl shim (the run directory\'s musl/) with musl programs', async (t) => {
  const [h1, h2] = t.context.world.hosts as [Host, Host];
  await suite(t, [...sides(t.context.b, t.context.a1), '--variant', 'musl', '--router', 'default', '--server-shim-dir', h2.slimRunDir, '--client-shim-dir', h1.slimRunDir, '--port-base', '23000']);
});

test.serial('on one host, server and client behind the same router', async (t) => {
  const [h1] = t.context.world.hosts as [Host];
  await suite(t, [...sides(t.context.a2, t.context.a1), '--router', 'default', '--shim-dir', h1.slimRunDir, '--port-base', '24000']);
});

test.serial('router stopped: connect() takes the overlay; router back: the same process gets host sockets again', async (t) => {
  const [h1, h2] = t.context.world.hosts as [Host, Host];
  const [s1] = t.context.slims as [SlimDaemon];
  const { a1, b } = t.context;
  const bin = path.join(SHIM_DIR, 'build/test');
  const preload = (h: Host) => `LD_PRELOAD=${path.join(h.slimRunDir, 'libslimsocket.so')}`;
  const server = spawn('nsenter', [`--net=/run/netns/${b.netns}`, 'env', preload(h2), path.join(bin, 't_server'), '--listen', `${b.ip}:25000`, '--mode', 'epoll-lt', '--count', '1000', '--timeout', '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let client: ReturnType<typeof spawn> | undefined;
  try {
    let serverOut = '';
    server.stdout.on('data', (d: Buffer) => (serverOut += d.toString()));
    await waitFor('the server to listen', async () => serverOut.includes('READY') || undefined);
    await s1.kill();
    client = spawn('nsenter', [`--net=/run/netns/${a1.netns}`, 'env', preload(h1), path.join(bin, 't_client'), '--server', `${b.ip}:25000`, '--self', a1.ip, '--mode', 'resume', '--timeout', '90'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    client.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    client.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => client?.on('exit', (code) => resolve(code)));
    await waitFor('the first connection, on the overlay', async () => out.includes('FIRST overlay') || (client?.exitCode !== null ? true : undefined));
    t.regex(out, /FIRST overlay/, err);
    await s1.start();
    const code = await exited;
    t.is(code, 0, err);
    t.regex(out, /RESUMED after \d+ overlay connections/);
  } finally {
    client?.kill('SIGKILL');
    server.kill('SIGKILL');
  }
});
