// The TypeScript codec against the C header itself: a C program built from slim_wire.h writes
// requests and reads replies, so a layout drift on either side fails here.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  connectReply, decodeRequest, identifyReply, KIND_CONNECTION, listenReply, MSG, OPT, peerReply, STATUS_FALLBACK, WireError,
} from '../../driver/router/shim-wire.js';

const source = fileURLToPath(new URL('./fixtures/wire-peer.c', import.meta.url));
const peer = join(mkdtempSync(join(tmpdir(), 'slim-wire-')), 'wire-peer');
execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-o', peer, source]);

const requests = execFileSync(peer, ['requests'], { encoding: 'utf8' }).trim().split('\n').map((h) => Buffer.from(h, 'hex'));
const fromC = (reply: Buffer) => execFileSync(peer, ['reply', reply.toString('hex')], { encoding: 'utf8' });

test('requests written by C decode to the same values', (t) => {
  const [c, l, p, i] = requests.map(decodeRequest);
  t.deepEqual(c, {
    type: MSG.CONNECT, seq: 7, dst: { ip: '10.1.2.3', port: 8080 }, nonblock: true,
    opts: { nodelay: 1, sndbuf: 65536, rcvtimeoUs: 2_500_000n, linger: { onoff: 1, secs: 5 }, userTimeout: 3000 },
  });
  t.deepEqual(l, { type: MSG.LISTEN, seq: 8, bound: { ip: '0.0.0.0', port: 80 }, backlog: 511, opts: { reuseport: 1 } });
  t.deepEqual(p, { type: MSG.PEER, seq: 9, hostPeer: { ip: '192.168.5.6', port: 40000 }, listen: { ip: '10.1.2.3', port: 80 }, cookie: 0x123456789abcdefn });
  t.deepEqual(i, { type: MSG.IDENTIFY, seq: 10, cookie: 42n });
});

test('replies written by TypeScript read right in C', (t) => {
  t.is(fromC(connectReply(7, 0, { ip: '10.1.2.4', port: 51000 }, { ip: '10.1.2.3', port: 8080 })),
    'magic=1 version=1 type=2 seq=7 size=40 len=40\nstatus=0 kind=0 local=10.1.2.4:51000 peer=10.1.2.3:8080\n');
  t.is(fromC(connectReply(8, -111)), 'magic=1 version=1 type=2 seq=8 size=40 len=40\nstatus=-111 kind=0 local=0.0.0.0:0 peer=0.0.0.0:0\n');
  t.is(fromC(listenReply(9, STATUS_FALLBACK, { ip: '192.168.1.2', port: 40001 })), 'magic=1 version=1 type=4 seq=9 size=32 len=32\nstatus=1 host=192.168.1.2:40001\n');
  t.is(fromC(peerReply(10, 0, { ip: '10.0.0.1', port: 80 }, { ip: '10.0.0.2', port: 3333 })),
    'magic=1 version=1 type=6 seq=10 size=40 len=40\nstatus=0 kind=0 local=10.0.0.1:80 peer=10.0.0.2:3333\n');
  t.is(fromC(identifyReply(11, 0, KIND_CONNECTION, { ip: '10.0.0.1', port: 1 }, { ip: '10.0.0.2', port: 2 })),
    'magic=1 version=1 type=8 seq=11 size=40 len=40\nstatus=0 kind=1 local=10.0.0.1:1 peer=10.0.0.2:2\n');
});

test('anything but an exact v1 request is refused', (t) => {
  const connect = requests[0]!;
  const bad = (mutate: (b: Buffer) => Buffer | void, why: RegExp) => {
    const b = Buffer.from(connect);
    const out = mutate(b) ?? b;
    t.throws(() => decodeRequest(out), { instanceOf: WireError, message: why });
  };
  bad((b) => b.subarray(0, 10), /shorter than a header/);
  bad((b) => void b.writeUInt32LE(0xdeadbeef, 0), /magic/);
  bad((b) => void b.writeUInt16LE(2, 4), /version 2/);
  bad((b) => void b.writeUInt16LE(2, 6), /unknown request type 2/); // a reply type
  bad((b) => void b.writeUInt16LE(99, 6), /unknown request type 99/);
  bad((b) => b.subarray(0, 100), /must be 104 bytes/);
  bad((b) => Buffer.concat([b, Buffer.alloc(8)]), /must be 104 bytes/);
  bad((b) => void b.writeUInt32LE(105, 12), /header says 105/);
  bad((b) => void b.writeUInt32LE(6, 24), /connect flags/);
  bad((b) => void b.writeUInt16LE(1, 22), /padding/);
  bad((b) => void b.writeUInt32LE(1 << 20, 32), /unknown option bits/);
  bad((b) => {
    b.writeUInt32LE(OPT.SNDTIMEO, 32);
    b.writeBigInt64LE(-1n, 32 + 56);
  }, /timeout out of range/);
  t.throws(() => decodeRequest(Buffer.alloc(0)), { instanceOf: WireError });
});

test('random bytes never decode to anything but a WireError', (t) => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let n = 0; n < 20_000; n++) {
    const base = requests[n % requests.length]!;
    const b = Buffer.from(base);
    // Flip a few bytes of a valid message, sometimes truncate or extend.
    for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    const msg = rand() < 0.1 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
    try {
      decodeRequest(msg);
    } catch (err) {
      if (!(err instanceof WireError)) t.fail(`not a WireError: ${String(err)}`);
    }
  }
  t.pass();
});
