// Socket replacement end to end, on a two-node swarm running the managed plugin: containers that
// opt in (-v /run/slim:/slim -e LD_PRELOAD=/slim/libslimsocket.so) get host sockets for TCP, so
// their bytes never touch the VXLAN device; everything else stays on the overlay, and every
// fallback (no shim on the server, static client, live-migration endpoint, router down) still
// carries the traffic.
import anyTest, { type TestFn } from 'ava';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../harness/slim.js';
import { SlimSwarm } from '../harness/swarm.js';
import type { Host } from '../harness/world.js';
import { BUSYBOX, DEBIAN, containerIp, execIn, replicasRunning, vxlanBytes, waitFor } from './docker-helpers.js';

const test = anyTest as TestFn<{ swarm: SlimSwarm; server: string }>;
const SHIM = path.join(REPO_ROOT, 'native/shim/build/glibc/libslimsocket.so');
const OPT_IN = ['-v', '/run/slim:/slim', '-e', 'LD_PRELOAD=/slim/libslimsocket.so'];
const NET = 'slimnet'; // the name swarm-examples/shim-stack.yml expects
const GB = 1_000_000_000;
/** Sink on 7100 (appends the byte count of each connection to /tmp/received), echo on 7000, UDP
 *  sink on 7101 (datagrams appended to /tmp/udp-received). */
const SERVER = ['sh', '-c', 'socat -u TCP-LISTEN:7100,fork,reuseaddr SYSTEM:"wc -c >>/tmp/received" & socat TCP-LISTEN:7000,fork,reuseaddr EXEC:cat & exec socat -u UDP-RECV:7101 OPEN:/tmp/udp-received,creat,append'];

if (!existsSync(SHIM)) throw new Error(`${SHIM} is not built: run "npm run build"`);

test.before(async (t) => {
  const swarm = await SlimSwarm.create({ hosts: 2, name: 'replace', images: ['debian', 'busybox'] });
  t.context.swarm = swarm;
  const [m, w] = [swarm.manager, swarm.workers[0]!];
  await m.docker(['network', 'create', '-d', swarm.plugin, '--ipam-driver', swarm.plugin, '--attachable', '--subnet', '10.91.0.0/24', NET]);
  await waitFor('the network to be allocated', async () => (await m.docker(['network', 'ls', '-q', '-f', `name=${NET}`])).stdout.trim() || undefined);
  for (const h of [m, w]) await waitFor(`the run directory on ${h.name}`, async () => existsSync(path.join(h.slimRunDir, 'router.sock')) || undefined);
  await run(w, 'srv', [...OPT_IN], SERVER);
  t.context.server = await containerIp(w, 'srv', NET);
});

test.after.always(async (t) => {
  await t.context.swarm?.destroy();
});

async function run(h: Host, name: string, extra: string[], cmd: string[], image = DEBIAN): Promise<void> {
  await h.docker(['run', '-d', '--name', name, '--network', NET, '--stop-timeout', '2', ...extra, image, ...cmd]);
}

/** Bytes through every Slim VXLAN device of the host, both directions. */
/** Sends n bytes from the client container to the sink and returns the VXLAN bytes it cost (both hosts). */
async function transfer(t: { context: { swarm: SlimSwarm; server: string } }, client: string, n: number, proto: 'TCP' | 'UDP' = 'TCP') {
  const { swarm, server } = t.context;
  const [m, w] = [swarm.manager, swarm.workers[0]!];
  const before = (await vxlanBytes(m)) + (await vxlanBytes(w));
  const file = proto === 'TCP' ? '/tmp/received' : '/tmp/udp-received';
  const target = proto === 'TCP' ? `TCP:${server}:7100` : `UDP-SENDTO:${server}:7101`;
  await execIn(w, 'srv', `: >${file}`);
  const sender = proto === 'TCP' ? `head -c ${n} /dev/zero | socat -u - ${target}` : `head -c ${n} /dev/zero | socat -u -b 1400 - ${target}`;
  await m.docker(['exec', client, 'sh', '-c', sender], { timeoutMs: 120_000 });
  const received = proto === 'TCP'
    ? await waitFor('TCP bytes at the server', async () => {
      const lines = (await execIn(w, 'srv', `cat ${file}`)).stdout.trim();
      return lines ? lines.split('\n').reduce((s, l) => s + Number(l), 0) : undefined;
    }, 60_000)
    : await new Promise((r) => setTimeout(r, 1000)).then(async () => Number((await execIn(w, 'srv', `stat -c %s ${file}`)).stdout.trim()));
  const after = (await vxlanBytes(m)) + (await vxlanBytes(w));
  return { received, vxlan: after - before };
}

test.serial('1 GB between shim containers on two hosts leaves the VXLAN device flat; without the shim it crosses it', async (t) => {
  const m = t.context.swarm.manager;
  await run(m, 'cli', OPT_IN, ['sleep', 'infinity']);
  await run(m, 'plain', [], ['sleep', 'infinity']);
  const fast = await transfer(t, 'cli', GB);
  t.is(fast.received, GB, 'every byte arrived');
  t.true(fast.vxlan < 5_000_000, `VXLAN carried ${fast.vxlan} bytes during a replaced 1 GB transfer`);
  const slow = await transfer(t, 'plain', GB);
  t.is(slow.received, GB);
  t.true(slow.vxlan > GB, `VXLAN carried only ${slow.vxlan} bytes during a 1 GB overlay transfer`);
  t.log(`VXLAN bytes for 1 GB: replaced ${fast.vxlan}, overlay ${slow.vxlan}`);
});

test.serial('the replaced connection lives in the hosts\' namespaces; the app sees overlay addresses', async (t) => {
  const { swarm, server } = t.context;
  const [m, w] = [swarm.manager, swarm.workers[0]!];
  // A connection held open for a while: bash's /dev/tcp, through the shim.
  await m.docker(['exec', '-d', 'cli', 'bash', '-c', `exec 3<>/dev/tcp/${server}/7000; sleep 20 <&3`]);
  // The app processes themselves hold sockets of the hosts' namespaces: bash/sleep on the
  // client's host, the server's socat on the other.
  const owners = async (h: Host, filter: string[]) => (await h.run(['ss', '-Htnp', 'state', 'established', ...filter])).stdout;
  const clientSide = await waitFor('the client process in its host\'s ss', async () => {
    const out = await owners(m, ['dst', w.addr]);
    return /users:\(\("(sleep|bash)"/.test(out) ? out : undefined;
  });
  t.regex(clientSide, new RegExp(`${m.addr.replace(/\./g, '\\.')}:\\d+\\s+${w.addr.replace(/\./g, '\\.')}:\\d+.*users:\\(\\("(sleep|bash)"`));
  t.regex(await owners(w, ['src', w.addr]), /users:\(\("socat"/, 'the server\'s socat holds a host socket');
  const inContainer = await execIn(m, 'cli', `ss -Htn state established dst ${server}`);
  t.is(inContainer.stdout.trim(), '', 'the container\'s own namespace has no such connection');
  // What the app sees: its own overlay address (socat -d -d prints getsockname after connect).
  const clientIp = await containerIp(m, 'cli', NET);
  const echo = await m.docker(['exec', 'cli', 'bash', '-c', `exec 3<>/dev/tcp/${server}/7000; echo ping >&3; read -r l <&3; echo "$l"`]);
  t.is(echo.stdout.trim(), 'ping');
  const peers = await m.docker(['exec', 'cli', 'sh', '-c', `socat -d -d -t1 - TCP:${server}:7000 </dev/null 2>&1 | grep -o 'successfully connected from local address AF=2 [0-9.:]*' || true`]);
  t.log(peers.stdout.trim());
  t.regex(peers.stdout, new RegExp(`local address AF=2 ${clientIp.replace(/\./g, '\\.')}:`), 'getsockname shows the overlay address');
});

test.serial('UDP stays on the overlay', async (t) => {
  const udp = await transfer(t, 'cli', 5_000_000, 'UDP');
  t.true(udp.received > 0, 'datagrams arrived');
  t.true(udp.vxlan >= udp.received, `VXLAN carried ${udp.vxlan} bytes for ${udp.received} UDP bytes`);
});

test.serial('fallbacks: a server without the shim, a static client, a live-migration endpoint', async (t) => {
  const { swarm } = t.context;
  const [m, w] = [swarm.manager, swarm.workers[0]!];
  // Server without the shim: the client's router finds no listener and the overlay carries it.
  await run(w, 'plainsrv', [], SERVER);
  const plainIp = await containerIp(w, 'plainsrv', NET);
  const before = (await vxlanBytes(m)) + (await vxlanBytes(w));
  const r = await m.docker(['exec', 'cli', 'sh', '-c', `echo through | socat -t2 - TCP:${plainIp}:7000`]);
  t.is(r.stdout.trim(), 'through');
  t.true((await vxlanBytes(m)) + (await vxlanBytes(w)) > before, 'over VXLAN');

  // A static binary never loads the shim: busybox nc to the shim server, accepted by its overlay listener.
  await run(m, 'static', OPT_IN, ['sleep', '3600'], BUSYBOX);
  const viaStatic = await m.docker(['exec', 'static', 'sh', '-c', `echo static | nc -w 2 ${t.context.server} 7000`]);
  t.is(viaStatic.stdout.trim(), 'static');

  // An endpoint marked for live migration never gets host sockets, even with the shim loaded.
  await m.docker(['create', '--name', 'mover', '--network', NET, ...OPT_IN, DEBIAN, 'sleep', 'infinity']);
  await m.docker(['network', 'disconnect', NET, 'mover']);
  await m.docker(['network', 'connect', '--driver-opt', 'slim.live-migration=true', NET, 'mover']);
  await m.docker(['start', 'mover']);
  const moved = await transfer(t, 'mover', 50_000_000);
  t.is(moved.received, 50_000_000);
  t.true(moved.vxlan > 50_000_000, `live-migration container's TCP went over VXLAN (${moved.vxlan} bytes)`);
});

test.serial('routers down: live connections keep flowing, new ones use the overlay, replacement resumes when they are back', async (t) => {
  const { swarm, server } = t.context;
  const [m, w] = [swarm.manager, swarm.workers[0]!];
  // One connection open across the outage, exchanging a line every 200 ms for ~8 s.
  await m.docker(['exec', '-d', 'cli', 'bash', '-c',
    `exec 3<>/dev/tcp/${server}/7000; for i in $(seq 1 40); do echo "n$i" >&3; read -r l <&3; echo "$l" >>/tmp/live.log; sleep 0.2; done`]);
  await waitFor('the live connection to start', async () => (await execIn(m, 'cli', 'cat /tmp/live.log 2>/dev/null | wc -l')).stdout.trim() !== '0' || undefined);
  // Both ends: the server's router comes back to listeners its apps opened before it died.
  const pids = [...(await swarm.pluginPids(m)), ...(await swarm.pluginPids(w))];
  t.true(pids.length >= 2);
  for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  const during = await transfer(t, 'cli', 20_000_000);
  t.is(during.received, 20_000_000, 'a new connection works while the router is down');
  t.true(during.vxlan > 20_000_000, 'and it took the overlay');
  await waitFor('the live connection to finish', async () => (await execIn(m, 'cli', 'wc -l </tmp/live.log')).stdout.trim() === '40' || undefined, 30_000);
  const lines = (await execIn(m, 'cli', 'cat /tmp/live.log')).stdout.trim().split('\n');
  t.deepEqual(lines, Array.from({ length: 40 }, (_, i) => `n${i + 1}`), 'the replaced connection never noticed');
  for (const h of [m, w]) {
    await h.docker(['plugin', 'disable', '-f', swarm.plugin]);
    await h.docker(['plugin', 'enable', swarm.plugin]);
  }
  // The first connection after the restarts: both shims still hold channels to the dead
  // routers and must find the new ones without costing this connection.
  const first = await m.docker(['exec', 'cli', 'sh', '-c', `echo first | socat -t2 - TCP:${server}:7000`]);
  t.is(first.stdout.trim(), 'first', 'the first connection after the routers came back');
  const after = await waitFor('replacement to resume', async () => {
    const x = await transfer(t, 'cli', 20_000_000);
    return x.received === 20_000_000 && x.vxlan < 2_000_000 ? x : undefined;
  }, 30_000);
  t.true(after.vxlan < 2_000_000);
});

test.serial('the example stack (swarm-examples/shim-stack.yml) gets host sockets from its two opt-in lines', async (t) => {
  const { swarm } = t.context;
  const [m, w] = [swarm.manager, swarm.workers[0]!];
  await swarm.dockerWithEnv(['stack', 'deploy', '--resolve-image', 'never', '-c', path.join(REPO_ROOT, 'swarm-examples/shim-stack.yml'), 'fast'], { SLIM_EXAMPLE_IMAGE: DEBIAN });
  await waitFor('both services running', async () => (await replicasRunning(m, 'fast_server', 1)) && (await replicasRunning(m, 'fast_client', 1)) || undefined, 90_000);
  const client = await waitFor('the client task', async () => (await m.docker(['ps', '-q', '-f', 'name=fast_client'])).stdout.trim() || undefined, 60_000);
  const before = (await vxlanBytes(m)) + (await vxlanBytes(w));
  const echoed = await waitFor('10 MB echoed by the server service', async () => {
    const r = await m.docker(['exec', client, 'sh', '-c', 'head -c 10000000 /dev/zero | socat -t 5 - TCP:server:7000 | wc -c'], { allowFail: true, timeoutMs: 60_000 });
    return r.stdout.trim() === '10000000' ? r.stdout.trim() : undefined;
  }, 30_000);
  t.is(echoed, '10000000');
  const vxlan = (await vxlanBytes(m)) + (await vxlanBytes(w)) - before;
  t.true(vxlan < 2_000_000, `20 MB of TCP moved ${vxlan} bytes through VXLAN`);
  await m.docker(['stack', 'rm', 'fast']);
});
