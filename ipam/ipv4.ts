// IPv4 arithmetic on 32-bit unsigned integers. IPv6 is not supported by Slim yet.

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIp(text: string): number {
  const m = IPV4.exec(text);
  if (!m) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
    value = value * 256 + octet;
  }
  return value;
}

export function formatIp(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/len"; host bits must be zero unless `allowHostBits` (for "ip/len" interface addresses). */
export function parseCidr(text: string, allowHostBits = false): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new Error(`not a CIDR: ${JSON.stringify(text)}`);
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) throw new Error(`bad prefix length in ${JSON.stringify(text)}`);
  const prefix = Number(lenText);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (!allowHostBits && base !== ip) throw new Error(`${text} has host bits set (did you mean ${formatIp(base)}/${prefix}?)`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + size(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/** First and last addresses a host may use: network and broadcast are reserved when the pool has room. */
export function hostRange(c: Cidr): { first: number; last: number } {
  if (c.prefix >= 31) return { first: c.base, last: c.base + size(c) - 1 };
  return { first: c.base + 1, last: c.base + size(c) - 2 };
}

/**
 * An interface address as Docker sends it: "ip" or "ip/len". With `prefix`, a length must be that
 * one. Returns the address as an integer.
 */
export function parseAddress(text: string, prefix?: number): number {
  const [ip, len, ...rest] = text.split('/');
  if (rest.length > 0 || len === '') throw new Error(`not an address: ${JSON.stringify(text)}`);
  if (len !== undefined) {
    if (!/^\d{1,2}$/.test(len) || Number(len) > 32) throw new Error(`bad prefix length in ${JSON.stringify(text)}`);
    if (prefix !== undefined && Number(len) !== prefix) throw new Error(`address ${text} does not have the subnet's prefix length /${prefix}`);
  }
  return parseIp(ip ?? '');
}
