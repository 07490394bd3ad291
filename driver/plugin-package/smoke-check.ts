// Runs the rootfs's programs in a chroot before the engine gets it: a missing library or iptables
// module then fails the build with the program's own message, not the plugin at enable time with
// an exit code in the dockerd log. Nothing here touches the network configuration.
import { execFile } from 'node:child_process';
import { APP_DIR, NODE_BIN } from './plugin-config.js';

const CHECKS: { cmd: string[]; expect?: RegExp }[] = [
  // Loads every module the daemon imports, from the copied node_modules only.
  { cmd: [NODE_BIN, `${APP_DIR}/dist/driver/cli.js`, '--help'], expect: /daemon/ },
  { cmd: ['ip', '-V'] },
  { cmd: ['bridge', '-V'] },
  { cmd: ['nsenter', '--version'] },
  // The daemon's rules use the comment match: its module must load from the copied directory.
  { cmd: ['iptables', '-m', 'comment', '--help'], expect: /comment match options/ },
];

/** false when it could not run: chroot needs root (CAP_SYS_CHROOT). */
export async function smokeCheck(rootfs: string): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  for (const { cmd, expect } of CHECKS) {
    const { ok, output } = await inChroot(rootfs, cmd);
    if (!ok || (expect && !expect.test(output))) {
      throw new Error(`the assembled rootfs fails "${cmd.join(' ')}":\n${output.trim()}`);
    }
  }
  return true;
}

function inChroot(rootfs: string, cmd: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    // Only PATH: what the plugin gets from Docker, nothing from the building shell.
    execFile('chroot', [rootfs, ...cmd], { timeout: 30_000, env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' } }, (err, stdout, stderr) =>
      resolve({ ok: !err, output: `${stdout}${stderr}` }),
    );
  });
}
