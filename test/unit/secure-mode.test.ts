// Secure mode's pure parts: settings, where the daemon's cgroup is, the map value layout against
// the C header, and which mode a load gives. The kernel side is test/host/secure-mode.test.ts.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../../driver/config.js';
import { cgroupDir, ownCgroupPath } from '../../driver/secure/cgroup.js';
import { cookieKey, encodeAddrs, STAT_NAMES } from '../../driver/secure/maps.js';
import { cgroup2Mount, mountedAt, parseMountinfo } from '../../driver/secure/mountinfo.js';
import { enforcementOf } from '../../driver/secure/secure-mode.js';
import type { LoadResult } from '../../driver/secure/loader.js';

test('--secure-mode / SECURE_MODE: required, auto (default) or off; --secure-cgroup must be absolute', (t) => {
  t.is(resolveConfig({}, {}).secureMode, 'auto');
  t.is(resolveConfig({}, { SECURE_MODE: 'required' }).secureMode, 'required');
  t.is(resolveConfig({ secureMode: 'off' }, { SECURE_MODE: 'required' }).secureMode, 'off');
  t.throws(() => resolveConfig({ secureMode: 'yes' }, {}), { message: /secure mode must be one of required, auto, off/ });
  t.is(resolveConfig({}, {}).secureCgroup, null);
  t.is(resolveConfig({ secureCgroup: '/sys/fs/cgroup/unified/x' }, {}).secureCgroup, '/sys/fs/cgroup/unified/x');
  t.throws(() => resolveConfig({ secureCgroup: 'x' }, {}), { message: /absolute path/ });
});

const MOUNTINFO = [
  '23 27 0:22 / /sys rw,relatime - sysfs sysfs rw',
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw',
  '50 23 0:40 / /sys/fs/bpf rw,relatime - bpf bpf rw,mode=700',
  '51 23 0:41 / /my\\040dir rw - tmpfs tmpfs rw',
].join('\n');

test('mountinfo: the cgroup v2 mount, bpffs, escaped names', (t) => {
  const mounts = parseMountinfo(MOUNTINFO);
  t.deepEqual(cgroup2Mount(mounts), { root: '/', mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2' });
  t.true(mountedAt(mounts, '/sys/fs/bpf', 'bpf'));
  t.false(mountedAt(mounts, '/sys/fs/cgroup', 'cgroup2'));
  t.true(mounts.some((m) => m.mountPoint === '/my dir'));
  t.is(cgroup2Mount(parseMountinfo(MOUNTINFO.split('\n').filter((l) => !l.includes('cgroup2')).join('\n'))), undefined);
});

test('the daemon\'s cgroup directory from /proc/self/cgroup', (t) => {
  t.is(ownCgroupPath('9:name=systemd:/\n4:memory:/x/y\n0::/33db44\n'), '/33db44');
  t.is(ownCgroupPath('0::/\n'), '/');
  t.is(ownCgroupPath('4:memory:/\n'), null);
  const m = { root: '/', mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2' };
  t.is(cgroupDir(m, '/33db44'), '/sys/fs/cgroup/unified/33db44');
  t.is(cgroupDir(m, '/'), '/sys/fs/cgroup/unified');
  // A mount of part of the hierarchy (a container's): paths outside it are not there.
  const part = { root: '/docker/abc', mountPoint: '/sys/fs/cgroup', fsType: 'cgroup2' };
  t.is(cgroupDir(part, '/docker/abc/sub'), '/sys/fs/cgroup/sub');
  t.is(cgroupDir(part, '/other'), null);
});

test('overlay_addr_by_cookie values: the same bytes as struct slim_overlay_addrs in C', (t) => {
  const source = fileURLToPath(new URL('./fixtures/secure-addrs.c', import.meta.url));
  const bin = join(mkdtempSync(join(tmpdir(), 'slim-secure-')), 'secure-addrs');
  execFileSync('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-o', bin, source]);
  const out = execFileSync(bin, ['10.87.0.2:41000', '10.87.0.3:7000', '10.77.5.11:52000', '10.77.5.12:39000'], { encoding: 'utf8' }).trim().split('\n');
  const [size = '', hex = ''] = out[0]!.split(' ');
  const ours = encodeAddrs({
    overlayLocal: { ip: '10.87.0.2', port: 41000 }, overlayPeer: { ip: '10.87.0.3', port: 7000 },
    hostLocal: { ip: '10.77.5.11', port: 52000 }, hostPeer: { ip: '10.77.5.12', port: 39000 },
  });
  t.is(ours.length, Number(size));
  t.is(ours.toString('hex'), hex);
  t.is(out[1], '16 16', 'struct slim_foreign_listener and struct slim_config');
  t.is(cookieKey(0x0102030405060708n).toString('hex'), '0807060504030201', 'cookies are host-order u64 keys');
  t.is(STAT_NAMES.length, 8, 'one name per enum slim_stat entry');
  t.throws(() => encodeAddrs({ overlayLocal: { ip: '::1', port: 1 }, overlayPeer: { ip: '0.0.0.0', port: 0 }, hostLocal: { ip: '0.0.0.0', port: 0 }, hostPeer: { ip: '0.0.0.0', port: 0 } }));
});

test('a load with the LSM object loaded is "secure", any other "secure-partial"', (t) => {
  const result = (state: LoadResult['lsm']['state']): LoadResult => ({
    cgroup: '/sys/fs/cgroup/unified/slim', cgroupId: 7, pin: '/sys/fs/bpf/slim', programs: ['slim_connect4'], maps: [], reusedMaps: [],
    lsm: { state, detail: '', programs: [] },
  });
  t.is(enforcementOf(result('loaded')), 'secure');
  for (const s of ['absent', 'unsupported', 'failed'] as const) t.is(enforcementOf(result(s)), 'secure-partial');
});
