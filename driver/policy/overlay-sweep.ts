// Revocation on the overlay: TCP that is not replaced lives in the containers' own network
// namespaces. For one local container, list its sockets there (sock_diag, from a netlink socket
// opened inside /proc/PID/ns/net) and destroy those between Slim endpoints that the policy no
// longer allows. Which end connected is read from the namespace itself: a connection whose local
// port has a listener there was accepted, any other was made by this container.
import { destroyTcp, tcpConnections, type TcpConnection } from '../../native/router-addon/index.js';
import type { ClusterView, EndpointView } from '../router/cluster-view.js';
import { subjectOf } from './gate.js';
import { evaluate } from './model.js';

const TCP_LISTEN = 10;

export function netnsOf(pid: number): string {
  return `/proc/${pid}/ns/net`;
}

/** The connections of container `pid` (its endpoints on this host: `mine`) the policy does not allow. */
export function doomedConnections(view: ClusterView, mine: readonly EndpointView[], sockets: readonly TcpConnection[]): TcpConnection[] {
  const listening = new Set(sockets.filter((s) => s.state === TCP_LISTEN).map((s) => `${s.src}:${s.sport}`));
  const accepted = (s: TcpConnection) => listening.has(`${s.src}:${s.sport}`) || listening.has(`0.0.0.0:${s.sport}`);
  const doomed: TcpConnection[] = [];
  for (const s of sockets) {
    if (s.state === TCP_LISTEN) continue;
    const local = mine.find((e) => e.ip === s.src);
    if (!local) continue; // not on a Slim network (docker_gwbridge, loopback)
    const peer = view.endpointsWithIp(s.dst).find((e) => e.networkId === local.networkId);
    if (!peer) continue;
    const [from, to, port] = accepted(s) ? [peer, local, s.sport] : [local, peer, s.dport];
    if (evaluate(view.policies, subjectOf(view, from), subjectOf(view, to), port).action !== 'allow') doomed.push(s);
  }
  return doomed;
}

/** Destroys what doomedConnections() finds in the namespace of `pid`; returns how many. */
export function sweepContainer(view: ClusterView, pid: number, mine: readonly EndpointView[]): number {
  const ns = netnsOf(pid);
  const doomed = doomedConnections(view, mine, tcpConnections(ns, { withListeners: true }));
  return destroyTcp(doomed, ns);
}
