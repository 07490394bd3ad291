// The plugin socket end to end at unit level: the real Express app, route table, NetworkDriver,
// IpamDriver and EmbeddedStore, with a fake DataPlane that records what the kernel would be asked.
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import type { DataPlane } from '../../driver/dataplane/dataplane.js';
import { NetworkDriver, VNI_BASE } from '../../driver/network-driver.js';
import { callPlugin } from '../../driver/plugin/client.js';
import { pluginRoutes, type Handler } from '../../driver/plugin/routes.js';
import { createPluginApp, MAX_BODY_BYTES } from '../../driver/plugin/server.js';
import { EmbeddedStore } from '../../driver/store/embedded.js';
import { emptyState, type NetworkRecord, type SlimState } from '../../driver/store/state.js';
import { IpamDriver } from '../../ipam/ipam-driver.js';
import { parseCidr } from '../../ipam/ipv4.js';
import type { DefaultPools } from '../../ipam/pools.js';
import { rawRequest, type RawReply } from '../harness/raw-request.js';

const log = pino({ level: 'silent' });
const HOST = 'host-a';

// IpamDriver is gaining a hostId parameter before the logger (per-host holders of local pools);
// build it with whichever constructor this tree has.
function makeIpam(store: EmbeddedStore, defaults: DefaultPools, logger: typeof log): IpamDriver {
  const Ctor = IpamDriver as unknown as new (...args: unknown[]) => IpamDriver;
  return IpamDriver.length >= 4 ? new Ctor(store, defaults, HOST, logger) : new Ctor(store, defaults, logger);
}

type Call = { op: string; id: string | undefined };

/**
 * Records every DataPlane call (operation and the network or endpoint ID it was for); operations
 * named in `failOn` throw like a failing `ip` command. A Proxy, so methods the interface gains
 * later are recorded too instead of crashing the test.
 */
class FakeDataPlane {
  calls: Call[] = [];
  failOn = new Set<string>();
  private readonly returns: Record<string, unknown> = { removeStrayLinks: [], underlayMtu: 1500, programForwarding: 0 };
  readonly proxy: DataPlane;

  constructor() {
    this.proxy = new Proxy({} as DataPlane, {
      get: (_target, op) => {
        if (typeof op !== 'string' || op === 'then') return undefined;
        return async (...args: unknown[]) => {
          // attachEndpoint(net, ep) is about the endpoint: take the last argument that has an id
          const withId = args.filter((a): a is { id: string } => typeof a === 'object' && a !== null && 'id' in a);
          this.calls.push({ op, id: withId.at(-1)?.id });
          if (this.failOn.has(op)) throw new Error(`ip link add: RTNETLINK answers: Operation not permitted (fake ${op})`);
          return this.returns[op];
        };
      },
    });
  }
}

interface Rig {
  dir: string;
  sock: string;
  dp: FakeDataPlane;
  store: EmbeddedStore;
  server: Server;
  call: (method: string, body?: unknown) => Promise<{ status: number; body: any }>;
}

async function listen(app: ReturnType<typeof createPluginApp>, sock: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = app.listen(sock, () => resolve(s));
    s.once('error', reject);
  });
}

async function startRig(): Promise<Rig> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-server-'));
  const store = await EmbeddedStore.open(path.join(dir, 'state'));
  const dp = new FakeDataPlane();
  const config = { scope: 'local' as const, hostId: HOST, defaultMtu: 1450 };
  const net = new NetworkDriver(store, dp.proxy, config, log);
  const ipam = makeIpam(store, { range: parseCidr('10.208.0.0/12'), prefix: 24 }, log);
  const status = async () => ({ mode: 'trusted', ...(await net.status()) });
  const app = createPluginApp(Promise.resolve(pluginRoutes(net, ipam, status)), log);
  const sock = path.join(dir, 'slim.sock');
  const server = await listen(app, sock);
  return { dir, sock, dp, store, server, call: (method, body = {}) => callPlugin(sock, method, body) as Promise<{ status: number; body: any }> };
}

async function stopRig(rig: Rig | undefined): Promise<void> {
  if (!rig) return;
  rig.server.closeAllConnections();
  await new Promise((r) => rig.server.close(r));
  await fs.rm(rig.dir, { recursive: true, force: true });
}

async function rigFor(t: ExecutionContext): Promise<Rig> {
  const rig = await startRig();
  (t.context as { rig?: Rig }).rig = rig;
  return rig;
}
test.afterEach.always(async (t) => {
  await stopRig((t.context as { rig?: Rig }).rig);
});

function isErr(t: ExecutionContext, reply: { status: number; body?: any; json?: any }, message: RegExp, what = ''): void {
  const body = reply.body ?? reply.json;
  t.not(reply.status, 200, `${what} should fail: ${JSON.stringify(body)}`);
  t.is(typeof body?.Err, 'string', `${what} reply ${JSON.stringify(body)}`);
  t.regex(body?.Err ?? '', message, what);
}

const pool = (p: string, gw?: string) => ({ AddressSpace: 'slim-local', Pool: p, ...(gw ? { Gateway: gw } : {}), AuxAddresses: {} });

async function createNetwork(rig: Rig, id: string, subnet = '10.50.0.0/24', extra: object = {}) {
  const r = await rig.call('NetworkDriver.CreateNetwork', { NetworkID: id, Options: {}, IPv4Data: [pool(subnet, subnet.replace(/0\/(\d+)$/, '1/$1'))], IPv6Data: [], ...extra });
  return r;
}

// ------------------------------------------------------------------ transport

test('empty bodies work for Plugin.Activate, GetCapabilities and GetDefaultAddressSpaces', async (t) => {
  const rig = await rigFor(t);
  const expected: Record<string, object> = {
    'Plugin.Activate': { Implements: ['NetworkDriver', 'IpamDriver'] },
    'NetworkDriver.GetCapabilities': { Scope: 'local', ConnectivityScope: 'local' },
    'IpamDriver.GetCapabilities': { RequiresMACAddress: false, RequiresRequestReplay: true },
    'IpamDriver.GetDefaultAddressSpaces': { LocalDefaultAddressSpace: 'slim-local', GlobalDefaultAddressSpace: 'slim-global' },
  };
  for (const [method, reply] of Object.entries(expected)) {
    // exactly what Docker sends: no Content-Type, Content-Length 0
    const a = await rawRequest(rig.sock, { path: `/${method}`, headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': 0 } });
    t.is(a.status, 200, `${method}: ${a.text}`);
    t.deepEqual(a.json, reply, method);
    // an empty chunked body
    const b = await rawRequest(rig.sock, { path: `/${method}`, headers: { 'Transfer-Encoding': 'chunked' } });
    t.is(b.status, 200, `${method} chunked: ${b.text}`);
    t.deepEqual(b.json, reply);
    // "{}" as the body, and the client helper
    const c = await rig.call(method, '');
    t.deepEqual([c.status, c.body], [200, reply]);
    const d = await rig.call(method, {});
    t.deepEqual([d.status, d.body], [200, reply]);
  }
  t.deepEqual(rig.dp.calls, []);
});

test('bodies are parsed as JSON whatever the Content-Type says, or without one', async (t) => {
  const rig = await rigFor(t);
  const body = JSON.stringify({ AddressSpace: 'slim-local', Pool: '10.60.0.0/24' });
  const variants: Record<string, string>[] = [{}, { 'Content-Type': 'text/plain' }, { 'Content-Type': 'application/octet-stream' }, { 'Content-Type': 'application/json' }];
  for (const headers of variants) {
    const r = await rawRequest(rig.sock, { path: '/IpamDriver.RequestPool', body, headers });
    t.is(r.status, 200, `${JSON.stringify(headers)}: ${r.text}`);
    t.deepEqual(r.json, { PoolID: 'slim-local|10.60.0.0/24', Pool: '10.60.0.0/24', Data: {} });
  }
});

test('garbage JSON gets a non-200 with {"Err": "...not valid JSON..."}', async (t) => {
  const rig = await rigFor(t);
  for (const body of ['{', '{"NetworkID":', 'not json', '\u0000\u00ff\u00fe', '{"a":1}}', "{'NetworkID':'x'}", '[1,2', 'nul', '   ']) {
    for (const method of ['NetworkDriver.CreateNetwork', 'Plugin.Activate', 'IpamDriver.RequestAddress', 'Nope.Nothing']) {
      const r = await rawRequest(rig.sock, { path: `/${method}`, body });
      t.not(r.status, 200, `${method} ${JSON.stringify(body)}`);
      t.true(r.status >= 400 && r.status < 600);
      t.regex(r.json?.Err ?? '', /request body is not valid JSON/, `${method} ${JSON.stringify(body)} → ${r.text}`);
    }
  }
  t.deepEqual(await rig.store.read(), emptyState());
  await t.throwsAsync(fs.stat(path.join(rig.dir, 'state', 'state.json')), { code: 'ENOENT' }, 'nothing was written');
  t.deepEqual(rig.dp.calls, []);
});

test('valid JSON of the wrong type is refused with a readable reason', async (t) => {
  const rig = await rigFor(t);
  for (const body of ['null', '[]', '42', '"x"', 'true', '[{"NetworkID":"n"}]']) {
    const r = await rawRequest(rig.sock, { path: '/NetworkDriver.DeleteNetwork', body });
    isErr(t, { status: r.status, json: r.json }, /^invalid request: body: .*expected object/, body);
  }
  const r = await rig.call('NetworkDriver.DeleteNetwork', { NetworkID: 42 });
  isErr(t, r, /^invalid request: NetworkID: .*expected string/);
  const m = await rig.call('NetworkDriver.DeleteNetwork', {});
  isErr(t, m, /^invalid request: NetworkID: /);
  const long = await rig.call('NetworkDriver.DeleteNetwork', { NetworkID: 'x'.repeat(100_000) });
  isErr(t, long, /NetworkID: is longer than any Docker ID/);
  t.true(long.body.Err.length < 500, 'the error does not echo the 100 KB ID');
});

test('an unknown method or a non-POST verb gets 404 {Err}', async (t) => {
  const rig = await rigFor(t);
  for (const p of ['/NetworkDriver.Nope', '/', '/Plugin.activate', '/__proto__', '/constructor', '/toString', '/hasOwnProperty', '/NetworkDriver.CreateNetwork/x', '/VolumeDriver.Create', `/${'A'.repeat(5000)}`]) {
    const r = await rawRequest(rig.sock, { path: p, body: '{}' });
    t.is(r.status, 404, `${p.slice(0, 40)}: ${r.text.slice(0, 200)}`);
    t.regex(r.json?.Err ?? '', /^unknown plugin method/);
    t.true(r.text.length < 300, 'a long method name is not echoed in full');
  }
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = await rawRequest(rig.sock, { method, path: '/Plugin.Activate', body: method === 'GET' ? undefined : '{}' });
    t.is(r.status, 404, `${method}: ${r.text}`);
    t.regex(r.json?.Err ?? '', /unknown plugin method "Plugin\.Activate"/);
  }
  const q = await rawRequest(rig.sock, { path: '/Plugin.Activate?x=1', body: '' });
  t.is(q.status, 200, 'a query string does not change the method');
});

test('a body over 1 MiB is refused with a clear error and the server keeps serving', async (t) => {
  const rig = await rigFor(t);
  t.is(MAX_BODY_BYTES, 1024 * 1024);
  const big = JSON.stringify({ NetworkID: 'n', Options: { pad: 'x'.repeat(MAX_BODY_BYTES) } });
  const r = await rawRequest(rig.sock, { path: '/NetworkDriver.CreateNetwork', body: big });
  t.is(r.status, 413);
  t.regex(r.json?.Err ?? '', /request body is larger than 1048576 bytes/);
  // the same without Content-Length (chunked)
  const c = await new Promise<RawReply>((resolve, reject) => {
    const req = http.request({ socketPath: rig.sock, path: '/IpamDriver.RequestPool', method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    for (let i = 0; i < 20; i++) req.write('x'.repeat(100_000));
    req.end();
  });
  t.is(c.status, 413);
  t.regex(c.json.Err, /larger than/);
  // exactly at the limit is fine as far as size goes (the content is still checked)
  const atLimit = JSON.stringify({ PoolID: 'p', Address: '' }).padEnd(MAX_BODY_BYTES, ' ');
  const ok = await rawRequest(rig.sock, { path: '/IpamDriver.ReleasePool', body: atLimit });
  t.is(ok.status, 200, ok.text);
  t.deepEqual((await rig.call('Plugin.Activate')).status, 200);
  t.deepEqual(rig.dp.calls, []);
});

test('requests that arrive during start-up wait for the route table; a failed start-up answers {Err}', async (t) => {
  let ready!: (r: Record<string, Handler>) => void;
  const routes = new Promise<Record<string, Handler>>((resolve) => (ready = resolve));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-server-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 's.sock');
  const server = await listen(createPluginApp(routes, log), sock);
  t.teardown(() => server.close());
  let answered = false;
  const pending = callPlugin(sock, 'Plugin.Activate').then((r) => ((answered = true), r));
  await new Promise((r) => setTimeout(r, 100));
  t.false(answered);
  ready({ 'Plugin.Activate': async () => ({ Implements: ['NetworkDriver'] }) });
  t.deepEqual(await pending, { status: 200, body: { Implements: ['NetworkDriver'] } });

  const failing = Promise.reject(new Error('state file is corrupt'));
  failing.catch(() => undefined);
  const sock2 = path.join(dir, 's2.sock');
  const server2 = await listen(createPluginApp(failing, log), sock2);
  t.teardown(() => server2.close());
  const r = await callPlugin(sock2, 'Plugin.Activate');
  t.is(r.status, 500);
  t.deepEqual(r.body, { Err: 'state file is corrupt' });
});

// ------------------------------------------------------------------ NetworkDriver

test('CreateEndpoint fills MacAddress only when Docker left it empty', async (t) => {
  const rig = await rigFor(t);
  t.is((await createNetwork(rig, 'net1')).status, 200);
  const noMac = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep1', Interface: { Address: '10.50.0.2/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  t.deepEqual(noMac, { status: 200, body: { Interface: { MacAddress: '02:42:0a:32:00:02' } } });
  t.deepEqual(Object.keys(noMac.body.Interface), ['MacAddress'], 'Address is not echoed back');

  const withMac = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep2', Interface: { Address: '10.50.0.3/24', MacAddress: '02:AA:bb:CC:dd:01' }, Options: null });
  t.deepEqual(withMac, { status: 200, body: {} }, 'no Interface fields when Docker set the MAC');
  const state = await rig.store.read();
  t.is(state.endpoints.ep2?.mac, '02:aa:bb:cc:dd:01');
  t.is(state.endpoints.ep1?.mac, '02:42:0a:32:00:02');
  t.is(state.endpoints.ep1?.address, '10.50.0.2/24');

  // a replay of the same endpoint is idempotent
  const again = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep1', Interface: { Address: '10.50.0.2/24' } });
  t.deepEqual(again, noMac);
  // …but the same ID with another address is refused
  isErr(t, await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep1', Interface: { Address: '10.50.0.9/24' } }), /endpoint ep1 already exists with another network/);

  const info = await rig.call('NetworkDriver.EndpointOperInfo', { NetworkID: 'net1', EndpointID: 'ep1' });
  t.deepEqual(info, { status: 200, body: { Value: { address: '10.50.0.2/24', mac: '02:42:0a:32:00:02', hostVeth: 'slv-ep1', joined: false } } });
  t.deepEqual(rig.dp.calls.map((c) => c.op), ['ensureNetwork'], 'CreateEndpoint does not touch the kernel');
});

test('CreateEndpoint refuses what Slim cannot serve, and changes nothing', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  const before = await rig.store.read();
  const cases: [object, RegExp][] = [
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: null }, /endpoint has no IPv4 address/],
    [{ NetworkID: 'net1', EndpointID: 'e' }, /endpoint has no IPv4 address/],
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: { Address: '' } }, /endpoint has no IPv4 address/],
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: { Address: '10.50.0.2/24', AddressIPv6: 'fd00::2/64' } }, /does not support IPv6 endpoints/],
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: { Address: '10.51.0.2/24' } }, /endpoint address 10\.51\.0\.2\/24 is outside the network's subnet 10\.50\.0\.0\/24/],
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: { Address: '10.50.0.2' } }, /bad endpoint address "10\.50\.0\.2": expected ip\/len/],
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: { Address: '10.50.0.2/24', MacAddress: 'zz:zz:zz:zz:zz:zz' } }, /bad MAC address "zz:zz:zz:zz:zz:zz"/],
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: { Address: '10.50.0.2/24', MacAddress: '02:42:0a:32:00' } }, /bad MAC address/],
    [{ NetworkID: 'nope', EndpointID: 'e', Interface: { Address: '10.50.0.2/24' } }, /network nope is not a Slim network on this host/],
    [{ NetworkID: 'net1', EndpointID: '', Interface: { Address: '10.50.0.2/24' } }, /invalid request: EndpointID: must not be empty/],
    [{ NetworkID: 'net1', EndpointID: 'e', Interface: { Address: 10 } }, /invalid request: Interface\.Address/],
  ];
  for (const [body, message] of cases) isErr(t, await rig.call('NetworkDriver.CreateEndpoint', body), message, JSON.stringify(body));
  t.deepEqual(await rig.store.read(), before);
});

test('Join returns SrcName and DstPrefix "eth", no Gateway; Leave detaches', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'abcdef0123456789', Interface: { Address: '10.50.0.2/24' } });
  const j = await rig.call('NetworkDriver.Join', { NetworkID: 'net1', EndpointID: 'abcdef0123456789', SandboxKey: '/var/run/docker/netns/1234', Options: null });
  t.is(j.status, 200);
  t.deepEqual(j.body, { InterfaceName: { SrcName: 'slc-abcdef01234', DstPrefix: 'eth' }, StaticRoutes: [], DisableGatewayService: false });
  t.false('Gateway' in j.body);
  t.false('GatewayIPv6' in j.body);
  t.is((await rig.store.read()).endpoints.abcdef0123456789?.sandboxKey, '/var/run/docker/netns/1234');
  t.deepEqual((await rig.call('NetworkDriver.EndpointOperInfo', { NetworkID: 'net1', EndpointID: 'abcdef0123456789' })).body.Value.joined, true);

  isErr(t, await rig.call('NetworkDriver.Join', { NetworkID: 'net1', EndpointID: 'nope', SandboxKey: '/x' }), /endpoint nope is not known to Slim/);
  isErr(t, await rig.call('NetworkDriver.Join', { NetworkID: 'nope', EndpointID: 'abcdef0123456789', SandboxKey: '/x' }), /network nope is not a Slim network/);
  isErr(t, await rig.call('NetworkDriver.Join', { NetworkID: 'net1', EndpointID: 'abcdef0123456789' }), /invalid request: SandboxKey/);

  t.deepEqual(await rig.call('NetworkDriver.Leave', { NetworkID: 'net1', EndpointID: 'abcdef0123456789' }), { status: 200, body: {} });
  t.is((await rig.store.read()).endpoints.abcdef0123456789?.sandboxKey, null);
  t.deepEqual(
    rig.dp.calls.map((c) => `${c.op} ${c.id}`),
    ['ensureNetwork net1', 'attachEndpoint abcdef0123456789', 'detachEndpoint abcdef0123456789'],
  );
});

test('a DataPlane failure during Join leaves the endpoint unjoined', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep1', Interface: { Address: '10.50.0.2/24' } });
  rig.dp.failOn.add('attachEndpoint');
  isErr(t, await rig.call('NetworkDriver.Join', { NetworkID: 'net1', EndpointID: 'ep1', SandboxKey: '/x' }), /RTNETLINK answers: Operation not permitted/);
  t.is((await rig.store.read()).endpoints.ep1?.sandboxKey, null);
});

test('DeleteEndpoint, DeleteNetwork and Leave of unknown IDs succeed with {} and touch nothing', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  const before = await rig.store.read();
  rig.dp.calls = [];
  const cases: [string, object][] = [
    ['NetworkDriver.DeleteEndpoint', { NetworkID: 'net1', EndpointID: 'gone' }],
    ['NetworkDriver.DeleteEndpoint', { NetworkID: 'gone', EndpointID: 'gone' }],
    ['NetworkDriver.Leave', { NetworkID: 'net1', EndpointID: 'gone' }],
    ['NetworkDriver.Leave', { NetworkID: 'gone', EndpointID: 'gone' }],
    ['NetworkDriver.DeleteNetwork', { NetworkID: 'gone' }],
    ['NetworkDriver.FreeNetwork', { NetworkID: 'gone' }],
    ['IpamDriver.ReleasePool', { PoolID: 'slim-local|10.99.0.0/24' }],
    ['IpamDriver.ReleaseAddress', { PoolID: 'slim-local|10.99.0.0/24', Address: '10.99.0.5' }],
  ];
  for (const [method, body] of cases) t.deepEqual(await rig.call(method, body), { status: 200, body: {} }, `${method} ${JSON.stringify(body)}`);
  t.deepEqual(await rig.store.read(), before);
  t.deepEqual(rig.dp.calls, []);
  t.deepEqual(await fs.readdir(path.join(rig.dir, 'state')), ['state.json']);
});

test('DeleteNetwork removes the network, its endpoints and their kernel objects', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  await createNetwork(rig, 'net2', '10.51.0.0/24');
  await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'a', Interface: { Address: '10.50.0.2/24' } });
  await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'b', Interface: { Address: '10.50.0.3/24' } });
  await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net2', EndpointID: 'c', Interface: { Address: '10.51.0.3/24' } });
  rig.dp.calls = [];
  t.deepEqual(await rig.call('NetworkDriver.DeleteNetwork', { NetworkID: 'net1' }), { status: 200, body: {} });
  const s = await rig.store.read();
  t.deepEqual(Object.keys(s.networks), ['net2']);
  t.deepEqual(Object.keys(s.endpoints), ['c']);
  t.deepEqual(rig.dp.calls.map((c) => `${c.op} ${c.id}`), ['detachEndpoint a', 'detachEndpoint b', 'removeNetwork net1']);
  // and again: gone is gone
  t.deepEqual(await rig.call('NetworkDriver.DeleteNetwork', { NetworkID: 'net1' }), { status: 200, body: {} });
});

test('CreateNetwork with 0 or 2 IPv4 pools, IPv6, a bad subnet or an unknown option fails clearly without a DataPlane call', async (t) => {
  const rig = await rigFor(t);
  const cases: [object, RegExp][] = [
    [{ IPv4Data: [] }, /needs exactly one IPv4 subnet, got 0/],
    [{ IPv4Data: null }, /needs exactly one IPv4 subnet, got 0/],
    [{ IPv4Data: undefined }, /needs exactly one IPv4 subnet, got 0/],
    [{ IPv4Data: [pool('10.1.0.0/24'), pool('10.2.0.0/24')] }, /needs exactly one IPv4 subnet, got 2/],
    [{ IPv6Data: [pool('fd00::/64')] }, /does not support IPv6 networks/],
    [{ Options: { 'com.docker.network.enable_ipv6': true } }, /does not support IPv6 networks/],
    [{ Options: { 'com.docker.network.generic': { color: 'blue' } } }, /unknown network option "color"; Slim knows com\.docker\.network\.driver\.mtu, slim\.vni/],
    [{ Options: { 'com.docker.network.generic': { 'com.docker.network.driver.mtu': '100' } } }, /mtu must be a whole number from 576 to 65000/],
    [{ Options: { 'com.docker.network.generic': { 'slim.vni': '0' } } }, /slim\.vni must be a whole number from 1 to 16777215/],
    [{ Options: { 'com.docker.network.generic': 'x' } }, /must be a map of strings/],
    [{ IPv4Data: [pool('10.1.0.0/33')] }, /bad subnet: bad prefix length/],
    [{ IPv4Data: [pool('nonsense')] }, /bad subnet: not a CIDR/],
    [{ IPv4Data: [pool('')] }, /bad subnet/],
    [{ IPv4Data: [pool('10.1.0.0/24', '10.2.0.1/24')] }, /gateway 10\.2\.0\.1\/24 is outside the network's subnet 10\.1\.0\.0\/24/],
    [{ IPv4Data: [pool('10.1.0.0/24', '10.1.0.1')] }, /bad gateway "10\.1\.0\.1": expected ip\/len/],
    [{ IPv4Data: [{ AddressSpace: 'slim-local' }] }, /invalid request: IPv4Data\.0\.Pool/],
    [{ IPv4Data: 'x' }, /invalid request: IPv4Data/],
    [{ NetworkID: '' }, /invalid request: NetworkID: must not be empty/],
    [{ NetworkID: 7 }, /invalid request: NetworkID/],
  ];
  for (const [extra, message] of cases) {
    const body = { NetworkID: 'n1', Options: {}, IPv4Data: [pool('10.1.0.0/24', '10.1.0.1/24')], IPv6Data: [], ...extra };
    isErr(t, await rig.call('NetworkDriver.CreateNetwork', body), message, JSON.stringify(extra));
  }
  t.deepEqual(rig.dp.calls, []);
  t.deepEqual((await rig.store.read()).networks, {});
});

test('CreateNetwork stores what it was given; a replay is idempotent; a VNI clash is refused', async (t) => {
  const rig = await rigFor(t);
  const r = await rig.call('NetworkDriver.CreateNetwork', {
    NetworkID: 'net1',
    Options: { 'com.docker.network.generic': { 'com.docker.network.driver.mtu': '1400', 'slim.vni': '4242' }, 'com.docker.network.internal': true, 'com.docker.network.enable_ipv6': false },
    IPv4Data: [pool('10.70.0.0/16', '10.70.0.1/16')],
    IPv6Data: null,
  });
  t.deepEqual(r, { status: 200, body: {} });
  const expected: Partial<NetworkRecord> = {
    id: 'net1',
    vni: 4242,
    bridge: 'slb-net1',
    vxlan: 'slx-net1',
    mtu: 1400,
    subnet: '10.70.0.0/16',
    gateway: '10.70.0.1/16',
    internal: true,
    options: { 'com.docker.network.driver.mtu': '1400', 'slim.vni': '4242' },
  };
  t.like((await rig.store.read()).networks.net1, expected);
  t.deepEqual(await rig.call('NetworkDriver.CreateNetwork', { NetworkID: 'net1', IPv4Data: [pool('10.70.0.0/16')] }), { status: 200, body: {} });
  t.is(Object.keys((await rig.store.read()).networks).length, 1);
  isErr(t, await createNetwork(rig, 'net2', '10.71.0.0/24', { Options: { 'com.docker.network.generic': { 'slim.vni': '4242' } } }), /VNI 4242 is already used by network net1/);
  // a network without options gets the default MTU and a VNI from Slim's range
  t.is((await createNetwork(rig, 'net3', '10.72.0.0/24')).status, 200);
  const n3 = (await rig.store.read()).networks.net3!;
  t.is(n3.mtu, 1450);
  t.is(n3.vni, VNI_BASE);
  t.is(n3.internal, false);
  t.deepEqual(
    rig.dp.calls.map((c) => `${c.op} ${c.id}`),
    ['ensureNetwork net1', 'ensureNetwork net1', 'ensureNetwork net3'],
  );
});

test('a DataPlane failure during CreateNetwork leaves no network in the state', async (t) => {
  const rig = await rigFor(t);
  rig.dp.failOn.add('ensureNetwork');
  const r = await createNetwork(rig, 'net1');
  isErr(t, r, /RTNETLINK answers: Operation not permitted/);
  t.is(r.status, 500);
  t.deepEqual(await rig.store.read(), emptyState());
  t.deepEqual(await freshState(rig), emptyState(), 'nothing on disk either');
  t.deepEqual(rig.dp.calls.map((c) => c.op), ['ensureNetwork']);
  // the VNI it would have taken is still free
  rig.dp.failOn.clear();
  t.is((await createNetwork(rig, 'net1')).status, 200);
  t.is((await rig.store.read()).networks.net1?.vni, VNI_BASE);
});

async function freshState(rig: Rig): Promise<SlimState> {
  return (await EmbeddedStore.open(path.join(rig.dir, 'state'))).read();
}

test('AllocateNetwork echoes the options plus slim.vni and is idempotent; FreeNetwork releases the VNI', async (t) => {
  const rig = await rigFor(t);
  const req = { NetworkID: 'swarm1', Options: { 'com.docker.network.driver.mtu': '1400' }, IPv4Data: [pool('10.80.0.0/24', '10.80.0.1/24')], IPv6Data: [] };
  const a = await rig.call('NetworkDriver.AllocateNetwork', req);
  t.deepEqual(a, { status: 200, body: { Options: { 'com.docker.network.driver.mtu': '1400', 'slim.vni': String(VNI_BASE) } } });
  t.deepEqual(await rig.call('NetworkDriver.AllocateNetwork', req), a, 'a replay gets the same VNI');
  t.deepEqual((await rig.store.read()).allocatedVnis, { swarm1: VNI_BASE });

  const b = await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarm2', Options: null });
  t.deepEqual(b.body, { Options: { 'slim.vni': String(VNI_BASE + 1) } });
  const c = await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarm3', Options: { 'slim.vni': '777' } });
  t.deepEqual(c.body, { Options: { 'slim.vni': '777' } });

  // a worker's CreateNetwork gets the allocated options back as generic options
  t.is((await rig.call('NetworkDriver.CreateNetwork', { NetworkID: 'swarm1', Options: { 'com.docker.network.generic': a.body.Options }, IPv4Data: [pool('10.80.0.0/24', '10.80.0.1/24')] })).status, 200);
  t.is((await rig.store.read()).networks.swarm1?.vni, VNI_BASE);

  isErr(t, await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarm4', Options: { color: 'red' } }), /unknown network option "color"/);
  isErr(t, await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarm4', Options: { 'slim.vni': '99999999' } }), /slim\.vni must be a whole number/);
  isErr(t, await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarm4', Options: { 'slim.vni': 5 } }), /invalid request: Options\.slim\.vni/);
  t.false('swarm4' in (await rig.store.read()).allocatedVnis);

  t.deepEqual(await rig.call('NetworkDriver.FreeNetwork', { NetworkID: 'swarm2' }), { status: 200, body: {} });
  t.deepEqual((await rig.store.read()).allocatedVnis, { swarm1: VNI_BASE, swarm3: 777 });
  const d = await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarm5' });
  t.deepEqual(d.body, { Options: { 'slim.vni': String(VNI_BASE + 1) } }, 'the freed VNI is handed out again');
  t.deepEqual(await rig.call('NetworkDriver.FreeNetwork', { NetworkID: 'swarm2' }), { status: 200, body: {} }, 'freeing twice is fine');
  t.deepEqual(rig.dp.calls.map((c) => c.op), ['ensureNetwork'], 'Allocate/Free never touch the kernel');
});

// ------------------------------------------------------------------ IPAM over the socket, and a whole life cycle

test('the calls Docker makes for `docker network create --ipam-driver slim`, a container, and removal', async (t) => {
  const rig = await rigFor(t);
  const p = await rig.call('IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: '', SubPool: '', Options: {}, V6: false });
  t.deepEqual(p, { status: 200, body: { PoolID: 'slim-local|10.208.0.0/24', Pool: '10.208.0.0/24', Data: {} } });
  const gw = await rig.call('IpamDriver.RequestAddress', { PoolID: p.body.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  t.deepEqual(gw.body, { Address: '10.208.0.1/24', Data: {} });
  t.is((await rig.call('NetworkDriver.CreateNetwork', { NetworkID: 'n', Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'slim-local', Pool: p.body.Pool, Gateway: gw.body.Address, AuxAddresses: null }], IPv6Data: [] })).status, 200);
  const addr = await rig.call('IpamDriver.RequestAddress', { PoolID: p.body.PoolID, Address: '', Options: null });
  t.deepEqual(addr.body, { Address: '10.208.0.2/24', Data: {} });
  t.is((await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'n', EndpointID: 'e', Interface: { Address: addr.body.Address } })).status, 200);
  t.is((await rig.call('NetworkDriver.Join', { NetworkID: 'n', EndpointID: 'e', SandboxKey: '/var/run/docker/netns/x' })).status, 200);
  t.deepEqual(await rig.call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: 'n', EndpointID: 'e', Options: {} }), { status: 200, body: {} });
  t.deepEqual(await rig.call('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '10.0.0.2', BindAddress: '10.0.0.2', Self: true } }), { status: 200, body: {} });

  const status = await rig.call('Slim.Status');
  t.is(status.status, 200);
  t.is(status.body.networks.length, 1);
  t.is(status.body.endpoints[0].sandboxKey, '/var/run/docker/netns/x');

  for (const [method, body] of [
    ['NetworkDriver.RevokeExternalConnectivity', { NetworkID: 'n', EndpointID: 'e' }],
    ['NetworkDriver.Leave', { NetworkID: 'n', EndpointID: 'e' }],
    ['NetworkDriver.DeleteEndpoint', { NetworkID: 'n', EndpointID: 'e' }],
    ['IpamDriver.ReleaseAddress', { PoolID: p.body.PoolID, Address: addr.body.Address }],
    ['NetworkDriver.DeleteNetwork', { NetworkID: 'n' }],
    ['IpamDriver.ReleaseAddress', { PoolID: p.body.PoolID, Address: gw.body.Address }],
    ['IpamDriver.ReleasePool', { PoolID: p.body.PoolID }],
  ] as const) {
    t.deepEqual(await rig.call(method, body), { status: 200, body: {} }, method);
  }
  const s = await rig.store.read();
  t.deepEqual([s.networks, s.endpoints, s.pools], [{}, {}, {}]);
  t.deepEqual(
    rig.dp.calls.map((c) => `${c.op} ${c.id}`),
    ['ensureNetwork n', 'attachEndpoint e', 'detachEndpoint e', 'detachEndpoint e', 'removeNetwork n'],
  );
});

test('IPAM errors over the socket are clear', async (t) => {
  const rig = await rigFor(t);
  const cases: [string, object, RegExp][] = [
    ['IpamDriver.RequestPool', { AddressSpace: 'slim-local', V6: true }, /does not support IPv6 pools/],
    ['IpamDriver.RequestPool', { AddressSpace: 'bogus' }, /unknown address space "bogus"/],
    ['IpamDriver.RequestPool', {}, /invalid request: AddressSpace/],
    ['IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: '10.0.0.1/8' }, /bad pool: .*host bits/],
    ['IpamDriver.RequestPool', { AddressSpace: 'slim-local', Pool: '10.0.0.0/8', SubPool: '11.0.0.0/16' }, /not inside pool/],
    ['IpamDriver.RequestPool', { AddressSpace: 'slim-local', V6: 'yes' }, /invalid request: V6/],
    ['IpamDriver.RequestAddress', { PoolID: 'nope' }, /unknown pool "nope"/],
    ['IpamDriver.RequestAddress', {}, /invalid request: PoolID/],
    ['IpamDriver.ReleaseAddress', { PoolID: 'x' }, /invalid request: Address/],
  ];
  for (const [method, body, message] of cases) isErr(t, await rig.call(method, body), message, `${method} ${JSON.stringify(body)}`);
  t.deepEqual((await rig.store.read()).pools, {});
});

// ------------------------------------------------------------------ regressions
// Bugs these tests found (reported, fixed in 7e99eb2): keep them fixed.

test('a VNI belongs to one network: AllocateNetwork refuses one another network holds', async (t) => {
  const rig = await rigFor(t);
  const a = await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarmA' });
  t.is(a.body.Options['slim.vni'], String(VNI_BASE));
  // another swarm network asking for the same VNI explicitly must be refused, as CreateNetwork does
  const b = await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarmB', Options: { 'slim.vni': String(VNI_BASE) } });
  isErr(t, b, /VNI 8388608 is already used by network swarmA/);
  await createNetwork(rig, 'local1', '10.90.0.0/24', { Options: { 'com.docker.network.generic': { 'slim.vni': '4242' } } });
  isErr(t, await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarmC', Options: { 'slim.vni': '4242' } }), /VNI 4242 is already used by network local1/);
  t.deepEqual((await rig.store.read()).allocatedVnis, { swarmA: VNI_BASE });
  // the holder itself may replay
  t.deepEqual((await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarmA', Options: { 'slim.vni': String(VNI_BASE) } })).body, a.body);
});

test('CreateNetwork refuses a slim.vni that AllocateNetwork gave another network, and accepts its own', async (t) => {
  const rig = await rigFor(t);
  await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: 'swarmA' });
  const r = await createNetwork(rig, 'local1', '10.90.0.0/24', { Options: { 'com.docker.network.generic': { 'slim.vni': String(VNI_BASE) } } });
  isErr(t, r, /VNI 8388608 is already used by network swarmA/);
  t.deepEqual((await rig.store.read()).networks, {});
  const own = await createNetwork(rig, 'swarmA', '10.90.0.0/24', { Options: { 'com.docker.network.generic': { 'slim.vni': String(VNI_BASE) } } });
  t.is(own.status, 200);
  // and a local network without options does not get it either
  t.is((await createNetwork(rig, 'local2', '10.91.0.0/24')).status, 200);
  t.not((await rig.store.read()).networks.local2?.vni, VNI_BASE);
});

// State maps are plain objects: IDs naming Object.prototype members must behave as unknown IDs
// (or be refused as not being Docker IDs), never be "found".
const PROTO_IDS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
const UNKNOWN_OR_NOT_AN_ID = /is not a Slim network|is not known to Slim|unknown pool|is not a Docker ID/;
const INTERNALS = /Cannot read propert|is not a function|\[object |native code|undefined/;

test('IDs named like Object.prototype members are unknown, not found, in every method', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep1', Interface: { Address: '10.50.0.2/24' } });
  const before = await rig.store.read();
  rig.dp.calls = [];
  for (const id of PROTO_IDS) {
    const mustFail: [string, object][] = [
      ['NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: 'epX', Interface: { Address: '10.50.0.3/24' } }],
      ['NetworkDriver.EndpointOperInfo', { NetworkID: 'net1', EndpointID: id }],
      ['NetworkDriver.Join', { NetworkID: 'net1', EndpointID: id, SandboxKey: '/x' }],
      ['NetworkDriver.Join', { NetworkID: id, EndpointID: 'ep1', SandboxKey: '/x' }],
      ['IpamDriver.RequestAddress', { PoolID: id }],
      ['IpamDriver.RequestAddress', { PoolID: id, Address: '10.0.0.1' }],
    ];
    for (const [method, body] of mustFail) {
      const r = await rig.call(method, body);
      const what = `${method} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`;
      isErr(t, r, UNKNOWN_OR_NOT_AN_ID, what);
      t.notRegex(r.body.Err ?? '', INTERNALS, what);
    }
    // deletes of unknown IDs succeed; a string that is not a Docker ID may be refused instead
    const deletes: [string, object][] = [
      ['NetworkDriver.DeleteNetwork', { NetworkID: id }],
      ['NetworkDriver.FreeNetwork', { NetworkID: id }],
      ['NetworkDriver.DeleteEndpoint', { NetworkID: 'net1', EndpointID: id }],
      ['NetworkDriver.Leave', { NetworkID: 'net1', EndpointID: id }],
    ];
    for (const [method, body] of deletes) {
      const r = await rig.call(method, body);
      const what = `${method} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`;
      if (r.status === 200) t.deepEqual(r.body, {}, what);
      else isErr(t, r, /is not a Docker ID/, what);
    }
    // pool IDs are Slim's own strings: any string is just an unknown pool
    t.deepEqual(await rig.call('IpamDriver.ReleasePool', { PoolID: id }), { status: 200, body: {} }, `ReleasePool ${id}`);
    t.deepEqual(await rig.call('IpamDriver.ReleaseAddress', { PoolID: id, Address: '10.0.0.1' }), { status: 200, body: {} }, `ReleaseAddress ${id}`);
  }
  t.deepEqual(await rig.store.read(), before);
  t.deepEqual(rig.dp.calls, [], 'no kernel call for an unknown object');
  t.false('sandboxKey' in {}, 'Object.prototype is clean');
});

test('AllocateNetwork and CreateNetwork of a prototype-named ID create a real record or refuse it', async (t) => {
  const rig = await rigFor(t);
  for (const id of PROTO_IDS) {
    const a = await rig.call('NetworkDriver.AllocateNetwork', { NetworkID: id });
    if (a.status === 200) {
      t.regex(a.body.Options['slim.vni'], /^\d+$/, `${id}: ${JSON.stringify(a.body)}`);
      t.true(Object.hasOwn((await rig.store.read()).allocatedVnis, id));
      t.deepEqual((await rig.call('NetworkDriver.FreeNetwork', { NetworkID: id })).body, {});
      t.false(Object.hasOwn((await rig.store.read()).allocatedVnis, id));
    } else {
      isErr(t, a, /is not a Docker ID/, id);
    }
    const c = await createNetwork(rig, id, '10.94.0.0/24');
    if (c.status === 200) {
      t.true(Object.hasOwn((await rig.store.read()).networks, id), `${id}: 200 but no network record`);
      t.deepEqual((await rig.call('NetworkDriver.DeleteNetwork', { NetworkID: id })).body, {});
    } else {
      isErr(t, c, /is not a Docker ID/, id);
    }
  }
  const s = await rig.store.read();
  t.deepEqual([s.networks, s.allocatedVnis], [{}, {}]);
});

test('Join and Leave of EndpointID "__proto__" never touch Object.prototype', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  try {
    const l = await rig.call('NetworkDriver.Leave', { NetworkID: 'net1', EndpointID: '__proto__' });
    t.false('sandboxKey' in {}, 'Leave set Object.prototype.sandboxKey');
    if (l.status !== 200) isErr(t, l, /is not a Docker ID/);
    const j = await rig.call('NetworkDriver.Join', { NetworkID: 'net1', EndpointID: '__proto__', SandboxKey: '/polluted' });
    t.false('sandboxKey' in {}, 'Join set Object.prototype.sandboxKey');
    isErr(t, j, UNKNOWN_OR_NOT_AN_ID, JSON.stringify(j.body));
    t.deepEqual(rig.dp.calls.map((c) => c.op), ['ensureNetwork'], 'no kernel call for an unknown endpoint');
  } finally {
    delete (Object.prototype as Record<string, unknown>).sandboxKey; // this worker process only
  }
});

test('networks or endpoints whose IDs share the first 11 characters do not share kernel link names', async (t) => {
  const rig = await rigFor(t);
  const a = 'abcdef012345aaaaaaaa';
  const b = 'abcdef012345bbbbbbbb';
  t.is((await createNetwork(rig, a, '10.92.0.0/24')).status, 200);
  const rb = await createNetwork(rig, b, '10.93.0.0/24');
  const s = await rig.store.read();
  if (rb.status === 200) t.not(s.networks[a]!.bridge, s.networks[b]!.bridge, 'two networks share one bridge and VXLAN device');
  else isErr(t, rb, new RegExp(`network ${b} would get the same kernel device names as network ${a}`));

  t.is((await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: a, EndpointID: `${a}e1`, Interface: { Address: '10.92.0.2/24' } })).status, 200);
  const re = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: a, EndpointID: `${a}e2`, Interface: { Address: '10.92.0.3/24' } });
  const eps = (await rig.store.read()).endpoints;
  if (re.status === 200) t.not(eps[`${a}e1`]!.hostVeth, eps[`${a}e2`]!.hostVeth, 'two endpoints share a veth name');
  else isErr(t, re, /would get the same kernel device names as endpoint/);
  t.deepEqual(rig.dp.calls.map((c) => `${c.op} ${c.id}`), [`ensureNetwork ${a}`], 'nothing reached the kernel for the refused twins');
});

// ------------------------------------------------------------------ bugs found by these tests, now fixed

test('CreateEndpoint refuses an address another endpoint of the network already has', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  t.is((await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep1', Interface: { Address: '10.50.0.2/24' } })).status, 200);
  // a second endpoint with the same IP (and so the same derived MAC) would give the overlay two
  // owners of one address: forwarding and neighbour entries can only point at one of them
  const dup = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep2', Interface: { Address: '10.50.0.2/24' } });
  isErr(t, dup, /10\.50\.0\.2.*(already|in use|used by)/);
  t.deepEqual(Object.keys((await rig.store.read()).endpoints), ['ep1']);
});

test('CreateEndpoint refuses a MAC address another endpoint of the network already has', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep1', Interface: { Address: '10.50.0.2/24' } });
  const dup = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: 'ep2', Interface: { Address: '10.50.0.3/24', MacAddress: '02:42:0a:32:00:02' } });
  isErr(t, dup, /02:42:0a:32:00:02.*(already|in use|used by)/i);
  t.deepEqual(Object.keys((await rig.store.read()).endpoints), ['ep1']);
});

test('CreateEndpoint refuses multicast and all-zero MAC addresses, which the kernel would refuse at Join', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1');
  for (const [i, mac] of ['01:00:5e:00:00:01', '33:33:00:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00'].entries()) {
    const r = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: `ep${i}`, Interface: { Address: `10.50.0.${i + 2}/24`, MacAddress: mac } });
    isErr(t, r, /MAC/, mac);
  }
  t.deepEqual((await rig.store.read()).endpoints, {});
});

test('CreateEndpoint refuses the subnet\'s network and broadcast addresses and a prefix length that is not the subnet\'s', async (t) => {
  const rig = await rigFor(t);
  await createNetwork(rig, 'net1'); // 10.50.0.0/24
  for (const [i, address] of ['10.50.0.0/24', '10.50.0.255/24', '10.50.0.7/8', '10.50.0.8/32'].entries()) {
    const r = await rig.call('NetworkDriver.CreateEndpoint', { NetworkID: 'net1', EndpointID: `ep${i}`, Interface: { Address: address } });
    isErr(t, r, /address/, address);
  }
  t.deepEqual((await rig.store.read()).endpoints, {});
});
