// The demo, in two parts, each in throwaway network-namespace hosts removed at the end:
// 1. one host: a dockerd, the Slim daemon beside it (legacy plugin socket), a Slim network and two
//    containers talking TCP and UDP over it;
// 2. two hosts: the managed plugin built and pushed to a registry, installed on both, a swarm, a
//    Slim network across it and the example stack, client and server on different hosts.
import { buildImages, loadImages } from '../test/harness/images.js';
import path from 'node:path';
import { REPO_ROOT, SlimDaemon, SLIM_CLI } from '../test/harness/slim.js';
import { SlimSwarm } from '../test/harness/swarm.js';
import { World, type Host } from '../test/harness/world.js';
import { containerIp, createSlimNetwork, DEBIAN, echoOver, runDetached, waitFor } from '../test/host/docker-helpers.js';

const say = (text: string) => process.stdout.write(`\n== ${text}\n`);
const show = (text: string) => process.stdout.write(`${text.trimEnd().replace(/^/gm, '   ')}\n`);

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
  await twoHosts();
  say('done: nothing is left behind');
}

async function twoHosts(): Promise<void> {
  say('two hosts: building the managed plugin, pushing it to a registry, installing it on both, forming a swarm (about a minute)');
  const swarm = await SlimSwarm.create({ hosts: 2, name: 'demo-swarm', images: ['debian'] });
  try {
    const [m, w] = [swarm.manager, swarm.workers[0] as Host];
    show(`manager ${m.name} (${m.addr}), worker ${w.name} (${w.addr}); plugin ${swarm.plugin}; etcd ${swarm.etcd.storeSpec}`);
    say(`docker network create -d ${swarm.plugin} --ipam-driver ${swarm.plugin} --attachable --subnet 10.91.0.0/24 slimnet`);
    await m.docker(['network', 'create', '-d', swarm.plugin, '--ipam-driver', swarm.plugin, '--attachable', '--subnet', '10.91.0.0/24', 'slimnet']);
    say('docker stack deploy -c swarm-examples/echo-stack.yml echo   (server on the worker, client on the manager)');
    await swarm.dockerWithEnv(['stack', 'deploy', '--resolve-image', 'never', '-c', path.join(REPO_ROOT, 'swarm-examples/echo-stack.yml'), 'echo'], { SLIM_EXAMPLE_IMAGE: DEBIAN });
    const client = await waitFor('the client task', async () => (await m.docker(['ps', '-q', '-f', 'name=echo_client'])).stdout.trim() || undefined, 90_000);
    const reply = await waitFor('the server to answer', async () => {
      const r = await echoOver(m, client, 'server', 'TCP', true);
      return r === 'hello-TCP' ? r : undefined;
    }, 90_000);
    show((await m.docker(['service', 'ps', 'echo_server', '--format', '{{.Name}} on {{.Node}}: {{.CurrentState}}'])).stdout);
    show(`client on ${m.name} -> server on ${w.name} over TCP: sent "hello-TCP", got back "${reply}"`);
    show(`client on ${m.name} -> server on ${w.name} over UDP: sent "hello-UDP", got back "${await echoOver(m, client, 'server', 'UDP')}"`);
    say('the manager\'s VXLAN forwarding entries, programmed from etcd (no flooding, no learning)');
    const vxlan = (await m.run(['ip', '-br', 'link', 'show', 'type', 'vxlan'])).stdout.split(/\s+/).find((n) => n.startsWith('slx-')) ?? '';
    show((await m.run(['bridge', 'fdb', 'show', 'dev', vxlan])).stdout.split('\n').filter((l) => l.includes('dst')).join('\n'));
    say('cleaning up: stack, network, swarm, registry, etcd, namespaces');
    await m.docker(['stack', 'rm', 'echo']);
  } finally {
    await swarm.destroy();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
