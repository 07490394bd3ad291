import test from 'ava';
import { contains, formatCidr, formatIp, hostRange, overlaps, parseCidr, parseIp, size } from '../../ipam/ipv4.js';

test('parseIp and formatIp round-trip, including the extremes', (t) => {
  for (const text of ['0.0.0.0', '10.0.0.1', '127.0.0.1', '192.168.255.254', '255.255.255.255', '128.0.0.0']) {
    t.is(formatIp(parseIp(text)), text);
  }
  t.is(parseIp('0.0.0.0'), 0);
  t.is(parseIp('255.255.255.255'), 0xffffffff);
  t.is(parseIp('10.1.2.3'), (10 << 24) + (1 << 16) + (2 << 8) + 3);
  // values above 2^31 stay positive (unsigned arithmetic)
  t.true(parseIp('200.0.0.1') > 0);
  t.is(formatIp(0xc0a80001), '192.168.0.1');
});

test('parseIp rejects anything that is not a dotted quad', (t) => {
  const bad = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.999',
    '1.2.3.-1',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.4/24',
    'a.b.c.d',
    '::1',
    'fe80::1',
    '1..2.3',
    '0x0a.0.0.1',
    '1.2.3.4\n',
    '１.２.３.４', // full-width digits
  ];
  for (const text of bad) {
    t.throws(() => parseIp(text), { message: /not an IPv4 address/ }, JSON.stringify(text));
  }
});

test('parseCidr parses network/len for every prefix length class', (t) => {
  t.deepEqual(parseCidr('10.0.0.0/8'), { base: parseIp('10.0.0.0'), prefix: 8 });
  t.deepEqual(parseCidr('0.0.0.0/0'), { base: 0, prefix: 0 });
  t.deepEqual(parseCidr('192.168.1.7/32'), { base: parseIp('192.168.1.7'), prefix: 32 });
  t.deepEqual(parseCidr('192.168.1.6/31'), { base: parseIp('192.168.1.6'), prefix: 31 });
  t.deepEqual(parseCidr('255.255.255.0/24'), { base: parseIp('255.255.255.0'), prefix: 24 });
  t.is(formatCidr(parseCidr('172.16.0.0/12')), '172.16.0.0/12');
});

test('parseCidr rejects host bits unless asked to allow them, and names the network meant', (t) => {
  const err = t.throws(() => parseCidr('10.0.0.5/24'));
  t.regex(err.message, /host bits set/);
  t.regex(err.message, /10\.0\.0\.0\/24/);
  t.throws(() => parseCidr('192.168.1.7/31'), { message: /host bits/ });
  t.throws(() => parseCidr('200.1.2.3/1'), { message: /did you mean 128\.0\.0\.0\/1/ });
  // interface addresses ("ip/len") keep their host bits but report the network
  t.deepEqual(parseCidr('10.0.0.5/24', true), { base: parseIp('10.0.0.0'), prefix: 24 });
  t.deepEqual(parseCidr('255.255.255.255/1', true), { base: parseIp('128.0.0.0'), prefix: 1 });
});

test('parseCidr rejects bad inputs with a clear message', (t) => {
  const cases: [string, RegExp][] = [
    ['10.0.0.0', /not a CIDR/],
    ['', /not a CIDR/],
    ['/24', /not an IPv4 address/],
    ['10.0.0.0/', /bad prefix length/],
    ['10.0.0.0/33', /bad prefix length/],
    ['10.0.0.0/99', /bad prefix length/],
    ['10.0.0.0/123', /bad prefix length/],
    ['10.0.0.0/-1', /bad prefix length/],
    ['10.0.0.0/2 4', /bad prefix length/],
    ['10.0.0.0/24/24', /bad prefix length/],
    ['10.0.0.0/a', /bad prefix length/],
    ['10.0.0.0/24 ', /bad prefix length/],
    ['300.0.0.0/8', /not an IPv4 address/],
    ['fd00::/64', /not an IPv4 address/],
  ];
  for (const [text, message] of cases) t.throws(() => parseCidr(text), { message }, JSON.stringify(text));
});

test('size, contains and overlaps', (t) => {
  const a = parseCidr('10.0.0.0/24');
  t.is(size(a), 256);
  t.is(size(parseCidr('0.0.0.0/0')), 2 ** 32);
  t.is(size(parseCidr('1.2.3.4/32')), 1);
  t.true(contains(a, parseIp('10.0.0.0')));
  t.true(contains(a, parseIp('10.0.0.255')));
  t.false(contains(a, parseIp('10.0.1.0')));
  t.false(contains(a, parseIp('9.255.255.255')));
  t.true(contains(parseCidr('0.0.0.0/0'), parseIp('255.255.255.255')));

  const pairs: [string, string, boolean][] = [
    ['10.0.0.0/24', '10.0.0.0/24', true],
    ['10.0.0.0/24', '10.0.0.128/25', true], // inside
    ['10.0.0.0/16', '10.0.255.0/24', true], // inside, at the end
    ['10.0.0.0/24', '10.0.1.0/24', false], // adjacent
    ['10.0.0.0/25', '10.0.0.128/25', false], // adjacent halves
    ['10.0.0.0/8', '11.0.0.0/8', false],
    ['0.0.0.0/0', '192.168.0.0/16', true],
    ['255.255.255.255/32', '255.255.255.254/31', true],
    ['255.255.255.254/32', '255.255.255.255/32', false],
  ];
  for (const [x, y, expected] of pairs) {
    t.is(overlaps(parseCidr(x), parseCidr(y)), expected, `${x} vs ${y}`);
    t.is(overlaps(parseCidr(y), parseCidr(x)), expected, `${y} vs ${x}`);
  }
});

test('hostRange reserves network and broadcast only when the pool has room', (t) => {
  const range = (c: string) => {
    const r = hostRange(parseCidr(c));
    return [formatIp(r.first), formatIp(r.last)];
  };
  t.deepEqual(range('10.0.0.0/24'), ['10.0.0.1', '10.0.0.254']);
  t.deepEqual(range('10.0.0.0/30'), ['10.0.0.1', '10.0.0.2']);
  t.deepEqual(range('10.0.0.4/31'), ['10.0.0.4', '10.0.0.5']); // RFC 3021 point-to-point
  t.deepEqual(range('10.0.0.9/32'), ['10.0.0.9', '10.0.0.9']);
  t.deepEqual(range('255.255.255.0/24'), ['255.255.255.1', '255.255.255.254']);
  t.deepEqual(range('0.0.0.0/0'), ['0.0.0.1', '255.255.255.254']);
});
