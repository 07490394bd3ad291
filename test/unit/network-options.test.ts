import test from 'ava';
import { MAX_VNI, MTU_OPTION, parseNetworkOptions, VNI_OPTION } from '../../driver/network-options.js';
import { PluginError } from '../../driver/plugin/errors.js';
import { ENABLE_IPV6_OPTION, GENERIC_OPTIONS, INTERNAL_OPTION } from '../../driver/plugin/protocol.js';

const generic = (map: unknown) => ({ [GENERIC_OPTIONS]: map });

function refuses(t: import('ava').ExecutionContext, options: Record<string, unknown> | null | undefined, message: RegExp): void {
  const err = t.throws(() => parseNetworkOptions(options));
  t.true(err instanceof PluginError, `expected a PluginError, got ${err?.name}: ${err?.message}`);
  t.regex(err?.message ?? '', message);
}

test('no options at all: defaults', (t) => {
  const expected = { generic: {}, mtu: null, vni: null, internal: false, ipv6: false };
  t.deepEqual(parseNetworkOptions(undefined), expected);
  t.deepEqual(parseNetworkOptions(null), expected);
  t.deepEqual(parseNetworkOptions({}), expected);
  t.deepEqual(parseNetworkOptions(generic({})), expected);
  t.deepEqual(parseNetworkOptions(generic(null)), expected, 'Docker may send null maps');
});

test('known options are parsed and kept as the user gave them', (t) => {
  const o = parseNetworkOptions(generic({ [MTU_OPTION]: '1400', [VNI_OPTION]: '4242' }));
  t.is(o.mtu, 1400);
  t.is(o.vni, 4242);
  t.deepEqual(o.generic, { [MTU_OPTION]: '1400', [VNI_OPTION]: '4242' });
});

test('unknown -o keys are refused with a message naming the known ones', (t) => {
  for (const key of ['foo', 'mtu', 'vni', 'slim.VNI', 'com.docker.network.bridge.name', '', '__proto__x', 'constructor']) {
    refuses(t, generic({ [key]: '1' }), new RegExp(`unknown network option ${escape(JSON.stringify(key))}; Slim knows ${escape(MTU_OPTION)}, slim\\.vni`));
  }
  // a known key next to an unknown one does not help
  refuses(t, generic({ [MTU_OPTION]: '1400', typo: 'x' }), /unknown network option "typo"/);
});

test('a "__proto__" key in the generic map is refused, not silently dropped', (t) => {
  // JSON.parse makes "__proto__" an own property, which is what the server hands the driver
  const raw = JSON.parse('{"com.docker.network.generic":{"__proto__":{"slim.vni":"5"}}}') as Record<string, unknown>;
  refuses(t, raw, /unknown network option "__proto__"/);
  t.is(({} as Record<string, unknown>)['slim.vni'], undefined, 'no prototype pollution');
});

test('the generic map must be a map of strings', (t) => {
  for (const bad of ['mtu=1400', 42, true, ['a'], [], 0]) {
    refuses(t, generic(bad), /com\.docker\.network\.generic must be a map of strings/);
  }
  refuses(t, generic({ [MTU_OPTION]: 1400 }), /network option com\.docker\.network\.driver\.mtu must be a string/);
  refuses(t, generic({ [VNI_OPTION]: null }), /network option slim\.vni must be a string/);
  refuses(t, generic({ [VNI_OPTION]: { x: 1 } }), /must be a string/);
});

test('mtu range: 576 to 65000, whole numbers only', (t) => {
  t.is(parseNetworkOptions(generic({ [MTU_OPTION]: '576' })).mtu, 576);
  t.is(parseNetworkOptions(generic({ [MTU_OPTION]: '65000' })).mtu, 65_000);
  t.is(parseNetworkOptions(generic({ [MTU_OPTION]: '1450' })).mtu, 1450);
  for (const bad of ['575', '0', '65001', '100000', '-1', '1400.5', '1e3', ' 1400', '1400 ', '', '0x500', 'abc', '9999999999']) {
    refuses(t, generic({ [MTU_OPTION]: bad }), new RegExp(`com\\.docker\\.network\\.driver\\.mtu must be a whole number from 576 to 65000, not ${escape(JSON.stringify(bad))}`));
  }
});

test('slim.vni range: 1 to 2^24-1, whole numbers only', (t) => {
  t.is(MAX_VNI, 16_777_215);
  t.is(parseNetworkOptions(generic({ [VNI_OPTION]: '1' })).vni, 1);
  t.is(parseNetworkOptions(generic({ [VNI_OPTION]: '16777215' })).vni, MAX_VNI);
  t.is(parseNetworkOptions(generic({ [VNI_OPTION]: '0008' })).vni, 8);
  for (const bad of ['0', '16777216', '99999999', '-5', '1.5', 'abc', '', '1_000', '0x10', '1234567890']) {
    refuses(t, generic({ [VNI_OPTION]: bad }), new RegExp(`slim\\.vni must be a whole number from 1 to 16777215, not ${escape(JSON.stringify(bad))}`));
  }
});

test('internal and IPv6 flags: booleans or "true"', (t) => {
  t.true(parseNetworkOptions({ [INTERNAL_OPTION]: true }).internal);
  t.true(parseNetworkOptions({ [INTERNAL_OPTION]: 'true' }).internal);
  for (const off of [false, 'false', 'TRUE', 1, '1', null, undefined, 'yes']) {
    t.false(parseNetworkOptions({ [INTERNAL_OPTION]: off }).internal, JSON.stringify(off));
  }
  t.true(parseNetworkOptions({ [ENABLE_IPV6_OPTION]: true }).ipv6);
  t.true(parseNetworkOptions({ [ENABLE_IPV6_OPTION]: 'true' }).ipv6);
  t.false(parseNetworkOptions({ [ENABLE_IPV6_OPTION]: false }).ipv6);
  // flags live next to the generic map, not inside it: inside they are unknown -o keys
  refuses(t, generic({ [INTERNAL_OPTION]: 'true' }), /unknown network option "com\.docker\.network\.internal"/);
  const both = parseNetworkOptions({ [INTERNAL_OPTION]: true, [ENABLE_IPV6_OPTION]: false, ...generic({ [MTU_OPTION]: '1400' }) });
  t.deepEqual(both, { generic: { [MTU_OPTION]: '1400' }, mtu: 1400, vni: null, internal: true, ipv6: false });
});

test('other top-level Options keys Docker sends are ignored', (t) => {
  const o = parseNetworkOptions({ 'com.docker.network.enable_ipv4': true, 'com.docker.network.something.new': { a: 1 } });
  t.deepEqual(o, { generic: {}, mtu: null, vni: null, internal: false, ipv6: false });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
