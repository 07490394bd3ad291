// The overlay's policy rules in iptables: a chain of Slim's own (SLIM-POLICY), replaced as a whole
// with one iptables-restore (atomic: no moment with half the rules), reached from the top of
// FORWARD, above the Slim bridges' ACCEPT rules (dataplane/firewall.ts inserts those below it).
// No rule to enforce: neither chain nor jump exists.
import { execFile } from 'node:child_process';
import { ruleArgs, type FirewallRule } from './firewall-plan.js';

export const POLICY_CHAIN = 'SLIM-POLICY';
export const JUMP_COMMENT = 'slim: connection policy';
const JUMP = ['-p', 'tcp', '-m', 'comment', '--comment', JUMP_COMMENT, '-j', POLICY_CHAIN];

function run(cmd: string, args: string[], input?: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => resolve({ ok: !err, stdout: stdout ?? '', stderr: stderr.trim() || (err?.message ?? '') }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

const iptables = (args: string[]) => run('iptables', ['-w', '5', ...args]);

/** Where the policy jump is in FORWARD (1-based rule numbers), and the first Slim bridge rule. */
async function forwardOrder(): Promise<{ jumps: number[]; firstBridgeRule: number | null }> {
  const listed = await iptables(['-S', 'FORWARD']);
  if (!listed.ok) throw new Error(`iptables: cannot list FORWARD: ${listed.stderr}`);
  const rules = listed.stdout.split('\n').filter((l) => l.startsWith('-A FORWARD '));
  const jumps: number[] = [];
  let firstBridgeRule: number | null = null;
  rules.forEach((l, i) => {
    if (l.includes(`-j ${POLICY_CHAIN}`)) jumps.push(i + 1);
    else if (firstBridgeRule === null && l.includes('slim: traffic within one Slim network')) firstBridgeRule = i + 1;
  });
  return { jumps, firstBridgeRule };
}

/** The rule number a new Slim bridge ACCEPT rule must take: right below the policy jump, if any. */
export async function bridgeRulePosition(): Promise<number> {
  const { jumps } = await forwardOrder();
  return jumps.length ? Math.max(...jumps) + 1 : 1;
}

/** Makes the chain exactly `rules` (none: removes chain and jump). */
export async function applyPolicyRules(rules: readonly FirewallRule[]): Promise<void> {
  if (!rules.length) {
    await removePolicyChain();
    return;
  }
  const text = ['*filter', `:${POLICY_CHAIN} - [0:0]`, ...rules.map((r) => [`-A ${POLICY_CHAIN}`, ...ruleArgs(r)].join(' ')), 'COMMIT', ''].join('\n');
  const restored = await run('iptables-restore', ['-w', '5', '--noflush'], text);
  if (!restored.ok) throw new Error(`iptables-restore: cannot load the policy chain: ${restored.stderr}`);
  const { jumps, firstBridgeRule } = await forwardOrder();
  if (jumps.length && (firstBridgeRule === null || jumps[0]! < firstBridgeRule)) return;
  // Missing, or below a bridge's ACCEPT (something inserted above it): a new jump at the top
  // first, then the old one goes, so the chain is never bypassed.
  const added = await iptables(['-I', 'FORWARD', '1', ...JUMP]);
  if (!added.ok) throw new Error(`iptables: cannot add the policy jump: ${added.stderr}`);
  const now = await forwardOrder();
  for (const n of now.jumps.slice(1).reverse()) await iptables(['-D', 'FORWARD', String(n)]);
}

export async function removePolicyChain(): Promise<void> {
  while ((await iptables(['-D', 'FORWARD', ...JUMP])).ok) {
    // every copy (a crash between insert and delete can leave two)
  }
  if ((await iptables(['-S', POLICY_CHAIN])).ok) {
    await iptables(['-F', POLICY_CHAIN]);
    const deleted = await iptables(['-X', POLICY_CHAIN]);
    if (!deleted.ok) throw new Error(`iptables: cannot delete chain ${POLICY_CHAIN}: ${deleted.stderr}`);
  }
}
