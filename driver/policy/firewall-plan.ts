// The policy as the overlay enforces it: TCP that is not replaced crosses this host's Slim bridges,
// where bridge netfilter passes every frame through iptables' FORWARD chain. For each pair of
// endpoints of one network with at least one end on this host, the verdicts for every port the
// rules name and for any other port become rules keyed on addresses: REJECT (a TCP reset) where the
// policy does not allow, RETURN for a named port allowed when other ports are not. Pure.
import { allows, evaluate, type PolicyRule, type Subject } from './model.js';

export interface PlanEndpoint {
  ip: string;
  networkId: string;
  host: string;
  subject: Subject;
}

export interface FirewallRule {
  /** The network's bridge on this host. */
  bridge: string;
  src: string;
  dst: string;
  /** null: every port not given a rule of its own before it. */
  port: number | null;
  target: 'REJECT' | 'RETURN';
}

export function planFirewall(rules: readonly PolicyRule[], endpoints: readonly PlanEndpoint[], hostId: string, bridgeOf: (networkId: string) => string): FirewallRule[] {
  if (!rules.length) return [];
  const ports = [...new Set(rules.flatMap((r) => (r.port === undefined ? [] : [r.port])))].sort((a, b) => a - b);
  const byNetwork = new Map<string, PlanEndpoint[]>();
  for (const e of endpoints) byNetwork.set(e.networkId, [...(byNetwork.get(e.networkId) ?? []), e]);
  const out: FirewallRule[] = [];
  for (const [networkId, eps] of [...byNetwork].sort(([a], [b]) => a.localeCompare(b))) {
    if (!eps.some((e) => e.host === hostId)) continue;
    const bridge = bridgeOf(networkId);
    const sorted = [...eps].sort((a, b) => a.ip.localeCompare(b.ip));
    for (const s of sorted) {
      for (const d of sorted) {
        if (s === d || s.ip === d.ip || (s.host !== hostId && d.host !== hostId)) continue;
        const other = allows(evaluate(rules, s.subject, d.subject, null));
        for (const port of ports) {
          const here = allows(evaluate(rules, s.subject, d.subject, port));
          if (here !== other) out.push({ bridge, src: s.ip, dst: d.ip, port, target: here ? 'RETURN' : 'REJECT' });
        }
        if (!other) out.push({ bridge, src: s.ip, dst: d.ip, port: null, target: 'REJECT' });
      }
    }
  }
  return out;
}

/** One rule as iptables arguments after the chain name. */
export function ruleArgs(r: FirewallRule): string[] {
  const port = r.port === null ? [] : ['--dport', String(r.port)];
  const target = r.target === 'REJECT' ? ['-j', 'REJECT', '--reject-with', 'tcp-reset'] : ['-j', 'RETURN'];
  return ['-i', r.bridge, '-o', r.bridge, '-s', `${r.src}/32`, '-d', `${r.dst}/32`, '-p', 'tcp', ...port, ...target];
}
