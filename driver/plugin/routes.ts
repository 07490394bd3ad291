// The plugin socket's method table: Docker's method name → request schema → handler.
import { z } from 'zod';
import type { IpamDriver } from '../../ipam/ipam-driver.js';
import * as IP from '../../ipam/protocol.js';
import type { NetworkDriver } from '../network-driver.js';
import { PluginError } from './errors.js';
import * as P from './protocol.js';

export type Handler = (body: unknown) => Promise<object>;

export function method<S extends z.ZodType>(schema: S, handle: (req: z.infer<S>) => object | Promise<object>): Handler {
  return async (body) => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new PluginError(`invalid request: ${describe(parsed.error)}`);
    return handle(parsed.data);
  };
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

export function pluginRoutes(net: NetworkDriver, ipam: IpamDriver, status: () => Promise<object>): Record<string, Handler> {
  return {
    'Plugin.Activate': method(P.empty, () => ({ Implements: ['NetworkDriver', 'IpamDriver'] })),

    'NetworkDriver.GetCapabilities': method(P.empty, () => net.getCapabilities()),
    'NetworkDriver.AllocateNetwork': method(P.allocateNetwork, (r) => net.allocateNetwork(r)),
    'NetworkDriver.FreeNetwork': method(P.networkOnly, (r) => net.freeNetwork(r)),
    'NetworkDriver.CreateNetwork': method(P.createNetwork, (r) => net.createNetwork(r)),
    'NetworkDriver.DeleteNetwork': method(P.networkOnly, (r) => net.deleteNetwork(r)),
    'NetworkDriver.CreateEndpoint': method(P.createEndpoint, (r) => net.createEndpoint(r)),
    'NetworkDriver.DeleteEndpoint': method(P.endpointOnly, (r) => net.deleteEndpoint(r)),
    'NetworkDriver.EndpointOperInfo': method(P.endpointOnly, (r) => net.endpointOperInfo(r)),
    'NetworkDriver.Join': method(P.join, (r) => net.join(r)),
    'NetworkDriver.Leave': method(P.endpointOnly, (r) => net.leave(r)),
    'NetworkDriver.ProgramExternalConnectivity': method(P.connectivity, () => ({})),
    'NetworkDriver.RevokeExternalConnectivity': method(P.connectivity, () => ({})),
    'NetworkDriver.DiscoverNew': method(P.discovery, () => ({})),
    'NetworkDriver.DiscoverDelete': method(P.discovery, () => ({})),

    'IpamDriver.GetCapabilities': method(P.empty, () => ipam.getCapabilities()),
    'IpamDriver.GetDefaultAddressSpaces': method(P.empty, () => ipam.getDefaultAddressSpaces()),
    'IpamDriver.RequestPool': method(IP.requestPool, (r) => ipam.requestPool(r)),
    'IpamDriver.ReleasePool': method(IP.releasePool, (r) => ipam.releasePool(r)),
    'IpamDriver.RequestAddress': method(IP.requestAddress, (r) => ipam.requestAddress(r)),
    'IpamDriver.ReleaseAddress': method(IP.releaseAddress, (r) => ipam.releaseAddress(r)),

    // Not a Docker method: what `slim status` reads.
    'Slim.Status': method(P.empty, status),
  };
}
