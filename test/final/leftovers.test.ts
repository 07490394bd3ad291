// Runs after the whole host tier: nothing the tests made may outlive them.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { leftovers } from '../harness/cleanup-check.js';

test('the host tier left no namespaces, links, mounts, rules, cgroups or processes behind', async (t) => {
  t.deepEqual(await leftovers(), []);
});

test('no Slim kernel objects or daemons remain in the root namespace', (t) => {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[];
  t.deepEqual(links.map((l) => l.ifname).filter((n) => /^sl[bxvc]-/.test(n)), []);
  const daemons = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('dist/driver/cli.js daemon'));
  t.deepEqual(daemons, []);
});
