// The "physical" network of a World: one bridge in the root namespace, one named netns per host
// plugged into it by a veth. Teardown is not here: teardown.ts finds these objects by name, so it
// also works for worlds of a crashed run.
import { exec } from './exec.js';
import { bridgeName, netnsName, tag, vethPeerTmp, vethRoot } from './names.js';

export interface Underlay {
  bridge: string;
  /** first three octets of the world's /24, e.g. "10.77.23" */
  net: string;
  /** the bridge's own address in the root namespace (etcd etc. can listen there) */
  bridgeAddr: string;
}

async function usedV4Nets(): Promise<Set<string>> {
  const { stdout } = await exec('ip', ['-o', '-4', 'addr', 'show']);
  const used = new Set<string>();
  for (const m of stdout.matchAll(/inet (\d+\.\d+\.\d+)\.\d+\//g)) used.add(m[1]!);
  const routes = await exec('ip', ['-o', '-4', 'route', 'show', 'table', 'all'], { allowFail: true });
  for (const m of routes.stdout.matchAll(/(?:^|\s)(\d+\.\d+\.\d+)\.\d+(?:\/\d+)?\s/gm)) used.add(m[1]!);
  return used;
}

async function pickNet(): Promise<string> {
  const used = await usedV4Nets();
  const start = Math.floor(Math.random() * 200);
  for (let i = 0; i < 200; i++) {
    const net = `10.77.${20 + ((start + i) % 200)}`;
    if (!used.has(net)) return net;
  }
  throw new Error('no free 10.77.x.0/24 for a test bridge');
}

export async function createUnderlay(runId: string): Promise<Underlay> {
  const bridge = bridgeName(runId);
  const net = await pickNet();
  const bridgeAddr = `${net}.1`;
  await exec('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await exec('ip', ['addr', 'add', `${bridgeAddr}/24`, 'dev', bridge]);
  await exec('ip', ['link', 'set', bridge, 'up']);
  // With bridge-nf-call-iptables on, bridged frames traverse the root FORWARD chain, whose policy
  // any dockerd on the machine may have set to DROP. The comment lets teardown find the rule.
  await exec('iptables', ['-I', 'FORWARD', '1', '-i', bridge, '-o', bridge, '-m', 'comment', '--comment', tag(runId), '-j', 'ACCEPT']);
  return { bridge, net, bridgeAddr };
}

export async function addHostNetns(runId: string, underlay: Underlay, host: string, addr: string): Promise<string> {
  const ns = netnsName(runId, host);
  const root = vethRoot(runId, host);
  const peer = vethPeerTmp(runId, host);
  await exec('ip', ['netns', 'add', ns]);
  await exec('ip', ['link', 'add', root, 'type', 'veth', 'peer', 'name', peer]);
  await exec('ip', ['link', 'set', peer, 'netns', ns]);
  // Inside, the uplink is a plain "eth0", like on a real host.
  await exec('ip', ['-n', ns, 'link', 'set', peer, 'name', 'eth0']);
  await exec('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
  await exec('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await exec('ip', ['link', 'set', root, 'master', underlay.bridge, 'up']);
  // No default route on purpose: swarm would otherwise try Docker Hub and wait on DNS.
  return ns;
}
