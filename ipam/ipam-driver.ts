// IpamDriver.* handlers. Pools and addresses live in the cluster state, so they survive restarts
// and, with a shared store, are consistent across hosts.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Store } from '../driver/store/store.js';
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from './address-spaces.js';
import * as pools from './pools.js';
import type * as P from './protocol.js';
import { GATEWAY_REQUEST_TYPE, REQUEST_ADDRESS_TYPE } from './protocol.js';

export class IpamDriver {
  constructor(
    private readonly store: Store,
    private readonly defaults: pools.DefaultPools,
    /** This host's ID: local-space pools are held per host. */
    private readonly hostId: string,
    private readonly log: Logger,
  ) {}

  getCapabilities() {
    // Replay makes Docker re-request pools and gateways after a daemon restart.
    return { RequiresMACAddress: false, RequiresRequestReplay: true };
  }

  getDefaultAddressSpaces() {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  async requestPool(req: z.infer<typeof P.requestPool>) {
    const record = await this.store.update((state) =>
      pools.requestPool(
        state,
        { addressSpace: req.AddressSpace, pool: req.Pool ?? '', subPool: req.SubPool ?? '', v6: req.V6 ?? false },
        this.defaults,
        this.hostId,
      ),
    );
    this.log.debug({ pool: record.id }, 'pool requested');
    return { PoolID: record.id, Pool: record.pool, Data: {} };
  }

  async releasePool(req: z.infer<typeof P.releasePool>) {
    await this.store.update((state) => pools.releasePool(state, req.PoolID, this.hostId));
    return {};
  }

  async requestAddress(req: z.infer<typeof P.requestAddress>) {
    const address = await this.store.update((state) =>
      pools.requestAddress(state, {
        poolId: req.PoolID,
        address: req.Address ?? '',
        isGateway: req.Options?.[REQUEST_ADDRESS_TYPE] === GATEWAY_REQUEST_TYPE,
      }),
    );
    return { Address: address, Data: {} };
  }

  async releaseAddress(req: z.infer<typeof P.releaseAddress>) {
    await this.store.update((state) => pools.releaseAddress(state, req.PoolID, req.Address));
    return {};
  }
}
