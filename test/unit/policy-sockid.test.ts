// The inet_diag_sockid the policy gate builds from a replaced connection's host addresses and
// its cookie (driver/policy/gate.ts) names that very socket to SOCK_DESTROY, and no other: a
// loopback connection of this process. Destroying needs CAP_NET_ADMIN (skipped without root).
import { destroyTcp, tcpConnections } from '../../native/router-addon/index.js';
import { errorOf, loopbackPair, testAsRoot } from './fixtures/loopback-pair.js';
import { sockid } from '../../driver/policy/gate.js';

testAsRoot('the sockid the gate builds from addresses and cookie names the same socket; a wrong cookie names none', async (t) => {
  const { server, client, accepted, port } = await loopbackPair();
  try {
    const out = tcpConnections().find((c) => c.dport === port)!;
    const local = { ip: '127.0.0.1', port: client.localPort! };
    const remote = { ip: '127.0.0.1', port };
    t.is(destroyTcp([{ id: sockid(local, remote, out.cookie + 1n) }]), 0, 'the cookie is checked');
    const clientErr = errorOf(client);
    client.resume();
    accepted.resume();
    accepted.on('error', () => undefined);
    t.is(destroyTcp([{ id: sockid(local, remote, out.cookie) }]), 1);
    t.is(await clientErr, 'ECONNABORTED');
  } finally {
    server.close();
  }
});
