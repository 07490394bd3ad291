// The demo, in two parts, each in throwaway network-namespace hosts removed at the end:
// 1. one host: a dockerd, the Slim daemon beside it (legacy plugin socket), a Slim network and two
//    containers talking TCP and UDP over it;
// 2. two hosts: the managed plugin built and pushed to a registry, installed on both, a swarm, a
//    Slim network across it and the example stack, client and server on different hosts; then the
//    same stack with socket replacement (shim-stack.yml): its TCP no longer crosses VXLAN, and the
//    client's connection is a socket of the host's own namespace.
import { buildImages, loadImages } from '../test/harness/images.js';
import path from 'node:path';
import { REPO_ROOT, SlimDaemon, SLIM_CLI } from '../test/harness/slim.js';
import { SlimSwarm } from '../test/harness/swarm.js';
import { World, type Host } from '../test/harness/world.js';
import { containerIp, createSlimNetwork, DEBIAN, echoOver, runDetached, vxlanBytes, waitFor } from '../test/host/docker-helpers.js';

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
    show(await echoTenMegabytes(swarm, client, 'echo stack, on Slim\'s overlay'));

    say('docker stack rm echo; docker stack deploy -c swarm-examples/shim-stack.yml fast   (the same stack, plus two opt-in lines per service)');
    await m.docker(['stack', 'rm', 'echo']);
    await waitFor('the echo stack to be gone', async () => {
      for (const h of [m, w]) if ((await h.docker(['ps', '-q', '-f', 'name=echo_'])).stdout.trim()) return false;
      return true;
    }, 60_000);
    await swarm.dockerWithEnv(['stack', 'deploy', '--resolve-image', 'never', '-c', path.join(REPO_ROOT, 'swarm-examples/shim-stack.yml'), 'fast'], { SLIM_EXAMPLE_IMAGE: DEBIAN });
    const fast = await waitFor('the fast client task', async () => (await m.docker(['ps', '-q', '-f', 'name=fast_client'])).stdout.trim() || undefined, 90_000);
    await waitFor('the fast server to answer', async () => (await echoOver(m, fast, 'server', 'TCP', true)) === 'hello-TCP' || undefined, 90_000);
    show(await echoTenMegabytes(swarm, fast, 'shim stack, on host sockets'));
    say(`a connection of the fast client as ${m.name}'s own namespace sees it: a host socket, held by socat in the container`);
    await m.docker(['exec', '-d', fast, 'sh', '-c', 'sleep 4 | socat -t 4 - TCP:server:7000']);
    const held = await waitFor('the connection to show in ss', async () => {
      const lines = (await m.run(['ss', '-tnp', 'state', 'established'])).stdout.split('\n').filter((l) => l.includes('"socat"'));
      return lines.length ? lines.join('\n') : undefined;
    }, 10_000);
    show(held);
    say('cleaning up: stack, network, swarm, registry, etcd, namespaces');
    await m.docker(['stack', 'rm', 'fast']);
  } finally {
    await swarm.destroy();
  }
}

/** Sends 10 MB from the client container to the echo server and back; says what crossed VXLAN. */
async function echoTenMegabytes(swarm: SlimSwarm, client: string, label: string): Promise<string> {
  const hosts = [swarm.manager, ...swarm.workers];
  const vxlanNow = async () => (await Promise.all(hosts.map(vxlanBytes))).reduce((a, b) => a + b, 0);
  const before = await vxlanNow();
  const echoed = (await swarm.manager.docker(['exec', client, 'sh', '-c', 'head -c 10000000 /dev/zero | socat -t 5 - TCP:server:7000 | wc -c'], { timeoutMs: 60_000 })).stdout.trim();
  const crossed = (await vxlanNow()) - before;
  return `${label}: 10 MB to the server, ${echoed} bytes echoed back; ${(crossed / 1e6).toFixed(1)} MB on the two hosts' VXLAN devices (sent plus received)`;
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
