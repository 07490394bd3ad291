// The addon's connection table and SOCK_DESTROY (native/router-addon: tcpConnections, destroyTcp),
// on loopback connections of this process. Destroying needs CAP_NET_ADMIN: without root those steps are
// skipped (said in the log), the listing is still checked.
import test from 'ava';
import { destroyTcp, tcpConnections } from '../../native/router-addon/index.js';
import { errorOf, loopbackPair, testAsRoot } from './fixtures/loopback-pair.js';

const root = process.getuid?.() === 0;

test.serial('tcpConnections lists both ends with cookies; listeners only when asked', async (t) => {
  const { server, client, accepted, port } = await loopbackPair();
  try {
    const mine = tcpConnections().filter((c) => c.sport === port || c.dport === port);
    t.is(mine.length, 2);
    const out = mine.find((c) => c.dport === port)!;
    t.is(out.src, '127.0.0.1');
    t.is(out.dst, '127.0.0.1');
    t.is(out.sport, client.localPort!);
    t.is(out.state, 1, 'ESTABLISHED');
    t.is(typeof out.cookie, 'bigint');
    t.is(out.id.length, 48, 'an inet_diag_sockid');
    t.false(tcpConnections().some((c) => c.state === 10 && c.sport === port));
    t.true(tcpConnections(undefined, { withListeners: true }).some((c) => c.state === 10 && c.sport === port));
  } finally {
    client.destroy();
    accepted.destroy();
    server.close();
  }
});

testAsRoot('destroyTcp aborts the socket: its owner sees ECONNABORTED, the peer a reset; a second time finds nothing', async (t) => {
  const { server, client, accepted, port } = await loopbackPair();
  try {
    const out = tcpConnections().find((c) => c.dport === port)!;
    const clientErr = errorOf(client);
    const serverErr = errorOf(accepted);
    client.resume();
    accepted.resume();
    t.is(destroyTcp([out]), 1);
    t.is(await clientErr, 'ECONNABORTED');
    t.is(await serverErr, 'ECONNRESET');
    t.is(destroyTcp([out]), 0, 'gone already');
  } finally {
    server.close();
  }
});

test('destroyTcp refuses ids that are not whole records, and a path that is no network namespace', (t) => {
  t.is(destroyTcp([]), 0);
  t.throws(() => destroyTcp([{ id: Buffer.alloc(47) }]), { message: /inet_diag_sockid/ });
  if (root) t.throws(() => tcpConnections('/proc/self/status'), { code: 'EINVAL' });
  t.throws(() => tcpConnections('/nonexistent/ns'), { code: 'ENOENT' });
});
