// The router's tables: hidden listeners checked against the kernel's listeners, announcements
// claimed once, and the fib_trie reading that names a caller's addresses.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { localAddresses } from '../../driver/router/callers.js';
import { ConnectionTable } from '../../driver/router/connection-table.js';
import { ListenerTable } from '../../driver/router/listener-table.js';

function tableWith(live: Map<number, Set<bigint>>) {
  return new ListenerTable(() => live);
}

test('a listener is found only while its socket listens, by cookie', (t) => {
  const live = new Map([[40000, new Set([1n])]]);
  const table = tableWith(live);
  table.add({ overlay: [{ ip: '10.0.0.2', port: 80 }, { ip: '10.1.0.2', port: 80 }], hostPort: 40000, cookie: 1n, netns: 9, reuseport: false });
  t.is(table.lookup('10.0.0.2', 80), 40000);
  t.is(table.lookup('10.1.0.2', 80), 40000);
  t.is(table.lookup('10.0.0.2', 81), null);
  // Same port, someone else's socket (another cookie): not ours any more.
  live.set(40000, new Set([2n]));
  t.is(table.lookup('10.0.0.2', 80), null);
  t.is(table.size, 0, 'the dead entry is swept');
  t.is(table.preferredPort([{ ip: '10.0.0.2', port: 80 }]), 40000, 'a restarted server asks for its old port');
});

test('reuseport siblings of one namespace share a host port; other namespaces do not', (t) => {
  const live = new Map([[40001, new Set([5n])]]);
  const table = tableWith(live);
  table.add({ overlay: [{ ip: '10.0.0.2', port: 80 }], hostPort: 40001, cookie: 5n, netns: 7, reuseport: true });
  t.is(table.reuseportGroup(7, [{ ip: '10.0.0.2', port: 80 }]), 40001);
  t.is(table.reuseportGroup(8, [{ ip: '10.0.0.2', port: 80 }]), null);
  live.clear();
  t.is(table.reuseportGroup(7, [{ ip: '10.0.0.2', port: 80 }]), null);
});

test('an announcement is claimed once, early or late', async (t) => {
  const table = new ConnectionTable();
  const host = { ip: '192.168.0.2', port: 50000 };
  const a = { clientOverlay: { ip: '10.0.0.3', port: 50000 }, dst: { ip: '10.0.0.2', port: 80 }, from: 'h2' };
  table.announce(host, a);
  t.deepEqual(await table.claim(host, 10), a);
  t.is(await table.claim(host, 10), null, 'not twice');
  // The PEER comes first and waits.
  const waiting = table.claim({ ip: '192.168.0.2', port: 50001 }, 1000);
  table.announce({ ip: '192.168.0.2', port: 50001 }, a);
  t.deepEqual(await waiting, a);
  // Nobody announces: a bounded wait, then no.
  const started = Date.now();
  t.is(await table.claim({ ip: '192.168.0.2', port: 50002 }, 50), null);
  t.true(Date.now() - started < 1000);
});

test('cookies remember connection addresses', (t) => {
  const table = new ConnectionTable();
  table.remember(1n, { local: { ip: '10.0.0.2', port: 80 }, peer: { ip: '10.0.0.3', port: 4000 } });
  t.deepEqual(table.recall(1n)?.peer, { ip: '10.0.0.3', port: 4000 });
  t.is(table.recall(2n), undefined);
});

test('fib_trie: the namespace\'s own addresses, loopback left out', (t) => {
  const sample = [
    'Main:', '  +-- 0.0.0.0/0 3 0 5', '     |-- 10.0.0.0', '        /24 link UNICAST', '     |-- 10.0.0.5', '        /32 host LOCAL',
    '     |-- 10.0.0.255', '        /32 link BROADCAST', '     +-- 127.0.0.0/8 2 0 2', '        |-- 127.0.0.1', '           /32 host LOCAL',
    'Local:', '     |-- 10.0.0.5', '        /32 host LOCAL', '     |-- 10.9.0.7', '        /32 host LOCAL',
  ].join('\n');
  t.deepEqual(localAddresses(sample).sort(), ['10.0.0.5', '10.9.0.7']);
  // This process's own namespace parses without throwing and never reports loopback.
  t.false(localAddresses(readFileSync('/proc/self/net/fib_trie', 'utf8')).some((ip) => ip.startsWith('127.')));
});

test('the hidden-listener table survives a router restart through its file; a bad file is refused', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadListeners, saveListeners } = await import('../../driver/router/listener-file.js');
  const dir = mkdtempSync(join(tmpdir(), 'slim-listeners-'));
  t.deepEqual(await loadListeners(dir), [], 'no file yet: nothing');
  const l = { overlay: [{ ip: '10.0.0.2', port: 80 }], hostPort: 40000, cookie: 2n ** 63n + 5n, netns: 4026531840, reuseport: true };
  await saveListeners(dir, [l]);
  t.deepEqual(await loadListeners(dir), [l]);
  writeFileSync(join(dir, 'hidden-listeners.json'), JSON.stringify([{ ...l, cookie: 'x', hostPort: 70000 }]));
  await t.throwsAsync(loadListeners(dir), { message: /not a list of hidden listeners/ });
});
