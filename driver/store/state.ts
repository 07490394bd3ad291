// The cluster state: everything Slim needs to serve again after a restart, since Docker re-sends
// nothing. One document, versioned; every store backend holds exactly this shape.
import type { PolicyRule } from '../policy/model.js';

/** A live Slim daemon. In etcd it lives under a lease: a dead host's record expires. */
export interface HostRecord {
  id: string;
  hostname: string;
  /** Underlay address: VXLAN traffic for this host's endpoints goes here. */
  addr: string;
  /** TCP port of this host's router on the underlay (absent: no router, every TCP takes the overlay). */
  routerPort?: number;
}

export interface NetworkRecord {
  id: string;
  /** Hosts on which Docker created the network (and Slim its bridge and VXLAN device). */
  hosts: string[];
  vni: number;
  /** Kernel object names on this host. */
  bridge: string;
  vxlan: string;
  mtu: number;
  /** IPv4 subnet ("10.1.0.0/24") and gateway ("10.1.0.1/24", reserved, not configured on the host). */
  subnet: string;
  gateway: string | null;
  internal: boolean;
  /** The `-o key=value` options as the user gave them. */
  options: Record<string, string>;
  /** Docker's name for it, learnt from dockerd after creation (policy selectors name networks). */
  name?: string;
}

export interface EndpointRecord {
  id: string;
  networkId: string;
  /** The host whose container this is. */
  host: string;
  /** "ip/len" */
  address: string;
  mac: string;
  hostVeth: string;
  containerVeth: string;
  /** The container's network namespace path, set while joined. */
  sandboxKey: string | null;
  /** Endpoint option slim.live-migration=true: never hand this container host sockets. */
  liveMigration?: boolean;
  /** Who holds the endpoint, asked of dockerd after Join (driver/policy/identity.ts); absent until then. */
  container?: ContainerIdentity;
}

/** What policy selectors match a container by. Docker does not tell a network driver any of it. */
export interface ContainerIdentity {
  id: string;
  /** Without the leading "/". */
  name: string;
  /** Config.Labels: com.docker.swarm.service.name, com.docker.stack.namespace, user labels… */
  labels: Record<string, string>;
  /** The container's main process on its host (its network namespace is /proc/PID/ns/net). */
  pid: number;
  /** The sandbox this was resolved for: a new Join (container restart) resolves again. */
  sandboxKey: string;
}

export interface PoolRecord {
  id: string;
  addressSpace: string;
  pool: string;
  /** --ip-range: dynamic addresses come from here; explicit ones from the whole pool. */
  subPool: string | null;
  /** True when the caller named the pool; false for pools Slim chose from its default range. */
  explicit: boolean;
  /**
   * Hosts using a local-space pool: in swarm every node re-reserves the manager's pool in its
   * local space, and one node's release must not take it from the others. Global-space pools are
   * the swarm leader's alone and ignore this.
   */
  holders: string[];
  /** Allocated addresses (dotted quads), gateway included. */
  allocated: string[];
}

export interface SlimState {
  version: 1;
  networks: Record<string, NetworkRecord>;
  endpoints: Record<string, EndpointRecord>;
  pools: Record<string, PoolRecord>;
  /** VNIs handed out by AllocateNetwork (swarm manager) keyed by network ID. */
  allocatedVnis: Record<string, number>;
  /** Hex secret authenticating router-to-router messages when none is configured (SECRET). */
  routerSecret?: string;
  /** Connection policy, in evaluation order (driver/policy/model.ts); absent in older states = none. */
  policies?: PolicyRule[];
}

export function emptyState(): SlimState {
  return { version: 1, networks: {}, endpoints: {}, pools: {}, allocatedVnis: {} };
}

/**
 * The record stored under `key`, if any. State maps are plain JSON objects, so a bare index would
 * find Object.prototype's members for keys like "constructor".
 */
export function own<T>(map: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}
