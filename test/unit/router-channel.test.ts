// Router ↔ router channels (driver/router/router-channel.ts): a real server and pool on 127.0.0.1,
// and raw sockets playing broken or hostile peers, built from the channel's own codec pieces so
// they can send exactly the bytes a test wants. Loopback only.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import {
  decodeHello,
  encodeHello,
  FrameAuth,
  handshakeProof,
  MAC_BYTES,
  NONCE_BYTES,
  type Transcript,
} from '../../driver/router/channel/auth.js';
import { encodeFrame, FrameReader } from '../../driver/router/channel/wire.js';
import {
  ChannelError,
  RouterChannelPool,
  RouterChannelServer,
  type Announcement,
  type ChannelHandlers,
} from '../../driver/router/router-channel.js';
import { waitFor } from '../harness/wait.js';

const SECRET = Buffer.from('the cluster secret for these tests');
const OTHER_SECRET = Buffer.from('some other cluster secret entirely');
const LOCAL = '127.0.0.1';

type LogLine = { level: number; msg: string; peer?: string; [k: string]: unknown };

/** A pino logger whose lines the test reads back. */
function captureLog() {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

/** The default lookup table: a made-up host port per overlay address; 10.0.0.99 has none. */
function hostPortFor(ip: string, port: number): number | null {
  if (ip === '10.0.0.99') return null;
  const last = Number(ip.split('.')[3]);
  return 1024 + ((last * 251 + port) % 60_000);
}

interface Rig {
  server: RouterChannelServer;
  port: number;
  pool: RouterChannelPool;
  lookups: string[];
  announces: { a: Announcement; from: string }[];
  logs: ReturnType<typeof captureLog>;
}

interface RigOptions {
  lookup?: ChannelHandlers['lookup'];
  server?: { handshakeTimeoutMs?: number; maxInFlight?: number };
  pool?: { requestTimeoutMs?: number; secret?: Buffer };
}

async function rig(t: ExecutionContext, o: RigOptions = {}): Promise<Rig> {
  const logs = captureLog();
  const lookups: string[] = [];
  const announces: { a: Announcement; from: string }[] = [];
  const server = new RouterChannelServer({
    secret: SECRET,
    hostId: 'server-host',
    log: logs.log,
    ...o.server,
    handlers: {
      lookup: (ip, port) => {
        lookups.push(`${ip}:${port}`);
        return (o.lookup ?? hostPortFor)(ip, port);
      },
      announce: (a, from) => void announces.push({ a, from }),
    },
  });
  const port = await server.listen(LOCAL, 0);
  const pool = new RouterChannelPool({ secret: SECRET, hostId: 'client-host', log: logs.log, ...o.pool });
  t.teardown(async () => {
    await pool.close();
    await server.close();
  });
  return { server, port, pool, lookups, announces, logs };
}

const ANNOUNCEMENT: Announcement = {
  clientHost: { ip: '192.168.1.10', port: 40000 },
  clientOverlay: { ip: '10.0.0.5', port: 51000 },
  dst: { ip: '10.0.0.7', port: 80 },
};

/** Frames off a socket, as the channel cuts them (any size, for tests that read the server). */
class Frames {
  #reader = new FrameReader(1 << 20);
  #waiting: (() => void) | null = null;
  readonly closed: Promise<void>;
  isClosed = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk);
      this.#waiting?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.#waiting?.();
        resolve();
      }),
    );
  }

  async next(): Promise<Buffer> {
    for (;;) {
      const body = this.#reader.next();
      if (body) return Buffer.from(body);
      if (this.isClosed) throw new Error('closed before a frame came');
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}

/** A hand-driven client: connects, then does exactly what the test says. */
async function rawClient(port: number): Promise<Frames & { addr: string }> {
  const socket = net.connect({ host: LOCAL, port });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return Object.assign(new Frames(socket), { addr: `${LOCAL}:${socket.localPort}` });
}

/** The client side of the handshake, by hand; returns the session's frame sealer. */
async function handshake(c: Frames, secret = SECRET, hostId = 'raw-client'): Promise<FrameAuth> {
  const nonce = randomBytes(NONCE_BYTES);
  c.write(encodeFrame(encodeHello(nonce, hostId, null)));
  const hello = decodeHello(await c.next(), true);
  const t: Transcript = { clientNonce: nonce, serverNonce: hello.nonce, clientHostId: hostId, serverHostId: hello.hostId };
  c.write(encodeFrame(handshakeProof(secret, 'client', t)));
  return new FrameAuth(secret, 'client', t);
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const sealed = (auth: FrameAuth, payload: Buffer): Buffer => encodeFrame(auth.seal(payload));

/** The server hung up on c, called no handler for it, warned naming c, and holds no connection. */
async function refused(t: ExecutionContext, r: Rig, c: Frames & { addr: string }, calls = { lookups: 0, announces: 0 }) {
  await Promise.race([c.closed, sleep(3000).then(() => Promise.reject(new Error('server did not close the connection')))]);
  t.is(r.lookups.length, calls.lookups, 'no lookup handler call');
  t.is(r.announces.length, calls.announces, 'no announce handler call');
  t.true(r.logs.warnings().some((l) => l.peer === c.addr), `a warning names ${c.addr}`);
  await waitFor('no server connections', async () => r.server.connectionCount === 0, 3000, 10);
}

/** A TCP relay to port that records what the client sends. */
async function recordingRelay(t: ExecutionContext, port: number): Promise<{ port: number; fromClient: Buffer[] }> {
  const fromClient: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect({ host: LOCAL, port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => {
      fromClient.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
  });
  await new Promise<void>((resolve) => relay.listen(0, LOCAL, resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => relay.close(() => resolve()));
  });
  return { port: (relay.address() as AddressInfo).port, fromClient };
}

/** A hand-driven server on an ephemeral port; onConnection gets each accepted connection. */
async function rawServer(t: ExecutionContext, onConnection: (c: Frames) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onConnection(new Frames(s));
  });
  await new Promise<void>((resolve) => server.listen(0, LOCAL, resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** The server side of the handshake, by hand. */
async function serverHandshake(c: Frames, secret = SECRET): Promise<FrameAuth> {
  const hello = decodeHello(await c.next(), false);
  const nonce = randomBytes(NONCE_BYTES);
  const t: Transcript = { clientNonce: hello.nonce, serverNonce: nonce, clientHostId: hello.hostId, serverHostId: 'raw-server' };
  c.write(encodeFrame(encodeHello(nonce, 'raw-server', handshakeProof(secret, 'server', t))));
  await c.next(); // the client's proof: not checked here
  return new FrameAuth(secret, 'server', t);
}

const code = (e: unknown): string | undefined => (e instanceof ChannelError ? e.code : undefined);

// --- what a router sees ------------------------------------------------------------------------

test('lookups round-trip: a port, null, and the remote handler’s failures', async (t) => {
  const r = await rig(t, {
    lookup: (ip, port) => {
      if (ip === '10.0.0.66') throw new Error('boom');
      if (ip === '10.0.0.67') return 0; // not a port
      if (ip === '10.0.0.68') return Promise.resolve(4321);
      return hostPortFor(ip, port);
    },
  });
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80), hostPortFor('10.0.0.7', 80));
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.99', 80), null);
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.68', 443), 4321);
  for (const ip of ['10.0.0.66', '10.0.0.67']) {
    const e = await t.throwsAsync(r.pool.lookup(LOCAL, r.port, ip, 80), { instanceOf: ChannelError });
    t.is(code(e), 'EREMOTE');
  }
  // The failures did not cost the channel: still the one connection.
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.8', 22), hostPortFor('10.0.0.8', 22));
  t.is(r.server.connectionCount, 1);
  t.is(r.pool.channelCount, 1);
  t.deepEqual(r.lookups, ['10.0.0.7:80', '10.0.0.99:80', '10.0.0.68:443', '10.0.0.66:80', '10.0.0.67:80', '10.0.0.8:22']);
  t.deepEqual(r.logs.warnings(), []);
});

test('1,000 concurrent lookups, answered out of order, each matched to its own request, on one shared connect', async (t) => {
  const r = await rig(t, {
    lookup: async (ip, port) => {
      await sleep(Math.floor(Math.random() * 20));
      return hostPortFor(ip, port);
    },
  });
  const asks = Array.from({ length: 1000 }, (_, i) => ({ ip: `10.0.${i % 200}.${(i * 7) % 250}`, port: 1 + ((i * 7919) % 65535) }));
  // All issued before the first connect completes: they must share it.
  const answers = await Promise.all(asks.map((a) => r.pool.lookup(LOCAL, r.port, a.ip, a.port)));
  t.deepEqual(answers, asks.map((a) => hostPortFor(a.ip, a.port)));
  t.is(r.lookups.length, 1000);
  t.is(r.server.connectionCount, 1);
  t.is(r.pool.channelCount, 1);
  t.is(r.logs.lines.filter((l) => l.msg === 'router channel: peer authenticated').length, 1);
});

test('an announcement reaches the handler with the client’s host ID, in order with lookups, without waiting', async (t) => {
  const r = await rig(t);
  const second = { ...ANNOUNCEMENT, dst: { ip: '10.0.0.9', port: 443 } };
  t.is(r.pool.announce(LOCAL, r.port, ANNOUNCEMENT), undefined); // returns at once, channel still opening
  const answer = r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80);
  r.pool.announce(LOCAL, r.port, second);
  t.is(await answer, hostPortFor('10.0.0.7', 80));
  await waitFor('both announcements', async () => r.announces.length === 2, 3000, 10);
  t.deepEqual(r.announces, [
    { a: ANNOUNCEMENT, from: 'client-host' },
    { a: second, from: 'client-host' },
  ]);
  t.is(r.server.connectionCount, 1);
});

test('bad arguments are refused locally; bad options at construction', async (t) => {
  const r = await rig(t);
  await t.throwsAsync(r.pool.lookup(LOCAL, r.port, '10.0.0.256', 80), { instanceOf: TypeError });
  await t.throwsAsync(r.pool.lookup(LOCAL, r.port, '10.0.0.1', 0), { instanceOf: TypeError });
  await t.throwsAsync(r.pool.lookup(LOCAL, r.port, '10.0.0.1', 65536), { instanceOf: TypeError });
  await t.throwsAsync(r.pool.lookup(LOCAL, 0, '10.0.0.1', 80), { instanceOf: TypeError });
  await t.throwsAsync(r.pool.lookup('', r.port, '10.0.0.1', 80), { instanceOf: TypeError });
  // announce never throws: a malformed one is dropped with an error line.
  r.pool.announce(LOCAL, r.port, { ...ANNOUNCEMENT, dst: { ip: 'example.org', port: 80 } });
  r.pool.announce(LOCAL, r.port, { ...ANNOUNCEMENT, clientHost: { ip: '1.2.3.4', port: 1.5 } });
  r.pool.announce(LOCAL, 0, ANNOUNCEMENT);
  t.is(r.logs.lines.filter((l) => l.level === 50 && /malformed announcement/.test(l.msg)).length, 3);
  t.is(r.pool.channelCount, 0, 'nothing was opened for them');
  const log = captureLog().log;
  const handlers: ChannelHandlers = { lookup: () => null, announce: () => {} };
  t.throws(() => new RouterChannelPool({ secret: Buffer.alloc(15), hostId: 'h', log }), { instanceOf: RangeError });
  t.throws(() => new RouterChannelServer({ secret: SECRET, hostId: 'bad host id', handlers, log }), { instanceOf: TypeError });
});

test('the server answers a bounded number of lookups of one connection at once; the rest wait, none is lost', async (t) => {
  let now = 0;
  let most = 0;
  const r = await rig(t, {
    server: { maxInFlight: 4 },
    lookup: async (ip, port) => {
      most = Math.max(most, ++now);
      await sleep(2);
      now--;
      return hostPortFor(ip, port);
    },
  });
  const asks = Array.from({ length: 200 }, (_, i) => ({ ip: `10.1.0.${i}`, port: 80 }));
  const answers = await Promise.all(asks.map((a) => r.pool.lookup(LOCAL, r.port, a.ip, a.port)));
  t.deepEqual(answers, asks.map((a) => hostPortFor(a.ip, a.port)));
  t.is(most, 4);
});

// --- failures a router must survive ------------------------------------------------------------

test('server restart: calls fail while it is down, the pool reconnects on the next call', async (t) => {
  const r = await rig(t);
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80), hostPortFor('10.0.0.7', 80));
  await r.server.close();
  await waitFor('the pool to see the channel go', async () => r.pool.channelCount === 0, 3000, 10);
  const down = await t.throwsAsync(r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80), { instanceOf: ChannelError });
  t.is(code(down), 'ECHANNEL'); // connection refused

  const again = new RouterChannelServer({ secret: SECRET, hostId: 'server-host', log: r.logs.log, handlers: { lookup: () => 777, announce: () => {} } });
  t.is(await again.listen(LOCAL, r.port), r.port);
  t.teardown(() => again.close());
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80), 777);
  t.is(again.connectionCount, 1);
});

// Serial (ava runs these first, alone): their timing must not share the loop with the 1,000.
test.serial('a lookup not answered in time rejects with ETIMEDOUT; a late answer is dropped; the channel goes on', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let answeredLate = false;
  const r = await rig(t, {
    pool: { requestTimeoutMs: 300 },
    lookup: async (ip, port) => {
      if (ip === '10.0.0.50') {
        await gate;
        answeredLate = true;
      }
      return hostPortFor(ip, port);
    },
  });
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.1', 80), hostPortFor('10.0.0.1', 80)); // connected
  const slow = t.throwsAsync(r.pool.lookup(LOCAL, r.port, '10.0.0.50', 80), { instanceOf: ChannelError });
  const fast = r.pool.lookup(LOCAL, r.port, '10.0.0.2', 80);
  t.is(await fast, hostPortFor('10.0.0.2', 80));
  t.is(code(await slow), 'ETIMEDOUT');
  release(); // the late answer goes out and is ignored
  await waitFor('the late answer', async () => answeredLate, 3000, 10);
  await sleep(50);
  t.is(await r.pool.lookup(LOCAL, r.port, '10.0.0.3', 80), hostPortFor('10.0.0.3', 80));
  t.is(r.server.connectionCount, 1, 'the same connection all along');
  t.deepEqual(r.logs.warnings(), []);
});

test.serial('a peer that accepts TCP and never answers: ETIMEDOUT, and the connection is dropped', async (t) => {
  const accepted: Frames[] = [];
  const port = await rawServer(t, (c) => accepted.push(c));
  const logs = captureLog();
  const pool = new RouterChannelPool({ secret: SECRET, hostId: 'client-host', log: logs.log, requestTimeoutMs: 150 });
  t.teardown(() => pool.close());
  const e = await t.throwsAsync(pool.lookup(LOCAL, port, '10.0.0.1', 80), { instanceOf: ChannelError });
  t.is(code(e), 'ETIMEDOUT');
  await waitFor('the pool to drop it', async () => pool.channelCount === 0, 3000, 10);
  await accepted[0]!.closed;
});

test('the pool refuses a server without the secret, and replies that are forged or never asked for', async (t) => {
  // A server that proves a different secret.
  const r = await rig(t, { pool: { secret: OTHER_SECRET } });
  const e = await t.throwsAsync(r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80), { instanceOf: ChannelError });
  t.is(code(e), 'ECHANNEL');
  r.pool.announce(LOCAL, r.port, ANNOUNCEMENT);
  await waitFor('the server to drop both', async () => r.server.connectionCount === 0 && r.pool.channelCount === 0, 3000, 10);
  t.deepEqual(r.lookups, []);
  t.deepEqual(r.announces, []);
  t.true(r.logs.warnings().some((l) => l.peer === `${LOCAL}:${r.port}` && /server proof wrong/.test(String(l.reason))));

  // A server with the secret whose replies are forged (bad MAC) or answer ids never asked.
  for (const reply of ['bad-mac', 'unasked'] as const) {
    const port = await rawServer(t, (c) => {
      void (async () => {
        const auth = await serverHandshake(c);
        await c.next(); // the lookup (not opened: the test answers regardless)
        if (reply === 'bad-mac') c.write(encodeFrame(Buffer.concat([json({ t: 'port', id: 1, port: 1234 }), randomBytes(MAC_BYTES)])));
        else c.write(sealed(auth, json({ t: 'port', id: 99, port: 1234 })));
      })().catch(() => {});
    });
    const logs = captureLog();
    const pool = new RouterChannelPool({ secret: SECRET, hostId: 'client-host', log: logs.log });
    t.teardown(() => pool.close());
    const err = await t.throwsAsync(pool.lookup(LOCAL, port, '10.0.0.7', 80), { instanceOf: ChannelError });
    t.is(code(err), 'ECHANNEL', reply);
    t.true(logs.warnings().some((l) => l.peer === `${LOCAL}:${port}`), reply);
  }
});

// --- hostile or broken clients: each is hung up on, and nothing it sent takes effect ------------

test('a client without the secret is refused at its proof; frames behind it are never read', async (t) => {
  const r = await rig(t);
  const c = await rawClient(r.port);
  const auth = await handshake(c, OTHER_SECRET);
  c.write(sealed(auth, json({ t: 'announce', a: ANNOUNCEMENT })));
  c.write(sealed(auth, json({ t: 'lookup', id: 1, ip: '10.0.0.7', port: 80 })));
  await refused(t, r, c);
  t.true(r.logs.warnings().some((l) => /client proof wrong/.test(String(l.reason))));
});

test('garbage instead of a hello', async (t) => {
  const r = await rig(t);
  const c = await rawClient(r.port);
  c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await refused(t, r, c);
});

test('random bytes after a good handshake', async (t) => {
  const r = await rig(t);
  const c = await rawClient(r.port);
  await handshake(c);
  c.write(randomBytes(300));
  await refused(t, r, c);
});

test('an oversized length is refused before its body is sent', async (t) => {
  const r = await rig(t);
  const c = await rawClient(r.port);
  await handshake(c);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1 << 20);
  c.write(header); // 4 bytes, no body: the claim alone closes it
  await refused(t, r, c);
  // In the handshake too.
  const d = await rawClient(r.port);
  d.write(encodeFrame(Buffer.alloc(5000)));
  await refused(t, r, d);
});

test('a valid-looking frame with a wrong MAC, and a good frame with one bit flipped', async (t) => {
  const r = await rig(t);
  const c = await rawClient(r.port);
  await handshake(c);
  c.write(encodeFrame(Buffer.concat([json({ t: 'announce', a: ANNOUNCEMENT }), randomBytes(MAC_BYTES)])));
  await refused(t, r, c);

  const d = await rawClient(r.port);
  const auth = await handshake(d);
  const frame = sealed(auth, json({ t: 'announce', a: ANNOUNCEMENT }));
  frame[frame.length - MAC_BYTES - 3]! ^= 0x04; // inside the payload
  d.write(frame);
  await refused(t, r, d);
});

test('a frame with a good MAC but a malformed message (checked field by field)', async (t) => {
  const r = await rig(t);
  const bad = [
    Buffer.from('{not json'),
    json({ t: 'lookup', id: 1, ip: '10.0.0.300', port: 80 }),
    json({ t: 'lookup', id: 1, ip: '10.0.0.3', port: 0 }),
    json({ t: 'lookup', id: 0, ip: '10.0.0.3', port: 80 }),
    json({ t: 'lookup', id: 1, ip: '10.0.0.3', port: 80, extra: true }),
    json({ t: 'announce', a: { ...ANNOUNCEMENT, dst: { ip: '10.0.0.7', port: 70000 } } }),
    json({ t: 'announce', a: { ...ANNOUNCEMENT, clientOverlay: { ip: '010.0.0.5', port: 1 } } }),
    json({ t: 'port', id: 1, port: 80 }),
    json(['lookup']),
  ];
  for (const payload of bad) {
    const c = await rawClient(r.port);
    c.write(sealed(await handshake(c), payload));
    await refused(t, r, c);
  }
});

test('a frame re-sent within a session, or frames out of order', async (t) => {
  const r = await rig(t);
  const c = await rawClient(r.port);
  const auth = await handshake(c);
  const first = sealed(auth, json({ t: 'announce', a: ANNOUNCEMENT }));
  c.write(first);
  await waitFor('the genuine one', async () => r.announces.length === 1, 3000, 10);
  t.deepEqual(r.announces, [{ a: ANNOUNCEMENT, from: 'raw-client' }]);
  c.write(first); // the same bytes again
  await refused(t, r, c, { lookups: 0, announces: 1 });

  const d = await rawClient(r.port);
  const auth2 = await handshake(d);
  const one = sealed(auth2, json({ t: 'lookup', id: 1, ip: '10.0.0.7', port: 80 }));
  const two = sealed(auth2, json({ t: 'lookup', id: 2, ip: '10.0.0.8', port: 80 }));
  d.write(Buffer.concat([two, one]));
  await refused(t, r, d, { lookups: 0, announces: 1 });
});

test('bytes recorded from one real session, replayed into another, are refused', async (t) => {
  const r = await rig(t);
  const relay = await recordingRelay(t, r.port);
  // A real session through the relay: hello, proof, an announcement.
  r.pool.announce(LOCAL, relay.port, ANNOUNCEMENT);
  await waitFor('the real announcement', async () => r.announces.length === 1, 3000, 10);
  t.deepEqual(r.announces, [{ a: ANNOUNCEMENT, from: 'client-host' }]);
  const recorded = Buffer.concat(relay.fromClient);
  const reader = new FrameReader(1 << 20);
  reader.push(recorded);
  const frames: Buffer[] = [];
  for (let f = reader.next(); f; f = reader.next()) frames.push(Buffer.from(f));
  t.is(frames.length, 3, 'hello, proof, announcement');
  await r.pool.close();
  await waitFor('the real session to end', async () => r.server.connectionCount === 0, 3000, 10);

  // 1. Everything, byte for byte: the old proof does not match the server's new nonce.
  const c = await rawClient(r.port);
  c.write(recorded);
  await refused(t, r, c, { lookups: 0, announces: 1 });

  // 2. A genuine new handshake, then the recorded announcement frame (same sequence number 0).
  const d = await rawClient(r.port);
  await handshake(d, SECRET, 'client-host');
  d.write(encodeFrame(frames[2]!));
  await refused(t, r, d, { lookups: 0, announces: 1 });
});

test.serial('a peer silent in the handshake, or stopping half-way through its hello, is dropped', async (t) => {
  const r = await rig(t, { server: { handshakeTimeoutMs: 200 } });
  const started = Date.now();
  const c = await rawClient(r.port);
  await refused(t, r, c);
  t.true(Date.now() - started >= 150);

  const d = await rawClient(r.port);
  d.write(encodeFrame(encodeHello(randomBytes(NONCE_BYTES), 'half', null)).subarray(0, 20));
  await refused(t, r, d);
  t.true(r.logs.warnings().some((l) => l.peer === d.addr && /no handshake within 200 ms/.test(String(l.reason))));
});

test('closing leaves no sockets: the server sees every connection go, the pool refuses after', async (t) => {
  const r = await rig(t);
  const second = await rig(t);
  await Promise.all([r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80), r.pool.lookup(LOCAL, second.port, '10.0.0.7', 80)]);
  const idle = await rawClient(r.port); // unauthenticated, still handshaking
  await waitFor('three connections', async () => r.server.connectionCount === 2 && second.server.connectionCount === 1, 3000, 10);
  t.is(r.pool.channelCount, 2);
  await r.pool.close();
  t.is(r.pool.channelCount, 0);
  await waitFor('the pool’s connections gone', async () => r.server.connectionCount === 1 && second.server.connectionCount === 0, 3000, 10);
  const e = await t.throwsAsync(r.pool.lookup(LOCAL, r.port, '10.0.0.7', 80), { instanceOf: ChannelError });
  t.is(code(e), 'ECLOSED');
  await r.server.close();
  t.is(r.server.connectionCount, 0);
  await idle.closed;
  // Nothing listens there any more.
  const probe = net.connect({ host: LOCAL, port: r.port });
  const refusedCode = await new Promise((resolve) => probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code)));
  t.is(refusedCode, 'ECONNREFUSED');
});
