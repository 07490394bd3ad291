// The parsers of test/host/app-drivers.ts against output recorded from the tools in the apps image
// (Debian 12: libmemcached-tools 1.1.4, redis-tools 7.0, wrk 4.1, PostgreSQL 15).
import test from 'ava';
import {
  parseAccessSummary,
  parseMemcachedConns,
  parseMemcachedStats,
  parseMemcaslap,
  parseMemcslap,
  parsePgbench,
  parseRedisBenchmarkCsv,
  parseRedisClientList,
  parseRedisCommandStats,
  parseWrk,
} from '../host/app-drivers.js';

test('memcslap: the get line', (t) => {
  const out = `Time to generate       2000 test keys:                0.005 seconds.
Time to set            2000 keys:                     0.171 seconds.
Time to start             8 threads:                  0.000 seconds.
--------------------------------------------------------------------
Time to get           16000 keys by    8 threads:     0.325 seconds.
--------------------------------------------------------------------
Time total:                                           0.501 seconds.
`;
  t.deepEqual(parseMemcslap(out), { test: 'get', keys: 16000, threads: 8, seconds: 0.325 });
  t.is(parseMemcslap('Time to set 0 keys:  0.001 seconds.\n'), null);
});

test('memcaslap: the closing line', (t) => {
  const out = 'cmd_get: 199479\ncmd_set: 22173\nget_misses: 0\n\nRun time: 3.0s Ops: 221652 TPS: 73878 Net_rate: 82.7M/s\n';
  t.deepEqual(parseMemcaslap(out), { seconds: 3, ops: 221652, tps: 73878 });
  t.is(parseMemcaslap('servers: 10.0.0.1:11211\nthreads count: 2\n'), null);
});

test('memcached stats and stats conns', (t) => {
  const stats = parseMemcachedStats('STAT cmd_get 48000\r\nSTAT get_misses 0\r\nEND\r\n');
  t.is(stats.get('cmd_get'), '48000');
  t.is(stats.get('get_misses'), '0');
  const conns = `STAT 22:addr tcp:0.0.0.0:11211\r
STAT 22:state conn_listening\r
STAT 23:addr tcp6:[::]:11211\r
STAT 23:state conn_listening\r
STAT 24:addr tcp:172.17.0.6:58440\r
STAT 24:listen_addr tcp:172.17.0.2:11211\r
STAT 24:state conn_parse_cmd\r
END\r
`;
  t.deepEqual(parseMemcachedConns(conns), [{ peer: '172.17.0.6', local: '172.17.0.2' }]);
});

test('redis-benchmark --csv, CLIENT LIST, INFO commandstats', (t) => {
  const csv = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","71684.59","0.133","0.032","0.127","0.191","0.271","1.511"
"GET","71684.59","0.125","0.040","0.127","0.159","0.215","0.655"
`;
  t.deepEqual(parseRedisBenchmarkCsv(csv), [{ test: 'SET', rps: 71684.59 }, { test: 'GET', rps: 71684.59 }]);
  const list = 'id=36 addr=172.17.0.6:51092 laddr=172.17.0.3:6379 fd=7 name= age=0 idle=0 flags=N db=0 cmd=client|list user=default\n';
  t.deepEqual(parseRedisClientList(list), [{ peer: '172.17.0.6', local: '172.17.0.3' }]);
  const cmdstats = parseRedisCommandStats('# Commandstats\r\ncmdstat_set:calls=50000,usec=20000,usec_per_call=0.40,rejected_calls=0,failed_calls=0\r\n');
  t.deepEqual(cmdstats.get('set'), { calls: 50000, usec: 20000, usec_per_call: 0.4, rejected_calls: 0, failed_calls: 0 });
});

test('wrk: totals, and the error lines it prints only when not zero', (t) => {
  const clean = `Running 3s test @ http://172.17.0.4/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   323.21us  132.28us   4.71ms   90.61%
    Req/Sec    24.75k     2.25k   27.33k    73.33%
  147657 requests in 3.00s, 42.81MB read
Requests/sec:  49201.76
Transfer/sec:     14.26MB
`;
  t.deepEqual(parseWrk(clean), { requests: 147657, seconds: 3, rps: 49201.76, socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 }, non2xx: 0 });
  const bad = clean.replace('Requests/sec', '  Socket errors: connect 3, read 1, write 0, timeout 2\n  Non-2xx or 3xx responses: 7\nRequests/sec');
  t.like(parseWrk(bad), { socketErrors: { connect: 3, read: 1, write: 0, timeout: 2 }, non2xx: 7 });
  t.is(parseWrk('unable to connect to 10.0.0.1:80 Connection refused\n'), null);
});

test('nginx access-log summary', (t) => {
  t.deepEqual(parseAccessSummary(' 147671 172.17.0.6 200\n      2 172.17.0.7 404\n'), [
    { count: 147671, ip: '172.17.0.6', status: '200' },
    { count: 2, ip: '172.17.0.7', status: '404' },
  ]);
});

test('pgbench', (t) => {
  const out = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
number of transactions actually processed: 6301
number of failed transactions: 0 (0.000%)
latency average = 1.906 ms
initial connection time = 7.205 ms
tps = 2098.971800 (without initial connection time)
`;
  t.deepEqual(parsePgbench(out), { processed: 6301, failed: 0, tps: 2098.9718 });
  t.is(parsePgbench('pgbench: error: connection to server failed\n'), null);
});
