// The router's side of secure mode's maps (layouts in kernel-module/include/slim_secure.h): before
// a host socket is handed to a container, its cookie gets the overlay addresses the kernel shows
// for it (overlay_addr_by_cookie). accepted_by_cookie tells which connection a PEER request is about (the shim
// cannot read host addresses any more). Entries go when the socket closes (sock_ops, in the kernel); the map is an
// LRU of SLIM_ADDR_MAP_ENTRIES, so a lost delete costs nothing but a slot for a while.
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { bpfMapLookup, bpfMapUpdate, bpfObjGet, closeFd } from '../../native/router-addon/index.js';
import type { Addr } from '../router/shim-wire.js';

/** enum slim_stat, in order. */
export const STAT_NAMES = [
  'connectDenied', 'bindDenied', 'setsockoptDenied', 'listenMarked', 'ingressDropped', 'addressesRewritten', 'addressesHidden', 'lsmDenied',
] as const;
export type SecureStats = Record<(typeof STAT_NAMES)[number], number>;

export interface HandedOut {
  /** The host socket's own addresses (checked by the kernel before it rewrites). Peer port 0 for a
   *  listener; local port 0 = any (an accepted connection). */
  hostLocal: Addr;
  hostPeer: Addr;
  /** What a container calling getsockname/getpeername on it sees. */
  overlayLocal: Addr;
  overlayPeer: Addr;
}

function ip4(buf: Buffer, offset: number, ip: string): void {
  if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  ip.split('.').forEach((o, i) => buf.writeUInt8(Number(o), offset + i));
}

/** struct slim_overlay_addrs: IPs and ports in network order. */
export function encodeAddrs(h: HandedOut): Buffer {
  const b = Buffer.alloc(24);
  ip4(b, 0, h.overlayLocal.ip);
  ip4(b, 4, h.overlayPeer.ip);
  b.writeUInt16BE(h.overlayLocal.port, 8);
  b.writeUInt16BE(h.overlayPeer.port, 10);
  ip4(b, 12, h.hostLocal.ip);
  ip4(b, 16, h.hostPeer.ip);
  b.writeUInt16BE(h.hostLocal.port, 20);
  b.writeUInt16BE(h.hostPeer.port, 22);
  return b;
}

export function cookieKey(cookie: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(cookie);
  return b;
}

export class SecureMaps {
  private errors = 0;
  private lastError: string | null = null;

  private constructor(
    private readonly addrs: number,
    private readonly accepted: number,
    private readonly stats: number,
  ) {}

  /** Opens the pinned maps the loader left under pinRoot/maps. */
  static open(pinRoot: string): SecureMaps {
    const open = (name: string) => bpfObjGet(join(pinRoot, 'maps', name));
    const opened: number[] = [];
    try {
      const addrs = open('overlay_addr_by_cookie');
      opened.push(addrs);
      const accepted = open('accepted_by_cookie');
      opened.push(accepted);
      const stats = open('secure_stats');
      opened.push(stats);
      return new SecureMaps(addrs, accepted, stats);
    } catch (err) {
      for (const fd of opened) closeFd(fd);
      throw err;
    }
  }

  /** Records a host socket the router is about to hand over (or has handed over: an accepted
   *  connection). Never throws: a failed update is counted, the socket still goes out (the kernel
   *  then shows 0.0.0.0:0 to the container, never a host address). */
  handedOut(cookie: bigint, h: HandedOut): void {
    try {
      bpfMapUpdate(this.addrs, cookieKey(cookie), encodeAddrs(h));
    } catch (err) {
      this.errors++;
      this.lastError = (err as Error).message;
    }
  }

  /** The host addresses of a connection a hidden listener accepted, as the kernel recorded them
   *  (struct slim_host_tuple); null if it has no such connection. */
  acceptedConnection(cookie: bigint): { local: Addr; peer: Addr } | null {
    let v: Buffer | null;
    try {
      v = bpfMapLookup(this.accepted, cookieKey(cookie));
    } catch {
      return null;
    }
    if (!v) return null;
    const ip = (o: number) => [...v!.subarray(o, o + 4)].join('.');
    return { local: { ip: ip(0), port: v.readUInt16BE(8) }, peer: { ip: ip(4), port: v.readUInt16BE(10) } };
  }

  /** The kernel-side counters, plus the router's own map update failures. */
  status(): SecureStats & { mapUpdateErrors: number; lastMapError: string | null } {
    const out = Object.fromEntries(STAT_NAMES.map((n) => [n, 0])) as SecureStats;
    STAT_NAMES.forEach((name, i) => {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(i);
      try {
        out[name] = Number(bpfMapLookup(this.stats, key)?.readBigUInt64LE(0) ?? 0n);
      } catch {
        // the map went away (unloaded by hand): zeros
      }
    });
    return { ...out, mapUpdateErrors: this.errors, lastMapError: this.lastError };
  }

  close(): void {
    for (const fd of [this.addrs, this.accepted, this.stats]) closeFd(fd);
  }
}
