// Assembles the plugin's rootfs from this machine, pulling no image: the host's node binary, the
// tools the daemon runs (ip, bridge, iptables and iptables-restore with the extension modules,
// nsenter; mount for cgroup v2 where the host has none mounted), every library
// they load, the built app, and the few directories and /etc files Docker and the daemon expect.
import { chmodSync, copyFileSync, lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { copyApp } from './app-files.js';
import { findCommand, mirrorHostDir, mirrorHostPath, sharedLibraries } from './host-files.js';
import { APP_DIR, NODE_BIN, RUN_DIR, STATE_DIR } from './plugin-config.js';

const TOOLS = ['ip', 'bridge', 'iptables', 'iptables-restore', 'nsenter', 'mount'];

// /run/docker/plugins: Docker mounts the plugin's socket directory there. /proc, /sys and /dev
// are mount points runc fills. /tmp is world-writable and sticky, as everywhere.
const DIRS: [string, number][] = [
  ['/run/docker/plugins', 0o755],
  [STATE_DIR, 0o755],
  [RUN_DIR, 0o755],
  ['/tmp', 0o1777],
  ['/etc', 0o755],
  ['/root', 0o700],
  ['/proc', 0o555],
  ['/sys', 0o555],
  ['/dev', 0o755],
];

// hosts and resolv.conf are placeholders: with a network type set, Docker bind-mounts the host's.
const ETC_FILES: Record<string, string> = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  group: 'root:x:0:\nnogroup:x:65534:\n',
  hosts: '127.0.0.1\tlocalhost\n::1\tlocalhost\n',
  'resolv.conf': '',
  'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
};

export interface RootfsContents {
  node: string;
  tools: Record<string, string>;
  libraries: string[];
  xtablesModules: number;
  packages: number;
}

export async function assembleRootfs(rootfs: string, repoRoot: string): Promise<RootfsContents> {
  // Host paths first: they decide which directories are symlinks (usr-merge), and a plain
  // mkdir -p of a skeleton directory must not pre-empt that.
  const tools: Record<string, string> = {};
  for (const tool of TOOLS) tools[tool] = mirrorHostPath(findCommand(tool), rootfs);

  // node goes to a fixed path (the entrypoint names it) wherever the host keeps it.
  const node = realpathSync(process.execPath);
  mkdirSync(join(rootfs, dirname(NODE_BIN)), { recursive: true });
  copyFileSync(node, join(rootfs, NODE_BIN));
  chmodSync(join(rootfs, NODE_BIN), 0o755);

  const binaries = [node, ...Object.values(tools)];
  const libraries = new Set((await Promise.all(binaries.map(sharedLibraries))).flat());
  const modules = xtablesModules(tools.iptables!, [...libraries], rootfs);
  for (const libs of await Promise.all(modules.map(sharedLibraries))) for (const l of libs) libraries.add(l);
  for (const lib of libraries) mirrorHostPath(lib, rootfs);

  for (const [dir, mode] of DIRS) {
    mkdirSync(join(rootfs, dir), { recursive: true });
    chmodSync(join(rootfs, dir), mode);
  }
  for (const [name, text] of Object.entries(ETC_FILES)) writeFileSync(join(rootfs, 'etc', name), text, { mode: 0o644 });

  const { packages } = copyApp(repoRoot, join(rootfs, APP_DIR));
  return { node, tools, libraries: [...libraries].sort(), xtablesModules: modules.length, packages };
}

/**
 * iptables loads its matches and targets (`-m comment`, `-j ACCEPT`) with dlopen from the
 * directory it was built with: libxtables' directory + "/xtables" on Debian. All of them are
 * copied (about 2 MB); the shared objects among them are returned for ldd.
 */
function xtablesModules(iptables: string, libraries: string[], rootfs: string): string[] {
  const libxtables = libraries.find((l) => basename(l).startsWith('libxtables.so'));
  if (!libxtables) throw new Error(`${iptables} does not link libxtables: cannot find its extension modules`);
  const dir = join(dirname(realpathSync(libxtables)), 'xtables');
  try {
    lstatSync(dir);
  } catch {
    throw new Error(`iptables extension modules not found in ${dir}`);
  }
  return [...new Set(mirrorHostDir(dir, rootfs).filter((f) => f.endsWith('.so')))];
}
