import { callPlugin } from './plugin/client.js';
import type { EndpointRecord, NetworkRecord } from './store/state.js';

interface Status {
  mode: string;
  modeNote: string;
  store: string;
  scope: string;
  advertiseAddr: string | null;
  underlayMtu: number;
  pid: number;
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
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
    `store:     ${s.store}`,
    `scope:     ${s.scope}`,
    `advertise: ${s.advertiseAddr ?? 'none'} (underlay MTU ${s.underlayMtu})`,
    `daemon:    pid ${s.pid}`,
    `networks:  ${s.networks.length}`,
    ...s.networks.map((n) => `  ${n.id.slice(0, 12)}  ${n.subnet}  vni ${n.vni}  mtu ${n.mtu}  ${n.bridge}${n.internal ? '  internal' : ''}`),
    `endpoints: ${s.endpoints.length}`,
    ...s.endpoints.map((e) => `  ${e.id.slice(0, 12)}  net ${e.networkId.slice(0, 12)}  ${e.address}  ${e.mac}  ${e.sandboxKey ? 'joined' : 'not joined'}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
