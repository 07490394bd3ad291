// Real applications, unmodified, from Debian packages (the "apps" image), each driven by its real
// client across two hosts over one Slim network: memcached (memcslap, memcaslap), redis
// (redis-benchmark), nginx (wrk), PostgreSQL 15 (pgbench). Server on h1, client on h2.
//
// Three modes per application:
//   overlay      no shim anywhere: Slim's VXLAN overlay carries everything;
//   replaced     the shim in server and client: the connections run on host sockets;
//   server-shim  the shim in the server only, a plain client: overlay, and it must still work
//                (the shim's listener accepts ordinary overlay clients too).
// The shim modes opt in exactly as a user would: `-v /run/slim:/slim -e LD_PRELOAD=/slim/libslimsocket.so`,
// /run/slim being where the Slim daemon (router) puts libslimsocket.so and router.sock on each host
// (here: host.slimRunDir, which is /run/slim in that host's mount namespace, where dockerd resolves
// bind sources). They run once native/shim/build/glibc/libslimsocket.so is built; until then they are
// reported as skipped, with the reason.
//
// Why a swarm, and the managed plugin: Slim keys a network by Docker's network ID. Two standalone
// engines each make their own ID for `docker network create -d slim`, so even with one etcd they
// get two Slim networks (and a second network asking for the first one's VNI is refused):
// containers on two standalone hosts cannot share a network. (dockerd 20.10's hidden, deprecated
// --cluster-store is libkv, gone in Docker 23; not a route to build on.) A swarm gives one network
// ID everywhere and an `--attachable` network takes plain `docker run` containers on every node,
// but swarm refuses the legacy plugin ("legacy plugin slim of type NetworkDriver is not supported
// in swarm mode"), so: SlimSwarm, two nodes, the managed plugin, etcd — the bench's set-up.
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { linkName, LINK_PREFIX } from '../../driver/dataplane/dataplane.js';
import { IMAGES } from '../harness/images.js';
import { REPO_ROOT, SLIM_CLI } from '../harness/slim.js';
import { SlimSwarm } from '../harness/swarm.js';
import type { Host } from '../harness/world.js';
import { APPS, type AppDriver, type AppRun, type ContainerExec } from './app-drivers.js';
import { containerIp, waitFor } from './docker-helpers.js';

const IMAGE = IMAGES.apps.name;
const NET = 'apps';
const SUBNET = '10.94.0.0/24';
/** Where the build puts the glibc shim; its existence is what turns the shim modes on. */
const SHIM_BUILD = path.join(REPO_ROOT, 'native/shim/build/glibc/libslimsocket.so');
/** The opt-in contract: the host's run dir at /slim, the shim preloaded from there. */
const SHIM_ARGS = ['-v', '/run/slim:/slim', '-e', 'LD_PRELOAD=/slim/libslimsocket.so'];

type Mode = 'overlay' | 'replaced' | 'server-shim';
const MODES: { mode: Mode; serverShim: boolean; clientShim: boolean; title: string }[] = [
  { mode: 'overlay', serverShim: false, clientShim: false, title: 'no shim, over the overlay' },
  { mode: 'replaced', serverShim: true, clientShim: true, title: 'shim on both sides, on host sockets' },
  { mode: 'server-shim', serverShim: true, clientShim: false, title: 'shim on the server only, plain client over the overlay' },
];

/** Checked once, at load time: a shim that exists is tested, one that does not is reported skipped. */
const shimMissing = existsSync(SHIM_BUILD) ? null : `${path.relative(REPO_ROOT, SHIM_BUILD)} is not built yet`;

interface Ctx {
  swarm: SlimSwarm;
  /** runs the servers */
  h1: Host;
  /** runs the clients */
  h2: Host;
  networkId: string;
}

const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  const swarm = await SlimSwarm.create({ hosts: 2, name: 'apps', images: ['apps'] });
  t.context.swarm = swarm;
  t.context.h1 = swarm.manager;
  t.context.h2 = swarm.workers[0] as Host;
  const m = swarm.manager;
  await m.docker(['network', 'create', '-d', swarm.plugin, '--ipam-driver', swarm.plugin, '--attachable', '--subnet', SUBNET, NET]);
  // The manager allocates the network (AllocateNetwork) after `network create` returns.
  // (`network ls --filter name=` matches substrings and no anchors, so the exact name is looked up here.)
  await waitFor('the Slim network to be allocated', async () => {
    const { stdout } = await m.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']);
    return stdout.split('\n').includes(`${NET} ${swarm.plugin}`);
  });
  t.context.networkId = (await m.docker(['network', 'inspect', '-f', '{{.Id}}', NET])).stdout.trim();
});

test.after.always(async (t) => {
  await t.context.swarm?.destroy();
});

function execIn(host: Host, container: string): ContainerExec {
  return (script, timeoutMs = 30_000) => host.docker(['exec', container, 'sh', '-c', script], { allowFail: true, timeoutMs });
}

/**
 * The router's side of the opt-in contract, checked before any container starts: the shim and the
 * router socket in the host's run dir, usable by the unprivileged users the servers run as
 * (nobody, redis, www-data, postgres).
 */
async function requireRouter(host: Host): Promise<void> {
  const lib = path.join(host.slimRunDir, 'libslimsocket.so');
  const sock = path.join(host.slimRunDir, 'router.sock');
  const ok = await waitFor(`libslimsocket.so and router.sock in /run/slim on ${host.name}`, async () => existsSync(lib) && existsSync(sock), 15_000).catch(() => false);
  if (!ok) {
    throw new Error(`the Slim daemon on ${host.name} did not provide the shim: expected ${lib} (file) and ${sock} (socket) ` +
      `(= /run/slim/libslimsocket.so and /run/slim/router.sock in that host's mount namespace)`);
  }
  const libStat = statSync(lib);
  const sockStat = statSync(sock);
  if (!libStat.isFile() || (libStat.mode & 0o004) === 0) throw new Error(`${lib} must be a world-readable file (mode ${(libStat.mode & 0o777).toString(8)})`);
  if (!sockStat.isSocket()) throw new Error(`${sock} is not a socket`);
  if ((sockStat.mode & 0o006) !== 0o006) {
    throw new Error(`${sock} must be connectable by every user (mode ${(sockStat.mode & 0o777).toString(8)}): servers drop to nobody, redis, www-data, postgres; the router identifies callers with SO_PEERCRED`);
  }
}

/** Read from here: the server runs as another user, and root in a container may not read its maps. */
async function serverMapsShim(host: Host, container: string): Promise<boolean> {
  const pid = Number((await host.docker(['inspect', '-f', '{{.State.Pid}}', container])).stdout.trim());
  return pid > 0 && readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libslimsocket.so');
}

async function clientMapsShim(client: ContainerExec): Promise<boolean> {
  return (await client('grep -q libslimsocket.so /proc/self/maps && echo mapped')).stdout.trim() === 'mapped';
}

interface RouterCounts {
  replaced: number;
  fallback: number;
  refused: number;
  error: number;
}

/**
 * The router's counters from `slim status --json`, asked inside the host's mount namespace (Docker
 * serves a managed plugin's socket at /run/docker/plugins/<id>/slim.sock on a mount only that
 * namespace sees).
 */
async function routerCounts(t: ExecutionContext<Ctx>, host: Host): Promise<RouterCounts> {
  const id = (await host.docker(['plugin', 'inspect', '-f', '{{.Id}}', t.context.swarm.plugin])).stdout.trim();
  const r = await host.run(['node', SLIM_CLI, 'status', '--json', '--plugin-socket', `/run/docker/plugins/${id}/slim.sock`], { timeoutMs: 15_000 });
  const router = (JSON.parse(r.stdout) as { router?: RouterCounts }).router;
  if (!router) throw new Error(`slim status on ${host.name} has no router section: ${r.stdout.slice(0, 500)}`);
  return router;
}

function countsDelta(a: RouterCounts, b: RouterCounts): RouterCounts {
  return { replaced: b.replaced - a.replaced, fallback: b.fallback - a.fallback, refused: b.refused - a.refused, error: b.error - a.error };
}

/** Bytes both ways through this network's VXLAN device on a host. */
async function vxlanBytes(host: Host, networkId: string): Promise<number> {
  const dev = linkName(LINK_PREFIX.vxlan, networkId);
  const { stdout } = await host.run(['ip', '-j', '-s', 'link', 'show', 'dev', dev]);
  const [link] = JSON.parse(stdout) as { stats64: { rx: { bytes: number }; tx: { bytes: number } } }[];
  return (link?.stats64.rx.bytes ?? 0) + (link?.stats64.tx.bytes ?? 0);
}

async function runApp(t: ExecutionContext<Ctx>, app: AppDriver, mode: (typeof MODES)[number]): Promise<void> {
  const { h1, h2, networkId } = t.context;
  if (mode.serverShim) await requireRouter(h1);
  if (mode.clientShim) await requireRouter(h2);
  const tag = `${app.name}-${mode.mode}`;
  const serverName = `${tag}-server`;
  const clientName = `${tag}-client`;
  try {
    await h1.docker(['run', '-d', '--name', serverName, '--network', NET, '--stop-timeout', '2', ...(mode.serverShim ? SHIM_ARGS : []), IMAGE, ...app.serverCmd]);
    await h2.docker(['run', '-d', '--name', clientName, '--network', NET, '--stop-timeout', '1', ...(mode.clientShim ? SHIM_ARGS : []), IMAGE, 'sleep', 'infinity']);
    const run: AppRun = {
      client: execIn(h2, clientName),
      server: execIn(h1, serverName),
      serverIp: await containerIp(h1, serverName, NET),
      clientIp: await containerIp(h2, clientName, NET),
    };
    t.regex(run.serverIp, /^10\.94\.0\.\d+$/, 'the server has a Slim address');
    t.regex(run.clientIp, /^10\.94\.0\.\d+$/, 'the client has a Slim address');
    const started = Date.now();
    await waitFor(`${app.name} on ${run.serverIp}:${app.port} to answer its client`, () => app.ready(run), 60_000, 500);
    const readyMs = Date.now() - started;
    // The opt-in really took: the server (PID 1, after its exec chain) and whatever runs in the
    // client container (docker exec inherits the container's LD_PRELOAD) have the shim mapped.
    if (mode.serverShim) t.true(await serverMapsShim(h1, serverName), 'the shim is loaded in the server');
    if (mode.clientShim) t.true(await clientMapsShim(run.client), 'the shim is loaded in the client\'s processes');

    const routersBefore = mode.clientShim ? await routerCounts(t, h2) : null;
    const before = await vxlanBytes(h1, networkId);
    const summary = await app.drive(t, run);
    const crossed = (await vxlanBytes(h1, networkId)) - before;
    const routerDelta = routersBefore ? countsDelta(routersBefore, await routerCounts(t, h2)) : null;
    const routerNote = routerDelta ? `; h2's router: ${JSON.stringify(routerDelta)}` : '';
    t.log(`${mode.mode}: ${summary}; ${(crossed / 1e6).toFixed(1)} MB through Slim's VXLAN device on h1; server answered after ${readyMs} ms${routerNote}`);
    if (mode.mode === 'replaced') {
      // Replaced connections run on host sockets: the load must not cross the overlay, and the
      // client's router gave every connect a host socket.
      t.true((routerDelta?.replaced ?? 0) > 0 && routerDelta?.fallback === 0, `every connect replaced (h2's router during the run: ${JSON.stringify(routerDelta)})`);
      t.true(crossed < 256 * 1024, `the load stayed off the overlay (${crossed} bytes crossed VXLAN)`);
    } else {
      t.true(crossed > 1_000_000, `the load crossed Slim's VXLAN device (${crossed} bytes)`);
    }

    const seen = await app.seen(run);
    t.true(seen.length > 0, `${app.name} reports the connections it holds`);
    t.deepEqual([...new Set(seen.map((c) => c.peer))], [run.clientIp], `${app.name} saw the client's Slim address`);
    const locals = [...new Set(seen.map((c) => c.local).filter((l) => l !== null))];
    if (locals.length > 0) t.deepEqual(locals, [run.serverIp], `${app.name}'s own address on those connections is its Slim address`);
  } catch (err) {
    const logs = await h1.docker(['logs', '--tail', '40', serverName], { allowFail: true });
    t.log(`${serverName} logs:\n${logs.stdout}${logs.stderr}`);
    throw err;
  } finally {
    await h1.docker(['rm', '-f', serverName], { allowFail: true });
    await h2.docker(['rm', '-f', clientName], { allowFail: true });
  }
}

for (const mode of MODES) {
  for (const app of APPS) {
    const title = `${app.name}: ${mode.mode} (${mode.title})`;
    if ((mode.serverShim || mode.clientShim) && shimMissing) {
      console.log(`SKIPPED: ${title}: ${shimMissing}`);
      test.skip(`${title} — SKIPPED: ${shimMissing}`, () => undefined);
      continue;
    }
    test.serial(title, (t) => runApp(t, app, mode));
  }
}
