import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { EmbeddedStore } from '../../driver/store/embedded.js';
import { emptyState, type NetworkRecord, type PoolRecord } from '../../driver/store/state.js';

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'slim-store-'));
}

test.afterEach.always(async (t) => {
  const dir = (t.context as { dir?: string }).dir;
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

function net(id: string, vni: number): NetworkRecord {
  // `hosts` is being added to NetworkRecord; the store must keep whatever fields it is given
  return {
    id,
    hosts: ['h1'],
    vni,
    bridge: `slb-${id}`,
    vxlan: `slx-${id}`,
    mtu: 1450,
    subnet: '10.1.0.0/24',
    gateway: null,
    internal: false,
    options: {},
  } as NetworkRecord;
}

const readFile = async (dir: string) => fs.readFile(path.join(dir, 'state.json'), 'utf8');

test('a new directory starts empty; nothing is written until something changes', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const stateDir = path.join(dir, 'nested', 'state');
  const store = await EmbeddedStore.open(stateDir);
  t.deepEqual(await store.read(), emptyState());
  t.regex(store.description, /embedded \(.*state\.json\)/);
  const mode = (await fs.stat(stateDir)).mode & 0o777;
  t.is(mode, 0o700, 'the state directory is private');
  await store.update(() => 'no change');
  await t.throwsAsync(fs.stat(path.join(stateDir, 'state.json')), { code: 'ENOENT' });
  await store.close();
});

test('state persists across open() of the same directory', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const a = await EmbeddedStore.open(dir);
  const result = await a.update((s) => {
    s.networks.n1 = net('n1', 100);
    s.allocatedVnis.n1 = 100;
    s.pools['slim-local|10.1.0.0/24'] = {
      id: 'slim-local|10.1.0.0/24',
      addressSpace: 'slim-local',
      pool: '10.1.0.0/24',
      subPool: null,
      explicit: true,
      holders: ['h1'],
      allocated: ['10.1.0.1'],
    } as PoolRecord;
    return 'done';
  });
  t.is(result, 'done', 'update returns what the change function returned');
  await a.close();

  const b = await EmbeddedStore.open(dir);
  const s = await b.read();
  t.deepEqual(s.networks.n1, net('n1', 100));
  t.is(s.allocatedVnis.n1, 100);
  t.deepEqual(s.pools['slim-local|10.1.0.0/24']?.allocated, ['10.1.0.1']);
  t.is(s.version, 1);
  const mode = (await fs.stat(path.join(dir, 'state.json'))).mode & 0o777;
  t.is(mode, 0o600, 'the state file is private');
  await b.update((st) => {
    delete st.networks.n1;
  });
  const c = await EmbeddedStore.open(dir);
  t.deepEqual((await c.read()).networks, {});
});

test('read() returns a copy: mutating it changes nothing', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const store = await EmbeddedStore.open(dir);
  await store.update((s) => {
    s.networks.n1 = net('n1', 1);
  });
  const copy = await store.read();
  copy.networks.n1!.vni = 999;
  delete copy.networks.n1;
  t.is((await store.read()).networks.n1?.vni, 1);
});

test('a throwing update changes nothing, in memory or on disk, and later updates still run', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const store = await EmbeddedStore.open(dir);
  await store.update((s) => {
    s.networks.n1 = net('n1', 1);
  });
  const memBefore = await store.read();
  const diskBefore = await readFile(dir);

  await t.throwsAsync(
    store.update((s) => {
      s.networks.n2 = net('n2', 2);
      delete s.networks.n1;
      throw new Error('boom (sync)');
    }),
    { message: 'boom (sync)' },
  );
  await t.throwsAsync(
    store.update(async (s) => {
      s.networks.n3 = net('n3', 3);
      await new Promise((r) => setTimeout(r, 5));
      s.networks.n1!.vni = 77;
      throw new Error('boom (async)');
    }),
    { message: 'boom (async)' },
  );
  t.deepEqual(await store.read(), memBefore);
  t.is(await readFile(dir), diskBefore);
  const reopened = await EmbeddedStore.open(dir);
  t.deepEqual(await reopened.read(), memBefore);

  await store.update((s) => {
    s.allocatedVnis.x = 5;
  });
  t.is((await store.read()).allocatedVnis.x, 5, 'the queue survives a failed update');
});

test('concurrent updates are serialised: 50 concurrent increments all land', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const store = await EmbeddedStore.open(dir);
  const runs = Array.from({ length: 50 }, (_, i) =>
    store.update(async (s) => {
      const now = s.allocatedVnis.counter ?? 0;
      // yield between read and write: an unserialised store would lose increments here
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 3)));
      s.allocatedVnis.counter = now + 1;
      if (i % 7 === 3) throw new Error(`fail ${i}`); // failures in the middle do not break the chain
      return now + 1;
    }),
  );
  const results = await Promise.allSettled(runs);
  const failed = results.filter((r) => r.status === 'rejected').length;
  t.is(failed, 7);
  const values = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  t.deepEqual(values, Array.from({ length: 43 }, (_, i) => i + 1), 'each update saw the previous one');
  t.is((await store.read()).allocatedVnis.counter, 43);
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  t.is((await reopened.read()).allocatedVnis.counter, 43);
});

test('a corrupt state.json makes open() fail with a clear message and is not overwritten', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const file = path.join(dir, 'state.json');
  const cases: [string, RegExp][] = [
    ['{"version":1,"networks":{', /state file .*state\.json is not valid JSON .*refusing to start over it/],
    ['', /not valid JSON/],
    ['\u0000\u0001garbage', /not valid JSON/],
    ['{"version":2,"networks":{}}', /state file .*state\.json has an unknown format \(version 2\); refusing to start over it/],
    ['{"networks":{}}', /unknown format \(version undefined\)/],
    ['null', /unknown format/],
    ['[]', /unknown format/],
    ['42', /unknown format/],
  ];
  for (const [text, message] of cases) {
    await fs.writeFile(file, text);
    await t.throwsAsync(EmbeddedStore.open(dir), { message }, JSON.stringify(text));
    t.is(await fs.readFile(file, 'utf8'), text, 'the corrupt file is left for the operator');
  }
  t.deepEqual((await fs.readdir(dir)).sort(), ['state.json']);
});

test('a state file from an older build without some maps still opens with them empty', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  await fs.writeFile(path.join(dir, 'state.json'), JSON.stringify({ version: 1, networks: { n1: net('n1', 9) } }));
  const store = await EmbeddedStore.open(dir);
  const s = await store.read();
  t.deepEqual(s.networks.n1, net('n1', 9));
  t.deepEqual(s.endpoints, {});
  t.deepEqual(s.pools, {});
  t.deepEqual(s.allocatedVnis, {});
});

test('no temporary files are left behind after many writes', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const store = await EmbeddedStore.open(dir);
  await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      store.update((s) => {
        s.allocatedVnis[`n${i}`] = i;
      }),
    ),
  );
  await store.update(() => {
    throw new Error('nope');
  }).catch(() => undefined);
  await store.close();
  t.deepEqual(await fs.readdir(dir), ['state.json']);
  const onDisk = JSON.parse(await readFile(dir)) as { allocatedVnis: Record<string, number> };
  t.is(Object.keys(onDisk.allocatedVnis).length, 30);
});

test('close() waits for queued updates', async (t) => {
  const dir = await tempDir();
  t.context = { dir };
  const store = await EmbeddedStore.open(dir);
  let done = false;
  void store.update(async (s) => {
    await new Promise((r) => setTimeout(r, 30));
    s.allocatedVnis.late = 1;
    done = true;
  });
  await store.close();
  t.true(done);
  t.is(JSON.parse(await readFile(dir)).allocatedVnis.late, 1);
});
