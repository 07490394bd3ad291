// Slim across hosts without a swarm: three namespace hosts, a real etcd, a real Slim daemon on each,
// driven through the plugin socket with the calls a swarm makes (manager: global pool, gateway,
// AllocateNetwork; each node: local pool, CreateNetwork, CreateEndpoint, Join). "Containers" are
// bare namespaces that receive the veth from Join. Real VXLAN carries TCP, UDP and ICMP between them.
import anyTest, { type TestFn } from 'ava';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { callPlugin } from '../../driver/plugin/client.js';
import { BareEndpoint } from '../harness/bare-endpoint.js';
import { Etcd } from '../harness/etcd.js';
import { REPO_ROOT, SlimDaemon } from '../harness/slim.js';
import { World, type Host } from '../harness/world.js';
import { waitFor } from './docker-helpers.js';

const ECHO = path.join(REPO_ROOT, 'test/tools/echo.mjs');
const HOST_TTL = 3;

interface Ctx {
  world: World;
  hosts: Host[];
  etcd: Etcd;
  slims: SlimDaemon[];
  servers: ChildProcess[];
}

// Module-level: ava gives each test a shallow copy of the context, so a counter there would reset.
let counter = 0;
const test = anyTest as TestFn<Ctx>;

async function call(slim: SlimDaemon, method: string, body: object): Promise<Record<string, any>> {
  const r = await callPlugin(slim.socket, method, body, 30_000);
  if (r.status !== 200) throw new Error(`${method} on ${slim.host.name}: ${JSON.stringify(r.body)}`);
  return r.body as Record<string, any>;
}

/** What the swarm manager does when `docker network create` runs. */
async function managerCreates(slim: SlimDaemon, id: string, subnet: string) {
  const pool = await call(slim, 'IpamDriver.RequestPool', { AddressSpace: 'slim-global', Pool: subnet, Options: {} });
  const gw = await call(slim, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const alloc = await call(slim, 'NetworkDriver.AllocateNetwork', { NetworkID: id, Options: {}, IPv4Data: [{ Pool: subnet, Gateway: gw.Address }] });
  return { poolId: pool.PoolID as string, gateway: gw.Address as string, options: alloc.Options as Record<string, string> };
}

/** What a node does to run a task: local pool, CreateNetwork, the task's address, endpoint, join. */
async function nodeRuns(t: { context: Ctx }, slim: SlimDaemon, id: string, subnet: string, net: Awaited<ReturnType<typeof managerCreates>>, manager: SlimDaemon) {
  const local = await call(slim, 'IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: subnet, Options: {} });
  await call(slim, 'IpamDriver.RequestAddress', { PoolID: local.PoolID, Address: net.gateway.split('/')[0], Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await call(slim, 'NetworkDriver.CreateNetwork', {
    NetworkID: id, Options: { 'com.docker.network.generic': net.options }, IPv4Data: [{ AddressSpace: 'slim-local', Pool: subnet, Gateway: net.gateway }], IPv6Data: [],
  });
  const task = await call(manager, 'IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} });
  await call(slim, 'IpamDriver.RequestAddress', { PoolID: local.PoolID, Address: task.Address.split('/')[0], Options: {} });
  // Unique within the first 11 characters too: Slim names the endpoint's veth from them.
  const epId = `e${String(++counter).padStart(4, '0')}${t.context.world.tag}`.padEnd(24, '0');
  const ep = await call(slim, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: epId, Interface: { Address: task.Address, MacAddress: '' }, Options: {} });
  const join = await call(slim, 'NetworkDriver.Join', { NetworkID: id, EndpointID: epId, SandboxKey: `/var/run/docker/netns/${epId}`, Options: {} });
  return BareEndpoint.plug(slim.host, join.InterfaceName.SrcName, `${t.context.world.tag}c${counter}`, task.Address, ep.Interface.MacAddress);
}

// The servers array is shared by reference between the copies, so after() sees every server.
function serve(t: { context: Ctx }, ep: BareEndpoint) {
  for (const proto of ['tcp', 'udp']) {
    const child = spawn('ip', ['netns', 'exec', ep.netns, 'node', ECHO, 'serve', proto, '7000'], { stdio: 'ignore' });
    t.context.servers.push(child);
  }
}

async function ask(from: BareEndpoint, to: BareEndpoint, proto: 'tcp' | 'udp'): Promise<string> {
  const r = await from.run(['node', ECHO, 'ask', proto, to.ip, '7000', `hello-${proto}`], 10_000, true);
  return r.stdout;
}

async function pings(from: BareEndpoint, to: BareEndpoint): Promise<boolean> {
  return (await from.run(['busybox', 'ping', '-c', '1', '-W', '1', to.ip], 5_000, true)).code === 0;
}

async function fdb(host: Host, vxlan: string): Promise<{ mac: string; dst?: string }[]> {
  const { stdout } = await host.run(['bridge', '-j', 'fdb', 'show', 'dev', vxlan]);
  return (JSON.parse(stdout || '[]') as { mac: string; dst?: string }[]).filter((e) => e.dst);
}

test.before(async (t) => {
  t.context.world = await World.create({ hosts: 3, name: 'multihost', startDockerd: false });
  t.context.hosts = t.context.world.hosts;
  t.context.servers = [];
  t.context.etcd = new Etcd(t.context.hosts[0] as Host);
  await t.context.etcd.start();
  t.context.slims = t.context.hosts.map((h) => new SlimDaemon(h, ['--store', t.context.etcd.storeSpec, '--host-ttl', String(HOST_TTL)]));
  for (const s of t.context.slims) await s.start();
});

test.after.always(async (t) => {
  for (const s of t.context.servers ?? []) s.kill('SIGKILL');
  await t.context.world?.destroy();
});

test.serial('endpoints on different hosts exchange TCP, UDP and ICMP over VXLAN programmed from etcd', async (t) => {
  const [s1, s2, s3] = t.context.slims as [SlimDaemon, SlimDaemon, SlimDaemon];
  const id = 'mhnetaaaaaaaaaaaaaaaaaaaa';
  const net = await managerCreates(s1, id, '10.80.0.0/24');
  t.regex(net.options['slim.vni'] ?? '', /^\d+$/);
  const a = await nodeRuns(t, s1, id, '10.80.0.0/24', net, s1);
  const b = await nodeRuns(t, s2, id, '10.80.0.0/24', net, s1);
  const c = await nodeRuns(t, s3, id, '10.80.0.0/24', net, s1);
  serve(t, b);
  serve(t, c);
  const vxlan = (await s2.status()).networks[0]?.vxlan ?? '';
  await waitFor('h1 to learn the remote endpoints from etcd', async () => (await fdb(s1.host, vxlan)).length === 2);
  t.deepEqual((await fdb(s1.host, vxlan)).map((e) => e.dst).sort(), [s2.host.addr, s3.host.addr].sort());
  const before = await vxlanPackets(s1.host, vxlan);
  t.true(await waitFor('ping h1 → h2', () => pings(a, b)));
  t.is(await waitFor('TCP h1 → h2', async () => (await ask(a, b, 'tcp')) || undefined), 'hello-tcp');
  t.is(await ask(a, b, 'udp'), 'hello-udp');
  t.is(await waitFor('TCP h1 → h3', async () => (await ask(a, c, 'tcp')) || undefined), 'hello-tcp');
  t.is(await ask(b, c, 'udp'), 'hello-udp', 'h2 → h3 as well');
  t.true((await vxlanPackets(s1.host, vxlan)) > before, 'the traffic crossed h1\'s VXLAN device');
  // Every host sees the same network with the VNI the manager allocated.
  for (const s of [s1, s2, s3]) t.is(String((await s.status()).networks.find((n) => n.id === id)?.vni), net.options['slim.vni'] ?? '(no VNI allocated)');
});

async function vxlanPackets(host: Host, dev: string): Promise<number> {
  const { stdout } = await host.run(['ip', '-j', '-s', 'link', 'show', 'dev', dev]);
  const [link] = JSON.parse(stdout) as { stats64: { tx: { packets: number } } }[];
  return link?.stats64.tx.packets ?? 0;
}

test.serial('two networks spanning the same hosts stay isolated', async (t) => {
  const [s1, s2] = t.context.slims as [SlimDaemon, SlimDaemon];
  const red = await managerCreates(s1, 'mhredaaaaaaaaaaaaaaaaaaaa', '10.82.0.0/24');
  const blue = await managerCreates(s1, 'mhblueaaaaaaaaaaaaaaaaaaa', '10.83.0.0/24');
  const r1 = await nodeRuns(t, s1, 'mhredaaaaaaaaaaaaaaaaaaaa', '10.82.0.0/24', red, s1);
  const r2 = await nodeRuns(t, s2, 'mhredaaaaaaaaaaaaaaaaaaaa', '10.82.0.0/24', red, s1);
  const b2 = await nodeRuns(t, s2, 'mhblueaaaaaaaaaaaaaaaaaaa', '10.83.0.0/24', blue, s1);
  serve(t, b2);
  serve(t, r2);
  t.not(red.options['slim.vni'], blue.options['slim.vni']);
  t.true(await waitFor('red reaches red across hosts', () => pings(r1, r2)));
  t.false(await pings(r1, b2), 'red cannot ping blue');
  t.is(await ask(r1, b2, 'tcp'), '', 'red cannot open TCP to blue');
});

test.serial('concurrent address requests on three hosts never hand out one address twice; replays agree', async (t) => {
  const slims = t.context.slims;
  const subnet = '10.84.0.0/23';
  const global = await Promise.all(slims.map((s) => call(s, 'IpamDriver.RequestPool', { AddressSpace: 'slim-global', Pool: subnet })));
  t.is(new Set(global.map((g) => g.PoolID)).size, 1, 'every manager (leader change) gets the same global pool');
  const poolId = global[0]?.PoolID as string;
  const per = 60;
  const results = await Promise.all(
    slims.flatMap((s) => Array.from({ length: per }, () => call(s, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '' }))),
  );
  const addrs = results.map((r) => r.Address as string);
  t.is(new Set(addrs).size, per * slims.length, 'all distinct');
  // A new leader replays what the old one allocated: the same answers, nothing new taken.
  const replay = await call(slims[1]!, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: addrs[0]!.split('/')[0] });
  t.is(replay.Address, addrs[0]);
  // Each node re-reserves in its local space; one node releasing its local pool leaves it to the others.
  const locals = await Promise.all(slims.map((s) => call(s, 'IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: subnet })));
  for (const [i, s] of slims.entries()) await call(s, 'IpamDriver.RequestAddress', { PoolID: locals[i]!.PoolID, Address: addrs[i]!.split('/')[0] });
  await call(slims[0]!, 'IpamDriver.ReleasePool', { PoolID: locals[0]!.PoolID });
  const again = await call(slims[1]!, 'IpamDriver.RequestAddress', { PoolID: locals[1]!.PoolID, Address: addrs[1]!.split('/')[0] });
  t.is(again.Address, addrs[1], 'the pool is still there for h2');
});

test.serial('a dead host\'s entries are dropped within a bounded time, and it rejoins when it comes back', async (t) => {
  const [s1, s2, s3] = t.context.slims as [SlimDaemon, SlimDaemon, SlimDaemon];
  const id = 'mhfaultaaaaaaaaaaaaaaaaaa';
  const net = await managerCreates(s1, id, '10.85.0.0/24');
  const a = await nodeRuns(t, s1, id, '10.85.0.0/24', net, s1);
  const b = await nodeRuns(t, s2, id, '10.85.0.0/24', net, s1);
  const c = await nodeRuns(t, s3, id, '10.85.0.0/24', net, s1);
  serve(t, c);
  const vxlan = (await s1.status()).networks.find((n) => n.id === id)?.vxlan ?? '';
  await waitFor('full mesh', async () => (await fdb(s1.host, vxlan)).length === 2);
  t.true(await waitFor('a reaches b', () => pings(a, b)));

  await s2.kill('SIGKILL'); // the host "dies": no more lease keep-alives
  const died = Date.now();
  await waitFor('h1 to drop h2\'s entries', async () => !(await fdb(s1.host, vxlan)).some((e) => e.dst === s2.host.addr), 30_000);
  const dropMs = Date.now() - died;
  t.log(`h2's entries dropped ${dropMs} ms after its daemon died (host TTL ${HOST_TTL} s)`);
  t.true(dropMs < (HOST_TTL + 10) * 1000, 'within TTL plus one resync period');
  t.is(await ask(a, c, 'tcp'), 'hello-tcp', 'the remaining hosts keep working');

  await s2.start();
  await waitFor('h2 to rejoin', async () => (await fdb(s1.host, vxlan)).some((e) => e.dst === s2.host.addr));
  t.true(await waitFor('a reaches b again', () => pings(a, b)));
});

test.serial('restarting the daemon on one host keeps its endpoints talking', async (t) => {
  const [s1, , s3] = t.context.slims as [SlimDaemon, SlimDaemon, SlimDaemon];
  const id = 'mhrestartaaaaaaaaaaaaaaaa';
  const net = await managerCreates(s1, id, '10.86.0.0/24');
  const a = await nodeRuns(t, s1, id, '10.86.0.0/24', net, s1);
  const c = await nodeRuns(t, s3, id, '10.86.0.0/24', net, s1);
  serve(t, c);
  t.is(await waitFor('TCP a → c', async () => (await ask(a, c, 'tcp')) || undefined), 'hello-tcp');
  await s3.kill('SIGKILL');
  t.is(await ask(a, c, 'tcp'), 'hello-tcp', 'while h3\'s daemon is down');
  await s3.start();
  t.is(await ask(a, c, 'tcp'), 'hello-tcp', 'after it restarted');
  t.true((await s3.status()).endpoints.some((e) => e.networkId === id), 'the restarted daemon still knows its endpoint');
});

test.serial('etcd down: traffic flows, new networks fail clearly and quickly, all recovers when it returns', async (t) => {
  const [s1, s2] = t.context.slims as [SlimDaemon, SlimDaemon];
  const id = 'mhetcdaaaaaaaaaaaaaaaaaaa';
  const net = await managerCreates(s1, id, '10.87.0.0/24');
  const a = await nodeRuns(t, s1, id, '10.87.0.0/24', net, s1);
  const b = await nodeRuns(t, s2, id, '10.87.0.0/24', net, s1);
  serve(t, b);
  t.is(await waitFor('TCP a → b', async () => (await ask(a, b, 'tcp')) || undefined), 'hello-tcp');

  await t.context.etcd.stop();
  t.is(await ask(a, b, 'tcp'), 'hello-tcp', 'existing traffic is unaffected');
  const started = Date.now();
  const r = await callPlugin(s1.socket, 'IpamDriver.RequestPool', { AddressSpace: 'slim-global', Pool: '10.88.0.0/24' }, 30_000);
  const tookMs = Date.now() - started;
  t.not(r.status, 200);
  t.regex(JSON.stringify(r.body), /cluster store \(etcd\) unavailable/);
  t.true(tookMs < 25_000, `answered within Docker's 30 s (${tookMs} ms)`);
  await new Promise((res) => setTimeout(res, (HOST_TTL + 2) * 1000));
  t.is(await ask(a, b, 'udp'), 'hello-udp', 'forwarding entries survive an outage longer than the host TTL');

  await t.context.etcd.start();
  const recovered = await waitFor('a new network once etcd is back', async () => {
    const res = await callPlugin(s1.socket, 'IpamDriver.RequestPool', { AddressSpace: 'slim-global', Pool: '10.88.0.0/24' }, 30_000);
    return res.status === 200;
  }, 60_000);
  t.true(recovered);
  const c = await nodeRuns(t, s2, id, '10.87.0.0/24', net, s1);
  t.true(await waitFor('a reaches a new endpoint after recovery', () => pings(a, c)));
});
