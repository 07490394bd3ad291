// One host, a real dockerd, a real Slim daemon: what an operator does with `docker network create
// -d slim` on a standalone engine. A second host serves as "the outside" for docker_gwbridge.
import anyTest, { type TestFn } from 'ava';
import { loadImages } from '../harness/images.js';
import { SlimDaemon, SLIM_CLI } from '../harness/slim.js';
import { World, type Host } from '../harness/world.js';
import {
  containerIp, createSlimNetwork, DEBIAN, echoOver, execIn, removeAllContainers, resetHost, runDetached, slimLinks,
} from './docker-helpers.js';

const test = anyTest as TestFn<{ world: World; h1: Host; h2: Host; slim: SlimDaemon }>;

test.before(async (t) => {
  const world = await World.create({ hosts: 2, name: 'single' });
  t.context.world = world;
  const [h1, h2] = world.hosts as [Host, Host];
  Object.assign(t.context, { h1, h2 });
  await loadImages(h1);
  t.context.slim = new SlimDaemon(h1);
  await t.context.slim.start();
});

test.after.always(async (t) => {
  await t.context.world?.destroy();
});

test.afterEach.always(async (t) => {
  await resetHost(t.context.h1);
});

test.serial('network create makes a bridge and a VXLAN device with MTU = underlay − 50', async (t) => {
  const { h1, slim } = t.context;
  const id = await createSlimNetwork(h1, 'net1', ['--subnet', '10.61.0.0/24']);
  const { stdout } = await h1.docker(['network', 'inspect', '-f', '{{.Driver}} {{(index .IPAM.Config 0).Subnet}}', 'net1']);
  t.is(stdout.trim(), 'slim 10.61.0.0/24');
  const net = (await slim.status()).networks.find((n) => n.id === id);
  t.truthy(net, 'the daemon knows the network');
  const links = JSON.parse((await h1.run(['ip', '-j', '-d', 'link', 'show'])).stdout) as
    { ifname: string; mtu: number; linkinfo?: { info_kind: string; info_data?: { id?: number } } }[];
  const underlay = links.find((l) => l.ifname !== 'lo' && !l.ifname.startsWith('sl') && l.linkinfo?.info_kind === 'veth');
  const bridge = links.find((l) => l.ifname === net?.bridge);
  const vxlan = links.find((l) => l.ifname === net?.vxlan);
  t.is(bridge?.linkinfo?.info_kind, 'bridge');
  t.is(vxlan?.linkinfo?.info_kind, 'vxlan');
  t.is(vxlan?.linkinfo?.info_data?.id, net?.vni);
  t.truthy(underlay);
  t.is(bridge?.mtu, (underlay?.mtu ?? 0) - 50);
});

test.serial('two containers exchange TCP, UDP and ping, by names from Docker DNS', async (t) => {
  const { h1 } = t.context;
  await createSlimNetwork(h1, 'net1', ['--subnet', '10.61.0.0/24']);
  await runDetached(h1, 'server', ['--network', 'net1']);
  await runDetached(h1, 'client', ['--network', 'net1'], ['sleep', 'infinity']);
  const serverIp = await containerIp(h1, 'server', 'net1');
  t.regex(serverIp, /^10\.61\.0\.\d+$/);
  t.is((await execIn(h1, 'client', 'getent hosts server')).stdout.split(/\s+/)[0], serverIp);
  t.is(await echoOver(h1, 'client', 'server', 'TCP'), 'hello-TCP');
  t.is(await echoOver(h1, 'client', 'server', 'UDP'), 'hello-UDP');
  const ping = await execIn(h1, 'client', 'ping -c 2 -W 2 server');
  t.regex(ping.stdout, /2 received/);
  // The container's MTU follows the network's.
  t.regex((await execIn(h1, 'client', 'cat /sys/class/net/eth0/mtu')).stdout, /^1450/);
});

test.serial('--ip gives a container its static address', async (t) => {
  const { h1 } = t.context;
  await createSlimNetwork(h1, 'net1', ['--subnet', '10.61.0.0/24', '--ip-range', '10.61.0.128/25']);
  await runDetached(h1, 'fixed', ['--network', 'net1', '--ip', '10.61.0.50']);
  await runDetached(h1, 'dynamic', ['--network', 'net1'], ['sleep', 'infinity']);
  t.regex((await execIn(h1, 'fixed', 'ip -4 -o addr show eth0')).stdout, /inet 10\.61\.0\.50\/24/);
  t.regex(await containerIp(h1, 'dynamic', 'net1'), /^10\.61\.0\.(1[2-9]\d|2\d\d)$/, 'dynamic addresses come from --ip-range');
  t.is(await echoOver(h1, 'dynamic', '10.61.0.50', 'TCP'), 'hello-TCP');
  const clash = await h1.docker(['run', '-d', '--name', 'clash', '--network', 'net1', '--ip', '10.62.0.9', DEBIAN, 'true'], { allowFail: true });
  t.not(clash.code, 0, 'an address outside the subnet is refused');
});

test.serial('containers reach the outside through docker_gwbridge, except on --internal networks', async (t) => {
  const { h1, h2 } = t.context;
  const outside = h2.spawnInHost(['node', '-e', "require('net').createServer((s) => s.end('outside-ok\\n')).listen(7100)"], `${h2.dir}/outside.log`);
  try {
    await createSlimNetwork(h1, 'net1', ['--subnet', '10.61.0.0/24']);
    await createSlimNetwork(h1, 'inner', ['--subnet', '10.63.0.0/24', '--internal']);
    await runDetached(h1, 'open', ['--network', 'net1'], ['sleep', 'infinity']);
    await runDetached(h1, 'closed', ['--network', 'inner'], ['sleep', 'infinity']);
    const probe = `timeout 10 socat -T 3 - TCP:${h2.addr}:7100,connect-timeout=3 </dev/null`;
    t.is((await execIn(h1, 'open', probe)).stdout.trim(), 'outside-ok');
    t.regex((await execIn(h1, 'open', 'ip route show default')).stdout, /default via \S+ dev eth1/);
    const blocked = await execIn(h1, 'closed', probe, true);
    t.not(blocked.code, 0, 'an internal network has no way out');
  } finally {
    outside.kill('SIGKILL');
  }
});

test.serial('two Slim networks are isolated from each other', async (t) => {
  const { h1 } = t.context;
  await createSlimNetwork(h1, 'red', ['--subnet', '10.64.0.0/24']);
  await createSlimNetwork(h1, 'blue', ['--subnet', '10.65.0.0/24']);
  await runDetached(h1, 'r1', ['--network', 'red']);
  await runDetached(h1, 'b1', ['--network', 'blue']);
  const b1 = await containerIp(h1, 'b1', 'blue');
  t.not((await execIn(h1, 'r1', `ping -c 1 -W 1 ${b1}`, true)).code, 0);
  t.not(await echoOver(h1, 'r1', b1, 'TCP', true), 'hello-TCP');
  // Short resolver timeouts: an unknown name otherwise takes glibc ~20 s to give up on.
  t.not((await execIn(h1, 'r1', 'RES_OPTIONS="timeout:1 attempts:1" getent hosts b1', true)).code, 0, 'names of another network do not resolve');
  // Sanity: each side still works within its own network.
  await runDetached(h1, 'r2', ['--network', 'red'], ['sleep', 'infinity']);
  t.is(await echoOver(h1, 'r2', 'r1', 'TCP'), 'hello-TCP');
});

test.serial('removing containers and the network removes every kernel object and allocation', async (t) => {
  const { h1, slim } = t.context;
  await createSlimNetwork(h1, 'net1', ['--subnet', '10.61.0.0/24']);
  await runDetached(h1, 'alpha', ['--network', 'net1']);
  await runDetached(h1, 'bravo', ['--network', 'net1']);
  t.is((await slim.status()).endpoints.length, 2);
  t.true((await slimLinks(h1)).length >= 4, 'bridge, vxlan and two host veths exist while running');
  await h1.docker(['rm', '-f', 'alpha']);
  t.is((await slim.status()).endpoints.length, 1, 'container removal deletes its endpoint');
  await h1.docker(['rm', '-f', 'bravo']);
  await h1.docker(['network', 'rm', 'net1']);
  t.deepEqual(await slimLinks(h1), []);
  const status = await slim.status();
  t.deepEqual([status.networks, status.endpoints], [[], []]);
  t.deepEqual((await slim.stateFile()).pools, {}, 'IPAM pools are released');
});

test.serial('without --subnet each network gets its own pool from Slim', async (t) => {
  const { h1 } = t.context;
  await createSlimNetwork(h1, 'auto1');
  await createSlimNetwork(h1, 'auto2');
  const subnet = async (n: string) => (await h1.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', n])).stdout.trim();
  const [s1, s2] = [await subnet('auto1'), await subnet('auto2')];
  t.regex(s1, /^10\.2(0[89]|1\d|2[0-3])\.\d+\.0\/24$/);
  t.not(s1, s2);
});

test.serial('slim status reads the daemon: mode, store, networks and endpoints', async (t) => {
  const { h1, slim } = t.context;
  await createSlimNetwork(h1, 'net1', ['--subnet', '10.61.0.0/24']);
  await runDetached(h1, 'alpha', ['--network', 'net1'], ['sleep', 'infinity']);
  const { stdout } = await h1.run(['node', SLIM_CLI, 'status', '--plugin-socket', slim.socket]);
  // This kernel has cgroup BPF but no BPF LSM (secure-mode.test.ts proves what that mode does).
  t.regex(stdout, /mode: +secure-partial \(/);
  t.regex(stdout, /store: +embedded/);
  t.regex(stdout, /router: +\/run\/slim\/router\.sock, port 4792/);
  t.regex(stdout, /networks: +1\n.*10\.61\.0\.0\/24/);
  t.regex(stdout, /endpoints: +1\n.*10\.61\.0\.2\/24 .* joined/);
});
