// Hostile input at the router's two doors, against a real daemon: 10,000 fuzzed messages at the
// shim socket from inside a container, and 10,000 at the router port from the underlay (garbage,
// oversized frames, wrong secrets, and with the right secret spoofed announcements and lookups of
// nonsense). Afterwards the daemon is alive with the fds it had, its tables hold nothing the
// fuzz put there, and a real replaced connection still works.
import anyTest, { type TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { RouterChannelPool } from '../../driver/router/router-channel.js';
import { exec } from '../harness/exec.js';
import { loadImages } from '../harness/images.js';
import { SlimDaemon } from '../harness/slim.js';
import { World, type Host } from '../harness/world.js';
import { createSlimNetwork, execIn, runDetached, waitFor } from './docker-helpers.js';

interface Ctx { world: World; h: Host; slim: SlimDaemon; fuzzDir: string }
const test = anyTest as TestFn<Ctx>;
const OPT_IN = ['-v', '/run/slim:/slim', '-e', 'LD_PRELOAD=/slim/libslimsocket.so'];
const ROUTER_PORT = 4792;
const quiet = pino({ level: 'silent' });

test.before(async (t) => {
  const world = await World.create({ hosts: 1, name: 'hostile' });
  t.context.world = world;
  const h = world.hosts[0]!;
  await loadImages(h);
  const slim = new SlimDaemon(h);
  await slim.start();
  const fuzzDir = path.join(h.dir, 'fuzz');
  const source = fileURLToPath(new URL('./fixtures/shim-fuzz.c', import.meta.url));
  await exec('mkdir', ['-p', fuzzDir]);
  await exec('gcc', ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror', '-o', path.join(fuzzDir, 'shim-fuzz'), source]);
  await createSlimNetwork(h, 'net', ['--subnet', '10.87.0.0/24']);
  await runDetached(h, 'srv', ['--network', 'net', ...OPT_IN]);
  await runDetached(h, 'cli', ['--network', 'net', ...OPT_IN, '-v', `${fuzzDir}:/fuzz`], ['sleep', 'infinity']);
  Object.assign(t.context, { h, slim, fuzzDir });
});

test.after.always(async (t) => {
  await t.context.world?.destroy();
});

/** The daemon's fds, as what they point at: the difference names a leak. */
function fdTargets(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return `${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
    } catch {
      return `${fd} -> (gone)`;
    }
  });
}

/** Waits until the daemon holds no fd it did not hold before (it may hold fewer: an idle
 *  keep-alive connection of an earlier status call may have closed meanwhile). */
async function fdsSettle(t: { log: (...a: unknown[]) => void; deepEqual: (a: unknown, b: unknown, m?: string) => void }, pid: number, before: string[]) {
  const extra = () => fdTargets(pid).filter((f) => !before.includes(f));
  await waitFor('the fds to settle', async () => extra().length === 0 || undefined, 15_000).catch(() => undefined);
  t.deepEqual(extra(), [], 'the daemon holds no fd it did not hold before');
}

/** The router's counters in `slim status` that these tests read (a missing one fails the test). */
async function routerStatus(slim: SlimDaemon): Promise<{ hostile: number; replaced: number; pendingAnnouncements: number }> {
  const router = ((await slim.status()) as unknown as { router: Record<string, unknown> }).router;
  const counter = (name: string): number => {
    const v = router[name];
    if (typeof v !== 'number') throw new Error(`slim status shows no router.${name}: ${JSON.stringify(router)}`);
    return v;
  };
  return { hostile: counter('hostile'), replaced: counter('replaced'), pendingAnnouncements: counter('pendingAnnouncements') };
}

/** One TCP connection to the router port that sends `bytes` and waits for the router to close it. */
function throwAt(addr: string, bytes: Buffer): Promise<'closed' | 'timeout'> {
  return new Promise((resolve) => {
    const s = net.connect({ host: addr, port: ROUTER_PORT }, () => s.end(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 10_000);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

test.serial('10,000 fuzzed shim messages: the router survives, answers or closes, leaks no fd', async (t) => {
  const { h, slim } = t.context;
  const pid = slim.pid!;
  const before = fdTargets(pid);
  const r = await h.docker(['exec', 'cli', '/fuzz/shim-fuzz', '/slim/router.sock', '10500', '1234'], { timeoutMs: 300_000 });
  t.log(r.stdout.trim());
  const [, sent] = /sent (\d+)/.exec(r.stdout) ?? [];
  t.true(Number(sent) >= 10_000, `only ${sent} messages went out`);
  const status = await routerStatus(slim);
  t.true(status.hostile > 100, `the router saw ${status.hostile} hostile messages`);
  await fdsSettle(t, pid, before);
});

test.serial('10,000 hostile messages at the router port: nothing gets through, no fd leaks', async (t) => {
  const { h, slim } = t.context;
  const pid = slim.pid!;
  const before = fdTargets(pid);
  const hostileBefore = (await routerStatus(slim)).hostile;
  let seed = 99;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  // Garbage and oversized frames: 4,000 connections, each closed by the router.
  const garbage: Promise<string>[] = [];
  for (let i = 0; i < 4000; i++) {
    const b = randomBytes(4 + rand(300));
    if (i % 3 === 0) b.writeUInt32BE(0x7fffffff, 0); // a length far beyond the cap
    garbage.push(throwAt(h.addr, b));
    if (garbage.length % 200 === 0) await Promise.all(garbage.slice(-200));
  }
  t.deepEqual([...new Set(await Promise.all(garbage))], ['closed']);
  // The wrong secret: 2,000 lookups, each refused at the handshake.
  const wrong = new RouterChannelPool({ secret: randomBytes(32), hostId: 'intruder', log: quiet, requestTimeoutMs: 5000 });
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    await wrong.lookup(h.addr, ROUTER_PORT, '10.87.0.2', 7000).then(() => undefined, () => refused++);
  }
  await wrong.close();
  t.is(refused, 2000, 'no lookup is answered without the secret');
  // The right secret (as a host that is not in the cluster): 4,000 spoofed announcements and
  // lookups of nonsense. Nothing is believed, nothing is found.
  const state = JSON.parse(readFileSync(path.join(slim.stateDir, 'state.json'), 'utf8')) as { routerSecret: string };
  const insider = new RouterChannelPool({ secret: Buffer.from(state.routerSecret, 'hex'), hostId: 'not-a-member', log: quiet });
  for (let i = 0; i < 3000; i++) {
    insider.announce(h.addr, ROUTER_PORT, {
      clientHost: { ip: h.addr, port: 1 + rand(65535) },
      clientOverlay: { ip: `10.87.0.${2 + rand(200)}`, port: 1 + rand(65535) },
      dst: { ip: '10.87.0.2', port: 7000 },
    });
  }
  const found = await Promise.all(Array.from({ length: 1000 }, () => insider.lookup(h.addr, ROUTER_PORT, `10.${rand(256)}.${rand(256)}.${rand(256)}`, 1 + rand(65535))));
  t.deepEqual([...new Set(found)], [null], 'lookups of addresses nobody serves find nothing');
  await insider.close();
  const status = await waitFor('the spoofed announcements to be counted', async () => {
    const s = await routerStatus(slim);
    return s.hostile - hostileBefore >= 3000 ? s : undefined;
  });
  t.is(status.pendingAnnouncements, 0, 'no spoofed announcement was kept');
  await fdsSettle(t, pid, before);
});

test.serial('after all that, a replaced connection still works', async (t) => {
  const { h } = t.context;
  const srv = (await h.docker(['inspect', '-f', '{{.NetworkSettings.Networks.net.IPAddress}}', 'srv'])).stdout.trim();
  const before = (await routerStatus(t.context.slim)).replaced;
  t.is((await execIn(h, 'cli', `echo still-here | socat -t2 - TCP:${srv}:7000`)).stdout.trim(), 'still-here');
  t.is((await routerStatus(t.context.slim)).replaced, before + 1, 'through a host socket');
});
