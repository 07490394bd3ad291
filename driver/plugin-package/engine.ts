// The Docker engine the plugin is created in: DOCKER_HOST (unix://PATH, tcp://…) or the system
// socket. dockerode has no call for a plugin create with a body, so that one request goes through
// its modem, which still handles DOCKER_HOST, TLS and error replies.
import { spawn } from 'node:child_process';
import Docker from 'dockerode';

const DEFAULT_SOCKET = '/run/docker.sock';

export function engineAddress(): string {
  return process.env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`;
}

export async function connectEngine(): Promise<Docker> {
  // Without DOCKER_HOST docker-modem would prefer ~/.docker/run/docker.sock when one exists.
  const docker = process.env.DOCKER_HOST ? new Docker() : new Docker({ socketPath: DEFAULT_SOCKET });
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`cannot reach the Docker engine at ${engineAddress()}: ${(err as Error).message}`);
  }
  return docker;
}

export async function pluginExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getPlugin(name, undefined).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

export async function removePlugin(docker: Docker, name: string): Promise<void> {
  // force: an enabled plugin is disabled first; networks still using it are the operator's call.
  await docker.getPlugin(name, undefined).remove({ force: true });
}

/** POST /plugins/create with an uncompressed tar of dir (config.json + rootfs/), streamed. */
export async function createPlugin(docker: Docker, name: string, dir: string): Promise<void> {
  // --owner/--group: the rootfs belongs to root inside the plugin whoever ran the build.
  const tar = spawn('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', 'config.json', 'rootfs'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tarErr = '';
  tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
  const tarDone = new Promise<number>((resolve, reject) => {
    tar.once('error', reject);
    tar.once('close', (code) => resolve(code ?? 1));
  });
  tarDone.catch(() => undefined); // observed below; the engine's error is reported first
  const created = new Promise<void>((resolve, reject) => {
    docker.modem.dial(
      {
        path: '/plugins/create?',
        method: 'POST',
        options: { name },
        file: tar.stdout,
        statusCodes: { 200: true, 204: true, 400: 'bad parameter', 409: 'conflict', 500: 'server error' },
      },
      (err) => (err ? reject(err) : resolve()),
    );
  });
  try {
    await created;
  } catch (err) {
    tar.kill('SIGKILL');
    const reply = (err as { json?: { message?: string } }).json?.message;
    throw new Error(`the engine refused the plugin: ${reply ?? (err as Error).message}${tarErr ? ` (tar: ${tarErr.trim()})` : ''}`);
  }
  const code = await tarDone;
  if (code !== 0) throw new Error(`tar of ${dir} failed (exit ${code}): ${tarErr.trim()}`);
}
