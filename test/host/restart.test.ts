// Nothing is lost on restart: Docker re-sends nothing to a restarted plugin, so Slim must serve
// from its own state after kill -9, and keep working when dockerd itself restarts.
import anyTest, { type TestFn } from 'ava';
import { loadImages } from '../harness/images.js';
import { SlimDaemon } from '../harness/slim.js';
import { World, type Host } from '../harness/world.js';
import { createSlimNetwork, echoOver, execIn, removeAllContainers, resetHost, runDetached, slimLinks, waitFor } from './docker-helpers.js';

const test = anyTest as TestFn<{ world: World; h1: Host; slim: SlimDaemon }>;

test.before(async (t) => {
  t.context.world = await World.create({ hosts: 1, name: 'restart' });
  t.context.h1 = t.context.world.hosts[0] as Host;
  await loadImages(t.context.h1);
  t.context.slim = new SlimDaemon(t.context.h1);
  await t.context.slim.start();
});

test.after.always(async (t) => {
  await t.context.world?.destroy();
});

test.afterEach.always(async (t) => {
  await resetHost(t.context.h1);
});

test.serial('after kill -9 of the daemon: traffic flows, new containers join, network rm works', async (t) => {
  const { h1, slim } = t.context;
  await createSlimNetwork(h1, 'net1', ['--subnet', '10.71.0.0/24']);
  await runDetached(h1, 'server', ['--network', 'net1']);
  await runDetached(h1, 'client', ['--network', 'net1'], ['sleep', 'infinity']);
  t.is(await echoOver(h1, 'client', 'server', 'TCP'), 'hello-TCP');

  await slim.kill('SIGKILL');
  t.is(await echoOver(h1, 'client', 'server', 'TCP'), 'hello-TCP', 'running containers keep talking while Slim is down');
  t.is(await echoOver(h1, 'client', 'server', 'UDP'), 'hello-UDP');

  await slim.start();
  await runDetached(h1, 'late', ['--network', 'net1'], ['sleep', 'infinity']);
  t.is(await echoOver(h1, 'late', 'server', 'TCP'), 'hello-TCP', 'a new container joins the existing network');
  t.is((await slim.status()).endpoints.length, 3);

  await removeAllContainers(h1);
  await h1.docker(['network', 'rm', 'net1']);
  t.deepEqual(await slimLinks(h1), []);
  t.deepEqual((await slim.stateFile()).pools, {});
});

test.serial('after a dockerd restart: containers come back on the network and talk', async (t) => {
  const { h1, slim } = t.context;
  await createSlimNetwork(h1, 'net2', ['--subnet', '10.72.0.0/24']);
  await runDetached(h1, 'server', ['--network', 'net2', '--restart', 'always', '--ip', '10.72.0.10']);
  await runDetached(h1, 'client', ['--network', 'net2', '--restart', 'always'], ['sleep', 'infinity']);
  t.is(await echoOver(h1, 'client', 'server', 'TCP'), 'hello-TCP');

  await h1.restartDockerd();
  await waitFor('both containers running again', async () => {
    const { stdout } = await h1.docker(['ps', '--filter', 'status=running', '--format', '{{.Names}}']);
    return stdout.includes('server') && stdout.includes('client');
  }, 60_000);
  t.is(await waitFor('TCP echo after restart', async () => (await echoOver(h1, 'client', 'server', 'TCP', true)) === 'hello-TCP'), true);
  t.regex((await execIn(h1, 'server', 'ip -4 -o addr show eth0')).stdout, /10\.72\.0\.10\//, 'the static address survives');
  t.is((await slim.status()).endpoints.length, 2, 'no stale endpoints are left from before the restart');

  await runDetached(h1, 'late', ['--network', 'net2'], ['sleep', 'infinity']);
  t.is(await echoOver(h1, 'late', 'server', 'UDP'), 'hello-UDP');

  await removeAllContainers(h1);
  await h1.docker(['network', 'rm', 'net2']);
  t.deepEqual(await slimLinks(h1), []);
  t.deepEqual((await slim.stateFile()).pools, {});
});

test.serial('kill -9 while containers run, then a dockerd restart: both recover together', async (t) => {
  const { h1, slim } = t.context;
  await createSlimNetwork(h1, 'net3', ['--subnet', '10.73.0.0/24']);
  await runDetached(h1, 'server', ['--network', 'net3', '--restart', 'always']);
  await runDetached(h1, 'client', ['--network', 'net3', '--restart', 'always'], ['sleep', 'infinity']);
  await slim.kill('SIGKILL');
  await slim.start();
  await h1.restartDockerd();
  t.true(await waitFor('TCP echo after both restarts', async () => (await echoOver(h1, 'client', 'server', 'TCP', true)) === 'hello-TCP', 60_000));
  await removeAllContainers(h1);
  await h1.docker(['network', 'rm', 'net3']);
  t.deepEqual(await slimLinks(h1), []);
});
