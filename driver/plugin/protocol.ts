// Request shapes Docker sends to a remote network driver (moby libnetwork/drivers/remote/api).
// Unknown fields are ignored (newer engines add some); any map or array may arrive as null.
import { z } from 'zod';

// Docker's IDs are hex (local) or base36 (swarm); the pattern also keeps "__proto__" out of the state maps.
const id = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'is longer than any Docker ID')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'is not a Docker ID');
const stringMap = z.record(z.string(), z.string()).nullish();
const anyMap = z.record(z.string(), z.unknown()).nullish();

const ipamData = z.object({
  AddressSpace: z.string().max(256).optional(),
  Pool: z.string().max(64),
  Gateway: z.string().max(64).optional(),
  AuxAddresses: stringMap,
});

export const createNetwork = z.object({
  NetworkID: id,
  Options: anyMap,
  IPv4Data: z.array(ipamData).max(64).nullish(),
  IPv6Data: z.array(ipamData).max(64).nullish(),
});

export const allocateNetwork = z.object({
  NetworkID: id,
  Options: stringMap,
  IPv4Data: z.array(ipamData).max(64).nullish(),
  IPv6Data: z.array(ipamData).max(64).nullish(),
});

export const networkOnly = z.object({ NetworkID: id });

export const createEndpoint = z.object({
  NetworkID: id,
  EndpointID: id,
  Interface: z
    .object({
      Address: z.string().max(64).optional(),
      AddressIPv6: z.string().max(64).optional(),
      MacAddress: z.string().max(64).optional(),
    })
    .nullish(),
  Options: anyMap,
});

export const endpointOnly = z.object({ NetworkID: id, EndpointID: id });

export const join = z.object({
  NetworkID: id,
  EndpointID: id,
  SandboxKey: z.string().min(1).max(4096),
  Options: anyMap,
});

export const connectivity = z.object({ NetworkID: id, EndpointID: id, Options: anyMap });

export const discovery = z.object({ DiscoveryType: z.number().int(), DiscoveryData: z.unknown() });

export const empty = z.object({}).passthrough();

// Docker keeps these option keys in CreateNetwork's Options map.
export const GENERIC_OPTIONS = 'com.docker.network.generic';
export const INTERNAL_OPTION = 'com.docker.network.internal';
export const ENABLE_IPV6_OPTION = 'com.docker.network.enable_ipv6';
