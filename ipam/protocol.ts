// Request shapes Docker sends to a remote IPAM driver (moby libnetwork/ipams/remote/api).
import { z } from 'zod';

export const requestPool = z.object({
  AddressSpace: z.string().min(1).max(256),
  Pool: z.string().max(64).nullish(),
  SubPool: z.string().max(64).nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
  V6: z.boolean().nullish(),
});

export const releasePool = z.object({ PoolID: z.string().min(1).max(512) });

export const requestAddress = z.object({
  PoolID: z.string().min(1).max(512),
  Address: z.string().max(64).nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
});

export const releaseAddress = z.object({
  PoolID: z.string().min(1).max(512),
  Address: z.string().min(1).max(64),
});

export const GATEWAY_REQUEST_TYPE = 'com.docker.network.gateway';
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
