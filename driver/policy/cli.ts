// `slim policy add|ls|rm`: the rule list, through the local daemon's plugin socket (which writes
// it to the cluster state, so any host of the cluster will do).
import type { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../config.js';
import { callPlugin } from '../plugin/client.js';
import { formatSelector, parseSelector, SelectorError, type PolicyRule } from './model.js';

const MANAGED_PLUGINS = '/run/docker/plugins';

/**
 * --plugin-socket, else PLUGIN_SOCKET, else the legacy daemon's socket, else the one managed
 * plugin's (/run/docker/plugins/<id>/slim.sock) when exactly one is there.
 */
export function daemonSocket(given: string | undefined): string {
  const explicit = given || process.env.PLUGIN_SOCKET;
  if (explicit) return explicit;
  if (existsSync(DEFAULTS.pluginSocket)) return DEFAULTS.pluginSocket;
  let found: string[] = [];
  try {
    found = readdirSync(MANAGED_PLUGINS, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(MANAGED_PLUGINS, d.name, 'slim.sock'))
      .filter((p) => existsSync(p));
  } catch {
    // no plugin directory: report the default below
  }
  return found.length === 1 ? found[0]! : DEFAULTS.pluginSocket;
}

async function call(socket: string, method: string, body: object): Promise<unknown> {
  let reply;
  try {
    reply = await callPlugin(socket, method, body);
  } catch (err) {
    throw new Error(`cannot reach the Slim daemon on ${socket}: ${(err as Error).message} (--plugin-socket names another)`);
  }
  const err = (reply.body as { Err?: unknown }).Err;
  if (reply.status !== 200 || err) throw new Error(typeof err === 'string' ? err : `daemon answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

function selector(text: string): ReturnType<typeof parseSelector> {
  try {
    return parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorError) throw new Error(err.message);
    throw err;
  }
}

function wholeNumber(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new Error(`${what} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  return n;
}

interface Listing {
  rules: PolicyRule[];
  default: string;
  /** This host's endpoints whose container dockerd has not named yet, and why if it failed. */
  unresolvedEndpoints?: number;
  resolverError?: string | null;
}

function table({ rules, default: fallback, unresolvedEndpoints, resolverError }: Listing): string {
  const rows = [['#', 'ID', 'ACTION', 'FROM', 'TO', 'PORT'], ...rules.map((r, i) => [String(i + 1), r.id, r.action, formatSelector(r.from), formatSelector(r.to), r.port === undefined ? 'any' : String(r.port)])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  const pending = unresolvedEndpoints
    ? [`${unresolvedEndpoints} endpoints on this host not resolved yet: rules naming services, containers or labels deny them${resolverError ? ` (${resolverError})` : ''}`]
    : [];
  return [...lines, `default: ${fallback} (the first matching rule decides; TCP only)`, ...pending].join('\n');
}

export function addPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('connection policy: allow/deny TCP between services, containers, labels or networks, kept in the cluster state');
  const socketOption = ['--plugin-socket <path>', `the daemon's plugin socket (env PLUGIN_SOCKET; default ${DEFAULTS.pluginSocket}, or the managed plugin's when one is installed)`] as const;

  policy
    .command('add <action>')
    .description('add a rule: allow or deny connections FROM -> TO; selectors: any, network=NAME|ID, service=NAME, container=NAME|ID, label=KEY[=VALUE]')
    .requiredOption('--from <selector>', 'the connecting side')
    .requiredOption('--to <selector>', 'the accepting side')
    .option('--port <port>', 'only connections to this TCP port')
    .option('--position <n>', 'place in the list, 1 = first (default: last)')
    .option(...socketOption)
    .action(async (action: string, o: { from: string; to: string; port?: string; position?: string; pluginSocket?: string }) => {
      if (action !== 'allow' && action !== 'deny') throw new Error(`action must be allow or deny, not ${JSON.stringify(action)}`);
      const body = {
        action,
        from: selector(o.from),
        to: selector(o.to),
        ...(o.port === undefined ? {} : { port: wholeNumber(o.port, 'port', 1, 65535) }),
        ...(o.position === undefined ? {} : { position: wholeNumber(o.position, 'position', 1, 1000) }),
      };
      const { rule, position } = (await call(daemonSocket(o.pluginSocket), 'Slim.Policy.Add', body)) as { rule: PolicyRule; position: number };
      process.stdout.write(`${rule.id}\n`);
      process.stderr.write(`rule ${rule.id} added at position ${position}\n`);
    });

  policy
    .command('ls')
    .description('the rules in the order they are evaluated')
    .option('--json', 'print the raw JSON')
    .option(...socketOption)
    .action(async (o: { json?: boolean; pluginSocket?: string }) => {
      const body = (await call(daemonSocket(o.pluginSocket), 'Slim.Policy.List', {})) as Listing;
      process.stdout.write(o.json ? `${JSON.stringify(body, null, 2)}\n` : `${table(body)}\n`);
    });

  policy
    .command('rm <ids...>')
    .description('remove rules by ID (or an unambiguous ID prefix); none is removed if one is unknown')
    .option(...socketOption)
    .action(async (ids: string[], o: { pluginSocket?: string }) => {
      const { removed } = (await call(daemonSocket(o.pluginSocket), 'Slim.Policy.Remove', { ids })) as { removed: PolicyRule[] };
      for (const r of removed) process.stdout.write(`${r.id}\n`);
    });
}
