// Small helpers over a test host's docker CLI, shared by the host-tier tests.
import type { Host } from '../harness/world.js';

export { waitFor } from '../harness/wait.js';

export const BUSYBOX = 'slim-test/busybox:latest';
export const DEBIAN = 'slim-test/debian:latest';

/** TCP echo on 7000 and UDP echo on 7001, both with socat. */
export const ECHO_SERVER = ['sh', '-c', 'socat TCP-LISTEN:7000,fork,reuseaddr EXEC:cat & exec socat UDP-RECVFROM:7001,fork EXEC:cat'];

export async function createSlimNetwork(host: Host, name: string, args: string[] = []): Promise<string> {
  const { stdout } = await host.docker(['network', 'create', '-d', 'slim', '--ipam-driver', 'slim', ...args, name]);
  return stdout.trim();
}

export async function runDetached(host: Host, name: string, args: string[], cmd: string[] = ECHO_SERVER): Promise<void> {
  // A short stop timeout: the servers run as PID 1 and ignore SIGTERM, and dockerd restarts wait for them.
  await host.docker(['run', '-d', '--name', name, '--stop-timeout', '2', ...args, DEBIAN, ...cmd]);
}

export async function execIn(host: Host, container: string, script: string, allowFail = false) {
  return host.docker(['exec', container, 'sh', '-c', script], { allowFail, timeoutMs: 30_000 });
}

/** Sends a line over TCP (or UDP) with socat and returns what came back. */
export async function echoOver(host: Host, from: string, target: string, proto: 'TCP' | 'UDP', allowFail = false) {
  const port = proto === 'TCP' ? 7000 : 7001;
  const r = await execIn(host, from, `echo hello-${proto} | timeout 10 socat -t 2 - ${proto}:${target}:${port}`, allowFail);
  return r.stdout.trim();
}

export async function containerIp(host: Host, container: string, network: string): Promise<string> {
  const { stdout } = await host.docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container]);
  return stdout.trim();
}

/** Bytes received plus sent by all of Slim's VXLAN devices on a host: what crossed its overlay. */
export async function vxlanBytes(h: Host): Promise<number> {
  const { stdout } = await h.run(['ip', '-j', '-s', 'link', 'show']);
  const links = JSON.parse(stdout) as { ifname: string; stats64: { rx: { bytes: number }; tx: { bytes: number } } }[];
  return links.filter((l) => l.ifname.startsWith('slx-')).reduce((sum, l) => sum + l.stats64.rx.bytes + l.stats64.tx.bytes, 0);
}

/** Kernel links in the host's namespace that Slim names (bridges, VXLAN devices, veths). */
export async function slimLinks(host: Host): Promise<string[]> {
  const { stdout } = await host.run(['ip', '-j', 'link', 'show']);
  return (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname).filter((n) => /^sl[bxvc]-/.test(n));
}


export async function removeAllContainers(host: Host): Promise<void> {
  const { stdout } = await host.docker(['ps', '-aq']);
  const ids = stdout.split('\n').filter(Boolean);
  if (ids.length) await host.docker(['rm', '-f', ...ids]);
}

/** Back to an empty host between tests: no containers, no Slim networks. */
export async function resetHost(host: Host): Promise<void> {
  await removeAllContainers(host);
  const { stdout } = await host.docker(['network', 'ls', '--filter', 'driver=slim', '-q']);
  for (const id of stdout.split('\n').filter(Boolean)) await host.docker(['network', 'rm', id], { allowFail: true });
}

/** True when n tasks of a swarm service are running (asked of a manager). */
export async function replicasRunning(manager: Host, service: string, n: number): Promise<boolean> {
  const { stdout } = await manager.docker(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']);
  return stdout.split('\n').filter((l) => l.startsWith('Running')).length === n;
}
