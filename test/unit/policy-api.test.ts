// Slim.Policy.Add / List / Remove through the real plugin server and an embedded store: request
// validation with clear errors, ordering, removal all or nothing, state files without policies.
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { pino } from 'pino';
import { callPlugin } from '../../driver/plugin/client.js';
import { createPluginApp } from '../../driver/plugin/server.js';
import { policyRoutes } from '../../driver/policy/rules-api.js';
import { EmbeddedStore } from '../../driver/store/embedded.js';

const test = anyTest as TestFn<{ dir: string; socket: string; server: Server; store: EmbeddedStore }>;
const log = pino({ level: 'silent' });

test.beforeEach(async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-policy-'));
  // A state file from before policies existed.
  await fs.writeFile(path.join(dir, 'state.json'), JSON.stringify({ version: 1, networks: {}, endpoints: {}, pools: {}, allocatedVnis: {} }));
  const store = await EmbeddedStore.open(dir);
  const socket = path.join(dir, 'slim.sock');
  const app = createPluginApp(Promise.resolve(policyRoutes(store, log)), log);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(socket, () => resolve(s));
  });
  Object.assign(t.context, { dir, socket, server, store });
});

test.afterEach.always(async (t) => {
  t.context.server?.close();
  if (t.context.dir) await fs.rm(t.context.dir, { recursive: true, force: true });
});

const call = (t: { context: { socket: string } }, method: string, body: unknown) => callPlugin(t.context.socket, `Slim.Policy.${method}`, body);
const svc = (name: string) => ({ kind: 'service', name });

test('add appends (or inserts at a position), ls lists in order, rm removes', async (t) => {
  t.deepEqual((await call(t, 'List', {})).body, { rules: [], default: 'allow' }, 'an old state file has no rules');
  const a = await call(t, 'Add', { action: 'deny', from: svc('web'), to: svc('db') });
  t.is(a.status, 200);
  const ra = (a.body as { rule: { id: string }; position: number });
  t.regex(ra.rule.id, /^p[0-9a-f]{8}$/);
  t.is(ra.position, 1);
  const b = (await call(t, 'Add', { action: 'allow', from: svc('web'), to: svc('db'), port: 5432, position: 1 })).body as { rule: { id: string }; position: number };
  t.is(b.position, 1);
  const c = (await call(t, 'Add', { action: 'deny', from: { kind: 'any' }, to: { kind: 'label', key: 'tier', value: 'secret' }, position: 99 })).body as { position: number };
  t.is(c.position, 3, 'a position past the end appends');
  const listed = (await call(t, 'List', {})).body as { rules: { id: string; action: string; port?: number }[] };
  t.deepEqual(listed.rules.map((r) => r.action), ['allow', 'deny', 'deny']);
  t.is(listed.rules[0]!.port, 5432);
  t.deepEqual((await t.context.store.read()).policies?.map((r) => r.id), listed.rules.map((r) => r.id), 'kept in the cluster state');

  const rm = await call(t, 'Remove', { ids: [ra.rule.id, b.rule.id.slice(0, 5)] });
  t.is(rm.status, 200);
  t.deepEqual((rm.body as { removed: { id: string }[] }).removed.map((r) => r.id).sort(), [ra.rule.id, b.rule.id].sort());
  t.is(((await call(t, 'List', {})).body as { rules: unknown[] }).rules.length, 1);
});

test('rm of an unknown or ambiguous ID removes nothing and says why', async (t) => {
  const a = ((await call(t, 'Add', { action: 'deny', from: { kind: 'any' }, to: svc('db') })).body as { rule: { id: string } }).rule.id;
  const r = await call(t, 'Remove', { ids: [a, 'pnothere'] });
  t.is(r.status, 500);
  t.regex((r.body as { Err: string }).Err, /no policy rule "pnothere"/);
  t.is(((await call(t, 'List', {})).body as { rules: unknown[] }).rules.length, 1, 'all or nothing');
  await call(t, 'Add', { action: 'deny', from: { kind: 'any' }, to: svc('db2') });
  const ambiguous = await call(t, 'Remove', { ids: ['p'] });
  t.regex((ambiguous.body as { Err: string }).Err, /names 2 policy rules/);
});

test('malformed requests are refused with the field at fault, and change nothing', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ action: 'drop', from: { kind: 'any' }, to: { kind: 'any' } }, /action/],
    [{ action: 'deny', from: { kind: 'any' } }, /to:/],
    [{ action: 'deny', from: { kind: 'host', name: 'x' }, to: { kind: 'any' } }, /from/],
    [{ action: 'deny', from: { kind: 'service', name: '' }, to: { kind: 'any' } }, /from\.name: service name must not be empty/],
    [{ action: 'deny', from: { kind: 'service', name: 'a\u0000b' }, to: { kind: 'any' } }, /control characters/],
    [{ action: 'deny', from: { kind: 'any' }, to: { kind: 'any' }, port: 0 }, /port/],
    [{ action: 'deny', from: { kind: 'any' }, to: { kind: 'any' }, port: 65536 }, /port/],
    [{ action: 'deny', from: { kind: 'any' }, to: { kind: 'any' }, port: 80.5 }, /port/],
    [{ action: 'deny', from: { kind: 'any', extra: 1 }, to: { kind: 'any' } }, /from/],
    [{ action: 'deny', from: { kind: 'any' }, to: { kind: 'any' }, position: 0 }, /position/],
    [42, /body/],
  ];
  for (const [body, err] of cases) {
    const r = await call(t, 'Add', body);
    t.is(r.status, 500, JSON.stringify(body));
    t.regex((r.body as { Err: string }).Err, /^invalid request: /);
    t.regex((r.body as { Err: string }).Err, err, JSON.stringify(body));
  }
  t.regex(((await call(t, 'Remove', { ids: [] })).body as { Err: string }).Err, /ids/);
  t.deepEqual((await t.context.store.read()).policies, undefined, 'nothing was written');
});
