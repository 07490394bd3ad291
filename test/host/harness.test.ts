// The host-tier harness itself: separate dockerds per netns host, images, underlay, clean teardown.
import anyTest, { type TestFn } from 'ava';
import { leftovers } from '../harness/cleanup-check.js';
import { loadImages } from '../harness/images.js';
import { World, type Host } from '../harness/world.js';

const test = anyTest as TestFn<{ world: World; h1: Host; h2: Host }>;

test.before(async (t) => {
  const world = await World.create({ hosts: 2, name: 'harness' });
  t.context.world = world;
  [t.context.h1, t.context.h2] = world.hosts as [Host, Host];
  await Promise.all(world.hosts.map((h) => loadImages(h)));
});

test.after.always(async (t) => {
  await t.context.world?.destroy();
});

test.serial('each host has its own dockerd', async (t) => {
  const { h1, h2 } = t.context;
  const info = async (h: Host) => (await h.docker(['info', '--format', '{{.ID}} {{.DockerRootDir}}'])).stdout.trim().split(' ');
  const [id1, root1] = await info(h1);
  const [id2, root2] = await info(h2);
  t.truthy(id1);
  t.not(id1, id2);
  t.is(root1, `${h1.dir}/data`);
  t.is(root2, `${h2.dir}/data`);
  t.regex((await h1.docker(['images', '--format', '{{.Repository}}'])).stdout, /slim-test\/busybox/);
  t.is((await h2.docker(['ps', '-aq'])).stdout.trim(), '');
  t.is((await h2.docker(['info', '--format', '{{.Name}}'])).stdout.trim(), 'h2', 'own hostname (swarm node name)');
});

test.serial('a busybox container on the default bridge runs', async (t) => {
  const { stdout } = await t.context.h1.docker(['run', '--rm', 'slim-test/busybox:latest', 'echo', 'ok']);
  t.is(stdout.trim(), 'ok');
});

test.serial('the debian image has the network tools', async (t) => {
  const { stdout } = await t.context.h1.docker(['run', '--rm', 'slim-test/debian:latest', 'sh', '-c', 'for c in socat ip ping nc ps dig; do command -v $c; done']);
  t.is(stdout.trim().split('\n').length, 6, stdout);
});

test.serial('hosts reach each other over the underlay, and nothing else', async (t) => {
  const { h1, h2 } = t.context;
  const ping = await h1.run(['busybox', 'ping', '-c', '1', '-W', '2', h2.addr]);
  t.regex(ping.stdout, /1 packets received/);
  const routes = await h1.run(['ip', '-4', 'route', 'show']);
  t.notRegex(routes.stdout, /^default/m, 'no default route on a test host');
  t.is((await h1.run(['pwd'])).stdout.trim(), process.cwd(), 'commands keep the working directory');
});

test.serial('a daemon spawned in a host sees its netns and its dockerd mounts', async (t) => {
  const { h1 } = t.context;
  await h1.docker(['run', '-d', '--name', 'sleeper', 'slim-test/busybox:latest', 'sleep', '600']);
  const key = (await h1.docker(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'sleeper'])).stdout.trim();
  // SandboxKey is a bind mount in the host's mount namespace, not in the root one.
  const inside = await h1.run(['nsenter', `--net=${key}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
  t.regex(inside.stdout, /172\.17\./);
  const child = h1.spawnInHost(['sh', '-c', 'ip -4 -o addr show eth0; ls /run/docker/plugins; exec sleep 600'], 'spawned.log');
  t.truthy(child.pid);
  t.deepEqual(h1.spawnedPids, [child.pid]);
});

test.serial('dockerd restarts with the same state', async (t) => {
  const { h2 } = t.context;
  const before = (await h2.docker(['info', '--format', '{{.ID}}'])).stdout.trim();
  await h2.restartDockerd();
  t.is((await h2.docker(['info', '--format', '{{.ID}}'])).stdout.trim(), before);
  t.regex((await h2.docker(['images', '--format', '{{.Repository}}'])).stdout, /slim-test\/debian/);
});

test.serial('destroy leaves nothing behind', async (t) => {
  const { world } = t.context;
  await world.destroy();
  t.deepEqual(world.cleanupProblems, []);
  t.deepEqual(await leftovers(world.runId), []);
  await world.destroy(); // idempotent
});
