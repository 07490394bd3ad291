import { callPlugin } from './plugin/client.js';
import type { EndpointRecord, HostRecord, NetworkRecord } from './store/state.js';

interface Status {
  mode: string;
  modeNote: string;
  store: string;
  scope: string;
  advertiseAddr: string | null;
  underlayMtu: number;
  pid: number;
  hostId: string;
  /** Live hosts, or why they could not be listed. */
  hosts: HostRecord[] | string;
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
  router: { runDir: string; port: number; shimConnections: number; replaced: number; fallback: number; refused: number; hostile: number; hiddenListeners: number };
  secure?: {
    setting: string; cgroup: string | null; pin: string | null; programs: string[];
    lsm: { state: string; detail: string; programs: string[] } | null;
    kernel?: Record<string, number | string | null>;
  };
  policy?: {
    rules: number; default: string; refusedConnects: number; revokedReplaced: number; revokedOverlay: number; firewallRules: number;
    firewallError: string | null; unresolvedEndpoints: number;
  };
}

export async function printStatus(socketPath: string, json: boolean): Promise<void> {
  let reply;
  try {
    reply = await callPlugin(socketPath, 'Slim.Status');
  } catch (err) {
    throw new Error(`cannot reach the Slim daemon on ${socketPath}: ${(err as Error).message}`);
  }
  if (reply.status !== 200) throw new Error(`daemon answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  const s = reply.body as Status;
  if (json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const lines = [
    `mode:      ${s.mode} (${s.modeNote})`,
    ...(s.secure?.cgroup
      ? [`  secure-mode ${s.secure.setting}: ${s.secure.programs.length} cgroup programs on ${s.secure.cgroup}, pinned in ${s.secure.pin}; BPF LSM ${s.secure.lsm?.state ?? 'absent'}${s.secure.lsm?.detail ? ` (${s.secure.lsm.detail})` : ''}`,
        ...(s.secure.kernel ? [`  refused: ${s.secure.kernel.connectDenied} connect, ${s.secure.kernel.bindDenied} bind, ${s.secure.kernel.setsockoptDenied} setsockopt, ${s.secure.kernel.lsmDenied} by the LSM; ${s.secure.kernel.listenMarked} foreign listeners neutralised (${s.secure.kernel.ingressDropped} packets dropped); addresses ${s.secure.kernel.addressesRewritten} rewritten, ${s.secure.kernel.addressesHidden} hidden`] : [])]
      : []),
    `store:     ${s.store}`,
    `scope:     ${s.scope}`,
    `advertise: ${s.advertiseAddr ?? 'none'} (underlay MTU ${s.underlayMtu})`,
    `daemon:    pid ${s.pid}, host ${s.hostId}`,
    ...(typeof s.hosts === 'string'
      ? [`hosts:     unknown (${s.hosts})`]
      : [`hosts:     ${s.hosts.length} live`, ...s.hosts.map((h) => `  ${h.id}  ${h.hostname}  ${h.addr}${h.id === s.hostId ? '  (this host)' : ''}`)]),
    `router:    ${s.router.runDir}/router.sock, port ${s.router.port}: ${s.router.replaced} replaced, ${s.router.fallback} fallback, ${s.router.refused} refused, ${s.router.hostile} hostile; ${s.router.hiddenListeners} hidden listeners`,
    ...(s.policy
      ? [`policy:    ${s.policy.rules} rules (default ${s.policy.default}); ${s.policy.refusedConnects} connects refused, ${s.policy.revokedReplaced} replaced and ${s.policy.revokedOverlay} overlay connections revoked; ${s.policy.firewallRules} firewall rules; ${s.policy.unresolvedEndpoints} endpoints not resolved yet`,
        ...(s.policy.firewallError ? [`  firewall: ${s.policy.firewallError}`] : [])]
      : []),
    `networks:  ${s.networks.length}`,
    ...s.networks.map((n) => `  ${n.id.slice(0, 12)}  ${n.subnet}  vni ${n.vni}  mtu ${n.mtu}  ${n.bridge}${n.internal ? '  internal' : ''}`),
    `endpoints: ${s.endpoints.length}`,
    ...s.endpoints.map((e) => `  ${e.id.slice(0, 12)}  net ${e.networkId.slice(0, 12)}  ${e.address}  ${e.mac}  ${e.sandboxKey ? 'joined' : 'not joined'}${e.liveMigration ? '  live-migration (no host sockets)' : ''}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
