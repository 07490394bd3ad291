// The managed plugin's config.json (Docker's "plugin config version 1 of plugin v2"): what Docker
// runs, which namespaces and capabilities it gets, and which settings `docker plugin set` may change.
import { DEFAULTS } from '../config.js';

export const APP_DIR = '/opt/slim';
export const NODE_BIN = '/usr/bin/node';
/** The socket's name inside the plugin's /run/docker/plugins (Docker mounts that directory). */
export const SOCKET_NAME = 'slim.sock';
/** Host directories bind-mounted at the same path; they must exist on the host before enable. */
export const STATE_DIR = '/var/lib/slim';
export const RUN_DIR = '/run/slim';
/** dockerd's API socket, settable for engines that listen elsewhere (`docker-socket.source=PATH`). */
export const DOCKER_SOCKET = { name: 'docker-socket', source: '/var/run/docker.sock', destination: '/run/docker.sock' };

export interface EnvSetting {
  name: string;
  description: string;
  /** ["value"]: changeable with `docker plugin set NAME=value` while the plugin is disabled */
  settable: string[];
  value: string;
}

// An empty value means "the daemon's own default" (driver/config.ts treats "" as unset). Every
// entry needs a default: `docker plugin upgrade` keeps the old values and adds new entries as is.
export const ENV: EnvSetting[] = [
  { name: 'STORE', description: 'cluster state: "" or embedded (one host), or etcd://HOST:PORT[,HOST:PORT…]', settable: ['value'], value: '' },
  { name: 'ADVERTISE_ADDR', description: 'this host\'s underlay address ("" = detected)', settable: ['value'], value: '' },
  { name: 'LOG_LEVEL', description: 'fatal, error, warn, info, debug or trace', settable: ['value'], value: DEFAULTS.logLevel },
  {
    name: 'SCOPE',
    description: 'global for swarm; a standalone engine refuses global drivers, set local there',
    settable: ['value'],
    value: 'global',
  },
  { name: 'DEFAULT_POOL', description: `range pools are carved from when no --subnet is given ("" = ${DEFAULTS.defaultPool})`, settable: ['value'], value: '' },
  { name: 'DEFAULT_POOL_SIZE', description: `prefix length of those pools ("" = ${DEFAULTS.defaultPoolSize})`, settable: ['value'], value: '' },
  { name: 'ROUTER_PORT', description: `underlay TCP port of the router ("" = ${DEFAULTS.routerPort}, 0 = any)`, settable: ['value'], value: '' },
  { name: 'SECRET', description: 'cluster secret (16+ bytes) for router-to-router messages ("" = one kept in the cluster state)', settable: ['value'], value: '' },
  {
    name: 'SECURE_MODE',
    description: 'kernel enforcement of host sockets: required, auto or off ("" = auto: what the kernel offers)',
    settable: ['value'],
    value: '',
  },
  { name: 'HOST_TTL', description: `seconds a dead host's endpoints stay in etcd ("" = ${DEFAULTS.hostTtl})`, settable: ['value'], value: '' },
  // Fixed by the package layout, hence not settable.
  { name: 'PLUGIN_SOCKET', description: 'where Docker looks for the plugin socket', settable: [], value: `/run/docker/plugins/${SOCKET_NAME}` },
  { name: 'STATE_DIR', description: 'the embedded store, on the host\'s /var/lib/slim', settable: [], value: STATE_DIR },
  { name: 'RUN_DIR', description: 'router.sock and the shim, on the host\'s /run/slim (containers mount it)', settable: [], value: RUN_DIR },
];

function hostDir(name: string, dir: string, description: string, destination = dir) {
  return { name, description, source: dir, destination, type: 'bind', options: ['rbind', 'rw'], settable: [] as string[] };
}

/** Secure mode: the host's bpffs (the programs stay pinned while the plugin restarts) and its
 *  cgroup hierarchies (the loader attaches to the plugin's own cgroup v2, which only the host's
 *  view shows). */
export const BPF_DIR = '/sys/fs/bpf';
export const HOST_CGROUP = { source: '/sys/fs/cgroup', destination: '/host/sys/fs/cgroup' };

export function pluginConfig() {
  return {
    description: 'Slim: Docker network and IPAM driver, container overlay networking on host sockets',
    documentation: 'swarm-examples/PLUGIN.md in the Slim repository',
    entrypoint: [NODE_BIN, `${APP_DIR}/dist/driver/cli.js`, 'daemon'],
    workdir: APP_DIR,
    interface: { types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'], socket: SOCKET_NAME },
    // Bridges, VXLAN devices and veths are made in the host's network namespace.
    network: { type: 'host' },
    // The router maps a connecting process (SO_PEERCRED pid) to its container's namespace.
    pidhost: true,
    ipchost: false,
    linux: {
      // NET_ADMIN: links, addresses, iptables. SYS_ADMIN: entering other network namespaces, and
      // secure mode (bpf(2) for cgroup and LSM programs, mounting bpffs; CAP_BPF/CAP_PERFMON are
      // unknown to older engines, and SYS_ADMIN covers them).
      // SYS_PTRACE: reading /proc/PID/ns/net of callers running as another user (nginx's nobody).
      // Docker's default set (NET_RAW among others) comes on top.
      capabilities: ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'],
      allowAllDevices: false,
      devices: null,
    },
    mounts: [
      // Docker replays nothing after a plugin restart or upgrade: the state must outlive the rootfs.
      hostDir('state', STATE_DIR, 'Slim\'s state (embedded store, host identity)'),
      // Containers that use the shim mount this same host directory to reach the router's socket.
      hostDir('run', RUN_DIR, 'sockets shared with containers (router, shim)'),
      hostDir('bpf', BPF_DIR, 'secure mode: the host\'s bpffs, where its BPF programs are pinned (/sys/fs/bpf/slim)'),
      hostDir('cgroup', HOST_CGROUP.source, 'secure mode: the host\'s cgroups (the programs attach to the plugin\'s own cgroup v2)', HOST_CGROUP.destination),
      // Who holds each endpoint (name, service, labels: what policy rules name) is asked of dockerd,
      // in the background, never from a plugin request (driver/policy/identity.ts).
      {
        ...DOCKER_SOCKET,
        description: 'dockerd\'s API socket: container names, services and labels for connection policy',
        type: 'bind',
        options: ['rbind', 'rw'],
        settable: ['source'],
      },
    ],
    env: ENV,
    args: { name: 'args', description: 'extra arguments to slim daemon', settable: [] as string[], value: [] as string[] },
  };
}
