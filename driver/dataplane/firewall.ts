import { execFile } from 'node:child_process';
import { bridgeRulePosition } from '../policy/firewall.js';

// With bridge netfilter on (dockerd turns it on, and sets FORWARD's policy to DROP), frames
// switched between two ports of a Slim bridge traverse iptables' FORWARD chain. Each Slim bridge
// therefore gets one ACCEPT rule for traffic that stays on it; nothing is routed between bridges.
// The connection policy's chain (policy/firewall.ts) is jumped to above these rules.

const COMMENT = 'slim: traffic within one Slim network';

function iptables(args: string[]): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve) => {
    execFile('iptables', ['-w', '5', ...args], { timeout: 10_000 }, (err, _stdout, stderr) => resolve({ ok: !err, stderr: stderr.trim() || (err?.message ?? '') }));
  });
}

function rule(bridge: string): string[] {
  return ['FORWARD', '-i', bridge, '-o', bridge, '-m', 'comment', '--comment', COMMENT, '-j', 'ACCEPT'];
}

export async function allowWithinBridge(bridge: string): Promise<void> {
  if ((await iptables(['-C', ...rule(bridge)])).ok) return;
  // Below the connection policy's jump when there is one: policy decides before this ACCEPT.
  const [chain, ...rest] = rule(bridge);
  const added = await iptables(['-I', chain!, String(await bridgeRulePosition()), ...rest]);
  if (!added.ok) throw new Error(`iptables: cannot allow forwarding on ${bridge}: ${added.stderr}`);
}

export async function removeBridgeRule(bridge: string): Promise<void> {
  while ((await iptables(['-D', ...rule(bridge)])).ok) {
    // a crash between insert and commit can leave duplicates; remove them all
  }
}

/** Bridges that have a Slim rule, for removing those of networks that no longer exist. */
export async function bridgesWithRules(): Promise<string[]> {
  const listed = await new Promise<string>((resolve) => {
    execFile('iptables', ['-w', '5', '-S', 'FORWARD'], { timeout: 10_000 }, (_err, stdout) => resolve(stdout ?? ''));
  });
  const bridges = new Set<string>();
  for (const line of listed.split('\n')) {
    const m = /^-A FORWARD -i (\S+) -o \1 .*slim: traffic within one Slim network/.exec(line);
    if (m?.[1]) bridges.add(m[1]);
  }
  return [...bridges];
}
