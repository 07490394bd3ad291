// A three-node swarm (one manager, two workers) of namespace hosts, each with the managed Slim
// plugin installed from a test registry and etcd as the cluster store: network create on the
// manager, the example stack deployed, scaled, removed; a worker dying and coming back.
import anyTest, { type TestFn } from 'ava';
import path from 'node:path';
import { REPO_ROOT } from '../harness/slim.js';
import { SlimSwarm } from '../harness/swarm.js';
import type { Host } from '../harness/world.js';
import { DEBIAN, ECHO_SERVER, echoOver, execIn, replicasRunning, slimLinks, waitFor } from './docker-helpers.js';

const test = anyTest as TestFn<{ swarm: SlimSwarm }>;
const STACK = path.join(REPO_ROOT, 'swarm-examples/echo-stack.yml');
const HOST_TTL = 3;

test.before(async (t) => {
  t.context.swarm = await SlimSwarm.create({ hosts: 3, name: 'swarm', hostTtl: HOST_TTL, images: ['debian'] });
});

test.after.always(async (t) => {
  await t.context.swarm?.destroy();
});

async function clientContainer(h: Host): Promise<string> {
  return waitFor('the client task running', async () => (await h.docker(['ps', '-q', '-f', 'name=echo_client'])).stdout.trim().split('\n')[0], 60_000);
}

async function clusterState(swarm: SlimSwarm) {
  const r = await swarm.manager.run(['etcdctl', '--endpoints', swarm.etcd.endpoint, 'get', '--print-value-only', '/slim/v1/state']);
  return JSON.parse(r.stdout || '{"networks":{},"endpoints":{},"pools":{}}') as {
    networks: Record<string, { hosts: string[]; vxlan: string }>;
    endpoints: Record<string, { host: string; address: string }>;
    pools: Record<string, unknown>;
    allocatedVnis: Record<string, number>;
  };
}

async function serverIps(h: Host, client: string): Promise<string[]> {
  const { stdout } = await execIn(h, client, 'getent ahostsv4 server | cut -d" " -f1 | sort -u');
  return stdout.split('\n').filter(Boolean);
}

test.serial('a Slim network created on the manager carries a stack across hosts, TCP and UDP', async (t) => {
  const { swarm } = t.context;
  const m = swarm.manager;
  await m.docker(['network', 'create', '-d', swarm.plugin, '--ipam-driver', swarm.plugin, '--attachable', '--subnet', '10.90.0.0/24', 'slimnet']);
  // The manager allocates (AllocateNetwork) asynchronously after `network create` returns; until
  // then `network ls` shows no driver.
  const listed = await waitFor('network ls to show the driver', async () => {
    const { stdout } = await m.docker(['network', 'ls', '--filter', 'name=slimnet', '--format', '{{.Driver}} {{.Scope}}']);
    return stdout.trim() === `${swarm.plugin} swarm` ? stdout.trim() : undefined;
  });
  t.is(listed, `${swarm.plugin} swarm`);
  await swarm.dockerWithEnv(['stack', 'deploy', '--resolve-image', 'never', '-c', STACK, 'echo'], { SLIM_EXAMPLE_IMAGE: DEBIAN });
  await waitFor('the server task running', () => replicasRunning(m, 'echo_server', 1), 90_000);
  const client = await clientContainer(m);
  t.is(await waitFor('TCP client → server', async () => (await echoOver(m, client, 'server', 'TCP', true)) === 'hello-TCP' || undefined, 60_000), true);
  t.is(await echoOver(m, client, 'server', 'UDP'), 'hello-UDP');
  const state = await clusterState(swarm);
  const hosts = new Set(Object.values(state.endpoints).map((e) => e.host));
  t.is(hosts.size, 2, 'the two tasks run on two different hosts');
  const registered = await m.run(['etcdctl', '--endpoints', swarm.etcd.endpoint, 'get', '--prefix', '--keys-only', '/slim/v1/hosts/']);
  t.is(registered.stdout.split('\n').filter(Boolean).length, 3, 'every host registered in etcd');
});

test.serial('scaling up spreads tasks over the workers with distinct addresses; scaling down removes them', async (t) => {
  const { swarm } = t.context;
  const m = swarm.manager;
  await m.docker(['service', 'scale', '-d', 'echo_server=6']);
  await waitFor('6 server tasks running', () => replicasRunning(m, 'echo_server', 6), 120_000);
  const client = await clientContainer(m);
  const ips = await waitFor('DNS to list 6 servers', async () => {
    const found = await serverIps(m, client);
    return found.length === 6 ? found : undefined;
  }, 60_000);
  for (const ip of ips) t.is(await waitFor(`TCP to ${ip}`, async () => (await echoOver(m, client, ip, 'TCP', true)) === 'hello-TCP' || undefined), true, ip);
  const state = await clusterState(swarm);
  const addrs = Object.values(state.endpoints).map((e) => e.address);
  t.is(new Set(addrs).size, addrs.length, 'no address twice');
  t.is(new Set(Object.values(state.endpoints).map((e) => e.host)).size, 3);

  await m.docker(['service', 'scale', '-d', 'echo_server=1']);
  await waitFor('1 server task', () => replicasRunning(m, 'echo_server', 1), 60_000);
  await waitFor('endpoints of removed tasks gone from the cluster state', async () => Object.keys((await clusterState(swarm)).endpoints).length === 2, 60_000);
  t.is(await waitFor('TCP to the remaining server', async () => (await echoOver(m, client, 'server', 'TCP', true)) === 'hello-TCP' || undefined), true);
});

test.serial('killing the plugin on a worker: its containers keep talking; it comes back', async (t) => {
  const { swarm } = t.context;
  const m = swarm.manager;
  const state = await clusterState(swarm);
  const hostIds = await Promise.all(swarm.workers.map(async (w) => (await w.run(['cat', path.join(w.slimLibDir, 'host-id')])).stdout.trim()));
  const serverHost = swarm.workers[hostIds.findIndex((id) => Object.values(state.endpoints).some((e) => e.host === id))] as Host;
  const pids = await swarm.pluginPids(serverHost);
  t.true(pids.length > 0, 'the plugin runs on the worker');
  for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  const client = await clientContainer(m);
  t.is(await echoOver(m, client, 'server', 'TCP'), 'hello-TCP', 'traffic flows while the plugin is dead');
  // dockerd does not restart a dead managed plugin by itself: the operator's move is disable/enable.
  await serverHost.docker(['plugin', 'disable', '-f', swarm.plugin]);
  // Right after a crash the engine may still hold the dead plugin's containerd container: enable
  // then fails with "id already in use" (an engine race, not Slim's), and succeeds once the
  // engine has cleaned it up. Anything else fails the test.
  let attempts = 0;
  for (const deadline = Date.now() + 30_000; ; ) {
    attempts++;
    const r = await serverHost.docker(['plugin', 'enable', swarm.plugin], { allowFail: true });
    if (r.code === 0) break;
    if (!r.stderr.includes('id already in use') || Date.now() > deadline) throw new Error(`plugin enable (attempt ${attempts}): ${r.stderr.trim()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (attempts > 1) t.log(`plugin enable took ${attempts} attempts (engine still cleaning up the dead plugin's container)`);
  t.is(await echoOver(m, client, 'server', 'UDP'), 'hello-UDP', 'and after it is back');
  await m.docker(['service', 'scale', '-d', 'echo_server=4']);
  await waitFor('4 server tasks running', () => replicasRunning(m, 'echo_server', 4), 90_000);
  t.is(await waitFor('DNS to list 4 servers', async () => (await serverIps(m, client)).length === 4 || undefined, 60_000), true);
  for (const ip of await serverIps(m, client)) t.is(await waitFor(`TCP to ${ip}`, async () => (await echoOver(m, client, ip, 'TCP', true)) === 'hello-TCP' || undefined), true);
});


test.serial('a worker that dies is dropped from the others\' forwarding entries within a bounded time, and rejoins', async (t) => {
  const { swarm } = t.context;
  const m = swarm.manager;
  const victim = swarm.workers[1] as Host;
  const vxlan = Object.values((await clusterState(swarm)).networks)[0]?.vxlan ?? '';
  const fdbDsts = async () => {
    const { stdout } = await m.run(['bridge', '-j', 'fdb', 'show', 'dev', vxlan]);
    return (JSON.parse(stdout || '[]') as { dst?: string }[]).map((e) => e.dst).filter(Boolean);
  };
  t.true((await fdbDsts()).includes(victim.addr), 'the manager forwards to the victim before');
  // Everything in the victim's namespace dies at once: dockerd, containerd, containers, plugin.
  const died = Date.now();
  await victim.crash();
  await waitFor('the manager to drop the dead worker', async () => !(await fdbDsts()).includes(victim.addr), 60_000);
  const dropMs = Date.now() - died;
  t.log(`dead worker dropped after ${dropMs} ms (HOST_TTL ${HOST_TTL} s)`);
  t.true(dropMs < (HOST_TTL + 10) * 1000);
  const client = await clientContainer(m);
  t.is(await waitFor('the client reaches a server on the surviving worker', async () => (await echoOver(m, client, 'server', 'TCP', true)) === 'hello-TCP' || undefined, 90_000), true);

  await victim.startDockerd(); // the plugin comes back enabled with dockerd
  await waitFor('the worker to be Ready again', async () => {
    const { stdout } = await m.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}']);
    return stdout.includes(`${victim.name} Ready`);
  }, 90_000);
  // The scheduler places tasks only on nodes that report the network plugin; a node reports it
  // once its dockerd has enabled it, a little after the node is Ready.
  await waitFor('the worker to report the Slim plugin', async () => {
    const { stdout } = await m.docker(['node', 'inspect', victim.name, '--format', '{{range .Description.Engine.Plugins}}{{.Name}} {{end}}']);
    return stdout.includes(swarm.plugin);
  }, 90_000);
  // A service pinned to the returned worker: its endpoint must reach the others' forwarding entries.
  await m.docker(['service', 'create', '-d', '--name', 'probe', '--network', 'slimnet', '--endpoint-mode', 'dnsrr',
    '--constraint', `node.hostname==${victim.name}`, '--stop-grace-period', '2s', DEBIAN, ...ECHO_SERVER]);
  await waitFor('the probe task running on the returned worker', () => replicasRunning(m, 'probe', 1), 120_000);
  await waitFor('the worker to rejoin the forwarding entries', async () => (await fdbDsts()).includes(victim.addr), 60_000);
  t.is(await waitFor('TCP to the probe', async () => (await echoOver(m, client, 'probe', 'TCP', true)) === 'hello-TCP' || undefined, 60_000), true);
  await m.docker(['service', 'rm', 'probe']);
});

test.serial('stack rm and network rm leave no kernel objects and no state on any host', async (t) => {
  const { swarm } = t.context;
  const m = swarm.manager;
  await m.docker(['stack', 'rm', 'echo']);
  await waitFor('all tasks gone', async () => {
    const counts = await Promise.all(swarm.world.hosts.map(async (h) => (await h.docker(['ps', '-aq', '-f', 'label=com.docker.stack.namespace=echo'])).stdout.trim()));
    return counts.every((c) => c === '');
  }, 90_000);
  await waitFor('network rm to be accepted', async () => (await m.docker(['network', 'rm', 'slimnet'], { allowFail: true })).code === 0, 60_000);
  for (const h of swarm.world.hosts) {
    t.deepEqual(await waitFor(`no Slim links on ${h.name}`, async () => ((await slimLinks(h)).length === 0 ? [] : undefined), 60_000), [], h.name);
  }
  const state = await waitFor('the cluster state to empty', async () => {
    const s = await clusterState(swarm);
    return Object.keys(s.networks).length + Object.keys(s.endpoints).length + Object.keys(s.pools).length === 0 ? s : undefined;
  }, 60_000);
  t.deepEqual(state.allocatedVnis, {});
});
