// The router's native helper (native/router-addon): a SOCK_SEQPACKET server with peer credentials
// and fd passing, driven by a C peer (native/router-addon/test/peer.c, built here with ASan and
// UBSan) that plays a shim, well-behaved or hostile; and the raw socket syscalls. Loopback only.
// Needs the addon built (npm run build:native) and cc. Serial: the tests count this process's fds.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as addon from '../../native/router-addon/index.js';
import type { ListenOptions, SeqpacketConnection, SeqpacketServer } from '../../native/router-addon/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADDON_DIR = join(ROOT, 'native', 'router-addon');
const ADDON_FILE = join(ADDON_DIR, 'build', 'Release', 'slim_router_addon.node');
const C = addon.socketConstants;

let dir = '';
let peerBin = '';
let sockets = 0;

test.before(() => {
  if (!existsSync(ADDON_FILE)) throw new Error(`${ADDON_FILE} missing: run "npm run build:native" first`);
  dir = mkdtempSync(join(tmpdir(), 'slim-router-addon-'));
  chmodSync(dir, 0o755); // a peer running as nobody must reach the socket and the binary
  peerBin = join(dir, 'peer');
  execFileSync('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-g', '-fsanitize=address,undefined',
    '-fno-sanitize-recover=all', '-o', peerBin, join(ADDON_DIR, 'test', 'peer.c')]);
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sockPath = (): string => join(dir, `router-${sockets++}.sock`);
const fdCount = (): number => readdirSync('/proc/self/fd').length;

/** This process's fd count once it stops changing towards `expected` (child pipes close late). */
async function fdsSettle(expected: number): Promise<number> {
  for (let i = 0; i < 100 && fdCount() !== expected; i++) await sleep(20);
  return fdCount();
}

/** Polls done() (called once per round: it may have side effects, like reading SO_ERROR). */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (done()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface PeerResult { code: number | null; out: string[]; err: string; pid: number }

/** Runs the C peer against path; resolves when it has exited (bounded: killed after 30 s). */
function peer(path: string, commands: string[], opts: { uid?: number; gid?: number } = {}): Promise<PeerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(peerBin, [path, ...commands], {
      ...opts,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1' },
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out: out.split('\n').filter(Boolean), err, pid: child.pid ?? -1 });
    });
  });
}

function peerOk(t: ExecutionContext, r: PeerResult, out: string[]): void {
  t.is(r.code, 0, `peer failed: ${r.err}`);
  t.is(r.err, '', 'the peer (ASan/UBSan) printed nothing on stderr');
  t.deepEqual(r.out, out);
}

const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255));

function fdFlags(fd: number): number {
  const line = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').find((l) => l.startsWith('flags:'));
  return parseInt(line!.split(/\s+/)[1]!, 8);
}
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

/** A server that records every connection: its cred, messages, 'close' count. */
function recorder(opts: ListenOptions = {}, onMessage?: (c: SeqpacketConnection, m: Buffer, fds: number[]) => void) {
  const server: SeqpacketServer = addon.listenSeqpacket(sockPath(), opts);
  const conns: { c: SeqpacketConnection; messages: Buffer[]; fds: number[][]; closes: number }[] = [];
  server.on('connection', (c) => {
    const rec = { c, messages: [] as Buffer[], fds: [] as number[][], closes: 0 };
    conns.push(rec);
    c.on('message', (m, fds) => {
      rec.messages.push(m);
      rec.fds.push(fds);
      if (onMessage) onMessage(c, m, fds);
      else for (const fd of fds) addon.closeFd(fd);
    });
    c.on('close', () => rec.closes++);
  });
  return { server, conns };
}

// --- the seqpacket server ---------------------------------------------------------------------

test.serial('the connection carries the peer’s pid, uid and gid (SO_PEERCRED); messages go both ways', async (t) => {
  const { server, conns } = recorder({}, (c, m) => c.send(Buffer.from(m.toString() === 'hello' ? 'world' : '?')));
  const r = await peer(server.path, ['cred', 'send:hello', 'expect:world']);
  server.close();
  peerOk(t, r, [`cred ${r.pid} ${process.getuid!()} ${process.getgid!()}`]);
  t.is(conns.length, 1);
  t.deepEqual(conns[0]!.c.cred, { pid: r.pid, uid: process.getuid!(), gid: process.getgid!() });
  t.deepEqual(conns[0]!.messages.map(String), ['hello']);
  await until('close', () => conns[0]!.closes === 1);
});

(process.getuid?.() === 0 ? test.serial : test.serial.skip)(
  'a peer running as nobody may connect (socket mode 0666) and is identified as nobody',
  async (t) => {
    const { server, conns } = recorder({}, (c) => c.send(Buffer.from('ho')));
    const r = await peer(server.path, ['cred', 'send:hi', 'expect:ho'], { uid: 65534, gid: 65534 });
    server.close();
    peerOk(t, r, [`cred ${r.pid} 65534 65534`]);
    t.deepEqual(conns[0]!.c.cred, { pid: r.pid, uid: 65534, gid: 65534 });
  },
);

test.serial('the socket file: mode, a stale one replaced, a live one or other file refused, removed on close', async (t) => {
  const a = addon.listenSeqpacket(sockPath());
  t.true(statSync(a.path).isSocket());
  t.is(statSync(a.path).mode & 0o7777, 0o666);
  const b = addon.listenSeqpacket(sockPath(), { mode: 0o600 });
  t.is(statSync(b.path).mode & 0o7777, 0o600);

  // A live router's socket is not stale: refused, and the live one goes on serving.
  t.throws(() => addon.listenSeqpacket(a.path), { code: 'EADDRINUSE' });
  a.on('connection', (c) => c.on('message', () => c.send(Buffer.from('still here'))));
  peerOk(t, await peer(a.path, ['send:?', 'expect:still here']), []);

  // Closing removes the file; closing again is harmless.
  a.close();
  a.close();
  b.close();
  t.false(existsSync(a.path));
  t.false(existsSync(b.path));

  // A socket file left by a dead router is replaced.
  const stale = sockPath();
  peerOk(t, await peer('-', [`mkstale:${stale}`]), []);
  t.true(statSync(stale).isSocket());
  const s = addon.listenSeqpacket(stale);
  s.on('connection', (c) => c.on('message', () => c.send(Buffer.from('new'))));
  peerOk(t, await peer(stale, ['send:?', 'expect:new']), []);

  // If another router has since replaced our file (it saw it as stale), close() leaves theirs.
  unlinkSync(stale);
  const other = addon.listenSeqpacket(stale);
  s.close();
  t.true(existsSync(stale));
  other.close();
  t.false(existsSync(stale));

  // Not a socket: never deleted.
  const file = sockPath();
  writeFileSync(file, 'keep me');
  t.throws(() => addon.listenSeqpacket(file), { code: 'EADDRINUSE' });
  t.is(readFileSync(file, 'utf8'), 'keep me');

  t.throws(() => addon.listenSeqpacket(join(dir, 'no', 'such', 'dir.sock')), { code: 'ENOENT' });
  t.throws(() => addon.listenSeqpacket(join(dir, 'x'.repeat(120))), { instanceOf: RangeError });
  t.throws(() => addon.listenSeqpacket(sockPath(), { maxFdsPerMessage: 254 }), { instanceOf: RangeError });
  t.throws(() => addon.listenSeqpacket(sockPath(), { maxMessage: 0 }), { instanceOf: RangeError });
  t.throws(() => addon.listenSeqpacket(sockPath(), { mode: 0o10000 }), { instanceOf: RangeError });
  t.throws(() => addon.listenSeqpacket(''), { instanceOf: TypeError });
});

test.serial('binary messages arrive whole and in order, up to maxMessage exactly, all before the peer’s close', async (t) => {
  const { server, conns } = recorder();
  const r = await peer(server.path, ['pattern:4096', 'pattern:1', 'send:a', 'send:b', 'send:c', 'quit']);
  peerOk(t, r, []);
  await until('close', () => conns[0]?.closes === 1);
  server.close();
  const got = conns[0]!.messages;
  t.deepEqual(got.map((m) => m.length), [4096, 1, 1, 1, 1]);
  t.true(got[0]!.equals(pattern(4096)));
  t.true(got[1]!.equals(pattern(1)));
  t.deepEqual(got.slice(2).map(String), ['a', 'b', 'c']);
  await sleep(100);
  t.is(conns[0]!.closes, 1);
});

test.serial('fd passing, Node to peer: a connected TCP socket the peer then talks through', async (t) => {
  const before = fdCount();
  const echo = net.createServer((s) => {
    let line = '';
    s.on('data', (d: Buffer) => {
      line += d.toString();
      if (line.includes('\n')) s.end(line.toUpperCase());
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const port = (echo.address() as AddressInfo).port;
  const { server } = recorder({}, (c, m) => {
    if (m.toString() !== 'give') return;
    const fd = addon.tcpSocket({ nonblock: false, cloexec: true });
    t.is(addon.connectIPv4(fd, '127.0.0.1', port), 'connected');
    c.send(Buffer.from('take'), [fd]);
    addon.closeFd(fd); // the kernel gave the peer its own reference
  });
  const r = await peer(server.path, ['send:give', 'use-tcp:hello through a passed socket']);
  server.close();
  await new Promise((resolve) => echo.close(resolve));
  peerOk(t, r, ['tcp-reply HELLO THROUGH A PASSED SOCKET']);
  t.is(await fdsSettle(before), before);
});

test.serial('fd passing, peer to Node: a pipe, O_CLOEXEC, read with fs', async (t) => {
  const before = fdCount();
  let text = '';
  let flags = 0;
  const { server } = recorder({}, (c, m, fds) => {
    t.is(m.toString(), 'pipe');
    t.is(fds.length, 1);
    flags = fdFlags(fds[0]!);
    text = readFileSync(fds[0]!, 'utf8'); // the peer closed its write end: reads to EOF
    closeSync(fds[0]!);
    c.send(Buffer.from('got it'));
  });
  const r = await peer(server.path, ['send-pipe:through a pipe', 'expect:got it']);
  server.close();
  peerOk(t, r, []);
  t.is(text, 'through a pipe');
  t.truthy(flags & O_CLOEXEC, 'received fds are close-on-exec (MSG_CMSG_CLOEXEC)');
  t.is(await fdsSettle(before), before);
});

test.serial('a socket sent to the peer and back is the same socket (SO_COOKIE)', async (t) => {
  const before = fdCount();
  const fd = addon.tcpSocket({ nonblock: true, cloexec: true });
  const cookie = addon.socketCookie(fd);
  let back = -1n;
  const { server } = recorder({}, (c, m, fds) => {
    if (m.toString() === 'start') {
      c.send(Buffer.from('sock'), [fd]);
    } else {
      t.is(fds.length, 1);
      t.not(fds[0], fd);
      back = addon.socketCookie(fds[0]!);
      addon.closeFd(fds[0]!);
      c.send(Buffer.from('done'));
    }
  });
  const r = await peer(server.path, ['send:start', 'echo-fds', 'expect:done']);
  server.close();
  addon.closeFd(fd);
  peerOk(t, r, ['echoed 1']);
  t.is(back, cookie);
  t.is(await fdsSettle(before), before);
});

test.serial('hostile peers: each is cut off, no message reaches JS, the fds it sent are closed', async (t) => {
  const cases: [string, ListenOptions, string[], string[], string[]][] = [
    // name, limits, peer commands, peer output, messages JS sees
    ['one byte over maxMessage', {}, ['hostile:4097:0', 'eof'], ['fds-closed', 'eof'], []],
    ['oversized, with fds', {}, ['hostile:5000:2', 'eof'], ['fds-closed', 'eof'], []],
    ['5 fds, 4 allowed (control data truncated)', {}, ['hostile:10:5', 'eof'], ['fds-closed', 'eof'], []],
    ['16 fds, 4 allowed', {}, ['hostile:10:16', 'eof'], ['fds-closed', 'eof'], []],
    // CMSG_SPACE pads room for one fd to two: the kernel delivers both without MSG_CTRUNC.
    ['2 fds, 1 allowed', { maxFdsPerMessage: 1 }, ['hostile:10:2', 'eof'], ['fds-closed', 'eof'], []],
    ['1 fd, none allowed', { maxFdsPerMessage: 0 }, ['hostile:10:1', 'eof'], ['fds-closed', 'eof'], []],
    ['an empty message', {}, ['empty', 'eof'], ['eof'], []],
    ['oversized after a good one', { maxMessage: 100 }, ['send:fine', 'hostile:100000:3', 'eof'], ['fds-closed', 'eof'], ['fine']],
  ];
  for (const [name, opts, commands, out, messages] of cases) {
    const before = fdCount();
    const { server, conns } = recorder(opts);
    const r = await peer(server.path, commands);
    await until('close', () => conns[0]?.closes === 1);
    server.close();
    t.is(r.code, 0, `${name}: ${r.err}`);
    t.deepEqual(r.out, out, name);
    t.deepEqual(conns[0]!.messages.map(String), messages, name);
    t.is(await fdsSettle(before), before, `${name}: fd leak`);
  }
});

test.serial('a message with fds and no message listener: the wrapper closes the fds', async (t) => {
  const before = fdCount();
  const server = addon.listenSeqpacket(sockPath());
  let closed = 0;
  server.on('connection', (c) => c.on('close', () => closed++));
  const r = await peer(server.path, ['hostile:10:3']); // within limits: a normal message
  await until('close', () => closed === 1);
  server.close();
  peerOk(t, r, ['fds-closed']);
  t.is(await fdsSettle(before), before);
});

test.serial('a peer that disappears: send() throws EPIPE with the errno name, then one close; close() twice is harmless', async (t) => {
  let sendError: NodeJS.ErrnoException | undefined;
  const { server, conns } = recorder({}, (c) => {
    // Wait (synchronously, so the loop cannot see the hang-up first) until the peer is a zombie.
    const stat = `/proc/${c.cred.pid}/stat`;
    for (let i = 0; i < 1000 && existsSync(stat) && !/^\d+ \(.*\) Z/.test(readFileSync(stat, 'utf8')); i++)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    try {
      c.send(Buffer.from('too late'));
    } catch (error) {
      sendError = error as NodeJS.ErrnoException;
    }
  });
  const r = await peer(server.path, ['send:hello', 'quit']);
  peerOk(t, r, []);
  await until('close', () => conns[0]?.closes === 1);
  t.is(sendError?.code, 'EPIPE');
  t.is(sendError?.syscall, 'sendmsg');
  t.regex(sendError?.message ?? '', /EPIPE/);
  const c = conns[0]!.c;
  t.true(c.closed);
  c.close();
  c.close();
  t.throws(() => c.send(Buffer.from('x')), { code: 'EBADF' });

  // One that connects and leaves without a word.
  const r2 = await peer(server.path, ['connect', 'quit']);
  peerOk(t, r2, []);
  await until('second close', () => conns[1]?.closes === 1);
  await sleep(100);
  server.close();
  t.deepEqual(conns.map((x) => x.closes), [1, 1]);
});

test.serial('close() from JS: the peer sees end of file, "close" comes once and asynchronously', async (t) => {
  let closesAtReturn = -1;
  const { server, conns } = recorder({}, (c) => {
    c.close();
    closesAtReturn = conns[0]!.closes;
    c.close();
  });
  const r = await peer(server.path, ['send:bye', 'eof']);
  server.close();
  peerOk(t, r, ['eof']);
  t.is(closesAtReturn, 0);
  await until('close', () => conns[0]!.closes === 1);
  await sleep(50);
  t.is(conns[0]!.closes, 1);
});

test.serial('send() checks its arguments', async (t) => {
  const { server, conns } = recorder();
  const r = peer(server.path, ['connect', 'eof']);
  await until('connection', () => conns.length === 1);
  const c = conns[0]!.c;
  t.throws(() => c.send(Buffer.alloc(0)), { instanceOf: RangeError });
  t.throws(() => c.send(Buffer.from('x'), new Array(254).fill(0)), { instanceOf: RangeError });
  t.throws(() => c.send(Buffer.from('x'), [-1]), { instanceOf: RangeError });
  t.throws(() => c.send(Buffer.from('x'), [1.5]), { instanceOf: RangeError });
  t.throws(() => c.send('x' as unknown as Buffer), { instanceOf: TypeError });
  t.throws(() => c.send(Buffer.from('x'), [0x7fffffff]), { code: 'EBADF' });
  c.close();
  peerOk(t, await r, ['eof']);
  server.close();
});

test.serial('1,000 connections opened and closed (half by each side) leave no fds behind', async (t) => {
  const before = fdCount();
  let opened = 0;
  let closed = 0;
  const server = addon.listenSeqpacket(sockPath());
  server.on('connection', (c) => {
    const index = opened++;
    c.on('message', () => {
      c.send(Buffer.from('ok'));
      if (index % 2 === 0) c.close(); // the reply is already queued: the peer still reads it
    });
    c.on('close', () => closed++);
  });
  const r = await peer(server.path, ['many:1000']);
  await until('1000 closes', () => closed === 1000);
  server.close();
  peerOk(t, r, ['many 1000']);
  t.is(opened, 1000);
  await sleep(100);
  t.is(closed, 1000);
  t.is(await fdsSettle(before), before);
});

test.serial('the server and its connections keep Node alive only until closed; exit and worker teardown are clean', async (t) => {
  const child = (mode: string, path: string) =>
    spawn(process.execPath, ['--import', 'tsx', join(ADDON_DIR, 'test', 'child.mts'), mode, path, peerBin], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const run = (mode: string) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = child(mode, sockPath());
      let out = '';
      let err = '';
      const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out: out.trim(), err });
      });
    });
  for (const mode of ['closed-by-node', 'closed-by-peer', 'worker']) {
    const r = await run(mode);
    t.is(r.code, 0, `${mode}: ${r.err}`);
    t.is(r.out, 'done', mode);
  }
  const exit = await run('exit');
  t.is(exit.code, 0, exit.err);

  // While open, it keeps the process alive, like net.Server.
  const path = sockPath();
  const open = child('open', path);
  await until('the open server', () => existsSync(path));
  await sleep(1000);
  t.is(open.exitCode, null);
  open.kill('SIGKILL');
  await new Promise((resolve) => open.on('close', resolve));
});

test.serial('out of fds, the router hangs up on the excess instead of spinning, and serves again after', async (t) => {
  const path = sockPath();
  // prlimit execs node: same pid. 100 fds: node and tsx take about 25, the rest go to peers.
  const router = spawn('prlimit', ['--nofile=100:100', process.execPath, '--import', 'tsx',
    join(ADDON_DIR, 'test', 'child.mts'), 'serve', path, peerBin], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const closed = new Promise((resolve) => router.on('close', resolve));
  try {
    let out = '';
    router.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until('the router to listen', () => out.includes('listening'));
    const cpu = () => {
      const fields = readFileSync(`/proc/${router.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (1/100 s)
    };
    const cpuBefore = cpu();
    const started = Date.now();
    // 300 connections held open: the router runs out of fds after about 70 of them.
    const r = await peer(path, ['flood:300', 'sleep:1500']);
    const ticks = cpu() - cpuBefore;
    const elapsedTicks = (Date.now() - started) / 10;
    t.is(r.code, 0, r.err);
    const [served, dropped] = r.out[0]!.split(' ').slice(1).map(Number) as [number, number];
    t.is(served + dropped, 300);
    t.true(served > 0 && dropped > 0, r.out[0]);
    // Without the spare-fd trick the listening socket stays readable: 100 % CPU, peers left hanging.
    t.true(ticks < elapsedTicks / 2, `router used ${ticks} of ${elapsedTicks} ticks`);
    peerOk(t, await peer(path, ['send:again', 'expect:ok']), []);
  } finally {
    router.kill('SIGKILL');
    await closed;
  }
});

test.serial('the native functions refuse handles they did not make', (t) => {
  const native = createRequire(import.meta.url)(ADDON_FILE) as Record<string, (...args: unknown[]) => unknown>;
  for (const bad of [{}, null, 42, 'x', Buffer.alloc(8)]) {
    t.throws(() => native.close!(bad), { instanceOf: TypeError });
    t.throws(() => native.send!(bad, Buffer.from('x'), []), { instanceOf: TypeError });
    t.throws(() => native.start!(bad, () => {}, () => {}), { instanceOf: TypeError });
  }
  t.throws(() => native.close!(), { instanceOf: TypeError });
});

// --- raw socket helpers -----------------------------------------------------------------------

test.serial('tcpSocket flags; non-blocking connect to a closed loopback port: in-progress, then SO_ERROR ECONNREFUSED', async (t) => {
  const before = fdCount();
  // A bound socket that never listens: its port is closed and stays ours, so nobody else opens it.
  const holder = addon.tcpSocket({ nonblock: false, cloexec: true });
  addon.bindIPv4(holder, '127.0.0.1', 0);
  const { port } = addon.localAddress(holder);

  const fd = addon.tcpSocket({ nonblock: true, cloexec: true });
  t.truthy(fdFlags(fd) & O_NONBLOCK);
  t.truthy(fdFlags(fd) & O_CLOEXEC);
  const plain = addon.tcpSocket({ nonblock: false, cloexec: false });
  t.falsy(fdFlags(plain) & O_NONBLOCK);
  t.falsy(fdFlags(plain) & O_CLOEXEC);
  addon.closeFd(plain);

  t.is(addon.connectIPv4(fd, '127.0.0.1', port), 'in-progress');
  let soError = 0;
  await until('SO_ERROR', () => (soError = addon.getsockoptInt(fd, C().SOL_SOCKET, C().SO_ERROR)) !== 0);
  t.is(soError, 111); // ECONNREFUSED
  t.is(addon.getsockoptInt(fd, C().SOL_SOCKET, C().SO_ERROR), 0, 'reading SO_ERROR cleared it');

  // A blocking connect to the same closed port fails at once, with the errno's name.
  const blocking = addon.tcpSocket({ nonblock: false, cloexec: true });
  const error = t.throws(() => addon.connectIPv4(blocking, '127.0.0.1', port)) as NodeJS.ErrnoException;
  t.is(error.code, 'ECONNREFUSED');
  t.is(error.errno, -111);
  t.is(error.syscall, 'connect');
  for (const x of [fd, blocking, holder]) addon.closeFd(x);
  t.is(fdCount(), before);
});

test.serial('a blocking connect to a listener made with bindIPv4 + listenFd works, and carries data', async (t) => {
  const before = fdCount();
  const lfd = addon.tcpSocket({ nonblock: false, cloexec: true });
  addon.setsockoptRaw(lfd, C().SOL_SOCKET, C().SO_REUSEADDR, int32(1));
  addon.bindIPv4(lfd, '127.0.0.1', 0);
  addon.listenFd(lfd, 16);
  const listener = addon.localAddress(lfd);
  t.is(listener.ip, '127.0.0.1');
  t.true(listener.port > 0 && listener.port < 65536);

  const cfd = addon.tcpSocket({ nonblock: false, cloexec: true });
  t.deepEqual(addon.localAddress(cfd), { ip: '0.0.0.0', port: 0 });
  t.is(addon.connectIPv4(cfd, '127.0.0.1', listener.port), 'connected');
  t.is(addon.getsockoptInt(cfd, C().SOL_SOCKET, C().SO_ERROR), 0);
  const client = addon.localAddress(cfd);
  t.is(client.ip, '127.0.0.1');
  t.not(client.port, listener.port);

  // Hand both fds to Node (which then owns them) and push bytes through.
  const server = net.createServer((s) => s.once('data', (d: Buffer) => s.end(`echo ${d.toString()}`)));
  const remotePort = new Promise<number>((resolve) => server.once('connection', (s) => resolve(s.remotePort!)));
  await new Promise<void>((resolve) => server.listen({ fd: lfd }, resolve));
  const socket = new net.Socket({ fd: cfd, readable: true, writable: true });
  const reply = new Promise<string>((resolve) => {
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('end', () => resolve(got));
  });
  socket.write('ping');
  t.is(await reply, 'echo ping');
  t.is(await remotePort, client.port);
  socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  t.is(await fdsSettle(before), before);
});

test.serial('setsockoptRaw, getsockoptInt, socketCookie, localAddress and their errors', (t) => {
  const before = fdCount();
  const a = addon.tcpSocket({ nonblock: true, cloexec: true });
  const b = addon.tcpSocket({ nonblock: true, cloexec: true });

  addon.setsockoptRaw(a, C().IPPROTO_TCP, C().TCP_NODELAY, int32(1));
  t.is(addon.getsockoptInt(a, C().IPPROTO_TCP, C().TCP_NODELAY), 1);
  addon.setsockoptRaw(a, C().SOL_SOCKET, C().SO_KEEPALIVE, int32(1));
  t.is(addon.getsockoptInt(a, C().SOL_SOCKET, C().SO_KEEPALIVE), 1);
  addon.setsockoptRaw(a, C().SOL_SOCKET, C().SO_RCVBUF, int32(65536));
  t.true(addon.getsockoptInt(a, C().SOL_SOCKET, C().SO_RCVBUF) >= 65536); // the kernel doubles it
  t.is(addon.getsockoptInt(a, C().SOL_SOCKET, C().SO_TYPE), 1); // SOCK_STREAM
  const timeval = Buffer.alloc(16); // struct timeval { 2 s, 500 ms } on x86-64
  timeval.writeBigInt64LE(2n, 0);
  timeval.writeBigInt64LE(500_000n, 8);
  addon.setsockoptRaw(a, C().SOL_SOCKET, C().SO_RCVTIMEO, timeval);
  t.throws(() => addon.setsockoptRaw(a, C().SOL_SOCKET, C().SO_RCVTIMEO, Buffer.alloc(2)), { code: 'EINVAL' });
  t.throws(() => addon.getsockoptInt(a, 12345, 1), { code: 'ENOTSUP' }); // libuv's name for 95, as Node's own errors

  const ca = addon.socketCookie(a);
  const cb = addon.socketCookie(b);
  t.is(typeof ca, 'bigint');
  t.true(ca > 0n && cb > 0n);
  t.not(ca, cb);
  t.is(addon.socketCookie(a), ca, 'stable for the socket’s life');

  addon.bindIPv4(a, '127.0.0.1', 0);
  const { port } = addon.localAddress(a);
  t.true(port > 0);
  const inUse = t.throws(() => addon.bindIPv4(b, '127.0.0.1', port), { code: 'EADDRINUSE' }) as NodeJS.ErrnoException;
  t.is(inUse.syscall, 'bind');
  t.throws(() => addon.connectIPv4(b, 'localhost', 80), { instanceOf: TypeError });
  t.throws(() => addon.connectIPv4(b, '127.0.0.1', 65536), { instanceOf: RangeError });
  t.throws(() => addon.connectIPv4(b, '127.0.0.1\0', 80), { instanceOf: TypeError });
  t.throws(() => addon.listenFd(b, -1), { instanceOf: RangeError });
  t.throws(() => addon.closeFd(-1), { instanceOf: RangeError });
  t.throws(() => addon.closeFd(1.5), { instanceOf: RangeError });
  t.throws(() => addon.closeFd(Number.NaN), { instanceOf: RangeError });
  t.throws(() => addon.closeFd('3' as unknown as number), { instanceOf: TypeError });
  t.throws(() => addon.tcpSocket({ nonblock: 1 as unknown as boolean, cloexec: true }), { instanceOf: TypeError });
  t.throws(() => addon.setsockoptRaw(a, 1, 1, 'x' as unknown as Buffer), { instanceOf: TypeError });

  const devnull = addon.tcpSocket({ nonblock: true, cloexec: true });
  addon.closeFd(devnull);
  t.throws(() => addon.socketCookie(devnull), { code: 'EBADF' });
  t.throws(() => addon.localAddress(devnull), { code: 'EBADF' });
  const closeError = t.throws(() => addon.closeFd(devnull)) as NodeJS.ErrnoException;
  t.is(closeError.code, 'EBADF');
  t.is(closeError.errno, -9);
  t.is(closeError.syscall, 'close');
  addon.closeFd(a);
  addon.closeFd(b);
  t.is(fdCount(), before);
});

// --- listeningSockets (NETLINK_SOCK_DIAG) -----------------------------------------------------

/** A listener made with the addon's own calls on ip:0; returns its fd and port. */
function addonListener(ip = '127.0.0.1'): { fd: number; port: number } {
  const fd = addon.tcpSocket({ nonblock: true, cloexec: true });
  addon.bindIPv4(fd, ip, 0);
  addon.listenFd(fd, 16);
  return { fd, port: addon.localAddress(fd).port };
}

test.serial('listeningSockets finds a listener with its SO_COOKIE; once closed it is gone', (t) => {
  const before = fdCount();
  const { fd, port } = addonListener();
  const cookie = addon.socketCookie(fd);
  const found = addon.listeningSockets().filter((s) => s.cookie === cookie);
  t.deepEqual(found, [{ ip: '127.0.0.1', port, cookie }]);
  for (const s of addon.listeningSockets()) {
    t.regex(s.ip, /^\d{1,3}(\.\d{1,3}){3}$/);
    t.true(Number.isInteger(s.port) && s.port >= 0 && s.port <= 65535);
    t.is(typeof s.cookie, 'bigint');
  }

  // Bound but not listening, or connecting: not a listener.
  const bound = addon.tcpSocket({ nonblock: true, cloexec: true });
  addon.bindIPv4(bound, '127.0.0.1', 0);
  const boundCookie = addon.socketCookie(bound);
  const client = addon.tcpSocket({ nonblock: true, cloexec: true });
  addon.connectIPv4(client, '127.0.0.1', port);
  const clientCookie = addon.socketCookie(client);
  const now = addon.listeningSockets().map((s) => s.cookie);
  t.false(now.includes(boundCookie));
  t.false(now.includes(clientCookie));
  t.true(now.includes(cookie));

  addon.closeFd(client);
  addon.closeFd(bound);
  addon.closeFd(fd);
  t.false(addon.listeningSockets().some((s) => s.cookie === cookie || (s.ip === '127.0.0.1' && s.port === port)));
  t.is(fdCount(), before, 'the netlink socket is closed after each call');
});

test.serial('listeningSockets: wildcard and Node’s own listeners, IPv6 ones left out', async (t) => {
  const wild = addonListener('0.0.0.0');
  t.deepEqual(addon.listeningSockets().filter((s) => s.cookie === addon.socketCookie(wild.fd)),
    [{ ip: '0.0.0.0', port: wild.port, cookie: addon.socketCookie(wild.fd) }]);
  addon.closeFd(wild.fd);

  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  t.true(addon.listeningSockets().some((s) => s.ip === '127.0.0.1' && s.port === port));
  await new Promise((resolve) => server.close(resolve));

  const v6 = net.createServer();
  const v6ok = await new Promise<boolean>((resolve) => {
    v6.once('error', () => resolve(false));
    v6.listen({ port: 0, host: '::1', ipv6Only: true }, () => resolve(true));
  });
  if (v6ok) {
    const v6port = (v6.address() as AddressInfo).port;
    t.false(addon.listeningSockets().some((s) => s.port === v6port), 'an IPv6 listener is not an IPv4 one');
    await new Promise((resolve) => v6.close(resolve));
  }
});

test.serial('listeningSockets reads a dump of many parts: 1,000 listeners, each with the right cookie', (t) => {
  // ~90 bytes a socket: 1,000 of them cannot fit one 32 KiB datagram.
  const before = fdCount();
  const listeners = Array.from({ length: 1000 }, () => addonListener());
  const byCookie = new Map(addon.listeningSockets().map((s) => [s.cookie, s]));
  const cookies = listeners.map((l) => addon.socketCookie(l.fd));
  t.is(listeners.filter((l, i) => {
    const s = byCookie.get(cookies[i]!);
    return s?.ip === '127.0.0.1' && s.port === l.port;
  }).length, 1000);
  for (const l of listeners) addon.closeFd(l.fd);
  const after = new Set(addon.listeningSockets().map((s) => s.cookie));
  t.false(cookies.some((c) => after.has(c)), 'all gone once closed');
  t.is(fdCount(), before);
});

/** An int as setsockopt takes it: 4 bytes in host order. */
function int32(value: number): Buffer {
  return Buffer.from(new Int32Array([value]).buffer);
}
