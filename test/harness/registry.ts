// A Docker registry (Debian's docker-registry, distribution 2.8) inside a test host's network
// namespace on HOST_ADDR:5000, its storage under the host's directory. No registry is reachable
// from the test machines, so `docker plugin push/install` and image pulls go through this one.
// It is a spawnInHost process: World.destroy() stops it with everything else.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { sleep, waitGone } from './exec.js';
import type { Host } from './host.js';

const REGISTRY_BIN = '/usr/bin/docker-registry';
export const REGISTRY_PORT = 5000;
const READY_MS = 15_000;

// underlay.ts gives every World a 10.77.X.0/24, X chosen at create time: a dockerd flag fixed
// before any address is known can still name them all. Plain HTTP needs the flag on every engine.
const TEST_NETS = '10.77.0.0/16';
/** WorldOptions.dockerdArgs for worlds that push to or pull from a test registry. */
export const INSECURE_REGISTRY_ARGS = ['--insecure-registry', TEST_NETS];

export interface Registry {
  /** "ADDR:5000", the prefix of plugin and image names, e.g. `${addr}/slim:latest` */
  addr: string;
  stop(): Promise<void>;
}

export async function startRegistry(host: Host): Promise<Registry> {
  if (!existsSync(REGISTRY_BIN)) throw new Error(`${REGISTRY_BIN} is missing: apt-get install docker-registry (test/install-prereqs.sh)`);
  if (!host.addr.startsWith('10.77.')) throw new Error(`${host.addr} is outside ${TEST_NETS}: INSECURE_REGISTRY_ARGS would not cover it`);
  const addr = `${host.addr}:${REGISTRY_PORT}`;
  const dir = join(host.dir, 'registry');
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${addr}`,
      '',
    ].join('\n'),
  );
  const log = join(dir, 'registry.log');
  const child = host.spawnInHost([REGISTRY_BIN, 'serve', config], log);
  const stop = async (): Promise<void> => {
    if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await waitGone(child.pid, 5_000))) child.kill('SIGKILL');
  };
  const deadline = Date.now() + READY_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`docker-registry exited:\n${tail(log)}`);
    if ((await apiStatus(addr)) === 200) return { addr, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry on ${addr} did not answer within ${READY_MS} ms:\n${tail(log)}`);
    }
    await sleep(100);
  }
}

/** HTTP status of GET /v2/ (200 once the API is served; no auth configured), 0 if no answer. */
function apiStatus(addr: string): Promise<number> {
  return new Promise((resolve) => {
    // agent false: no kept-alive socket outlives the check (it would hold the ava worker open).
    const req = get(`http://${addr}/v2/`, { agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}
