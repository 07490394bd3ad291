#!/usr/bin/env node
import { Command } from 'commander';
import { DEFAULTS, resolveConfig } from './config.js';
import { runDaemon } from './daemon.js';
import { addPolicyCommands } from './policy/cli.js';
import { printStatus } from './status-command.js';

const program = new Command('slim').description('Slim: a Docker network plugin whose container TCP runs on host sockets');

program
  .command('daemon')
  .description('serve the Docker network and IPAM plugin')
  .option('--plugin-socket <path>', `plugin socket Docker connects to (env PLUGIN_SOCKET, default ${DEFAULTS.pluginSocket})`)
  .option('--state-dir <dir>', `where the embedded store keeps state (env STATE_DIR, default ${DEFAULTS.stateDir})`)
  .option('--advertise-addr <ip>', 'this host\'s underlay address (env ADVERTISE_ADDR, default: detected)')
  .option('--log-level <level>', `fatal, error, warn, info, debug or trace (env LOG_LEVEL, default ${DEFAULTS.logLevel})`)
  .option('--scope <scope>', `driver scope: local (standalone engine) or global (swarm) (env SCOPE, default ${DEFAULTS.scope})`)
  .option('--store <spec>', `cluster state: embedded, or etcd://HOST:PORT[,HOST:PORT…] for many hosts (env STORE, default ${DEFAULTS.store})`)
  .option('--host-ttl <seconds>', `how long a dead host's endpoints stay reachable in etcd (env HOST_TTL, default ${DEFAULTS.hostTtl})`)
  .option('--default-pool <cidr>', `range pools are carved from when no --subnet is given (env DEFAULT_POOL, default ${DEFAULTS.defaultPool})`)
  .option('--default-pool-size <len>', `prefix length of those pools (env DEFAULT_POOL_SIZE, default ${DEFAULTS.defaultPoolSize})`)
  .option('--run-dir <dir>', `router.sock and the shim builds, mounted by containers that opt in (env RUN_DIR, default ${DEFAULTS.runDir})`)
  .option('--router-port <port>', `underlay TCP port for other hosts' routers, 0 = any (env ROUTER_PORT, default ${DEFAULTS.routerPort}); the cluster secret comes from env SECRET or the cluster state`)
  .option('--secure-mode <mode>', `kernel enforcement of host sockets: required (refuse to start without it), auto (what the kernel offers) or off (env SECURE_MODE, default ${DEFAULTS.secureMode})`)
  .option('--secure-cgroup <dir>', 'cgroup v2 directory the daemon moves into and attaches secure mode\'s programs to (env SECURE_CGROUP, default: its own cgroup, or "slim" below the root)')
  .action(async (flags) => {
    await runDaemon(resolveConfig(flags));
  });

program
  .command('status')
  .description('what the running daemon serves: mode, store, networks, endpoints')
  .option('--plugin-socket <path>', 'the daemon\'s plugin socket', process.env.PLUGIN_SOCKET || DEFAULTS.pluginSocket)
  .option('--json', 'print the raw JSON')
  .action(async (opts: { pluginSocket: string; json?: boolean }) => {
    await printStatus(opts.pluginSocket, opts.json ?? false);
  });

program
  .command('plugin')
  .description('the managed (v2) plugin, for swarm')
  .command('build <name>')
  .description('create the managed plugin NAME (e.g. REGISTRY/slim:latest) in the engine at DOCKER_HOST from this machine\'s node, tools and the built app, ready for docker plugin push')
  .option('--force', 'remove an existing plugin of that name first')
  .action(async (name: string, opts: { force?: boolean }) => {
    // Loaded on demand: the daemon never pays for the packaging code (or dockerode).
    const { buildPlugin } = await import('./plugin-package/build.js');
    await buildPlugin(name, { force: opts.force ?? false });
  });

addPolicyCommands(program);

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`slim: ${err.message}\n`);
  process.exit(1);
});
