// Pool and address allocation rules, as pure functions over the cluster state so they can be run
// inside one store transaction and unit-tested without a daemon.
import { PluginError } from '../driver/plugin/errors.js';
import { own, type PoolRecord, type SlimState } from '../driver/store/state.js';
import { ADDRESS_SPACES, GLOBAL_ADDRESS_SPACE } from './address-spaces.js';
import { contains, formatCidr, formatIp, hostRange, overlaps, parseAddress, parseCidr, parseIp, size, type Cidr } from './ipv4.js';

export interface DefaultPools {
  /** Range empty-pool requests are carved from, e.g. 10.208.0.0/12. */
  range: Cidr;
  /** Prefix length of each carved pool, e.g. 24. */
  prefix: number;
}

export interface PoolRequest {
  addressSpace: string;
  pool: string;
  subPool: string;
  v6: boolean;
}

function poolId(space: string, pool: string, subPool: string | null): string {
  return subPool ? `${space}|${pool}|${subPool}` : `${space}|${pool}`;
}

/**
 * Explicit pools are idempotent (Docker replays them after restarts and swarm leader changes);
 * an empty pool request gets a new pool every time, overlapping nothing Slim already handed out.
 */
export function requestPool(state: SlimState, req: PoolRequest, defaults: DefaultPools, host: string): PoolRecord {
  if (req.v6) throw new PluginError('Slim does not support IPv6 pools yet; create the network without --ipv6');
  if (!(ADDRESS_SPACES as readonly string[]).includes(req.addressSpace)) {
    throw new PluginError(`unknown address space ${JSON.stringify(req.addressSpace)}; Slim serves ${ADDRESS_SPACES.join(' and ')}`);
  }
  if (!req.pool) {
    if (req.subPool) throw new PluginError('a sub-pool (--ip-range) needs an explicit pool (--subnet)');
    return allocateDefaultPool(state, req.addressSpace, defaults, host);
  }
  const pool = parseCidrOrFail(req.pool, 'pool');
  const subPool = req.subPool ? parseCidrOrFail(req.subPool, 'sub-pool') : null;
  if (subPool && !(contains(pool, subPool.base) && subPool.prefix >= pool.prefix)) {
    throw new PluginError(`sub-pool ${req.subPool} is not inside pool ${req.pool}`);
  }
  const id = poolId(req.addressSpace, formatCidr(pool), subPool && formatCidr(subPool));
  const existing = own(state.pools, id);
  if (existing) {
    if (!existing.holders.includes(host)) existing.holders.push(host);
    return existing;
  }
  for (const other of Object.values(state.pools)) {
    if (other.addressSpace === req.addressSpace && overlaps(parseCidr(other.pool), pool)) {
      throw new PluginError(`pool ${formatCidr(pool)} overlaps pool ${other.pool} already in use in address space ${req.addressSpace}`);
    }
  }
  const record: PoolRecord = {
    id,
    addressSpace: req.addressSpace,
    pool: formatCidr(pool),
    subPool: subPool && formatCidr(subPool),
    explicit: true,
    holders: [host],
    allocated: [],
  };
  state.pools[id] = record;
  return record;
}

function allocateDefaultPool(state: SlimState, space: string, defaults: DefaultPools, host: string): PoolRecord {
  const taken = Object.values(state.pools).map((p) => parseCidr(p.pool));
  const step = 2 ** (32 - defaults.prefix);
  for (let base = defaults.range.base; base + step <= defaults.range.base + size(defaults.range); base += step) {
    const candidate: Cidr = { base, prefix: defaults.prefix };
    if (taken.some((t) => overlaps(t, candidate))) continue;
    const record: PoolRecord = {
      id: poolId(space, formatCidr(candidate), null),
      addressSpace: space,
      pool: formatCidr(candidate),
      subPool: null,
      explicit: false,
      holders: [host],
      allocated: [],
    };
    state.pools[record.id] = record;
    return record;
  }
  throw new PluginError(`no free /${defaults.prefix} pool left in Slim's default range ${formatCidr(defaults.range)}; pass --subnet`);
}

/** A local-space pool goes when its last holder releases it; a global-space one at once. */
export function releasePool(state: SlimState, id: string, host: string): void {
  const record = own(state.pools, id);
  if (!record) return;
  record.holders = record.holders.filter((h) => h !== host);
  if (record.addressSpace === GLOBAL_ADDRESS_SPACE || record.holders.length === 0) delete state.pools[id];
}

export interface AddressRequest {
  poolId: string;
  /** "" for any free address; may arrive as "ip" or "ip/len". */
  address: string;
  isGateway: boolean;
}

/** Returns "ip/len". Explicit addresses are idempotent: a replay of an allocated address succeeds. */
export function requestAddress(state: SlimState, req: AddressRequest): string {
  const record = own(state.pools, req.poolId);
  if (!record) throw new PluginError(`unknown pool ${JSON.stringify(req.poolId)}`);
  const pool = parseCidr(record.pool);
  let ip: number;
  if (req.address) {
    ip = parseAddressOrFail(req.address, pool.prefix);
    const { first, last } = hostRange(pool);
    if (ip < first || ip > last) throw new PluginError(`address ${formatIp(ip)} is not a usable address of pool ${record.pool}`);
  } else {
    const range = record.subPool && !req.isGateway ? parseCidr(record.subPool) : pool;
    ip = firstFree(record, range, pool);
  }
  const text = formatIp(ip);
  if (!record.allocated.includes(text)) record.allocated.push(text);
  return `${text}/${pool.prefix}`;
}

function firstFree(record: PoolRecord, range: Cidr, pool: Cidr): number {
  const used = new Set(record.allocated.map(parseIp));
  const { first: poolFirst, last: poolLast } = hostRange(pool);
  const first = Math.max(range.base, poolFirst);
  const last = Math.min(range.base + size(range) - 1, poolLast);
  for (let ip = first; ip <= last; ip++) if (!used.has(ip)) return ip;
  throw new PluginError(`no free address left in ${record.subPool ?? record.pool}`);
}

export function releaseAddress(state: SlimState, id: string, address: string): void {
  const record = own(state.pools, id);
  if (!record) return;
  const ip = formatIp(parseAddressOrFail(address, parseCidr(record.pool).prefix));
  record.allocated = record.allocated.filter((a) => a !== ip);
}

function parseCidrOrFail(text: string, what: string): Cidr {
  try {
    return parseCidr(text);
  } catch (err) {
    throw new PluginError(`bad ${what}: ${(err as Error).message}`);
  }
}

function parseAddressOrFail(text: string, prefix: number): number {
  try {
    return parseAddress(text, prefix);
  } catch (err) {
    throw new PluginError((err as Error).message);
  }
}
