import test from 'ava';
import { PluginError } from '../../driver/plugin/errors.js';
import { emptyState, type SlimState } from '../../driver/store/state.js';
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from '../../ipam/address-spaces.js';
import { formatIp, hostRange, overlaps, parseCidr, parseIp } from '../../ipam/ipv4.js';
import * as pools from '../../ipam/pools.js';
import { releaseAddress, requestAddress, type DefaultPools, type PoolRequest } from '../../ipam/pools.js';

const DEFAULTS: DefaultPools = { range: parseCidr('10.208.0.0/12'), prefix: 24 };

// requestPool/releasePool are gaining a trailing host argument (per-host holders of local pools).
// Calling through these wrappers works with and without it: an extra argument is ignored.
const HOST = 'host-a';
type PoolRecord = ReturnType<typeof pools.requestPool>;
const requestPool = (state: SlimState, req: PoolRequest, defaults: DefaultPools): PoolRecord =>
  (pools.requestPool as (s: SlimState, r: PoolRequest, d: DefaultPools, host: string) => PoolRecord)(state, req, defaults, HOST);
const releasePool = (state: SlimState, id: string): void => (pools.releasePool as (s: SlimState, id: string, host: string) => void)(state, id, HOST);

function pool(over: Partial<PoolRequest> = {}): PoolRequest {
  return { addressSpace: LOCAL_ADDRESS_SPACE, pool: '', subPool: '', v6: false, ...over };
}

/** Runs `fn` and checks it throws a PluginError (an operator-facing message) matching `message`. */
function refuses(t: import('ava').ExecutionContext, fn: () => unknown, message: RegExp): void {
  const err = t.throws(fn);
  t.true(err instanceof PluginError, `expected a PluginError, got ${err?.constructor.name}: ${err?.message}`);
  t.regex(err?.message ?? '', message);
}

const snapshot = (s: SlimState) => JSON.parse(JSON.stringify(s)) as SlimState;

// ---------------------------------------------------------------- RequestPool

test('repeated empty-pool requests give distinct, non-overlapping pools from the default range', (t) => {
  const state = emptyState();
  const got = [];
  for (let i = 0; i < 20; i++) got.push(requestPool(state, pool(), DEFAULTS));
  t.is(new Set(got.map((p) => p.id)).size, 20);
  for (const p of got) {
    const c = parseCidr(p.pool);
    t.is(c.prefix, 24);
    t.true(overlaps(c, DEFAULTS.range), `${p.pool} is outside the default range`);
    t.false(p.explicit);
    t.deepEqual(p.allocated, []);
    t.is(state.pools[p.id], p);
  }
  for (let i = 0; i < got.length; i++) {
    for (let j = i + 1; j < got.length; j++) {
      t.false(overlaps(parseCidr(got[i]!.pool), parseCidr(got[j]!.pool)), `${got[i]!.pool} overlaps ${got[j]!.pool}`);
    }
  }
  t.is(got[0]!.pool, '10.208.0.0/24');
});

test('empty-pool requests skip pools already taken in either address space, explicit or not', (t) => {
  const state = emptyState();
  requestPool(state, pool({ pool: '10.208.0.0/23' }), DEFAULTS);
  requestPool(state, pool({ addressSpace: GLOBAL_ADDRESS_SPACE, pool: '10.208.2.0/24' }), DEFAULTS);
  const p = requestPool(state, pool(), DEFAULTS);
  t.is(p.pool, '10.208.3.0/24');
  const q = requestPool(state, pool({ addressSpace: GLOBAL_ADDRESS_SPACE }), DEFAULTS);
  t.is(q.pool, '10.208.4.0/24');
  t.is(q.addressSpace, GLOBAL_ADDRESS_SPACE);
});

test('the default range running out gives a clear error', (t) => {
  const state = emptyState();
  const small: DefaultPools = { range: parseCidr('10.99.0.0/23'), prefix: 24 };
  requestPool(state, pool(), small);
  requestPool(state, pool(), small);
  const before = snapshot(state);
  refuses(t, () => requestPool(state, pool(), small), /no free \/24 pool left .*10\.99\.0\.0\/23.*--subnet/);
  t.deepEqual(snapshot(state), before);
});

test('explicit pool requests are idempotent: the same PoolID and record, no duplicate', (t) => {
  const state = emptyState();
  const a = requestPool(state, pool({ pool: '10.1.0.0/16' }), DEFAULTS);
  requestAddress(state, { poolId: a.id, address: '', isGateway: true });
  const b = requestPool(state, pool({ pool: '10.1.0.0/16' }), DEFAULTS);
  t.is(b.id, a.id);
  t.is(b.pool, '10.1.0.0/16');
  t.true(b.explicit);
  t.deepEqual(b.allocated, ['10.1.0.1'], 'a replay keeps the allocations');
  t.is(Object.keys(state.pools).length, 1);

  const c = requestPool(state, pool({ pool: '10.2.0.0/16', subPool: '10.2.1.0/24' }), DEFAULTS);
  const d = requestPool(state, pool({ pool: '10.2.0.0/16', subPool: '10.2.1.0/24' }), DEFAULTS);
  t.is(d.id, c.id);
  t.is(c.subPool, '10.2.1.0/24');
  t.is(Object.keys(state.pools).length, 2);
});

test('an overlapping but different explicit pool is refused in the same address space, allowed in the other', (t) => {
  const state = emptyState();
  requestPool(state, pool({ pool: '10.1.0.0/16' }), DEFAULTS);
  const before = snapshot(state);
  for (const other of ['10.1.2.0/24', '10.0.0.0/8', '10.1.255.0/24']) {
    refuses(t, () => requestPool(state, pool({ pool: other }), DEFAULTS), /overlaps pool 10\.1\.0\.0\/16 .*slim-local/);
  }
  t.deepEqual(snapshot(state), before);
  const g = requestPool(state, pool({ addressSpace: GLOBAL_ADDRESS_SPACE, pool: '10.1.2.0/24' }), DEFAULTS);
  t.is(g.pool, '10.1.2.0/24');
  t.not(g.id, Object.keys(before.pools)[0]);
  // swarm: the same explicit pool in both spaces (manager in Global, node re-reserving in Local)
  const l = requestPool(state, pool({ pool: '10.1.0.0/16' }), DEFAULTS);
  const gl = requestPool(state, pool({ addressSpace: GLOBAL_ADDRESS_SPACE, pool: '10.5.0.0/16' }), DEFAULTS);
  const lg = requestPool(state, pool({ pool: '10.5.0.0/16' }), DEFAULTS);
  t.not(gl.id, lg.id);
  t.is(l.addressSpace, LOCAL_ADDRESS_SPACE);
  // an adjacent pool does not overlap
  t.is(requestPool(state, pool({ pool: '10.2.0.0/16' }), DEFAULTS).pool, '10.2.0.0/16');
});

test('an explicit pool overlapping a default-range pool is refused', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool(), DEFAULTS);
  refuses(t, () => requestPool(state, pool({ pool: '10.208.0.0/16' }), DEFAULTS), /overlaps/);
  t.is(p.pool, '10.208.0.0/24');
});

test('a sub-pool outside its pool, or without a pool, is refused', (t) => {
  const state = emptyState();
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.0/24', subPool: '10.1.1.0/25' }), DEFAULTS), /sub-pool 10\.1\.1\.0\/25 is not inside pool 10\.1\.0\.0\/24/);
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.0/24', subPool: '10.0.0.0/16' }), DEFAULTS), /not inside/);
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.0/24', subPool: '10.1.0.0/23' }), DEFAULTS), /not inside/);
  refuses(t, () => requestPool(state, pool({ subPool: '10.1.0.0/25' }), DEFAULTS), /sub-pool .*needs an explicit pool/);
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.0/24', subPool: '10.1.0.1/25' }), DEFAULTS), /bad sub-pool.*host bits/);
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.0/24', subPool: 'nonsense' }), DEFAULTS), /bad sub-pool/);
  t.deepEqual(state.pools, {});
  const ok = requestPool(state, pool({ pool: '10.1.0.0/24', subPool: '10.1.0.0/24' }), DEFAULTS);
  t.is(ok.subPool, '10.1.0.0/24');
});

test('bad pools are refused with the reason', (t) => {
  const state = emptyState();
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.1/24' }), DEFAULTS), /bad pool: .*host bits set.*10\.1\.0\.0\/24/);
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.0' }), DEFAULTS), /bad pool: not a CIDR/);
  refuses(t, () => requestPool(state, pool({ pool: '10.1.0.0/40' }), DEFAULTS), /bad pool: bad prefix length/);
  refuses(t, () => requestPool(state, pool({ pool: 'fd00::/64' }), DEFAULTS), /bad pool/);
  t.deepEqual(state.pools, {});
});

test('IPv6 pools are refused with a clear message', (t) => {
  const state = emptyState();
  refuses(t, () => requestPool(state, pool({ v6: true }), DEFAULTS), /does not support IPv6.*without --ipv6/);
  refuses(t, () => requestPool(state, pool({ v6: true, pool: 'fd00::/64' }), DEFAULTS), /IPv6/);
  t.deepEqual(state.pools, {});
});

test('an unknown address space is refused, naming the ones Slim serves', (t) => {
  const state = emptyState();
  for (const space of ['', 'LocalDefault', 'default', 'slim-LOCAL', 'GlobalDefault']) {
    refuses(t, () => requestPool(state, pool({ addressSpace: space }), DEFAULTS), /unknown address space .*slim-local and slim-global/);
  }
  t.deepEqual(state.pools, {});
});

// ---------------------------------------------------------------- RequestAddress

test('the gateway request gets the first host address, dynamic addresses the next free ones', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.1.0.0/24' }), DEFAULTS);
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: true }), '10.1.0.1/24');
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), '10.1.0.2/24');
  t.is(requestAddress(state, { poolId: p.id, address: '10.1.0.4', isGateway: false }), '10.1.0.4/24');
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), '10.1.0.3/24');
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), '10.1.0.5/24', 'skips the explicit .4');
  t.deepEqual([...state.pools[p.id]!.allocated].sort(), ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5']);
});

test('dynamic addresses never use the network or broadcast address, and exhaustion is clear (/30)', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.9.0.4/30' }), DEFAULTS);
  const a = requestAddress(state, { poolId: p.id, address: '', isGateway: true });
  const b = requestAddress(state, { poolId: p.id, address: '', isGateway: false });
  t.deepEqual([a, b], ['10.9.0.5/30', '10.9.0.6/30']);
  const before = snapshot(state);
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '', isGateway: false }), /no free address left in 10\.9\.0\.4\/30/);
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '', isGateway: true }), /no free address left/);
  t.deepEqual(snapshot(state), before);
  // explicit network / broadcast addresses are refused too
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '10.9.0.4', isGateway: false }), /10\.9\.0\.4 is not a usable address of pool 10\.9\.0\.4\/30/);
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '10.9.0.7/30', isGateway: false }), /not a usable address/);
});

test('a whole /24 hands out 254 distinct host addresses and never .0 or .255', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.3.0.0/24' }), DEFAULTS);
  const seen = new Set<string>();
  for (let i = 0; i < 254; i++) seen.add(requestAddress(state, { poolId: p.id, address: '', isGateway: i === 0 }));
  t.is(seen.size, 254);
  t.false(seen.has('10.3.0.0/24'));
  t.false(seen.has('10.3.0.255/24'));
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '', isGateway: false }), /no free address left in 10\.3\.0\.0\/24/);
});

test('/31 and /32 pools use every address', (t) => {
  const state = emptyState();
  const p31 = requestPool(state, pool({ pool: '10.4.0.2/31' }), DEFAULTS);
  t.is(requestAddress(state, { poolId: p31.id, address: '', isGateway: false }), '10.4.0.2/31');
  t.is(requestAddress(state, { poolId: p31.id, address: '', isGateway: false }), '10.4.0.3/31');
  refuses(t, () => requestAddress(state, { poolId: p31.id, address: '', isGateway: false }), /no free address/);
  const p32 = requestPool(state, pool({ pool: '10.4.0.9/32' }), DEFAULTS);
  t.is(requestAddress(state, { poolId: p32.id, address: '', isGateway: false }), '10.4.0.9/32');
  refuses(t, () => requestAddress(state, { poolId: p32.id, address: '', isGateway: false }), /no free address/);
});

test('dynamic addresses come from the sub-pool; the gateway and explicit addresses from the whole pool', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.5.0.0/24', subPool: '10.5.0.128/25' }), DEFAULTS);
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: true }), '10.5.0.1/24');
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), '10.5.0.128/24');
  t.is(requestAddress(state, { poolId: p.id, address: '10.5.0.7', isGateway: false }), '10.5.0.7/24');
  for (let i = 0; i < 200 && state.pools[p.id]!.allocated.length < 130; i++) {
    try {
      const a = requestAddress(state, { poolId: p.id, address: '', isGateway: false });
      const ip = parseIp(a.split('/')[0]!);
      t.true(ip >= parseIp('10.5.0.128') && ip <= parseIp('10.5.0.254'), `${a} is outside the sub-pool`);
    } catch (err) {
      t.regex((err as Error).message, /no free address left in 10\.5\.0\.128\/25/);
      break;
    }
  }
  // the sub-pool 10.5.0.128/25 has 127 usable addresses (.255 is the pool's broadcast)
  const dynamic = state.pools[p.id]!.allocated.filter((a) => parseIp(a) >= parseIp('10.5.0.128'));
  t.is(dynamic.length, 127);
  t.false(dynamic.includes('10.5.0.255'));
});

test('a sub-pool at the start of the pool never hands out the network address', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.6.0.0/24', subPool: '10.6.0.0/28' }), DEFAULTS);
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), '10.6.0.1/24');
});

test('explicit address replay is idempotent', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.7.0.0/24' }), DEFAULTS);
  t.is(requestAddress(state, { poolId: p.id, address: '10.7.0.9', isGateway: false }), '10.7.0.9/24');
  t.is(requestAddress(state, { poolId: p.id, address: '10.7.0.9/24', isGateway: false }), '10.7.0.9/24');
  t.is(requestAddress(state, { poolId: p.id, address: '10.7.0.9', isGateway: false }), '10.7.0.9/24');
  t.deepEqual(state.pools[p.id]!.allocated, ['10.7.0.9']);
  // a gateway replay (Docker's RequiresRequestReplay after a restart)
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: true }), '10.7.0.1/24');
  t.is(requestAddress(state, { poolId: p.id, address: '10.7.0.1', isGateway: true }), '10.7.0.1/24');
  t.deepEqual(state.pools[p.id]!.allocated, ['10.7.0.9', '10.7.0.1']);
});

test('an address outside the pool, a malformed one, or an unknown pool is refused', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.8.0.0/24' }), DEFAULTS);
  const before = snapshot(state);
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '10.8.1.1', isGateway: false }), /10\.8\.1\.1 is not a usable address of pool 10\.8\.0\.0\/24/);
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '192.168.0.1/24', isGateway: false }), /not a usable address/);
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '10.8.0.300', isGateway: false }), /not an IPv4 address/);
  refuses(t, () => requestAddress(state, { poolId: p.id, address: 'fe80::1', isGateway: false }), /not an IPv4 address/);
  refuses(t, () => requestAddress(state, { poolId: 'slim-local|10.9.9.0/24', address: '', isGateway: false }), /unknown pool "slim-local\|10\.9\.9\.0\/24"/);
  refuses(t, () => requestAddress(state, { poolId: 'nope', address: '10.8.0.5', isGateway: false }), /unknown pool/);
  t.deepEqual(snapshot(state), before);
});

test('release then re-request reuses the address', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.10.0.0/29' }), DEFAULTS);
  const all = [];
  for (let i = 0; i < 6; i++) all.push(requestAddress(state, { poolId: p.id, address: '', isGateway: false }));
  t.deepEqual(all, ['10.10.0.1/29', '10.10.0.2/29', '10.10.0.3/29', '10.10.0.4/29', '10.10.0.5/29', '10.10.0.6/29']);
  releaseAddress(state, p.id, '10.10.0.4/29');
  t.false(state.pools[p.id]!.allocated.includes('10.10.0.4'));
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), '10.10.0.4/29');
  releaseAddress(state, p.id, '10.10.0.2'); // without /len
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), '10.10.0.2/29');
  releaseAddress(state, p.id, '10.10.0.6/29');
  t.is(requestAddress(state, { poolId: p.id, address: '10.10.0.6', isGateway: false }), '10.10.0.6/29');
});

test('releasing an unknown pool or address is a no-op', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.11.0.0/24' }), DEFAULTS);
  requestAddress(state, { poolId: p.id, address: '', isGateway: true });
  const before = snapshot(state);
  t.notThrows(() => releasePool(state, 'slim-local|10.99.0.0/24'));
  t.notThrows(() => releasePool(state, ''));
  t.notThrows(() => releaseAddress(state, 'slim-local|10.99.0.0/24', '10.99.0.1'));
  t.notThrows(() => releaseAddress(state, 'no such pool', 'not even an address'));
  t.notThrows(() => releaseAddress(state, p.id, '10.11.0.77')); // in the pool, never allocated
  t.notThrows(() => releaseAddress(state, p.id, '192.168.1.1/24')); // outside the pool
  t.deepEqual(snapshot(state), before);
});

test('releasing a pool forgets it: a new request for it starts empty', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.12.0.0/24' }), DEFAULTS);
  requestAddress(state, { poolId: p.id, address: '', isGateway: true });
  releasePool(state, p.id);
  t.deepEqual(state.pools, {});
  refuses(t, () => requestAddress(state, { poolId: p.id, address: '', isGateway: false }), /unknown pool/);
  const again = requestPool(state, pool({ pool: '10.12.0.0/24' }), DEFAULTS);
  t.is(again.id, p.id);
  t.deepEqual(again.allocated, []);
  // default-range pools are reused after release too
  const d1 = requestPool(state, pool(), DEFAULTS);
  releasePool(state, d1.id);
  const d2 = requestPool(state, pool(), DEFAULTS);
  t.is(d2.pool, d1.pool);
});

test('addresses of the pool hostRange agree with what RequestAddress hands out first and last', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.13.0.0/28' }), DEFAULTS);
  const { first, last } = hostRange(parseCidr(p.pool));
  t.is(requestAddress(state, { poolId: p.id, address: formatIp(last), isGateway: false }), `${formatIp(last)}/28`);
  t.is(requestAddress(state, { poolId: p.id, address: '', isGateway: false }), `${formatIp(first)}/28`);
});

// Docker's IDs arrive as JSON strings. State maps are plain objects, so a pool ID that names an
// Object.prototype member ("constructor", "__proto__", "toString"…) must be "unknown", not found.
// (A bug these tests found; fixed in 7e99eb2.)
test('prototype member names as PoolID are unknown pools', (t) => {
  for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const state = emptyState();
    refuses(t, () => requestAddress(state, { poolId: id, address: '', isGateway: false }), /unknown pool/);
    t.notThrows(() => releaseAddress(state, id, '10.0.0.1'), `ReleaseAddress of unknown pool ${id} must be a no-op`);
  }
});

// ------------------------------------------------------------------ bugs found by these tests, now fixed

test('RequestAddress and ReleaseAddress refuse an address whose "/len" is malformed or not the pool\'s', (t) => {
  const state = emptyState();
  const p = requestPool(state, pool({ pool: '10.14.0.0/24' }), DEFAULTS);
  requestAddress(state, { poolId: p.id, address: '10.14.0.2', isGateway: false });
  const before = snapshot(state);
  // "ip" and "ip/len" (len = the pool's) are the two forms Docker sends; anything else is malformed
  for (const address of ['10.14.0.60/xyz', '10.14.0.61/24/24', '10.14.0.62/', '10.14.0.63/8']) {
    refuses(t, () => requestAddress(state, { poolId: p.id, address, isGateway: false }), /address|prefix/);
  }
  t.deepEqual(snapshot(state), before, 'nothing was allocated');
  refuses(t, () => releaseAddress(state, p.id, '10.14.0.2/garbage'), /address|prefix/);
  t.deepEqual(state.pools[p.id]!.allocated, ['10.14.0.2'], 'a malformed release must not free the address');
});
