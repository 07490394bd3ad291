// Daemon settings. Each has a flag and an environment variable (the managed plugin is configured
// with `docker plugin set KEY=value`); the flag wins.
import { parseCidr, type Cidr } from '../ipam/ipv4.js';
import type { Scope } from './network-driver.js';

/** required: refuse to start without kernel enforcement (at least the cgroup programs); auto: use
 *  what the kernel offers, trusted mode if nothing; off: trusted mode, nothing loaded. */
export type SecureMode = 'required' | 'auto' | 'off';
export const SECURE_MODES: readonly SecureMode[] = ['required', 'auto', 'off'];

export interface DaemonConfig {
  pluginSocket: string;
  stateDir: string;
  /** Underlay address of this host; detected from the interfaces when not given. */
  advertiseAddr: string | null;
  logLevel: string;
  scope: Scope;
  /** "embedded" (the state file) or etcd://HOST:PORT[,HOST:PORT…]. */
  store: string;
  /** Seconds until a dead host's record expires from etcd and its endpoints are forgotten. */
  hostTtl: number;
  defaultPools: { range: Cidr; prefix: number };
  /** Holds router.sock and the shim builds; containers mount it to opt in to host sockets. */
  runDir: string;
  /** Underlay TCP port of this host's router (0 = any free port; it is published in the state). */
  routerPort: number;
  /** Cluster secret for router-to-router messages; null = the one kept in the cluster state. */
  secret: Buffer | null;
  secureMode: SecureMode;
  /** cgroup v2 directory the daemon moves into and attaches secure mode's programs to; null = its
   *  own cgroup (a new "slim" one below the root when it runs in the root cgroup). */
  secureCgroup: string | null;
}

export interface DaemonFlags {
  pluginSocket?: string;
  stateDir?: string;
  advertiseAddr?: string;
  logLevel?: string;
  scope?: string;
  store?: string;
  hostTtl?: string;
  defaultPool?: string;
  defaultPoolSize?: string;
  runDir?: string;
  routerPort?: string;
  secureMode?: string;
  secureCgroup?: string;
}

export const DEFAULTS = {
  pluginSocket: '/run/docker/plugins/slim.sock',
  stateDir: '/var/lib/slim',
  logLevel: 'info',
  scope: 'local',
  store: 'embedded',
  hostTtl: '10',
  defaultPool: '10.208.0.0/12',
  defaultPoolSize: '24',
  runDir: '/run/slim',
  routerPort: '4792',
  secureMode: 'auto',
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function resolveConfig(flags: DaemonFlags, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  const pick = (flag: string | undefined, envName: string, fallback: string) => flag ?? (env[envName] || fallback);
  const scope = pick(flags.scope, 'SCOPE', DEFAULTS.scope);
  if (scope !== 'local' && scope !== 'global') throw new Error(`scope must be "local" or "global", not ${JSON.stringify(scope)}`);
  const logLevel = pick(flags.logLevel, 'LOG_LEVEL', DEFAULTS.logLevel);
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`log level must be one of ${LOG_LEVELS.join(', ')}`);
  const advertiseAddr = pick(flags.advertiseAddr, 'ADVERTISE_ADDR', '') || null;
  if (advertiseAddr) parseCidr(`${advertiseAddr}/32`);
  const range = parseCidr(pick(flags.defaultPool, 'DEFAULT_POOL', DEFAULTS.defaultPool));
  const prefix = Number(pick(flags.defaultPoolSize, 'DEFAULT_POOL_SIZE', DEFAULTS.defaultPoolSize));
  if (!Number.isInteger(prefix) || prefix < range.prefix || prefix > 30) {
    throw new Error(`default pool size must be a prefix length from ${range.prefix} to 30`);
  }
  const hostTtl = Number(pick(flags.hostTtl, 'HOST_TTL', DEFAULTS.hostTtl));
  if (!Number.isInteger(hostTtl) || hostTtl < 2 || hostTtl > 3600) throw new Error('host TTL must be a whole number of seconds from 2 to 3600');
  const routerPort = Number(pick(flags.routerPort, 'ROUTER_PORT', DEFAULTS.routerPort));
  if (!Number.isInteger(routerPort) || routerPort < 0 || routerPort > 65535) throw new Error('router port must be a TCP port number (0 = any)');
  const secretText = env.SECRET || '';
  if (secretText && Buffer.byteLength(secretText) < 16) throw new Error('SECRET must be at least 16 bytes');
  const secureMode = pick(flags.secureMode, 'SECURE_MODE', DEFAULTS.secureMode);
  if (!(SECURE_MODES as readonly string[]).includes(secureMode)) throw new Error(`secure mode must be one of ${SECURE_MODES.join(', ')}, not ${JSON.stringify(secureMode)}`);
  const secureCgroup = pick(flags.secureCgroup, 'SECURE_CGROUP', '') || null;
  if (secureCgroup && !secureCgroup.startsWith('/')) throw new Error('secure cgroup must be an absolute path (a cgroup v2 directory)');
  return {
    secureMode: secureMode as SecureMode,
    secureCgroup,
    runDir: pick(flags.runDir, 'RUN_DIR', DEFAULTS.runDir),
    routerPort,
    secret: secretText ? Buffer.from(secretText) : null,
    pluginSocket: pick(flags.pluginSocket, 'PLUGIN_SOCKET', DEFAULTS.pluginSocket),
    stateDir: pick(flags.stateDir, 'STATE_DIR', DEFAULTS.stateDir),
    advertiseAddr,
    logLevel,
    scope,
    store: pick(flags.store, 'STORE', DEFAULTS.store),
    hostTtl,
    defaultPools: { range, prefix },
  };
}
