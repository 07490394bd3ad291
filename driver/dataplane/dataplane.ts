import type { RemoteEndpoint } from '../overlay/forwarding.js';
import type { EndpointRecord, NetworkRecord } from '../store/state.js';

/** The kernel side of the overlay, behind the smallest interface the driver needs. */
export interface DataPlane {
  /** Creates the network's bridge and VXLAN device if missing; idempotent. */
  ensureNetwork(net: NetworkRecord): Promise<void>;
  removeNetwork(net: NetworkRecord): Promise<void>;
  /** Creates the endpoint's veth pair on the network's bridge; the container end is for Docker to move. */
  attachEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void>;
  detachEndpoint(ep: EndpointRecord): Promise<void>;
  /** Makes the network's VXLAN forwarding and neighbour entries exactly `remotes`; returns how many entries changed. */
  programForwarding(net: NetworkRecord, remotes: RemoteEndpoint[]): Promise<number>;
  /** Removes every Slim-named link not in `keep` (left by a crash between kernel change and commit). */
  removeStrayLinks(keep: Set<string>): Promise<string[]>;
  /** MTU of the underlay interface carrying `addr`. */
  underlayMtu(addr: string): Promise<number>;
}

/** Kernel names are derived from Docker's IDs and limited to 15 characters (IFNAMSIZ - 1). */
export const LINK_PREFIX = { bridge: 'slb-', vxlan: 'slx-', hostVeth: 'slv-', containerVeth: 'slc-' } as const;

export function linkName(prefix: string, id: string): string {
  return prefix + id.slice(0, 15 - prefix.length);
}

export function isSlimLink(name: string): boolean {
  return Object.values(LINK_PREFIX).some((p) => name.startsWith(p));
}
