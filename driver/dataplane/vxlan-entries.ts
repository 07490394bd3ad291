// Static entries on a VXLAN device: an FDB entry sends a remote MAC to its host's underlay address,
// a permanent neighbour entry lets the device answer ARP for the remote IP itself (proxy), so
// nothing is flooded and nothing is learned from traffic.
import { execFile } from 'node:child_process';
import type { RemoteEndpoint } from '../overlay/forwarding.js';
import { ip, ipJson } from './ip.js';

interface FdbEntry {
  mac: string;
  dst?: string;
}

interface NeighEntry {
  dst: string;
  lladdr?: string;
  state?: string[];
}

function bridge(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bridge', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`bridge ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export async function programVxlan(dev: string, remotes: RemoteEndpoint[]): Promise<number> {
  const fdb = (JSON.parse((await bridge(['-j', 'fdb', 'show', 'dev', dev])) || '[]') as FdbEntry[]).filter((e) => e.dst);
  const neigh = (await ipJson<NeighEntry[]>(['neigh', 'show', 'dev', dev])).filter((n) => n.state?.includes('PERMANENT'));
  const wantMac = new Map(remotes.map((r) => [r.mac, r.vtep]));
  const wantIp = new Map(remotes.map((r) => [r.ip, r.mac]));
  const haveMac = new Map(fdb.map((e) => [e.mac, e.dst]));
  const haveIp = new Map(neigh.map((n) => [n.dst, n.lladdr]));
  let changes = 0;
  for (const [mac, vtep] of wantMac) {
    if (haveMac.get(mac) === vtep) continue;
    await bridge(['fdb', 'replace', mac, 'dev', dev, 'dst', vtep, 'self', 'permanent']);
    changes++;
  }
  for (const [addr, mac] of wantIp) {
    if (haveIp.get(addr) === mac) continue;
    await ip(['neigh', 'replace', addr, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
    changes++;
  }
  for (const mac of haveMac.keys()) {
    if (wantMac.has(mac)) continue;
    await bridge(['fdb', 'del', mac, 'dev', dev, 'self']);
    changes++;
  }
  for (const addr of haveIp.keys()) {
    if (wantIp.has(addr)) continue;
    await ip(['neigh', 'del', addr, 'dev', dev]);
    changes++;
  }
  return changes;
}
