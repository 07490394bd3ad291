// Which remote endpoints each local VXLAN device must know: computed from the cluster state and
// the live hosts, never learned from traffic (the devices run with nolearning and ARP proxy).
import type { HostRecord, NetworkRecord, SlimState } from '../store/state.js';

export interface RemoteEndpoint {
  mac: string;
  ip: string;
  /** Underlay address of the host that has the endpoint. */
  vtep: string;
}

export interface NetworkForwarding {
  net: NetworkRecord;
  remotes: RemoteEndpoint[];
}

export function desiredForwarding(state: SlimState, hosts: HostRecord[], self: string): NetworkForwarding[] {
  const vtepOf = new Map(hosts.map((h) => [h.id, h.addr]));
  const local = Object.values(state.networks).filter((n) => n.hosts.includes(self));
  return local.map((net) => ({
    net,
    remotes: Object.values(state.endpoints).flatMap((ep) => {
      const vtep = vtepOf.get(ep.host);
      // A host without a live record is dead or gone: its endpoints are unreachable.
      if (ep.networkId !== net.id || ep.host === self || !vtep) return [];
      return [{ mac: ep.mac, ip: ep.address.split('/')[0] ?? '', vtep }];
    }),
  }));
}
