// The demo: a throwaway dockerd in its own network namespace, the Slim daemon beside it, a Slim
// network and two containers talking TCP and UDP over it. Everything is removed at the end.
import { buildImages, loadImages } from '../test/harness/images.js';
import { SlimDaemon, SLIM_CLI } from '../test/harness/slim.js';
import { World, type Host } from '../test/harness/world.js';
import { containerIp, createSlimNetwork, echoOver, runDetached } from '../test/host/docker-helpers.js';

const say = (text: string) => process.stdout.write(`\n== ${text}\n`);
const show = (text: string) => process.stdout.write(text.replace(/^/gm, '   ') + (text.endsWith('\n') ? '' : '\n'));

async function main(): Promise<void> {
  say('building the test images offline (cached after the first run)');
  await buildImages();
  say('starting a throwaway dockerd in its own network namespace');
  const world = await World.create({ hosts: 1, name: 'demo' });
  try {
    const host = world.hosts[0] as Host;
    await loadImages(host);
    show(`host ${host.name}: netns ${host.netns}, underlay ${host.addr}, docker -H unix://${host.dockerSock}`);

    say('starting the Slim daemon (plugin socket bind-mounted as /run/docker/plugins/slim.sock for that dockerd)');
    const slim = new SlimDaemon(host);
    await slim.start();

    say('docker network create -d slim --ipam-driver slim --subnet 10.90.0.0/24 demo-net');
    await createSlimNetwork(host, 'demo-net', ['--subnet', '10.90.0.0/24']);
    show((await host.docker(['network', 'ls', '--filter', 'driver=slim'])).stdout);

    say('two containers on it: "server" (socat TCP and UDP echo) and "client"');
    await runDetached(host, 'server', ['--network', 'demo-net']);
    await runDetached(host, 'client', ['--network', 'demo-net'], ['sleep', 'infinity']);
    show(`server is ${await containerIp(host, 'server', 'demo-net')}, client is ${await containerIp(host, 'client', 'demo-net')}`);

    say('client -> server over TCP (name resolved by Docker DNS)');
    show(`sent "hello-TCP", got back "${await echoOver(host, 'client', 'server', 'TCP')}"`);
    say('client -> server over UDP');
    show(`sent "hello-UDP", got back "${await echoOver(host, 'client', 'server', 'UDP')}"`);

    say('slim status');
    show((await host.run(['node', SLIM_CLI, 'status', '--plugin-socket', slim.socket])).stdout);
    say('kernel objects Slim made in the host namespace');
    show((await host.run(['ip', '-br', 'link', 'show'])).stdout.split('\n').filter((l) => /^sl[bxv]-/.test(l)).join('\n'));

    say('cleaning up: containers, network, Slim, dockerd, namespace');
    await host.docker(['rm', '-f', 'server', 'client']);
    await host.docker(['network', 'rm', 'demo-net']);
    await slim.kill('SIGTERM');
  } finally {
    await world.destroy();
  }
  say('done: nothing is left behind');
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
