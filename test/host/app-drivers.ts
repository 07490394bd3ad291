// Real applications driven by their real clients, for test/host/apps.test.ts: how to tell each
// server is up, the bounded load run and what it must report, and where the server shows who
// connected. The parsers are pure (test/unit/app-drivers.test.ts feeds them recorded output).
import type { ExecutionContext } from 'ava';
import { APP_COMMANDS } from '../harness/images.js';
import type { ExecResult } from '../harness/exec.js';

/** Runs a shell script in one container (`docker exec … sh -c`); never throws on a non-zero exit. */
export type ContainerExec = (script: string, timeoutMs?: number) => Promise<ExecResult>;

export interface AppRun {
  /** The client container (host 2) and the server container (host 1). */
  client: ContainerExec;
  server: ContainerExec;
  serverIp: string;
  clientIp: string;
}

/** What the server says about one connection it holds: the peer and the local address it sees. */
export interface SeenConnection {
  peer: string;
  local: string | null;
}

export interface AppDriver {
  name: 'memcached' | 'redis' | 'nginx' | 'postgres';
  serverCmd: readonly string[];
  port: number;
  /** True once the real client gets an answer from the server across the network. */
  ready(run: AppRun): Promise<boolean>;
  /** The bounded load run; asserts on what the tool reports and returns one line for t.log. */
  drive(t: ExecutionContext, run: AppRun): Promise<string>;
  /** Connections as the server reports them (its own accounting, not the client's). */
  seen(run: AppRun): Promise<SeenConnection[]>;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

function ipOf(hostPort: string): string {
  // "10.1.2.3:4567", "tcp:10.1.2.3:4567", "10.1.2.3"
  const m = /(\d+\.\d+\.\d+\.\d+)/.exec(hostPort);
  return m ? m[1]! : hostPort;
}

function show(r: ExecResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

// ---------------------------------------------------------------------------------------------
// memcached: memcslap (libmemcached's load generator, blocking connections) and memcaslap (the
// renamed memaslap: libevent, many concurrent non-blocking connections, time-bounded).

export interface MemcslapResult {
  test: string;
  keys: number;
  threads: number;
  seconds: number;
}

/** The "Time to get 16000 keys by 8 threads: 0.325 seconds." line of memcslap. */
export function parseMemcslap(stdout: string): MemcslapResult | null {
  const m = /^Time to (get|mget|set)\s+(\d+) keys by\s+(\d+) threads:\s+([\d.]+) seconds\./m.exec(stdout);
  return m ? { test: m[1]!, keys: Number(m[2]), threads: Number(m[3]), seconds: Number(m[4]) } : null;
}

export interface MemcaslapResult {
  ops: number;
  tps: number;
  seconds: number;
}

/** The closing "Run time: 3.0s Ops: 221652 TPS: 73878 Net_rate: 82.7M/s" line of memcaslap. */
export function parseMemcaslap(stdout: string): MemcaslapResult | null {
  const m = /^Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)/m.exec(stdout);
  return m ? { seconds: Number(m[1]), ops: Number(m[2]), tps: Number(m[3]) } : null;
}

/** `stats` → name → value. */
export function parseMemcachedStats(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of stdout.matchAll(/^STAT (\S+) (.*?)\r?$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** `stats conns` → the client connections (listening sockets have no listen_addr). */
export function parseMemcachedConns(stdout: string): SeenConnection[] {
  const byFd = new Map<string, { addr?: string; listen?: string }>();
  for (const m of stdout.matchAll(/^STAT (\d+):(addr|listen_addr) (\S+?)\r?$/gm)) {
    const e = byFd.get(m[1]!) ?? {};
    if (m[2] === 'addr') e.addr = m[3]!;
    else e.listen = m[3]!;
    byFd.set(m[1]!, e);
  }
  return [...byFd.values()].filter((e) => e.addr && e.listen).map((e) => ({ peer: ipOf(e.addr!), local: ipOf(e.listen!) }));
}

const MEMCSLAP_THREADS = 8;
const MEMCSLAP_KEYS = 4000;

export const memcached: AppDriver = {
  name: 'memcached',
  serverCmd: APP_COMMANDS.memcached,
  port: 11211,
  async ready({ client, serverIp }) {
    return (await client(`memcping --servers=${serverIp}:11211`, 10_000)).code === 0;
  },
  async drive(t, { client, serverIp }) {
    const slap = await client(`memcslap --servers=${serverIp}:11211 --test=get --concurrency=${MEMCSLAP_THREADS} --execute-number=${MEMCSLAP_KEYS}`, 120_000);
    // memcslap exits 0 even when every request failed: its errors are lines on stderr.
    t.is(slap.code, 0, `memcslap: ${show(slap)}`);
    t.is(slap.stderr.trim(), '', `memcslap reported errors: ${show(slap)}`);
    const got = parseMemcslap(slap.stdout);
    t.truthy(got, `memcslap printed no get line: ${show(slap)}`);
    t.is(got?.keys, MEMCSLAP_THREADS * MEMCSLAP_KEYS, 'memcslap got every key');
    const statsAfterSlap = parseMemcachedStats((await client(`printf 'stats\\r\\nquit\\r\\n' | nc -N -w 5 ${serverIp} 11211`)).stdout);
    t.is(statsAfterSlap.get('cmd_get'), String(MEMCSLAP_THREADS * MEMCSLAP_KEYS), 'the server counted every get');
    t.is(statsAfterSlap.get('get_misses'), '0', 'and every get hit');

    const aslap = await client(`memcaslap --servers=${serverIp}:11211 --threads=2 --concurrency=16 --time=3s`, 60_000);
    t.is(aslap.code, 0, `memcaslap: ${show(aslap)}`);
    t.is(aslap.stderr.trim(), '', `memcaslap reported errors: ${show(aslap)}`);
    const as = parseMemcaslap(aslap.stdout);
    t.truthy(as, `memcaslap printed no result line: ${show(aslap)}`);
    t.true((as?.ops ?? 0) > 0 && (as?.tps ?? 0) > 0, `memcaslap did no work: ${show(aslap)}`);
    const stats = parseMemcachedStats((await client(`printf 'stats\\r\\nquit\\r\\n' | nc -N -w 5 ${serverIp} 11211`)).stdout);
    t.is(stats.get('rejected_connections'), '0');
    const slapRate = got ? Math.round(got.keys / Math.max(got.seconds, 0.001)) : 0;
    return `memcslap get ${got?.keys} keys by ${got?.threads} threads in ${got?.seconds} s (${slapRate} gets/s); memcaslap 2 threads × 16 connections: ${as?.ops} ops in ${as?.seconds} s, ${as?.tps} TPS`;
  },
  async seen({ client, serverIp }) {
    // Asked over a connection of its own: the server lists it with the address it came from.
    const r = await client(`printf 'stats conns\\r\\nquit\\r\\n' | nc -N -w 5 ${serverIp} 11211`);
    return parseMemcachedConns(r.stdout);
  },
};

// ---------------------------------------------------------------------------------------------
// redis: redis-benchmark (hiredis on its ae event loop, non-blocking connects).

export interface RedisBenchRow {
  test: string;
  rps: number;
}

/** redis-benchmark --csv: `"SET","71684.59","0.133",…` rows after a header. */
export function parseRedisBenchmarkCsv(stdout: string): RedisBenchRow[] {
  const rows: RedisBenchRow[] = [];
  for (const line of stdout.split('\n')) {
    const cells = line.trim().split(',').map((c) => c.replace(/^"|"$/g, ''));
    if (cells.length < 2 || cells[0] === 'test' || !/^[\d.]+$/.test(cells[1] ?? '')) continue;
    rows.push({ test: cells[0]!, rps: Number(cells[1]) });
  }
  return rows;
}

/** `CLIENT LIST`: one line per connection, `addr=IP:PORT laddr=IP:PORT …`. */
export function parseRedisClientList(stdout: string): SeenConnection[] {
  const out: SeenConnection[] = [];
  for (const line of stdout.split('\n')) {
    const addr = /(?:^|\s)addr=(\S+)/.exec(line)?.[1];
    if (!addr) continue;
    const laddr = /(?:^|\s)laddr=(\S+)/.exec(line)?.[1];
    out.push({ peer: ipOf(addr), local: laddr ? ipOf(laddr) : null });
  }
  return out;
}

/** `INFO commandstats`: `cmdstat_set:calls=50000,usec=…,rejected_calls=0,failed_calls=0`. */
export function parseRedisCommandStats(stdout: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const m of stdout.matchAll(/^cmdstat_(\S+?):(\S+?)\r?$/gm)) {
    const fields: Record<string, number> = {};
    for (const kv of m[2]!.split(',')) {
      const [k, v] = kv.split('=');
      if (k && v !== undefined) fields[k] = Number(v);
    }
    out.set(m[1]!, fields);
  }
  return out;
}

const REDIS_REQUESTS = 50_000;

export const redis: AppDriver = {
  name: 'redis',
  serverCmd: APP_COMMANDS.redis,
  port: 6379,
  async ready({ client, serverIp }) {
    return (await client(`redis-cli -h ${serverIp} -p 6379 PING`, 10_000)).stdout.trim() === 'PONG';
  },
  async drive(t, { client, serverIp }) {
    const r = await client(`redis-benchmark -h ${serverIp} -p 6379 -t set,get -n ${REDIS_REQUESTS} -c 16 --csv`, 120_000);
    t.is(r.code, 0, `redis-benchmark: ${show(r)}`);
    t.notRegex(r.stdout + r.stderr, /error|could not connect/i, `redis-benchmark reported errors: ${show(r)}`);
    const rows = parseRedisBenchmarkCsv(r.stdout);
    const set = rows.find((x) => x.test === 'SET');
    const get = rows.find((x) => x.test === 'GET');
    t.true((set?.rps ?? 0) > 0 && (get?.rps ?? 0) > 0, `requests/s for SET and GET: ${show(r)}`);
    const stats = parseRedisCommandStats((await client(`redis-cli -h ${serverIp} -p 6379 INFO commandstats`)).stdout);
    for (const cmd of ['set', 'get']) {
      const s = stats.get(cmd);
      t.true((s?.calls ?? 0) >= REDIS_REQUESTS, `the server counted ${REDIS_REQUESTS} ${cmd.toUpperCase()}s (${JSON.stringify(s)})`);
      t.is(s?.failed_calls ?? 0, 0, `no failed ${cmd}`);
      t.is(s?.rejected_calls ?? 0, 0, `no rejected ${cmd}`);
    }
    return `redis-benchmark -n ${REDIS_REQUESTS} -c 16: SET ${set?.rps} requests/s, GET ${get?.rps} requests/s`;
  },
  async seen({ client, serverIp }) {
    return parseRedisClientList((await client(`redis-cli -h ${serverIp} -p 6379 CLIENT LIST`)).stdout);
  },
};

// ---------------------------------------------------------------------------------------------
// nginx: wrk (epoll, non-blocking connects, keep-alive) against two worker processes.

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  non2xx: number;
}

export function parseWrk(stdout: string): WrkResult | null {
  const total = /^\s*(\d+) requests in ([\d.]+)(m?s|m),/m.exec(stdout);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(stdout);
  if (!total || !rps) return null;
  const unit = total[3] === 'ms' ? 0.001 : total[3] === 'm' ? 60 : 1;
  // wrk prints these two lines only when the counts are not zero.
  const se = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(stdout);
  const non2xx = /^\s*Non-2xx or 3xx responses: (\d+)/m.exec(stdout);
  return {
    requests: Number(total[1]),
    seconds: Number(total[2]) * unit,
    rps: Number(rps[1]),
    socketErrors: { connect: Number(se?.[1] ?? 0), read: Number(se?.[2] ?? 0), write: Number(se?.[3] ?? 0), timeout: Number(se?.[4] ?? 0) },
    non2xx: Number(non2xx?.[1] ?? 0),
  };
}

/** `uniq -c` over "remote_addr status" of the access log → { ip, status, count }. */
export function parseAccessSummary(stdout: string): { ip: string; status: string; count: number }[] {
  return stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 3).map(([count, ip, status]) => ({ ip: ip!, status: status!, count: Number(count) }));
}

const ACCESS_SUMMARY = "cut -d' ' -f1,2 /tmp/nginx-access.log | sort | uniq -c";

export const nginx: AppDriver = {
  name: 'nginx',
  serverCmd: APP_COMMANDS.nginx,
  port: 80,
  async ready({ client, serverIp }) {
    const r = await client(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${serverIp} 80`, 10_000);
    return /^HTTP\/1\.[01] 200/.test(r.stdout);
  },
  async drive(t, { client, server, serverIp }) {
    const r = await client(`wrk --threads 2 --connections 16 --duration 3s --timeout 5s http://${serverIp}/`, 60_000);
    t.is(r.code, 0, `wrk: ${show(r)}`);
    const w = parseWrk(r.stdout);
    t.truthy(w, `wrk printed no result: ${show(r)}`);
    t.true((w?.requests ?? 0) > 0, 'wrk completed requests');
    t.deepEqual(w?.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 }, `no socket errors: ${show(r)}`);
    t.is(w?.non2xx, 0, 'every response 2xx');
    const log = parseAccessSummary((await server(ACCESS_SUMMARY)).stdout);
    const logged = log.reduce((n, e) => n + e.count, 0);
    t.true(logged >= (w?.requests ?? 0), `nginx logged every request wrk counted (${logged} ≥ ${w?.requests})`);
    t.deepEqual(log.filter((e) => e.status !== '200'), [], 'nginx answered every request with 200');
    return `wrk 2 threads × 16 connections, 3 s: ${w?.requests} requests, ${w?.rps} requests/s, 0 socket errors, 0 non-2xx`;
  },
  async seen({ server }) {
    // The access log's $remote_addr: the address every request came from, as the workers saw it.
    const log = parseAccessSummary((await server(ACCESS_SUMMARY)).stdout);
    return log.map((e) => ({ peer: e.ip, local: null }));
  },
};

// ---------------------------------------------------------------------------------------------
// PostgreSQL 15: pgbench (libpq, non-blocking connect + poll), one backend process per connection.

export interface PgbenchResult {
  processed: number;
  failed: number;
  tps: number;
}

export function parsePgbench(stdout: string): PgbenchResult | null {
  const processed = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  const failed = /^number of failed transactions: (\d+)/m.exec(stdout);
  const tps = /^tps = ([\d.]+)/m.exec(stdout);
  if (!processed || !failed || !tps) return null;
  return { processed: Number(processed[1]), failed: Number(failed[1]), tps: Number(tps[1]) };
}

const PG = `-h SERVER -p 5432 -U postgres`;

export const postgres: AppDriver = {
  name: 'postgres',
  serverCmd: APP_COMMANDS.postgres,
  port: 5432,
  async ready({ client, serverIp }) {
    return (await client(`${PG_BIN}/pg_isready -t 5 ${PG.replace('SERVER', serverIp)}`, 10_000)).code === 0;
  },
  async drive(t, { client, serverIp }) {
    const conn = PG.replace('SERVER', serverIp);
    const init = await client(`${PG_BIN}/pgbench ${conn} -i -s 1 -q postgres`, 120_000);
    t.is(init.code, 0, `pgbench -i: ${show(init)}`);
    const r = await client(`${PG_BIN}/pgbench ${conn} --client=4 --jobs=2 --time=3 postgres`, 120_000);
    t.is(r.code, 0, `pgbench: ${show(r)}`);
    const p = parsePgbench(r.stdout);
    t.truthy(p, `pgbench printed no result: ${show(r)}`);
    t.true((p?.processed ?? 0) > 0, 'pgbench processed transactions');
    t.is(p?.failed, 0, 'no failed transactions');
    return `pgbench -s 1, 4 clients, 3 s: ${p?.processed} transactions, ${p?.failed} failed, ${p?.tps} tps`;
  },
  async seen({ client, serverIp }) {
    const r = await client(`${PG_BIN}/psql ${PG.replace('SERVER', serverIp)} -Atc 'select inet_client_addr(), inet_server_addr()' postgres`);
    return r.stdout.split('\n').filter((l) => l.includes('|')).map((l) => {
      const [peer, local] = l.trim().split('|');
      return { peer: peer!, local: local ?? null };
    });
  },
};

export const APPS: AppDriver[] = [memcached, redis, nginx, postgres];
