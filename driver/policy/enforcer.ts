// Keeps this host's enforcement equal to the policy in the cluster state. On every new picture
// of the cluster (store watch) whose verdicts differ for any pair with an end here, at once and
// synchronously: destroy the replaced connections this router made that are no longer allowed
// (PolicyGate), then the overlay connections in the namespaces of the local containers whose
// verdicts changed; then load the firewall rules for TCP that is not replaced, and sweep those
// namespaces once more for connections made before the rules were in.
import type { Logger } from 'pino';
import { CoalescedRun } from '../coalesced-run.js';
import { LINK_PREFIX, linkName } from '../dataplane/dataplane.js';
import type { ClusterView, EndpointView } from '../router/cluster-view.js';
import { planFirewall, type FirewallRule, type PlanEndpoint } from './firewall-plan.js';
import { applyPolicyRules } from './firewall.js';
import { subjectOf, type PolicyGate } from './gate.js';
import { sweepContainer } from './overlay-sweep.js';

/** The firewall is loaded again this often even when nothing changed (someone may have flushed it). */
const RELOAD_MS = 30_000;

const bridgeOf = (networkId: string) => linkName(LINK_PREFIX.bridge, networkId);

export class PolicyEnforcer {
  private plan: string | null = null;
  private signatures = new Map<string, string>();
  private wanted: FirewallRule[] = [];
  private applied: string | null = null;
  private resweep = new Set<number>();
  private readonly firewall = new CoalescedRun(() => this.loadFirewall());
  private timer: NodeJS.Timeout | null = null;
  readonly counts = { overlayRevoked: 0, firewallRules: 0, firewallError: null as string | null };
  last: { at: string; replaced: number; overlay: number; ms: number } | null = null;

  constructor(
    private readonly view: ClusterView,
    private readonly gate: PolicyGate,
    private readonly hostId: string,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.view.onRefresh(() => this.onPicture());
    this.timer = setInterval(() => {
      this.applied = null;
      this.firewall.schedule();
    }, RELOAD_MS);
    this.timer.unref();
    this.onPicture();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Resolves when the firewall load in progress (if any) is done. */
  async settled(): Promise<void> {
    await this.firewall.settled();
  }

  private onPicture(): void {
    const started = performance.now();
    const endpoints = [...this.view.allEndpoints()];
    const plan = planFirewall(this.view.policies, endpoints.map((e) => this.planned(e)), this.hostId, bridgeOf);
    const key = JSON.stringify(plan);
    if (key === this.plan) return;
    const first = this.plan === null;
    this.plan = key;
    const replaced = this.gate.revoke();
    const changed = this.changedContainers(plan, endpoints);
    const overlay = this.sweep(changed);
    const ms = Math.round((performance.now() - started) * 10) / 10;
    this.last = { at: new Date().toISOString(), replaced, overlay, ms };
    if (!first || replaced || overlay) this.log.info({ firewallRules: plan.length, replaced, overlay, ms }, 'policy: verdicts changed; revoked what they no longer allow');
    this.wanted = plan;
    for (const pid of changed.keys()) this.resweep.add(pid);
    this.firewall.schedule();
  }

  private planned(e: EndpointView): PlanEndpoint {
    return { ip: e.ip, networkId: e.networkId, host: e.host, subject: subjectOf(this.view, e) };
  }

  /** Local containers (by pid, with their endpoints) whose refused peers changed and are not none. */
  private changedContainers(plan: FirewallRule[], endpoints: EndpointView[]): Map<number, EndpointView[]> {
    const next = new Map<string, string>();
    const out = new Map<number, EndpointView[]>();
    const local = endpoints.filter((e) => e.host === this.hostId);
    for (const e of local) {
      const bridge = bridgeOf(e.networkId);
      const sig = JSON.stringify(plan.filter((r) => r.bridge === bridge && (r.src === e.ip || r.dst === e.ip)));
      next.set(e.id, sig);
      if (sig !== '[]' && sig !== this.signatures.get(e.id) && e.pid) out.set(e.pid, []);
    }
    for (const e of local) if (e.pid && out.has(e.pid)) out.get(e.pid)!.push(e);
    this.signatures = next;
    return out;
  }

  private sweep(containers: Map<number, EndpointView[]>): number {
    let n = 0;
    for (const [pid, mine] of containers) {
      try {
        n += sweepContainer(this.view, pid, mine);
      } catch (err) {
        // ENOENT: the container just went away, with its connections
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ESRCH') this.log.warn({ pid, err: (err as Error).message }, 'policy: cannot sweep a container\'s connections');
      }
    }
    this.counts.overlayRevoked += n;
    return n;
  }

  private async loadFirewall(): Promise<void> {
    const rules = this.wanted;
    const key = JSON.stringify(rules);
    const pids = this.resweep;
    this.resweep = new Set();
    if (key !== this.applied) {
      try {
        await applyPolicyRules(rules);
        this.applied = key;
        this.counts.firewallRules = rules.length;
        this.counts.firewallError = null;
      } catch (err) {
        this.counts.firewallError = (err as Error).message;
        this.log.error({ err: (err as Error).message }, 'policy: cannot load the firewall rules; TCP that is not replaced is not policed');
      }
    }
    if (!pids.size) return;
    // Connections made on the overlay between the verdict and the rules: gone now.
    const again = new Map<number, EndpointView[]>();
    for (const e of this.view.allEndpoints()) {
      if (e.host === this.hostId && e.pid && pids.has(e.pid)) again.set(e.pid, [...(again.get(e.pid) ?? []), e]);
    }
    const late = this.sweep(again);
    if (late) this.log.info({ overlay: late }, 'policy: revoked overlay connections made while the firewall was loading');
  }
}
