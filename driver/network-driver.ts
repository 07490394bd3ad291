// NetworkDriver.* handlers: one short method per protocol call. State lives in the store, kernel
// objects behind the DataPlane; a handler that fails leaves both as they were.
import type { Logger } from 'pino';
import type { z } from 'zod';
import { contains, formatIp, hostRange, parseAddress, parseCidr, parseIp } from '../ipam/ipv4.js';
import { LINK_PREFIX, linkName, type DataPlane } from './dataplane/dataplane.js';
import { MAX_VNI, parseNetworkOptions } from './network-options.js';
import { PluginError } from './plugin/errors.js';
import type * as P from './plugin/protocol.js';
import { own, type EndpointRecord, type NetworkRecord, type SlimState } from './store/state.js';
import type { Store } from './store/store.js';

/** Slim's VNIs start high so they never meet Docker's own overlay VNIs (4096 upward) on a shared VXLAN port. */
export const VNI_BASE = 0x800000;

export type Scope = 'local' | 'global';

export interface NetworkDriverConfig {
  scope: Scope;
  /** This host's ID in the cluster state. */
  hostId: string;
  /** MTU for networks that do not set one: underlay MTU − 50 (VXLAN headers). */
  defaultMtu: number;
}

export class NetworkDriver {
  constructor(
    private readonly store: Store,
    private readonly dataplane: DataPlane,
    private readonly config: NetworkDriverConfig,
    private readonly log: Logger,
    /** Told after every local change that other parts (forwarding) may care about. */
    private readonly changed: () => void = () => undefined,
  ) {}

  getCapabilities() {
    return { Scope: this.config.scope, ConnectivityScope: this.config.scope };
  }

  async allocateNetwork(req: z.infer<typeof P.allocateNetwork>) {
    const options = parseNetworkOptions({ 'com.docker.network.generic': req.Options ?? {} });
    const vni = await this.store.update((state) => {
      const existing = own(state.allocatedVnis, req.NetworkID);
      if (existing !== undefined) return existing;
      const chosen = options.vni ?? freeVni(state);
      refuseVniOfOthers(state, chosen, req.NetworkID);
      state.allocatedVnis[req.NetworkID] = chosen;
      return chosen;
    });
    return { Options: { ...options.generic, 'slim.vni': String(vni) } };
  }

  async freeNetwork(req: z.infer<typeof P.networkOnly>) {
    await this.store.update((state) => {
      delete state.allocatedVnis[req.NetworkID];
    });
    return {};
  }

  async createNetwork(req: z.infer<typeof P.createNetwork>) {
    const options = parseNetworkOptions(req.Options);
    if (options.ipv6 || (req.IPv6Data?.length ?? 0) > 0) throw new PluginError('Slim does not support IPv6 networks yet');
    const v4 = req.IPv4Data ?? [];
    if (v4.length !== 1 || !v4[0]) throw new PluginError(`a Slim network needs exactly one IPv4 subnet, got ${v4.length}`);
    const subnet = cidrOrFail(v4[0].Pool, 'subnet');
    const gateway = v4[0].Gateway ? v4[0].Gateway : null;
    if (gateway) addressInSubnetOrFail(gateway, subnet, 'gateway');
    const self = this.config.hostId;
    // State first, kernel second: a crash in between is repaired by reconcile() on start.
    const { net, added } = await this.store.update((state) => {
      const existing = own(state.networks, req.NetworkID);
      if (existing) {
        if (existing.subnet !== subnet) throw new PluginError(`network ${req.NetworkID} exists with subnet ${existing.subnet}, not ${subnet}`);
        if (existing.hosts.includes(self)) return { net: existing, added: false };
        existing.hosts.push(self);
        return { net: existing, added: true };
      }
      const vni = options.vni ?? own(state.allocatedVnis, req.NetworkID) ?? freeVni(state);
      refuseVniOfOthers(state, vni, req.NetworkID);
      const bridge = linkName(LINK_PREFIX.bridge, req.NetworkID);
      const twin = Object.values(state.networks).find((n) => n.bridge === bridge);
      if (twin) throw new PluginError(`network ${req.NetworkID} would get the same kernel device names as network ${twin.id}`);
      const net: NetworkRecord = {
        id: req.NetworkID,
        hosts: [self],
        vni,
        bridge,
        vxlan: linkName(LINK_PREFIX.vxlan, req.NetworkID),
        mtu: options.mtu ?? this.config.defaultMtu,
        subnet,
        gateway,
        internal: options.internal,
        options: options.generic,
      };
      state.networks[net.id] = net;
      return { net, added: true };
    });
    try {
      await this.dataplane.ensureNetwork(net);
    } catch (err) {
      // Undo only what this call added: a replay must not take the host off its own network.
      if (added) await this.store.update((state) => dropHost(state, net.id, self));
      throw err;
    }
    this.log.info({ network: net.id, vni: net.vni, subnet, bridge: net.bridge }, 'network created');
    this.changed();
    return {};
  }

  async deleteNetwork(req: z.infer<typeof P.networkOnly>) {
    const self = this.config.hostId;
    const state = await this.store.read();
    const net = own(state.networks, req.NetworkID);
    if (!net) return {};
    // Kernel first, state second: if the commit fails, the record is still there and Docker can retry.
    const local = Object.values(state.endpoints).filter((e) => e.networkId === net.id && e.host === self);
    for (const ep of local) await this.dataplane.detachEndpoint(ep);
    await this.dataplane.removeNetwork(net);
    await this.store.update((state) => {
      for (const ep of local) delete state.endpoints[ep.id];
      dropHost(state, net.id, self);
    });
    this.log.info({ network: net.id }, 'network deleted on this host');
    this.changed();
    return {};
  }

  async createEndpoint(req: z.infer<typeof P.createEndpoint>) {
    if (req.Interface?.AddressIPv6) throw new PluginError('Slim does not support IPv6 endpoints yet');
    const address = req.Interface?.Address;
    if (!address) throw new PluginError('endpoint has no IPv4 address; create the network with --ipam-driver slim or a --subnet');
    const macGiven = req.Interface?.MacAddress ?? '';
    if (macGiven) unicastMacOrFail(macGiven);
    const liveMigration = liveMigrationOption(req.Options);
    const live = new Set((await this.store.liveHosts()).map((h) => h.id));
    const ep = await this.store.update((state) => {
      const net = networkOrFail(state, req.NetworkID);
      addressInSubnetOrFail(address, net.subnet, 'endpoint address');
      const mac = macGiven.toLowerCase() || macFromIp(address);
      const existing = own(state.endpoints, req.EndpointID);
      if (existing) {
        if (existing.networkId !== net.id || existing.address !== address || existing.host !== this.config.hostId) {
          throw new PluginError(`endpoint ${req.EndpointID} already exists with another network, address or host`);
        }
        return existing;
      }
      this.claimAddress(state, net.id, address, mac, live);
      const hostVeth = linkName(LINK_PREFIX.hostVeth, req.EndpointID);
      const twin = Object.values(state.endpoints).find((e) => e.hostVeth === hostVeth && e.host === this.config.hostId);
      if (twin) throw new PluginError(`endpoint ${req.EndpointID} would get the same kernel device names as endpoint ${twin.id}`);
      const record: EndpointRecord = {
        id: req.EndpointID,
        networkId: net.id,
        host: this.config.hostId,
        address,
        mac,
        hostVeth,
        containerVeth: linkName(LINK_PREFIX.containerVeth, req.EndpointID),
        sandboxKey: null,
        ...(liveMigration ? { liveMigration } : {}),
      };
      state.endpoints[record.id] = record;
      return record;
    });
    this.changed();
    // Fill only what Docker left empty: echoing a field it set is an error on its side.
    return macGiven ? {} : { Interface: { MacAddress: ep.mac } };
  }

  /**
   * One IP and one MAC per network: forwarding entries can point at only one owner. A record left
   * by a dead host (its lease expired) gives way: swarm reuses the addresses of tasks it lost.
   */
  private claimAddress(state: SlimState, networkId: string, address: string, mac: string, live: Set<string>): void {
    const ip = address.split('/')[0];
    for (const other of Object.values(state.endpoints)) {
      if (other.networkId !== networkId || (other.address.split('/')[0] !== ip && other.mac !== mac)) continue;
      if (other.host !== this.config.hostId && !live.has(other.host)) {
        this.log.warn({ endpoint: other.id, host: other.host, address: other.address }, 'replacing an endpoint of a dead host');
        delete state.endpoints[other.id];
        continue;
      }
      const what = other.address.split('/')[0] === ip ? `address ${ip}` : `MAC address ${mac}`;
      throw new PluginError(`${what} is already used by endpoint ${other.id} of this network`);
    }
  }

  async deleteEndpoint(req: z.infer<typeof P.endpointOnly>) {
    const ep = own((await this.store.read()).endpoints, req.EndpointID);
    if (!ep || ep.host !== this.config.hostId) return {}; // cleanup after a crash: already gone
    await this.dataplane.detachEndpoint(ep);
    await this.store.update((state) => {
      delete state.endpoints[ep.id];
    });
    this.changed();
    return {};
  }

  async endpointOperInfo(req: z.infer<typeof P.endpointOnly>) {
    const state = await this.store.read();
    const ep = endpointOrFail(state, req.EndpointID);
    return { Value: { address: ep.address, mac: ep.mac, hostVeth: ep.hostVeth, joined: ep.sandboxKey !== null } };
  }

  async join(req: z.infer<typeof P.join>) {
    const state = await this.store.read();
    const net = networkOrFail(state, req.NetworkID);
    const ep = endpointOrFail(state, req.EndpointID);
    if (ep.networkId !== net.id) throw new PluginError(`endpoint ${ep.id} belongs to network ${ep.networkId}, not ${net.id}`);
    if (ep.host !== this.config.hostId) throw new PluginError(`endpoint ${ep.id} belongs to host ${ep.host}, not this one`);
    await this.dataplane.attachEndpoint(net, ep);
    try {
      await this.store.update((state) => {
        endpointOrFail(state, ep.id).sandboxKey = req.SandboxKey;
      });
    } catch (err) {
      await this.dataplane.detachEndpoint(ep);
      throw err;
    }
    // No Gateway: the overlay is not routed by the host. Docker then attaches docker_gwbridge for
    // outside access (unless the network is --internal), as with its own overlay driver.
    return {
      InterfaceName: { SrcName: ep.containerVeth, DstPrefix: 'eth' },
      StaticRoutes: [],
      DisableGatewayService: false,
    };
  }

  async leave(req: z.infer<typeof P.endpointOnly>) {
    const ep = own((await this.store.read()).endpoints, req.EndpointID);
    if (!ep || ep.host !== this.config.hostId) return {};
    // Docker moves the container end back to the host namespace when the sandbox goes away.
    await this.dataplane.detachEndpoint(ep);
    await this.store.update((state) => {
      const current = own(state.endpoints, ep.id);
      if (current) current.sandboxKey = null;
    });
    return {};
  }

  /** What this host serves: its networks and its own endpoints. */
  async status() {
    const state = await this.store.read();
    const self = this.config.hostId;
    return {
      scope: this.config.scope,
      hostId: self,
      networks: Object.values(state.networks).filter((n) => n.hosts.includes(self)),
      endpoints: Object.values(state.endpoints).filter((e) => e.host === self),
    };
  }

  /** After a restart: recreate missing network devices and drop links no record owns. */
  async reconcile(): Promise<void> {
    const { networks, endpoints } = await this.status();
    const keep = new Set<string>();
    for (const net of networks) {
      await this.dataplane.ensureNetwork(net);
      keep.add(net.bridge).add(net.vxlan);
    }
    for (const ep of endpoints) if (ep.sandboxKey) keep.add(ep.hostVeth);
    const removed = await this.dataplane.removeStrayLinks(keep);
    if (removed.length) this.log.warn({ removed }, 'removed links left by an earlier run');
  }
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Locally administered MAC derived from the IPv4 address, as Docker does: 02:42:a:b:c:d. */
function macFromIp(address: string): string {
  const ip = parseIp(address.split('/')[0] ?? '');
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Takes `host` off the network; the record goes when no host has it any more. */
function dropHost(state: SlimState, networkId: string, host: string): void {
  const net = own(state.networks, networkId);
  if (!net) return;
  net.hosts = net.hosts.filter((h) => h !== host);
  if (net.hosts.length === 0) delete state.networks[networkId];
}

/** A VNI belongs to one network: the one created with it, or the one the swarm manager allocated it to. */
function refuseVniOfOthers(state: SlimState, vni: number, networkId: string): void {
  const holder =
    Object.values(state.networks).find((n) => n.vni === vni && n.id !== networkId)?.id ??
    Object.entries(state.allocatedVnis).find(([id, v]) => v === vni && id !== networkId)?.[0];
  if (holder) throw new PluginError(`VNI ${vni} is already used by network ${holder}`);
}

function freeVni(state: SlimState): number {
  const used = new Set([...Object.values(state.networks).map((n) => n.vni), ...Object.values(state.allocatedVnis)]);
  for (let vni = VNI_BASE; vni <= MAX_VNI; vni++) if (!used.has(vni)) return vni;
  throw new PluginError('no free VNI left');
}

function networkOrFail(state: SlimState, id: string): NetworkRecord {
  const net = own(state.networks, id);
  if (!net) throw new PluginError(`network ${id} is not a Slim network on this host`);
  return net;
}

function endpointOrFail(state: SlimState, id: string): EndpointRecord {
  const ep = own(state.endpoints, id);
  if (!ep) throw new PluginError(`endpoint ${id} is not known to Slim on this host`);
  return ep;
}

function cidrOrFail(text: string, what: string): string {
  try {
    const c = parseCidr(text, true);
    return `${formatIp(c.base)}/${c.prefix}`;
  } catch (err) {
    throw new PluginError(`bad ${what}: ${(err as Error).message}`);
  }
}

/** "ip/len" with the subnet's length, a usable host address of the subnet (not network or broadcast). */
function addressInSubnetOrFail(address: string, subnet: string, what: string): void {
  const net = parseCidr(subnet);
  if (!address.includes('/')) throw new PluginError(`bad ${what} ${JSON.stringify(address)}: expected ip/len`);
  let ip: number;
  try {
    ip = parseAddress(address, net.prefix);
  } catch (err) {
    throw new PluginError(`bad ${what} ${JSON.stringify(address)}: ${(err as Error).message}`);
  }
  const { first, last } = hostRange(net);
  if (!contains(net, ip)) throw new PluginError(`${what} ${address} is outside the network's subnet ${subnet}`);
  if (ip < first || ip > last) throw new PluginError(`${what} ${address} is the network or broadcast address of ${subnet}`);
}

/** The kernel refuses multicast and all-zero MACs on an interface, but only at Join: refuse them here. */
function unicastMacOrFail(mac: string): void {
  if (!MAC.test(mac)) throw new PluginError(`bad MAC address ${JSON.stringify(mac)}`);
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) throw new PluginError(`MAC address ${mac} is a multicast address; an endpoint needs a unicast MAC`);
  if (/^(00:){5}00$/.test(mac)) throw new PluginError(`MAC address ${mac} is all zeros; an endpoint needs a unicast MAC`);
}

/**
 * Endpoint option slim.live-migration=true (`docker network connect --driver-opt`, a service's
 * `driver_opts`): the container must stay movable, so the router never gives it host sockets.
 */
function liveMigrationOption(options: Record<string, unknown> | null | undefined): boolean {
  const value = options?.[LIVE_MIGRATION_OPTION];
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new PluginError(`${LIVE_MIGRATION_OPTION} must be "true" or "false", not ${JSON.stringify(value)}`);
}

const LIVE_MIGRATION_OPTION = 'slim.live-migration';
