// Case generator for the plugin-socket fuzz test (fuzz.test.ts): malformed and hostile requests,
// each classified up front by what the protocol says the daemon must answer. Deterministic for a
// given seed so a failure can be replayed with SLIM_FUZZ_SEED.

/** What the daemon must answer. */
export type Expect =
  /** 200 with exactly this JSON body (no-input methods, deletes of unknown IDs, replays). */
  | { kind: 'ok'; reply: unknown }
  /** A non-200 status and {"Err": "<non-empty, clear message>"}. */
  | { kind: 'error' }
  /**
   * Either of the two: a delete of an ID that is no Docker ID at all ("__proto__", "toString") may
   * succeed as "unknown" or be refused as malformed; both are within the protocol.
   */
  | { kind: 'okOrError'; reply: unknown }
  /** 404 and {"Err": ...}: no such method (or not POST). */
  | { kind: 'notfound' };

export interface FuzzCase {
  n: number;
  /** The generator family, for reports: "CreateNetwork/zero-pools", "any/garbage-bytes"… */
  family: string;
  verb: string;
  /** Request path, "/" + method name for real methods. */
  path: string;
  body: Buffer;
  headers: Record<string, string>;
  expect: Expect;
}

/** What the baseline created through the API, and the replies it got. */
export interface Baseline {
  networkId: string;
  endpointId: string;
  poolId: string;
  pool: string;
  gateway: string;
  address: string;
  vni: number;
  sandboxKey: string;
  /** A /30 pool with both host addresses allocated. */
  fullPoolId: string;
  fullPool: string;
  fullAddresses: string[];
  replies: {
    activate: unknown;
    netCaps: unknown;
    ipamCaps: unknown;
    addressSpaces: unknown;
    status: unknown;
    allocate: { request: object; reply: unknown };
    requestPool: { request: object; reply: unknown };
    createEndpoint: { request: object; reply: unknown };
    operInfo: unknown;
  };
}

// ------------------------------------------------------------------------------------ PRNG

/** sfc32: small, fast, and the same sequence on every platform for a given seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  hex(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }

  base36(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += '0123456789abcdefghijklmnopqrstuvwxyz'[this.int(36)];
    return s;
  }

  bytes(len: number): Buffer {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = this.int(256);
    return b;
  }

  /** Printable junk with quotes, backslashes, control characters, unicode, lone surrogates. */
  junk(maxLen = 40): string {
    const pieces = ['"', '\\', '\u0000', '\n', '\t', '/', '..', '%00', '${x}', '<script>', 'é', '中文', '\u202e', '\ud800', '🙂', ' ', '|', ':', ',', '{', '}', '[', ']'];
    let s = '';
    const len = 1 + this.int(maxLen);
    while (s.length < len) s += this.chance(0.3) ? this.pick(pieces) : String.fromCharCode(0x20 + this.int(95));
    return s;
  }
}

// ------------------------------------------------------------------------------------ building blocks

export const NO_INPUT_METHODS = [
  'Plugin.Activate',
  'NetworkDriver.GetCapabilities',
  'IpamDriver.GetCapabilities',
  'IpamDriver.GetDefaultAddressSpaces',
  'Slim.Status',
] as const;

/**
 * Object.prototype members as IDs: they must behave like unknown IDs, never be "found" in the
 * state maps. "constructor" is shaped like a swarm ID (lowercase base36); the others are no Docker
 * ID at all, so Slim may also refuse them as malformed.
 */
export const PROTO_DOCKER_SHAPED = ['constructor'];
export const PROTO_ODD = ['__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', '__lookupSetter__'];
export const PROTO_NAMES = [...PROTO_DOCKER_SHAPED, ...PROTO_ODD];

/** Expectation for a delete-type method given a prototype-member ID. */
function protoDelete(id: string): Expect {
  return PROTO_DOCKER_SHAPED.includes(id) ? EMPTY_OK : { kind: 'okOrError', reply: {} };
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Adds keys that JSON.parse makes own properties ("__proto__" included), whatever the object literal would do. */
function withRawKeys(obj: object, raw: Record<string, string>): Buffer {
  const base = JSON.stringify(obj);
  const extra = Object.entries(raw).map(([k, v]) => `${JSON.stringify(k)}:${v}`);
  if (extra.length === 0) return Buffer.from(base);
  return Buffer.from(base === '{}' ? `{${extra.join(',')}}` : `${base.slice(0, -1)},${extra.join(',')}}`);
}

function deepArray(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function deepObject(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** A JSON value that is not a string: wrong type for any string field. */
function notAString(rng: Rng): unknown {
  return rng.pick<unknown>([0, 42, -1, 1.5, true, false, null, [], ['x'], {}, { a: 'b' }, [[]], 1e300]);
}

/** A JSON value that is not an object: wrong type for any map field or whole body. */
function notAnObject(rng: Rng): unknown {
  return rng.pick<unknown>([0, 42, true, false, 'x', '', [], ['a'], [{}], 'null', '{}']);
}

/**
 * Strings a field limited to 1..max characters refuses: empty, or longer than max (up to 100 KB).
 * zod counts code points, not UTF-16 units: the junk variant is padded with ASCII to stay over.
 */
function badLengthString(rng: Rng, max: number): string {
  return rng.pick(['', 'x'.repeat(max + 1), rng.hex(max + 1 + rng.int(200)), 'a'.repeat(Math.max(max + 1, 100_000)), rng.junk(20) + 'z'.repeat(max + 1)]);
}

/** Length limits of the string fields the families break (protocol.ts schemas). */
const MAX_LEN: Record<string, number> = { NetworkID: 128, EndpointID: 128, PoolID: 512, SandboxKey: 4096, Address: 64 };

/** A Docker-shaped ID (local: 64 hex; swarm: 25 base36) that exists nowhere. Never a prototype name. */
function unknownId(rng: Rng): string {
  switch (rng.int(5)) {
    case 0:
      return rng.hex(64);
    case 1:
      return rng.base36(25);
    case 2:
      return rng.base36(128);
    case 3:
      return `z${rng.base36(rng.int(12))}`;
    default:
      return rng.hex(1 + rng.int(12));
  }
}

/** Strings no Docker ID looks like (Docker IDs are hex or base36): Slim refuses them everywhere. */
function notADockerId(rng: Rng): string {
  return rng.pick([
    `../../${rng.hex(8)}`,
    `${rng.hex(8)} ${rng.hex(8)}`,
    `${rng.hex(8)}/${rng.hex(8)}`,
    `-${rng.hex(10)}`,
    `_${rng.hex(10)}`,
    `.${rng.hex(10)}`,
    `${rng.hex(10)}"`,
    `${rng.hex(10)}\n`,
    `${rng.hex(6)}é`,
    `${rng.hex(6)}\u0000`,
    `${rng.hex(6)}${rng.junk(10)}!`,
    '__proto__',
    '__defineGetter__',
  ]);
}

/** Strings that are not an IPv4 CIDR Slim accepts. */
function badCidr(rng: Rng): string {
  return rng.pick([
    '',
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/ 24',
    '10.0.0.0/24 ',
    ' 10.0.0.0/24',
    '300.0.0.0/8',
    '10.0.0/24',
    '10.0.0.0.0/24',
    'fd00::/64',
    '::/0',
    'a.b.c.d/8',
    '10.0.0.0/2a',
    '10.0.0.0/24/24',
    '0x0a.0.0.0/8',
    rng.junk(20),
    `10.${rng.int(1000) + 256}.0.0/16`,
  ]);
}

/** Strings that are not an IPv4 address (with or without /len). */
function badIp(rng: Rng): string {
  return rng.pick(['10.0.0', '10.0.0.256', '1.2.3.4.5', 'fe80::1', 'localhost', '-1.0.0.0', '10.0.0.1 ', 'a.b.c.d', '0x7f.0.0.1', '10..0.1', rng.junk(15)]);
}

function badMac(rng: Rng): string {
  return rng.pick(['zz:zz:zz:zz:zz:zz', '02:42:ac:11:00', '02:42:ac:11:00:02:03', '0242ac110002', '02-42-ac-11-00-02', '02:42:ac:11:00:0g', ' 02:42:ac:11:00:02', rng.junk(17)]);
}

const VNI_OPTION = 'slim.vni';
const MTU_OPTION = 'com.docker.network.driver.mtu';
const GENERIC = 'com.docker.network.generic';

function badOptionMap(rng: Rng): { map: Record<string, unknown>; why: string } {
  switch (rng.int(6)) {
    case 0:
      return { map: { [rng.pick(['color', 'mtu', 'vni', 'slim.VNI', 'com.docker.network.bridge.name', 'encrypted', ''])]: 'x' }, why: 'unknown-option' };
    case 1:
      return { map: { [VNI_OPTION]: rng.pick(['0', '16777216', '-1', '1.5', 'abc', '', '0x10', '99999999999', ' 5']) }, why: 'bad-vni' };
    case 2:
      return { map: { [MTU_OPTION]: rng.pick(['0', '575', '65001', 'big', '', '1e3', '-1500']) }, why: 'bad-mtu' };
    case 3:
      return { map: { [VNI_OPTION]: notAString(rng) }, why: 'option-not-string' };
    case 4:
      return { map: { [MTU_OPTION]: '1400', [`x-${rng.hex(4)}`]: '1' }, why: 'unknown-next-to-known' };
    default:
      return { map: { [rng.junk(10)]: rng.junk(10) }, why: 'junk-option' };
  }
}

// ------------------------------------------------------------------------------------ per-method families

type Family = (rng: Rng, b: Baseline) => { family: string; body: Buffer; expect: Expect };

const ERR: Expect = { kind: 'error' };
const EMPTY_OK: Expect = { kind: 'ok', reply: {} };

/** Wrong-type or badly shaped values for a method's required string ID fields. */
function badIdFields(fields: readonly string[], valid: Record<string, unknown>): Family {
  return (rng) => {
    const field = rng.pick(fields);
    const body: Record<string, unknown> = { ...valid };
    switch (rng.int(4)) {
      case 0:
        delete body[field];
        return { family: `missing-${field}`, body: json(body), expect: ERR };
      case 1:
        body[field] = notAString(rng);
        return { family: `wrong-type-${field}`, body: json(body), expect: ERR };
      case 2:
        if ((field === 'NetworkID' || field === 'EndpointID') && rng.chance(0.5)) {
          body[field] = notADockerId(rng);
          return { family: `not-a-docker-id-${field}`, body: json(body), expect: ERR };
        }
        body[field] = badLengthString(rng, MAX_LEN[field] ?? 128);
        return { family: `bad-length-${field}`, body: json(body), expect: ERR };
      default:
        // the ID hidden behind keys that would matter only if they polluted a prototype
        delete body[field];
        return { family: `proto-hidden-${field}`, body: withRawKeys(body, { __proto__: JSON.stringify({ [field]: 'x' }), constructor: JSON.stringify({ prototype: { [field]: 'x' } }) }), expect: ERR };
    }
  };
}

function methodFamilies(method: string, b: Baseline): Family[] {
  const net = b.networkId;
  const ep = b.endpointId;
  switch (method) {
    case 'NetworkDriver.AllocateNetwork':
      return [
        badIdFields(['NetworkID'], { NetworkID: unknownIdFixed(b, 1), Options: {} }),
        (rng) => {
          const { map, why } = badOptionMap(rng);
          return { family: why, body: json({ NetworkID: rng.hex(64), Options: map, IPv4Data: [{ Pool: '10.99.0.0/24' }] }), expect: ERR };
        },
        (rng) => ({ family: 'options-not-a-map', body: json({ NetworkID: rng.hex(64), Options: notAnObject(rng) }), expect: ERR }),
        (rng) => ({ family: 'ipv4data-wrong-type', body: json({ NetworkID: rng.hex(64), IPv4Data: rng.pick<unknown>(['x', 5, { Pool: '10.0.0.0/24' }, [5], [{ Pool: 5 }], [{}]]) }), expect: ERR }),
        () => ({ family: 'replay-baseline', body: json(b.replies.allocate.request), expect: { kind: 'ok', reply: b.replies.allocate.reply } }),
        (rng) => ({ family: 'conflicting-vni', body: json({ NetworkID: rng.hex(64), Options: { [VNI_OPTION]: String(b.vni) } }), expect: ERR }),
        // a Docker-shaped prototype name would be a new, valid network: only the odd ones are sent
        (rng) => ({ family: 'proto-odd-id', body: json({ NetworkID: rng.pick(PROTO_ODD.filter((n) => n.startsWith('_'))) }), expect: ERR }),
      ];
    case 'NetworkDriver.FreeNetwork':
      return [
        badIdFields(['NetworkID'], { NetworkID: unknownIdFixed(b, 2) }),
        (rng) => ({ family: 'unknown-id', body: json({ NetworkID: unknownId(rng) }), expect: EMPTY_OK }),
        (rng) => {
          const id = rng.pick(PROTO_NAMES);
          return { family: 'proto-name-id', body: json({ NetworkID: id }), expect: protoDelete(id) };
        },
      ];
    case 'NetworkDriver.CreateNetwork': {
      const valid = (rng: Rng, over: Record<string, unknown> = {}) => ({
        NetworkID: rng.hex(64),
        Options: { [GENERIC]: {} },
        IPv4Data: [{ AddressSpace: 'slim-local', Pool: '10.99.0.0/24', Gateway: '10.99.0.1/24', AuxAddresses: {} }],
        IPv6Data: [],
        ...over,
      });
      return [
        badIdFields(['NetworkID'], valid(new Rng(1))),
        (rng) => ({ family: 'zero-pools', body: json(valid(rng, { IPv4Data: rng.pick<unknown>([[], null]) })), expect: ERR }),
        (rng) => ({ family: 'two-pools', body: json(valid(rng, { IPv4Data: [{ Pool: '10.99.0.0/24' }, { Pool: '10.98.0.0/24' }] })), expect: ERR }),
        (rng) => ({ family: 'ipv6-data', body: json(valid(rng, { IPv6Data: [{ AddressSpace: 'slim-local', Pool: 'fd00::/64', Gateway: 'fd00::1/64' }] })), expect: ERR }),
        (rng) => ({ family: 'enable-ipv6', body: json(valid(rng, { Options: { [GENERIC]: {}, 'com.docker.network.enable_ipv6': rng.pick([true, 'true']) } })), expect: ERR }),
        (rng) => {
          const { map, why } = badOptionMap(rng);
          return { family: why, body: json(valid(rng, { Options: { [GENERIC]: map } })), expect: ERR };
        },
        (rng) => ({ family: 'generic-not-a-map', body: json(valid(rng, { Options: { [GENERIC]: rng.pick<unknown>(['mtu=1400', 5, ['a'], true]) } })), expect: ERR }),
        (rng) => ({ family: 'conflicting-vni', body: json(valid(rng, { Options: { [GENERIC]: { [VNI_OPTION]: String(b.vni) } } })), expect: ERR }),
        (rng) => ({ family: 'bad-subnet', body: json(valid(rng, { IPv4Data: [{ AddressSpace: 'slim-local', Pool: badCidr(rng) }] })), expect: ERR }),
        (rng) => ({ family: 'gateway-outside', body: json(valid(rng, { IPv4Data: [{ Pool: '10.99.0.0/24', Gateway: rng.pick(['10.98.0.1/24', '10.99.1.1/24', '0.0.0.0/0']) }] })), expect: ERR }),
        (rng) => ({ family: 'bad-gateway', body: json(valid(rng, { IPv4Data: [{ Pool: '10.99.0.0/24', Gateway: rng.pick([badIp(rng), '10.99.0.1']) }] })), expect: ERR }),
        (rng) => ({ family: 'pool-wrong-type', body: json(valid(rng, { IPv4Data: [{ Pool: notAString(rng) }] })), expect: ERR }),
        (rng) => ({ family: 'ipv4data-not-array', body: json(valid(rng, { IPv4Data: rng.pick<unknown>(['10.0.0.0/24', { Pool: '10.0.0.0/24' }, 7]) })), expect: ERR }),
        (rng) => ({ family: 'options-not-a-map', body: json(valid(rng, { Options: notAnObject(rng) })), expect: ERR }),
        (rng) => ({ family: 'too-many-pools', body: json(valid(rng, { IPv4Data: Array.from({ length: 65 }, () => ({ Pool: '10.99.0.0/24' })) })), expect: ERR }),
        (rng) => ({ family: 'long-pool', body: json(valid(rng, { IPv4Data: [{ Pool: `10.99.0.0/24${' '.repeat(100)}` }] })), expect: ERR }),
        (rng) => ({ family: 'deep-options-and-bad-subnet', body: Buffer.from(`{"NetworkID":"${rng.hex(64)}","Options":{"x":${deepObject(5000)}},"IPv4Data":[{"Pool":"nope"}]}`), expect: ERR }),
        () => ({ family: 'replay-baseline', body: json({ NetworkID: net, Options: { [GENERIC]: (b.replies.allocate.reply as { Options: object }).Options }, IPv4Data: [{ AddressSpace: 'slim-local', Pool: b.pool, Gateway: b.gateway, AuxAddresses: {} }], IPv6Data: [] }), expect: EMPTY_OK }),
      ];
    }
    case 'NetworkDriver.DeleteNetwork':
      return [
        badIdFields(['NetworkID'], { NetworkID: unknownIdFixed(b, 3) }),
        (rng) => ({ family: 'unknown-id', body: json({ NetworkID: unknownId(rng) }), expect: EMPTY_OK }),
        (rng) => {
          const id = rng.pick(PROTO_NAMES);
          return { family: 'proto-name-id', body: json({ NetworkID: id }), expect: protoDelete(id) };
        },
        (rng) => ({ family: 'baseline-prefix-id', body: json({ NetworkID: net.slice(0, 11 + rng.int(40)) + rng.hex(3) }), expect: EMPTY_OK }),
      ];
    case 'NetworkDriver.CreateEndpoint': {
      const valid = (rng: Rng, iface: unknown, over: Record<string, unknown> = {}) => ({ NetworkID: net, EndpointID: rng.hex(64), Interface: iface, Options: {}, ...over });
      return [
        badIdFields(['NetworkID', 'EndpointID'], valid(new Rng(2), { Address: '10.77.0.50/24' })),
        (rng) => ({ family: 'unknown-network', body: json(valid(rng, { Address: '10.77.0.50/24' }, { NetworkID: unknownId(rng) })), expect: ERR }),
        (rng) => ({ family: 'address-outside-subnet', body: json(valid(rng, { Address: rng.pick(['10.78.0.9/24', '192.168.0.1/24', '10.77.1.1/24']) })), expect: ERR }),
        (rng) => ({ family: 'no-address', body: json(valid(rng, rng.pick<unknown>([null, {}, { Address: '' }, { MacAddress: '02:42:0a:4d:00:09' }]))), expect: ERR }),
        (rng) => ({ family: 'ipv6-address', body: json(valid(rng, { Address: '10.77.0.50/24', AddressIPv6: 'fd00::5/64' })), expect: ERR }),
        (rng) => ({ family: 'bad-mac', body: json(valid(rng, { Address: '10.77.0.50/24', MacAddress: badMac(rng) })), expect: ERR }),
        (rng) => ({ family: 'bad-address', body: json(valid(rng, { Address: rng.pick([badIp(rng), '10.77.0.50', '10.77.0.50/33', '10.77.0.300/24']) })), expect: ERR }),
        (rng) => ({ family: 'interface-wrong-type', body: json(valid(rng, rng.pick<unknown>(['10.77.0.50/24', 5, ['10.77.0.50/24'], { Address: 5 }, { MacAddress: [] }]))), expect: ERR }),
        (rng) => ({ family: 'baseline-id-other-address', body: json(valid(rng, { Address: '10.77.0.51/24' }, { EndpointID: ep })), expect: ERR }),
        (rng) => ({ family: 'proto-name-network', body: json(valid(rng, { Address: '10.77.0.50/24' }, { NetworkID: rng.pick(PROTO_NAMES) })), expect: ERR }),
        (rng) => ({ family: 'proto-odd-endpoint', body: json(valid(rng, { Address: '10.77.0.50/24' }, { EndpointID: rng.pick(PROTO_ODD.filter((n) => n.startsWith('_'))) })), expect: ERR }),
        (rng) => ({ family: 'twin-of-baseline-endpoint', body: json(valid(rng, { Address: '10.77.0.52/24' }, { EndpointID: ep.slice(0, 11) + rng.hex(53) })), expect: ERR }),
        () => ({ family: 'replay-baseline', body: json(b.replies.createEndpoint.request), expect: { kind: 'ok', reply: b.replies.createEndpoint.reply } }),
      ];
    }
    case 'NetworkDriver.DeleteEndpoint':
      return [
        badIdFields(['NetworkID', 'EndpointID'], { NetworkID: net, EndpointID: unknownIdFixed(b, 4) }),
        (rng) => ({ family: 'unknown-endpoint', body: json({ NetworkID: rng.pick([net, unknownId(rng)]), EndpointID: unknownId(rng) }), expect: EMPTY_OK }),
        (rng) => {
          const id = rng.pick(PROTO_NAMES);
          const netId = rng.pick([net, ...PROTO_DOCKER_SHAPED]);
          return { family: 'proto-name-id', body: json({ NetworkID: netId, EndpointID: id }), expect: protoDelete(id) };
        },
      ];
    case 'NetworkDriver.EndpointOperInfo':
      return [
        badIdFields(['NetworkID', 'EndpointID'], { NetworkID: net, EndpointID: ep }),
        (rng) => ({ family: 'unknown-endpoint', body: json({ NetworkID: rng.pick([net, unknownId(rng)]), EndpointID: unknownId(rng) }), expect: ERR }),
        (rng) => ({ family: 'proto-name-id', body: json({ NetworkID: net, EndpointID: rng.pick(PROTO_NAMES) }), expect: ERR }),
        () => ({ family: 'baseline', body: json({ NetworkID: net, EndpointID: ep }), expect: { kind: 'ok', reply: b.replies.operInfo } }),
      ];
    case 'NetworkDriver.Join': {
      const valid = { NetworkID: net, EndpointID: ep, SandboxKey: '/var/run/docker/netns/fuzz2', Options: {} };
      return [
        badIdFields(['NetworkID', 'EndpointID', 'SandboxKey'], valid),
        (rng) => ({ family: 'unknown-endpoint', body: json({ ...valid, EndpointID: unknownId(rng) }), expect: ERR }),
        (rng) => ({ family: 'unknown-network', body: json({ ...valid, NetworkID: unknownId(rng) }), expect: ERR }),
        (rng) => ({ family: 'proto-name-endpoint', body: json({ ...valid, EndpointID: rng.pick(PROTO_NAMES) }), expect: ERR }),
        (rng) => ({ family: 'proto-name-network', body: json({ ...valid, NetworkID: rng.pick(PROTO_NAMES) }), expect: ERR }),
        (rng) => ({ family: 'long-sandbox-key', body: json({ ...valid, SandboxKey: `/var/run/docker/netns/${'x'.repeat(4100 + rng.int(100_000))}` }), expect: ERR }),
        (rng) => ({ family: 'options-not-a-map', body: json({ ...valid, Options: rng.pick<unknown>(['x', 5, ['a'], true]) }), expect: ERR }),
      ];
    }
    case 'NetworkDriver.Leave':
      return [
        badIdFields(['NetworkID', 'EndpointID'], { NetworkID: net, EndpointID: unknownIdFixed(b, 5) }),
        (rng) => ({ family: 'unknown-endpoint', body: json({ NetworkID: rng.pick([net, unknownId(rng)]), EndpointID: unknownId(rng) }), expect: EMPTY_OK }),
        (rng) => {
          const id = rng.pick(PROTO_NAMES);
          return { family: 'proto-name-id', body: json({ NetworkID: net, EndpointID: id }), expect: protoDelete(id) };
        },
      ];
    case 'NetworkDriver.ProgramExternalConnectivity':
    case 'NetworkDriver.RevokeExternalConnectivity':
      return [
        badIdFields(['NetworkID', 'EndpointID'], { NetworkID: net, EndpointID: ep, Options: {} }),
        // Slim has no external connectivity to program: any well-formed request is a no-op
        (rng) => ({ family: 'no-op', body: json({ NetworkID: rng.pick([net, unknownId(rng)]), EndpointID: rng.pick([ep, unknownId(rng)]), Options: rng.pick<unknown>([{}, null, { 'com.docker.network.portmap': [{ Proto: 6 }] }]) }), expect: EMPTY_OK }),
        (rng) => ({ family: 'options-not-a-map', body: json({ NetworkID: net, EndpointID: ep, Options: rng.pick<unknown>(['x', 5, ['a']]) }), expect: ERR }),
      ];
    case 'NetworkDriver.DiscoverNew':
    case 'NetworkDriver.DiscoverDelete':
      return [
        (rng) => ({ family: 'bad-type', body: json({ DiscoveryType: rng.pick<unknown>(['1', 1.5, null, true, [1], {}, 2 ** 60]), DiscoveryData: {} }), expect: ERR }),
        () => ({ family: 'missing-type', body: json({ DiscoveryData: { Address: '10.0.0.9' } }), expect: ERR }),
        () => ({ family: 'missing-data', body: json({ DiscoveryType: 1 }), expect: ERR }),
        // Slim learns peers from its store, not from Docker: well-formed discovery is a no-op
        (rng) => ({ family: 'junk-data', body: Buffer.from(`{"DiscoveryType":${rng.pick([1, 2, 0, -7])},"DiscoveryData":${rng.pick([JSON.stringify(rng.junk()), 'null', deepObject(3000), deepArray(3000), JSON.stringify({ Address: badIp(rng), Self: 'yes' })])}}`), expect: EMPTY_OK }),
      ];
    case 'IpamDriver.RequestPool': {
      const valid = (over: Record<string, unknown>) => ({ AddressSpace: 'slim-local', Pool: '', SubPool: '', Options: {}, V6: false, ...over });
      return [
        (rng) => ({ family: 'v6', body: json(valid({ V6: true, Pool: rng.pick(['', 'fd00::/64', '10.99.0.0/24']) })), expect: ERR }),
        (rng) => ({ family: 'unknown-space', body: json(valid({ AddressSpace: rng.pick(['default', 'LocalDefault', 'GlobalDefault', 'slim', rng.junk(20), 'SLIM-LOCAL']) })), expect: ERR }),
        (rng) => ({ family: 'bad-space', body: json(valid({ AddressSpace: rng.pick<unknown>(['', 'x'.repeat(257), null, 5, ['slim-local']]) })), expect: ERR }),
        () => ({ family: 'missing-space', body: json({ Pool: '10.99.0.0/24' }), expect: ERR }),
        // never "": an empty Pool asks for a new pool and would succeed
        (rng) => ({ family: 'bad-pool', body: json(valid({ Pool: badCidr(rng) || '10.0.0.0' })), expect: ERR }),
        (rng) => ({ family: 'pool-host-bits', body: json(valid({ Pool: rng.pick(['10.99.0.1/24', '10.99.0.128/16', '192.168.1.1/31']) })), expect: ERR }),
        (rng) => ({ family: 'subpool-without-pool', body: json(valid({ SubPool: rng.pick(['10.99.0.0/25', 'x']) })), expect: ERR }),
        (rng) => ({ family: 'subpool-outside', body: json(valid({ AddressSpace: rng.pick(['slim-local', 'slim-global']), Pool: '10.99.0.0/24', SubPool: rng.pick(['10.98.0.0/25', '10.99.0.0/23', '10.99.1.0/24']) })), expect: ERR }),
        (rng) => ({ family: 'bad-subpool', body: json(valid({ Pool: '10.99.0.0/24', SubPool: badCidr(rng) || 'x' })), expect: ERR }),
        (rng) => ({ family: 'overlapping-pool', body: json(valid({ Pool: rng.pick(['10.77.0.0/16', '10.77.0.128/25', '10.0.0.0/8', '0.0.0.0/0', '10.78.0.0/31', '10.77.0.0/23']) })), expect: ERR }),
        (rng) => ({ family: 'wrong-types', body: json(valid({ [rng.pick(['Pool', 'SubPool'])]: rng.pick<unknown>([5, true, ['10.0.0.0/8'], { a: 1 }]) })), expect: ERR }),
        (rng) => ({ family: 'options-wrong-type', body: json(valid({ Options: rng.pick<unknown>(['x', 5, { a: 5 }, { a: null }]) })), expect: ERR }),
        (rng) => ({ family: 'v6-wrong-type', body: json(valid({ V6: rng.pick<unknown>(['true', 1, 'false', [] ]) })), expect: ERR }),
        (rng) => ({ family: 'long-pool', body: json(valid({ Pool: `10.99.0.0/24${'0'.repeat(60 + rng.int(100_000))}` })), expect: ERR }),
        () => ({ family: 'replay-baseline', body: json(b.replies.requestPool.request), expect: { kind: 'ok', reply: b.replies.requestPool.reply } }),
      ];
    }
    case 'IpamDriver.ReleasePool':
      return [
        badIdFields(['PoolID'], { PoolID: unknownIdFixed(b, 6) }),
        (rng) => ({ family: 'unknown-pool', body: json({ PoolID: rng.pick([unknownId(rng), rng.junk(30), `slim-global|${b.pool}`, `slim-local|${b.pool}|${b.pool}`, `SLIM-LOCAL|${b.pool}`, `slim-local|10.77.0.0/25`, b.pool, `${b.poolId} `]) }), expect: EMPTY_OK }),
        (rng) => ({ family: 'proto-name-id', body: json({ PoolID: rng.pick(PROTO_NAMES) }), expect: EMPTY_OK }),
        (rng) => ({ family: 'too-long', body: json({ PoolID: 'p'.repeat(513 + rng.int(100_000)) }), expect: ERR }),
      ];
    case 'IpamDriver.RequestAddress': {
      const gw = { RequestAddressType: 'com.docker.network.gateway' };
      return [
        badIdFields(['PoolID'], { PoolID: b.poolId, Address: '10.77.0.60' }),
        (rng) => ({ family: 'unknown-pool', body: json({ PoolID: rng.pick([unknownId(rng), rng.junk(30), ...PROTO_NAMES]), Address: rng.pick(['', '10.77.0.60']), Options: rng.pick([{}, gw]) }), expect: ERR }),
        (rng) => ({ family: 'address-outside', body: json({ PoolID: b.poolId, Address: rng.pick(['10.78.0.1', '10.77.1.1/24', '192.168.0.1', '10.77.0.0', '10.77.0.255', '10.77.0.255/24']) }), expect: ERR }),
        (rng) => ({ family: 'bad-address', body: json({ PoolID: b.poolId, Address: badIp(rng) }), expect: ERR }),
        (rng) => ({ family: 'exhausted', body: json({ PoolID: b.fullPoolId, Address: '', Options: rng.pick([{}, null, gw]) }), expect: ERR }),
        (rng) => ({ family: 'exhausted-network-address', body: json({ PoolID: b.fullPoolId, Address: rng.pick(['10.78.0.0', '10.78.0.3']) }), expect: ERR }),
        (rng) => ({ family: 'wrong-types', body: json({ PoolID: b.poolId, Address: rng.pick<unknown>([5, true, ['10.77.0.60'], { ip: 1 }]) }), expect: ERR }),
        (rng) => ({ family: 'options-wrong-type', body: json({ PoolID: b.poolId, Address: '10.77.0.60', Options: rng.pick<unknown>(['x', 5, { RequestAddressType: 5 }]) }), expect: ERR }),
        (rng) => ({ family: 'long-address', body: json({ PoolID: b.poolId, Address: `10.77.0.60${' '.repeat(60 + rng.int(10_000))}` }), expect: ERR }),
        (rng) => {
          const address = rng.pick([b.address, b.gateway, ...b.fullAddresses]);
          const poolId = b.fullAddresses.some((a) => a.split('/')[0] === address.split('/')[0]) ? b.fullPoolId : b.poolId;
          const prefix = poolId === b.fullPoolId ? b.fullPool.split('/')[1] : b.pool.split('/')[1];
          const ip = address.split('/')[0] ?? '';
          // replaying an allocated explicit address is idempotent (Docker replays after restarts)
          return { family: 'replay-allocated', body: json({ PoolID: poolId, Address: rng.pick([ip, `${ip}/${prefix}`]), Options: {} }), expect: { kind: 'ok', reply: { Address: `${ip}/${prefix}`, Data: {} } } };
        },
      ];
    }
    case 'IpamDriver.ReleaseAddress':
      return [
        badIdFields(['PoolID', 'Address'], { PoolID: b.poolId, Address: '10.77.0.70' }),
        (rng) => ({ family: 'unknown-pool', body: json({ PoolID: rng.pick([unknownId(rng), rng.junk(30), `slim-global|${b.pool}`, ...PROTO_NAMES]), Address: rng.pick(['10.77.0.2', '10.99.0.5/24', badIp(rng)]) }), expect: EMPTY_OK }),
        (rng) => ({ family: 'unallocated-address', body: json({ PoolID: b.poolId, Address: rng.pick(['10.77.0.70', '10.77.0.254/24', '10.99.0.1', '10.77.0.0', '10.77.0.255']) }), expect: EMPTY_OK }),
        (rng) => ({ family: 'bad-address', body: json({ PoolID: b.poolId, Address: badIp(rng) }), expect: ERR }),
      ];
    // `slim policy`'s methods. Only refused requests are sent (the storm must leave the state as it
    // was): every Add below breaks one rule of the request shape, and the baseline has no rules, so
    // every Remove names none.
    case 'Slim.Policy.Add': {
      const any = { kind: 'any' };
      const rule = (over: Record<string, unknown> = {}) => ({ action: 'allow', from: any, to: any, ...over });
      return [
        (rng) => ({ family: 'bad-action', body: json(rule({ action: rng.pick<unknown>(['permit', 'ALLOW', '', 1, null, rng.junk()]) })), expect: ERR }),
        (rng) => ({ family: 'missing-side', body: json(rng.pick([{ action: 'deny', from: any }, { action: 'deny', to: any }, { action: 'deny' }])), expect: ERR }),
        (rng) => ({ family: 'bad-selector', body: json(rule({ [rng.pick(['from', 'to'])]: rng.pick<unknown>([
          { kind: 'host' }, { kind: 'network' }, { kind: 'service', name: '' }, { kind: 'container', name: 5 },
          { kind: 'label' }, { kind: 'label', key: 'a', value: '' }, { kind: 'any', name: 'x' }, { kind: '__proto__' },
          'any', null, [any], notAnObject(rng),
        ]) })), expect: ERR }),
        (rng) => ({ family: 'control-chars-in-name', body: json(rule({ to: { kind: 'service', name: `web${rng.pick(['\u0000', '\n', '\u001b[2J', '\u007f'])}x` } })), expect: ERR }),
        (rng) => ({ family: 'long-name', body: json(rule({ from: { kind: 'container', name: 'c'.repeat(257 + rng.int(5000)) } })), expect: ERR }),
        (rng) => ({ family: 'bad-port', body: json(rule({ port: rng.pick<unknown>([0, -1, 65536, 1.5, '80', null, 1e999]) })), expect: ERR }),
        (rng) => ({ family: 'bad-position', body: json(rule({ position: rng.pick<unknown>([0, -3, 1001, 2.5, '1']) })), expect: ERR }),
        (rng) => ({ family: 'unknown-key', body: json(rule({ [rng.pick(['id', 'Action', 'priority', 'expires'])]: rng.junk() })), expect: ERR }),
        () => ({ family: 'proto-keys', body: withRawKeys(rule({ port: 0 }), { __proto__: '{"action":"deny"}', constructor: '{"prototype":{"polluted":true}}' }), expect: ERR }),
      ];
    }
    case 'Slim.Policy.Remove':
      return [
        (rng) => ({ family: 'no-such-rule', body: json({ ids: [rng.pick(['p0000', 'p', unknownId(rng), ...PROTO_NAMES])] }), expect: ERR }),
        (rng) => ({ family: 'bad-ids', body: json({ ids: rng.pick<unknown>([[], '', 'p1234', [5], [''], ['x'.repeat(65)], null, Array.from({ length: 1001 }, (_, i) => `p${i}`)]) }), expect: ERR }),
        (rng) => ({ family: 'unknown-key', body: json({ ids: ['p1'], all: rng.pick<unknown>([true, 1, 'yes']) }), expect: ERR }),
      ];
    case 'Slim.Policy.List':
      return [(rng) => ({ family: 'unknown-key', body: json({ [rng.pick(['all', 'id', 'verbose'])]: rng.pick<unknown>([true, 'x', 1]) }), expect: ERR })];
    default:
      return [];
  }
}

/** A fixed unknown ID per use, derived from the baseline so it never collides with it. */
function unknownIdFixed(b: Baseline, k: number): string {
  return `unknown${k}-${b.networkId.slice(0, 8)}`;
}

// ------------------------------------------------------------------------------------ the generator

export interface GenerateOptions {
  seed: number;
  count: number;
  /** Method names of the route table (Plugin.Activate, NetworkDriver.*, IpamDriver.*, Slim.*). */
  methods: readonly string[];
  baseline: Baseline;
  /** How many bodies over 1 MiB to include (they are slow to send). */
  hugeBodies: number;
}

const MAX_BODY = 1024 * 1024;

/** Methods the generator has specific families for; every route must be in here. */
export function uncoveredMethods(methods: readonly string[], b: Baseline): string[] {
  return methods.filter((m) => !(NO_INPUT_METHODS as readonly string[]).includes(m) && methodFamilies(m, b).length === 0);
}

export function generate(opts: GenerateOptions): FuzzCase[] {
  const rng = new Rng(opts.seed);
  const b = opts.baseline;
  const cases: FuzzCase[] = [];
  const hugeAt = new Set<number>();
  while (hugeAt.size < Math.min(opts.hugeBodies, opts.count)) hugeAt.add(rng.int(opts.count));
  // every method gets at least one pass of each family before random picks take over
  const targets = [...opts.methods, '(unknown method)', '(wrong verb)'];

  for (let n = 0; n < opts.count; n++) {
    const target = n < targets.length ? (targets[n] as string) : rng.pick(targets);
    const c = hugeAt.has(n) ? hugeCase(rng, target, opts.methods) : oneCase(rng, target, opts.methods, b);
    cases.push({ n, headers: {}, ...c });
  }
  // the exact bodies Docker sends with no-input methods, once each
  for (const m of opts.methods) {
    if ((NO_INPUT_METHODS as readonly string[]).includes(m)) {
      cases.push({ n: cases.length, family: 'docker-empty-body', verb: 'POST', path: `/${m}`, body: Buffer.alloc(0), headers: {}, expect: { kind: 'ok', reply: noInputReply(m, b) } });
    }
  }
  return cases;
}

function realMethod(rng: Rng, methods: readonly string[], target: string): string {
  return target.startsWith('(') ? rng.pick(methods) : target;
}

function hugeCase(rng: Rng, target: string, methods: readonly string[]): Omit<FuzzCase, 'n' | 'headers'> {
  const method = target.startsWith('(') ? `${rng.pick(methods)}` : target;
  const size = MAX_BODY + 1 + rng.int(300_000);
  const body = rng.chance(0.5) ? Buffer.from(JSON.stringify({ NetworkID: 'x'.repeat(size) })) : Buffer.from(`{"pad":"${'a'.repeat(size)}"}`);
  return { family: 'any/huge-body', verb: 'POST', path: `/${method}`, body, expect: ERR };
}

function noInputReply(method: string, b: Baseline): unknown {
  switch (method) {
    case 'Plugin.Activate':
      return b.replies.activate;
    case 'NetworkDriver.GetCapabilities':
      return b.replies.netCaps;
    case 'IpamDriver.GetCapabilities':
      return b.replies.ipamCaps;
    case 'IpamDriver.GetDefaultAddressSpaces':
      return b.replies.addressSpaces;
    default:
      return b.replies.status;
  }
}

/** Families that make any method fail before its handler runs. */
function genericHostile(rng: Rng): { family: string; body: Buffer; headers?: Record<string, string> } {
  switch (rng.int(9)) {
    case 0: {
      let body = Buffer.concat([Buffer.from(rng.pick(['', '\u00ff', 'x', '{', '<'])), rng.bytes(1 + rng.int(2000))]);
      // random bytes that happen to be a JSON object (say "{}") would be a valid request
      if (isJsonObject(body)) body = Buffer.concat([body, Buffer.from('}')]);
      return { family: 'any/garbage-bytes', body };
    }
    case 1: {
      const text = JSON.stringify({ NetworkID: rng.hex(64), EndpointID: rng.hex(64), Options: { a: rng.junk() }, IPv4Data: [{ Pool: '10.99.0.0/24' }] });
      return { family: 'any/truncated-json', body: Buffer.from(text.slice(0, 1 + rng.int(text.length - 1))) };
    }
    case 2:
      return { family: 'any/json-wrong-type', body: Buffer.from(rng.pick(['null', '[]', '[{}]', '42', '-1', '"x"', 'true', 'false', '1e999', '"{}"', '[null]', '0'])) };
    case 3:
      return { family: 'any/deep-array', body: Buffer.from(deepArray(1 + rng.int(200_000))) };
    case 4:
      return { family: 'any/not-json', body: Buffer.from(rng.pick(["{'a':1}", '{a:1}', '{"a":1,}', '{"a":01}', '{"a":NaN}', '{"a":undefined}', '{"a":"\\x41"}', '{"a":1}}', '{"a":1}{"b":2}', '   ', '\u00ef\u00bb\u00bf{}', '{"a":"\u0001"}'])) };
    case 5:
      return { family: 'any/bad-charset', body: Buffer.from('{}'), headers: { 'Content-Type': rng.pick(['application/json; charset=latin1', 'text/plain; charset=koi8-r', 'application/json; charset=ascii']) } };
    case 6: {
      // corrupt compressed bodies: gzip without its magic, zlib with an invalid method byte, an
      // unknown coding. (Not brotli: it has no header, and random bytes may decode to nothing.)
      const encoding = rng.pick(['gzip', 'deflate', 'x-bogus', 'compress']);
      const body = rng.bytes(10 + rng.int(100));
      body[0] = 0x00;
      return { family: 'any/bad-encoding', body, headers: { 'Content-Encoding': encoding } };
    }
    case 7:
      return { family: 'any/lone-surrogate-json', body: Buffer.concat([Buffer.from('{"NetworkID":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"')]) };
    default:
      return { family: 'any/nul-bytes', body: Buffer.alloc(1 + rng.int(5000)) };
  }
}

function oneCase(rng: Rng, target: string, methods: readonly string[], b: Baseline): Omit<FuzzCase, 'n' | 'headers'> & { headers?: Record<string, string> } {
  if (target === '(unknown method)') {
    const path = rng.pick([
      '/NetworkDriver.createNetwork',
      '/IpamDriver.RequestPool%20',
      '/NetworkDriver.CreateNetwork/',
      '/NetworkDriver',
      '/',
      '//Plugin.Activate',
      '/../Plugin.Activate',
      '/__proto__',
      '/constructor',
      '/toString',
      '/hasOwnProperty',
      '/Object.prototype',
      '/VolumeDriver.Create',
      '/Plugin.Deactivate',
      `/${[...Buffer.from(rng.junk(30))].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')}`,
      `/${'M'.repeat(1 + rng.int(8000))}`,
      '/Slim.Status.x',
      '/%2e%2e/Plugin.Activate',
    ]);
    // the body is parsed before routing: only a valid body reaches the "unknown method" answer
    if (rng.chance(0.2)) {
      const g = genericHostile(rng);
      return { family: `unknown-method/${g.family}`, verb: 'POST', path, body: g.body, headers: g.headers, expect: ERR };
    }
    return { family: 'unknown-method', verb: 'POST', path, body: json(rng.pick<unknown>([{}, { NetworkID: b.networkId }])), expect: { kind: 'notfound' } };
  }
  if (target === '(wrong verb)') {
    const verb = rng.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    const body = verb === 'GET' && rng.chance(0.5) ? Buffer.alloc(0) : json(rng.pick<unknown>([{}, { NetworkID: rng.hex(64) }]));
    return { family: `wrong-verb/${verb}`, verb, path: `/${rng.pick(methods)}`, body, expect: { kind: 'notfound' } };
  }

  const method = realMethod(rng, methods, target);
  const noInput = (NO_INPUT_METHODS as readonly string[]).includes(method);
  const families = methodFamilies(method, b);

  // a fifth of the cases (all of them for no-input methods but half) are transport-level garbage
  if (rng.chance(noInput ? 0.5 : 0.2)) {
    const g = genericHostile(rng);
    return { family: `${short(method)}/${g.family}`, verb: 'POST', path: `/${method}`, body: g.body, headers: g.headers, expect: ERR };
  }
  if (noInput) {
    // no input to get wrong: any JSON object is accepted and the answer is the usual one
    const body = rng.pick<() => Buffer>([
      () => json({}),
      () => json({ NetworkID: rng.hex(64), junk: rng.junk() }),
      () => withRawKeys({ a: 1 }, { __proto__: '{"polluted":true}', constructor: '{"prototype":{"polluted":true}}' }),
      () => Buffer.from(deepObject(1 + rng.int(50_000))),
      () => json({ big: 'x'.repeat(rng.int(900_000)) }),
    ])();
    return { family: `${short(method)}/object-body`, verb: 'POST', path: `/${method}`, body, expect: { kind: 'ok', reply: noInputReply(method, b) } };
  }
  const family = rng.pick(families);
  const c = family(rng, b);
  return { family: `${short(method)}/${c.family}`, verb: 'POST', path: `/${method}`, body: c.body, expect: c.expect };
}

function isJsonObject(body: Buffer): boolean {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

function short(method: string): string {
  return method.replace(/^(NetworkDriver|IpamDriver)\./, '');
}

/** Error messages that leak internals instead of telling the operator what was wrong. */
export const UNCLEAR_ERROR = /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|\[object \w+\]|native code|Maximum call stack|^ip (link|addr|-j)/;
