// Connection policy in the daemon: the rule list's API, who holds each endpoint (dockerd, asked in
// the background), the router's check at connect, and this host's enforcement and revocation.
import type { Logger } from 'pino';
import type { Handler } from '../plugin/routes.js';
import type { ClusterView } from '../router/cluster-view.js';
import type { Store } from '../store/store.js';
import { PolicyEnforcer } from './enforcer.js';
import { PolicyGate } from './gate.js';
import { IdentityResolver, pendingEndpoints } from './identity.js';
import { DEFAULT_ACTION } from './model.js';
import { policyRoutes } from './rules-api.js';

export class ConnectionPolicy {
  readonly gate: PolicyGate;
  private readonly enforcer: PolicyEnforcer;
  private readonly resolver: IdentityResolver;

  constructor(
    private readonly store: Store,
    private readonly view: ClusterView,
    private readonly hostId: string,
    private readonly log: Logger,
  ) {
    this.gate = new PolicyGate(view, log);
    this.enforcer = new PolicyEnforcer(view, this.gate, hostId, log);
    this.resolver = new IdentityResolver(store, hostId, log);
  }

  /** After the cluster view's first picture. */
  start(): void {
    this.resolver.start();
    this.gate.start();
    this.enforcer.start();
  }

  stop(): void {
    this.resolver.stop();
    this.gate.stop();
    this.enforcer.stop();
  }

  routes(): Record<string, Handler> {
    return policyRoutes(this.store, this.log, async () => this.identities());
  }

  /** Local endpoints whose container is not known yet (from the state: the same answer whenever asked). */
  private async identities() {
    const pending = pendingEndpoints(await this.store.read(), this.hostId);
    return { unresolvedEndpoints: pending.length, resolverError: this.resolver.lastError };
  }

  async status() {
    const { unresolvedEndpoints } = await this.identities();
    return {
      rules: this.view.policies.length,
      default: DEFAULT_ACTION,
      refusedConnects: this.gate.counts.refused,
      revokedReplaced: this.gate.counts.revoked,
      revokedOverlay: this.enforcer.counts.overlayRevoked,
      trackedReplaced: this.gate.trackedCount,
      firewallRules: this.enforcer.counts.firewallRules,
      firewallError: this.enforcer.counts.firewallError,
      lastChange: this.enforcer.last,
      unresolvedEndpoints,
    };
  }
}
