// Runs after the whole host tier: nothing the tests made may outlive them.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { leftovers } from '../harness/cleanup-check.js';

test('the host tier left no namespaces, links, mounts, rules, cgroups or processes behind', async (t) => {
  t.deepEqual(await leftovers(), []);
});

test('no Slim kernel objects or daemons remain in the root namespace', (t) => {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[];
  t.deepEqual(links.map((l) => l.ifname).filter((n) => /^sl[bxvc]-/.test(n)), []);
  const daemons = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('dist/driver/cli.js daemon'));
  t.deepEqual(daemons, []);
  // Test daemons serve their router in their host's /run/slim (or a directory of their own).
  t.false(existsSync('/run/slim/router.sock'), '/run/slim/router.sock');
});

test('no secure-mode pins or BPF programs remain (each test host pinned into a bpffs of its own)', (t) => {
  // A Slim daemon run in this mount namespace would have pinned here; test daemons pin into
  // their host's own bpffs, which goes with the host.
  t.false(existsSync('/sys/fs/bpf/slim'), '/sys/fs/bpf/slim');
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) return t.log('bpftool not installed: loaded programs not checked');
  const names = (JSON.parse(r.stdout || '[]') as { name?: string }[]).map((p) => p.name ?? '').filter((n) => n.startsWith('slim_'));
  t.deepEqual(names, [], 'Slim BPF programs still loaded');
});
