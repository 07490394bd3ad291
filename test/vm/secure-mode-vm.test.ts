// Secure mode against a container misusing a host socket, on a kernel that runs the BPF LSM
// (Debian 12's, under QEMU: this machine's kernel refuses LSM programs). One boot runs the
// scenario (guest/scenario.c) in four phases (guest/init.sh): no programs (control), the cgroup
// half alone, the LSM half alone, and secure mode as slim-loader loads it (both halves).
import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runScenarioVm, type CaseResult, type Phase, type ScenarioRun } from './vm.js';

// Every case the scenario reports; a missing line fails the test.
const ATTACKS = [
  'disconnect', // connect(AF_UNSPEC) on a handed connection
  'connect-host', // then connect() to a host-only service (127.0.0.1)
  'reconnect-refused', // connect() again after a refused connect, no AF_UNSPEC needed
  'bind', // bind() to a host address
  'listen', // listen() on it: a listener in the host, reachable from the host?
  'listen-autobind', // listen() after a disconnect: autobinds 0.0.0.0:ephemeral in the host
  'fastopen', // sendto(MSG_FASTOPEN) to a host-only service
  'so-mark',
  'so-bindtodevice',
  'ip-transparent',
  'ioctl-ifconf', // SIOCGIFCONF lists the host's interfaces and addresses
  'host-addresses', // getsockname()/getpeername() show host addresses
  'accepted-disconnect', // a connection accepted from a handed (hidden) listener
  'accepted-connect-host',
  'listener-shutdown-connect', // shutdown() of the hidden listener, then connect() it
] as const;

const NORMAL = [
  'send-recv',
  'tcp-nodelay',
  'so-keepalive',
  'tcp-keepidle',
  'so-rcvbuf',
  'so-error',
  'fionread',
  'fionbio',
  'connect-again', // a second connect() on a connected socket: EISCONN, as without secure mode
  'send-recv-after',
  'shutdown',
  'accept',
  'accepted-send-recv',
  'unguarded-host-socket', // a host socket from outside the daemon's cgroup (runc, tools): untouched
  'container-socket', // the container's own sockets: untouched
] as const;

// The LSM refuses these itself, with EPERM, at the step that matters. (connect-host and
// accepted-connect-host then fail with EISCONN: the disconnect before them was refused.)
const LSM_REFUSES = [
  'disconnect',
  'reconnect-refused',
  'bind',
  'listen',
  'listen-autobind',
  'fastopen',
  'so-mark',
  'so-bindtodevice',
  'ip-transparent',
  'ioctl-ifconf',
  'accepted-disconnect',
  'listener-shutdown-connect',
];

// What no cgroup hook can refuse (hence the LSM): connect(AF_UNSPEC) and ioctls.
const CGROUP_GAPS = ['disconnect', 'accepted-disconnect', 'ioctl-ifconf'];

// kernel-module/test/attacks.c (the daemon's tests run it in containers) also runs in every phase,
// on host sockets the scenario hands it. Its lines that are normal use, not attacks:
const ATTACKS_C_NORMAL = ['control-echo', 'setsockopt-nodelay'];
const ATTACKS_C_ADDRESSES = ['getsockname', 'getpeername'];
const HAVE_ATTACKS_C = existsSync(join(REPO, 'kernel-module', 'test', 'attacks.c'));

/** attacks.c's lines whose verdict is not the expected one (skipped lines aside). */
function attacksC(t: ExecutionContext, p: Phase, expect: (name: string) => 'allowed' | 'blocked' | 'any'): string[] {
  if (!HAVE_ATTACKS_C) return [];
  const a = p.attacksC;
  if (!a) throw new Error(`phase ${p.name}: kernel-module/test/attacks.c did not run`);
  t.log(`attacks.c (exit ${a.exit}):\n${a.results.map((c) => `${c.name.padEnd(26)} ${c.verdict.padEnd(8)} ${c.detail}`).join('\n')}`);
  t.is(a.exit, 0, 'attacks.c exit status');
  t.true(a.results.filter((c) => c.verdict !== 'skipped').length >= 10, 'attacks.c ran its attacks');
  return a.results
    .filter((c) => c.verdict !== 'skipped' && expect(c.name) !== 'any' && c.verdict !== expect(c.name))
    .map((c) => `${c.name} ${c.verdict}: ${c.detail}`);
}

let vm: ScenarioRun | undefined;
let bootError: unknown;

test.before('build the guest and boot the VM once', async (t) => {
  t.timeout(600_000);
  try {
    vm = await runScenarioVm({ log: (s) => t.log(s) });
  } catch (e) {
    bootError = e;
  }
});

function phase(t: { log: (...a: unknown[]) => void }, name: string): Phase {
  if (!vm) throw new Error(`the VM did not run: ${(bootError as Error)?.message ?? bootError}`);
  const p = vm.phases.get(name);
  const tail = vm.boot.output.split('\n').slice(-40).join('\n');
  if (!p) throw new Error(`no phase ${name} in the console output${vm.boot.timedOut ? ' (QEMU killed at the timeout)' : ''}:\n${tail}`);
  t.log(p.lines.filter((l) => !/^(ATTACK|NORMAL) /.test(l)).join('\n'));
  if (!p.ended || !p.lines.some((l) => l.startsWith('SCENARIO-END container exit 0'))) {
    throw new Error(`phase ${name} did not complete:\n${p.lines.join('\n')}`);
  }
  return p;
}

function get(p: Phase, name: string): CaseResult {
  const c = p.cases.get(name);
  if (!c) throw new Error(`phase ${p.name}: no result line for ${name}`);
  return c;
}

function matrix(p: Phase): string {
  return [...ATTACKS, ...NORMAL].map((n) => {
    const c = p.cases.get(n);
    return `${(c?.kind ?? '?').padEnd(6)} ${n.padEnd(26)} ${(c?.verdict ?? 'MISSING').padEnd(8)} ${c?.detail ?? ''}`;
  }).join('\n');
}

function normalWorks(t: ExecutionContext, p: Phase): void {
  const broken = NORMAL.filter((n) => get(p, n).verdict !== 'ok');
  t.deepEqual(broken, [], `phase ${p.name}: normal use broken:\n${matrix(p)}`);
}

test('the VM runs Debian\'s kernel with the BPF LSM active, no network device', (t) => {
  if (!vm) throw new Error(`the VM did not run: ${(bootError as Error)?.stack ?? bootError}`);
  // The first guest line follows the firmware's "Booting from ROM.." on the same console line.
  const banner = /SLIM-VM kernel .*/.exec(vm.boot.output)?.[0];
  t.log(`${vm.kernel.pkg} ${vm.kernel.version}: boot and four phases in ${vm.boot.seconds.toFixed(1)} s, initramfs ${(vm.initramfsBytes / 1e6).toFixed(1)} MB`);
  t.truthy(banner, vm.boot.output.slice(-3000));
  t.regex(banner!, /\blsm \S*\bbpf\b/);
  t.regex(banner!, / net lo$/, 'loopback is the only network interface');
  t.false(vm.boot.timedOut);
  t.true(vm.boot.output.includes('SLIM-VM done'));
});

test('control, no BPF program: every attack works (so the other phases prove something)', (t) => {
  const p = phase(t, 'control');
  t.log(matrix(p));
  const stopped = ATTACKS.filter((n) => get(p, n).verdict !== 'allowed');
  t.deepEqual(stopped, [], 'attacks that failed without secure mode');
  normalWorks(t, p);
  t.deepEqual(attacksC(t, p, () => 'allowed'), [], 'attacks.c: lines that did not work without secure mode');
});

test('LSM half alone: every attack but reading host addresses is refused with EPERM', (t) => {
  const p = phase(t, 'lsm');
  t.log(matrix(p));
  t.true(p.lines.some((l) => l.startsWith('LSM-LOADED ')), 'lsm-load loaded the programs');
  const through = ATTACKS.filter((n) => n !== 'host-addresses' && get(p, n).verdict !== 'blocked');
  t.deepEqual(through, [], 'attacks the LSM let through');
  const notEperm = LSM_REFUSES.filter((n) => !/\bEPERM\b/.test(get(p, n).detail));
  t.deepEqual(notEperm, [], 'attacks stopped by something else than the LSM');
  // Rewriting addresses is the cgroup half's job (an LSM hook can only refuse).
  t.is(get(p, 'host-addresses').verdict, 'allowed');
  normalWorks(t, p);
  const unexpected = attacksC(t, p, (n) => (ATTACKS_C_NORMAL.includes(n) ? 'allowed' : ATTACKS_C_ADDRESSES.includes(n) ? 'any' : 'blocked'));
  t.deepEqual(unexpected, [], 'attacks.c with the LSM half alone');
});

test('cgroup half alone (a kernel without the BPF LSM): all but disconnect and ioctls stopped', (t) => {
  const p = phase(t, 'cgroup');
  t.log(matrix(p));
  const through = ATTACKS.filter((n) => !CGROUP_GAPS.includes(n) && get(p, n).verdict !== 'blocked');
  t.deepEqual(through, [], 'attacks the cgroup programs should stop');
  t.log(`not stopped by the cgroup half: ${CGROUP_GAPS.filter((n) => get(p, n).verdict === 'allowed').join(', ') || 'none'}`);
  normalWorks(t, p);
  // Its listen only reports listen()'s result (run with --listen-wait 0 here): under the cgroup
  // half that succeeds and the listener gets no traffic, which the scenario's listen cases check.
  const unexpected = attacksC(t, p, (n) => (ATTACKS_C_NORMAL.includes(n) ? 'allowed' : ['unspec-disconnect', 'listen'].includes(n) ? 'any' : 'blocked'));
  t.deepEqual(unexpected, [], 'attacks.c with the cgroup half alone');
});

test('secure mode (slim-loader, cgroup + LSM): every attack is stopped, normal traffic works', (t) => {
  const p = phase(t, 'secure');
  t.log(matrix(p));
  const loader = p.lines.find((l) => l.startsWith('{'));
  t.truthy(loader, 'slim-loader printed its JSON line');
  t.is((JSON.parse(loader!) as { lsm: { state: string } }).lsm.state, 'loaded', loader);
  const through = ATTACKS.filter((n) => get(p, n).verdict !== 'blocked');
  t.deepEqual(through, [], 'attacks secure mode let through');
  const notEperm = LSM_REFUSES.filter((n) => !/\bEPERM\b/.test(get(p, n).detail));
  t.deepEqual(notEperm, [], 'attacks stopped by something else than a refusal');
  // The container sees the overlay addresses the router recorded, not the host's.
  t.regex(get(p, 'host-addresses').detail, /getsockname 10\.90\.0\.2:\d+, getpeername 10\.90\.0\.3:8080/);
  normalWorks(t, p);
  const unexpected = attacksC(t, p, (n) => (ATTACKS_C_NORMAL.includes(n) ? 'allowed' : 'blocked'));
  t.deepEqual(unexpected, [], 'attacks.c with secure mode');
});
