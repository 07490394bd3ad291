import type { Logger } from 'pino';
import type { EndpointRecord, NetworkRecord } from '../store/state.js';
import { isSlimLink, LINK_PREFIX, type DataPlane } from './dataplane.js';
import { allowWithinBridge, bridgesWithRules, removeBridgeRule } from './firewall.js';
import { ip, ipJson, isMissingDevice } from './ip.js';
import type { RemoteEndpoint } from '../overlay/forwarding.js';
import { programVxlan } from './vxlan-entries.js';

export const VXLAN_PORT = 4789;

interface LinkInfo {
  ifname: string;
  mtu: number;
}

interface AddrInfo {
  ifname: string;
  mtu: number;
  flags: string[];
  addr_info: { family: string; local: string; scope: string }[];
}

/** A Linux bridge per network with its VXLAN device enslaved, and a veth per endpoint. */
export class LinuxBridgeDataPlane implements DataPlane {
  constructor(
    private readonly log: Logger,
    /** Underlay address the VXLAN device sends from, or null to let the kernel choose. */
    private readonly localAddr: string | null,
  ) {}

  async ensureNetwork(net: NetworkRecord): Promise<void> {
    const created: string[] = [];
    try {
      if (!(await this.exists(net.bridge))) {
        await ip(['link', 'add', net.bridge, 'mtu', String(net.mtu), 'type', 'bridge']);
        created.push(net.bridge);
      }
      if (!(await this.exists(net.vxlan))) {
        const local = this.localAddr ? ['local', this.localAddr] : [];
        await ip(['link', 'add', net.vxlan, 'mtu', String(net.mtu), 'type', 'vxlan', 'id', String(net.vni),
          'dstport', String(VXLAN_PORT), 'nolearning', 'proxy', ...local]);
        created.push(net.vxlan);
      }
      await ip(['link', 'set', net.vxlan, 'master', net.bridge, 'up']);
      await ip(['link', 'set', net.bridge, 'up']);
      await allowWithinBridge(net.bridge);
    } catch (err) {
      for (const name of created.reverse()) await this.deleteLink(name);
      throw err;
    }
  }

  async removeNetwork(net: NetworkRecord): Promise<void> {
    await this.deleteLink(net.vxlan);
    await this.deleteLink(net.bridge);
    await removeBridgeRule(net.bridge);
  }

  async attachEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    await this.deleteLink(ep.hostVeth); // a replayed Join must not fail on its own leftovers
    const mtu = String(net.mtu);
    await ip(['link', 'add', ep.hostVeth, 'mtu', mtu, 'type', 'veth', 'peer', 'name', ep.containerVeth, 'mtu', mtu]);
    try {
      await ip(['link', 'set', ep.containerVeth, 'address', ep.mac]);
      await ip(['link', 'set', ep.hostVeth, 'master', net.bridge, 'up']);
    } catch (err) {
      await this.deleteLink(ep.hostVeth);
      throw err;
    }
  }

  async detachEndpoint(ep: EndpointRecord): Promise<void> {
    await this.deleteLink(ep.hostVeth);
    await this.deleteLink(ep.containerVeth);
  }

  async programForwarding(net: NetworkRecord, remotes: RemoteEndpoint[]): Promise<number> {
    // The record is committed before the devices exist (CreateNetwork, or a start-up in progress);
    // the sync that follows ensureNetwork programs them.
    if (!(await this.exists(net.vxlan))) return 0;
    return programVxlan(net.vxlan, remotes);
  }

  async removeStrayLinks(keep: Set<string>): Promise<string[]> {
    const links = await ipJson<LinkInfo[]>(['link', 'show']);
    const stray = links.map((l) => l.ifname).filter((n) => isSlimLink(n) && !keep.has(n));
    for (const name of stray) await this.deleteLink(name);
    for (const bridge of await bridgesWithRules()) {
      if (bridge.startsWith(LINK_PREFIX.bridge) && !keep.has(bridge)) {
        await removeBridgeRule(bridge);
        stray.push(`iptables rule for ${bridge}`);
      }
    }
    return stray;
  }

  async underlayMtu(addr: string): Promise<number> {
    const ifaces = await ipJson<AddrInfo[]>(['addr', 'show']);
    const found = ifaces.find((i) => i.addr_info.some((a) => a.local === addr));
    if (!found) throw new Error(`no interface on this host has the advertise address ${addr}`);
    return found.mtu;
  }

  private async exists(name: string): Promise<boolean> {
    try {
      await ip(['link', 'show', 'dev', name]);
      return true;
    } catch (err) {
      if (isMissingDevice(err)) return false;
      throw err;
    }
  }

  private async deleteLink(name: string): Promise<void> {
    try {
      await ip(['link', 'del', 'dev', name]);
      this.log.debug({ link: name }, 'deleted link');
    } catch (err) {
      if (!isMissingDevice(err)) throw err;
    }
  }
}

// Docker's own bridges and veths are never the underlay.
const DOCKER_LINK = /^(docker|br-|veth)/;

/** The first global IPv4 address of an interface that is up, preferring the default route's device. */
export async function detectAdvertiseAddr(): Promise<string | null> {
  const routes = await ipJson<{ dev?: string }[]>(['-4', 'route', 'show', 'default']);
  const ifaces = await ipJson<AddrInfo[]>(['-4', 'addr', 'show', 'up']);
  const usable = ifaces.filter((i) => !i.flags.includes('LOOPBACK') && !isSlimLink(i.ifname) && !DOCKER_LINK.test(i.ifname));
  const preferred = usable.find((i) => i.ifname === routes[0]?.dev) ?? usable[0];
  return preferred?.addr_info.find((a) => a.scope === 'global')?.local ?? null;
}
