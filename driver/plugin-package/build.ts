// `slim plugin build NAME`: assembles config.json + rootfs/ in a temp dir, checks it, creates the
// managed plugin NAME in the engine at DOCKER_HOST (disabled, ready for `docker plugin push`),
// and removes the temp dir whatever happens.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectEngine, createPlugin, engineAddress, pluginExists, removePlugin } from './engine.js';
import { APP_DIR, NODE_BIN, pluginConfig } from './plugin-config.js';
import { assembleRootfs } from './rootfs.js';
import { megabytes, seconds, treeBytes } from './sizes.js';
import { smokeCheck } from './smoke-check.js';

export interface BuildOptions {
  /** remove an existing plugin of the same name first */
  force: boolean;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

export async function buildPlugin(name: string, opts: BuildOptions): Promise<void> {
  const t0 = performance.now();
  // Engine problems surface before seconds are spent on the rootfs.
  const docker = await connectEngine();
  if (await pluginExists(docker, name)) {
    if (!opts.force) {
      throw new Error(`plugin ${name} already exists in the engine at ${engineAddress()}: remove it (docker plugin rm -f ${name}) or pass --force`);
    }
    await removePlugin(docker, name);
    say(`removed the existing plugin ${name}`);
  }

  const tA = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'slim-plugin-'));
  // An interrupted build must not leave a 120 MB tree behind either.
  const onSignal = (): void => {
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const rootfs = join(tmp, 'rootfs');
    mkdirSync(rootfs);
    const contents = await assembleRootfs(rootfs, repoRoot());
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(pluginConfig(), null, 2)}\n`);
    const checked = await smokeCheck(rootfs);
    const t1 = performance.now();
    const rootfsBytes = treeBytes(rootfs);
    say(
      `rootfs ${megabytes(rootfsBytes)}: node ${megabytes(treeBytes(join(rootfs, NODE_BIN)))}, ` +
        `app ${megabytes(treeBytes(join(rootfs, APP_DIR)))} (${contents.packages} production packages), ` +
        `${contents.libraries.length} libraries, ${contents.xtablesModules} iptables modules; ` +
        `assembled in ${seconds(t1 - tA)}${checked ? ', checked in a chroot' : ' (chroot check skipped: needs root)'}`,
    );

    await createPlugin(docker, name, tmp);
    const t2 = performance.now();
    say(`created plugin ${name} in the engine at ${engineAddress()} in ${seconds(t2 - t1)} (total ${seconds(t2 - t0)})`);
    say(`it is disabled; next: docker plugin push ${name}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The checkout this code runs from (dist/… or, under tsx, the sources): the first package.json up. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Slim checkout (package.json) above the running code');
    dir = up;
  }
  return dir;
}
