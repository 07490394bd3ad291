// The managed (v2) plugin end to end, offline: `slim plugin build` on h1, `docker plugin push` to a
// registry in h1's namespace, `docker plugin install` on h2 and real containers there. The steps
// build on each other, in order.
import anyTest, { type TestFn } from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, SYSTEM_PATH } from '../harness/exec.js';
import { loadImages } from '../harness/images.js';
import { INSECURE_REGISTRY_ARGS, startRegistry, type Registry } from '../harness/registry.js';
import { REPO_ROOT, SLIM_CLI } from '../harness/slim.js';
import { cgroup2Mount, readMounts } from '../../driver/secure/mountinfo.js';
import { World, type Host } from '../harness/world.js';
import { echoOver, removeAllContainers, runDetached, slimLinks } from './docker-helpers.js';

const test = anyTest as TestFn<{ world: World; h1: Host; h2: Host; registry: Registry; name: string }>;

// With --alias the driver is named by the alias and a tag: `-d slim` alone does not resolve for v2.
const ALIAS = 'slim';
const DRIVER = 'slim:latest';
const SUBNET = '10.61.0.0/24';

test.before(async (t) => {
  if (!existsSync(SLIM_CLI)) throw new Error(`${SLIM_CLI} is missing: run "npm run build" first`);
  const world = await World.create({ hosts: 2, name: 'managed', dockerdArgs: INSECURE_REGISTRY_ARGS });
  t.context.world = world;
  const [h1, h2] = world.hosts as [Host, Host];
  Object.assign(t.context, { h1, h2 });
  t.context.registry = await timed(t, 'registry start', () => startRegistry(h1));
  t.context.name = `${t.context.registry.addr}/slim:latest`;
  await loadImages(h2, ['debian']);
});

test.after.always(async (t) => {
  await t.context.world?.destroy();
});

/** The test host's dockerd listens in its own directory, not on /var/run/docker.sock. */
const dockerSocket = (h: Host) => `docker-socket.source=${h.dockerSock}`;

function build(h: Host, name: string, extra: string[] = []) {
  return exec('node', [SLIM_CLI, 'plugin', 'build', name, ...extra], {
    env: { ...process.env, PATH: SYSTEM_PATH, DOCKER_HOST: `unix://${h.dockerSock}` },
    timeoutMs: 240_000,
    allowFail: true,
  });
}

async function timed<T>(t: { log: (...v: unknown[]) => void }, what: string, f: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await f();
  t.log(`${what}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return result;
}

const tempBuildDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('slim-plugin-'));

async function inspectPlugin(h: Host, name: string) {
  const { stdout } = await h.docker(['plugin', 'inspect', name]);
  return (JSON.parse(stdout) as PluginInspect[])[0]!;
}

interface PluginInspect {
  Id: string;
  Enabled: boolean;
  Settings: { Env: string[] };
  Config: {
    Entrypoint: string[];
    Interface: { Types: string[]; Socket: string };
    Network: { Type: string };
    PidHost: boolean;
    Linux: { Capabilities: string[] };
    Mounts: { Source: string; Destination: string }[];
    Env: { Name: string; Value: string; Settable: string[] | null }[];
  };
}

test.serial('plugin build creates the plugin in the engine at DOCKER_HOST, without pulling anything', async (t) => {
  const { h1, name } = t.context;
  const tempBefore = tempBuildDirs();
  const r = await timed(t, 'plugin build', () => build(h1, name));
  t.is(r.code, 0, r.stderr);
  t.log(r.stdout.trim());
  t.regex(r.stdout, /rootfs \d+\.\d MB: node .*checked in a chroot/);
  t.deepEqual(tempBuildDirs(), tempBefore, 'the temp dir is removed');

  const p = await inspectPlugin(h1, name);
  t.false(p.Enabled, 'created disabled, ready for push');
  t.deepEqual(p.Config.Interface, { Types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'], Socket: 'slim.sock' });
  t.is(p.Config.Network.Type, 'host');
  t.true(p.Config.PidHost);
  t.deepEqual(p.Config.Linux.Capabilities, ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE']);
  t.deepEqual(p.Config.Entrypoint.slice(-2), ['/opt/slim/dist/driver/cli.js', 'daemon']);
  t.deepEqual(
    p.Config.Mounts.map((m) => `${m.Source}:${m.Destination}`),
    ['/var/lib/slim:/var/lib/slim', '/run/slim:/run/slim', '/sys/fs/bpf:/sys/fs/bpf', '/sys/fs/cgroup:/host/sys/fs/cgroup', '/var/run/docker.sock:/run/docker.sock'],
  );
  const settable = p.Config.Env.filter((e) => e.Settable?.includes('value')).map((e) => e.Name);
  t.true(['STORE', 'ADVERTISE_ADDR', 'LOG_LEVEL', 'SCOPE', 'SECURE_MODE'].every((n) => settable.includes(n)), settable.join());
  t.false(settable.includes('PLUGIN_SOCKET') || settable.includes('STATE_DIR'));
  t.true(p.Settings.Env.includes('SCOPE=global'), 'a managed plugin is for swarm unless told otherwise');
});

test.serial('building over an existing plugin fails clearly, unless --force', async (t) => {
  const { h1, name } = t.context;
  const again = await build(h1, name);
  t.not(again.code, 0);
  t.regex(again.stderr, /already exists.*--force/);
  const before = (await inspectPlugin(h1, name)).Id;
  const forced = await timed(t, 'plugin build --force', () => build(h1, name, ['--force']));
  t.is(forced.code, 0, forced.stderr);
  t.regex(forced.stdout, /removed the existing plugin/);
  t.not((await inspectPlugin(h1, name)).Id, before, 'a new plugin replaced the old one');
});

test.serial('docker plugin push to the test registry', async (t) => {
  const { h1, name, registry } = t.context;
  await timed(t, 'plugin push', () => h1.docker(['plugin', 'push', name]));
  const tags = await h1.run(['busybox', 'wget', '-q', '-O', '-', `http://${registry.addr}/v2/slim/tags/list`]);
  t.deepEqual(JSON.parse(tags.stdout), { name: 'slim', tags: ['latest'] });
});

test.serial('installed with the default global scope, a standalone engine refuses its networks', async (t) => {
  const { h2, name } = t.context;
  await h2.docker(['plugin', 'install', '--grant-all-permissions', '--alias', ALIAS, name, `ADVERTISE_ADDR=${h2.addr}`, dockerSocket(h2)]);
  try {
    const r = await h2.docker(['network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', SUBNET, 'global1'], { allowFail: true });
    t.not(r.code, 0);
    // Docker's own refusal; with SCOPE=local (next test) the same network works.
    t.regex(r.stderr, /swarm/i);
    t.log(r.stderr.trim());
  } finally {
    // -f: a refused network create can leave the plugin counted as in use.
    await h2.docker(['plugin', 'rm', '-f', DRIVER]);
  }
});

test.serial('installed with SCOPE=local, containers on a Slim network exchange TCP and UDP', async (t) => {
  const { h1, h2, name } = t.context;
  await timed(t, 'plugin install', () =>
    h2.docker(['plugin', 'install', '--grant-all-permissions', '--alias', ALIAS, name, 'SCOPE=local', `ADVERTISE_ADDR=${h2.addr}`, dockerSocket(h2)]),
  );
  t.true((await inspectPlugin(h2, DRIVER)).Enabled);
  await h2.docker(['network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', SUBNET, 'net1']);
  await runDetached(h2, 'server', ['--network', 'net1']);
  await runDetached(h2, 'client', ['--network', 'net1'], ['sleep', 'infinity']);
  t.is(await echoOver(h2, 'client', 'server', 'TCP'), 'hello-TCP');
  t.is(await echoOver(h2, 'client', 'server', 'UDP'), 'hello-UDP');
  t.true((await slimLinks(h2)).length >= 4, 'bridge, VXLAN device and two veths in h2');
  // The state lives in the host's /var/lib/slim, which the harness gives each host on its own.
  t.true(existsSync(join(h2.slimLibDir, 'state.json')));
  t.regex(readFileSync(join(h2.slimLibDir, 'state.json'), 'utf8'), /10\.61\.0\.0\/24/);
  t.deepEqual(readdirSync(h1.slimLibDir), [], 'h1 runs no plugin and has no Slim state');
  // Secure mode: the plugin shipped the loader and its objects, attached them to its own cgroup
  // and pinned them in the host's bpffs (this kernel has no BPF LSM: cgroup programs only).
  t.regex(readFileSync(h2.dockerdLog, 'utf8'), /\\"mode\\":\\"secure-partial\\".*\\"msg\\":\\"ready\\"/, 'the plugin logged secure-partial');
  const { Id: id } = await inspectPlugin(h2, DRIVER);
  t.is((await h2.run(['ls', '/sys/fs/bpf/slim/links'])).stdout.split('\n').filter(Boolean).length, 11, 'cgroup programs pinned on the host');
  const attached = await exec('bpftool', ['cgroup', 'show', join(cgroup2Mount(readMounts())!.mountPoint, id)]);
  t.regex(attached.stdout, /slim_connect4/, 'attached to the plugin\'s own cgroup v2');
});

test.serial('disable and enable keep the network; plugin set works while disabled', async (t) => {
  const { h2 } = t.context;
  t.not((await h2.docker(['plugin', 'set', DRIVER, 'LOG_LEVEL=debug'], { allowFail: true })).code, 0, 'set is refused while enabled');
  t.not((await h2.docker(['plugin', 'disable', DRIVER], { allowFail: true })).code, 0, 'disable is refused while a network uses it');
  await h2.docker(['plugin', 'disable', '-f', DRIVER]);
  await h2.docker(['plugin', 'set', DRIVER, 'LOG_LEVEL=debug']);
  t.true((await inspectPlugin(h2, DRIVER)).Settings.Env.includes('LOG_LEVEL=debug'));
  const logBefore = statSync(h2.dockerdLog).size;
  await timed(t, 'plugin enable', () => h2.docker(['plugin', 'enable', DRIVER]));
  // Docker replays nothing on enable: the new container's endpoint and address come from the
  // state the plugin kept in /var/lib/slim.
  await runDetached(h2, 'late', ['--network', 'net1'], ['sleep', 'infinity']);
  t.is(await echoOver(h2, 'late', 'server', 'TCP'), 'hello-TCP');
  t.is(await echoOver(h2, 'client', 'server', 'UDP'), 'hello-UDP', 'containers from before the restart still talk');
  const { stdout } = await h2.docker(['inspect', '-f', '{{(index .NetworkSettings.Networks "net1").IPAddress}}', 'client', 'server', 'late']);
  const ips = stdout.trim().split('\n');
  t.is(new Set(ips).size, 3, `no address handed out twice: ${ips.join(' ')}`);
  // The plugin's stdout lands in the dockerd log, pino's JSON escaped inside logrus' msg="…".
  const logged = readFileSync(h2.dockerdLog).subarray(logBefore).toString();
  t.regex(logged, /\\"level\\":20,.*plugin=/, 'LOG_LEVEL=debug reached the daemon');
});

test.serial('removing containers, network and plugin leaves nothing Slim made in h2', async (t) => {
  const { h2 } = t.context;
  const { Id: id } = await inspectPlugin(h2, DRIVER);
  await removeAllContainers(h2);
  await h2.docker(['network', 'rm', 'net1']);
  await h2.docker(['plugin', 'disable', DRIVER]);
  await h2.docker(['plugin', 'rm', DRIVER]);
  t.deepEqual(await slimLinks(h2), []);
  t.notRegex((await h2.run(['iptables', '-w', '5', '-S', 'FORWARD'])).stdout, /slim/i, 'no Slim iptables rule');
  const daemons = (await exec('ip', ['netns', 'pids', h2.netns])).stdout
    .split(/\s+/)
    .filter(Boolean)
    .filter((pid) => cmdline(pid).includes('cli.js'));
  t.deepEqual(daemons, [], 'no plugin process left');
  t.deepEqual(pluginCgroups(id), [], 'the plugin\'s cgroup is gone');
  // Secure mode's pins outlive the plugin on purpose (containers may still hold host sockets);
  // the loader's unload removes them.
  const loader = join(REPO_ROOT, 'kernel-module/build/slim-loader');
  t.regex((await h2.run([loader, 'unload'])).stdout, /"removed":1[0-9]/);
  t.is((await h2.run(['ls', '/sys/fs/bpf/slim'], { allowFail: true })).code, 2, 'no pins left');
});

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

// A plugin's cgroup is /<plugin id> in every hierarchy, outside the harness's per-host parent.
function pluginCgroups(id: string): string[] {
  const roots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))];
  return roots.map((r) => join(r, id)).filter((d) => existsSync(d));
}
