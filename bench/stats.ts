// Small numeric helpers for the benchmarks: order statistics and /proc/stat CPU accounting.

export interface Spread {
  n: number;
  median: number;
  min: number;
  max: number;
  /** first and third quartiles (linear interpolation between order statistics) */
  q1: number;
  q3: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function spread(values: readonly number[]): Spread {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s.length ? s[0]! : Number.NaN,
    max: s.length ? s[s.length - 1]! : Number.NaN,
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
  };
}

/** The machine-wide "cpu" line of /proc/stat, in clock ticks (USER_HZ). */
export interface CpuTicks {
  busy: number;
  idle: number;
  /** time the hypervisor ran something else (part of busy): a noisy neighbour shows up here */
  steal: number;
}

/**
 * Parses the first ("cpu ") line of /proc/stat. Busy = user + nice + system + irq + softirq +
 * steal; idle = idle + iowait. guest/guest_nice are already inside user/nice.
 */
export function parseCpuLine(line: string): CpuTicks {
  const f = line.trim().split(/\s+/);
  if (f[0] !== 'cpu') throw new Error(`not the cpu line of /proc/stat: ${line}`);
  const n = f.slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = n;
  return { busy: user + nice + system + irq + softirq + steal, idle: idle + iowait, steal };
}

export interface CpuUse {
  /** CPU-seconds spent busy by the whole machine (every test host shares the one kernel) */
  busySeconds: number;
  /** busy / (busy + idle) × number of CPUs: how many CPUs were busy on average */
  busyCpus: number;
  stealSeconds: number;
}

export function cpuBetween(before: CpuTicks, after: CpuTicks, clkTck: number, cpus: number): CpuUse {
  const busy = after.busy - before.busy;
  const total = busy + (after.idle - before.idle);
  return { busySeconds: busy / clkTck, busyCpus: total > 0 ? (busy / total) * cpus : Number.NaN, stealSeconds: (after.steal - before.steal) / clkTck };
}

/**
 * A quantile from a log2 histogram (counts[k] = values v with floor(log2 v) = k, i.e. in
 * [2^k, 2^(k+1))), interpolated geometrically inside the bucket it falls in: an estimate good to
 * the bucket's factor of two, for tools that report nothing finer (memcaslap).
 */
export function log2Quantile(counts: ReadonlyMap<number, number>, q: number): number {
  const ks = [...counts.keys()].sort((a, b) => a - b);
  const total = ks.reduce((a, k) => a + counts.get(k)!, 0);
  if (total === 0) return Number.NaN;
  const target = q * total;
  let below = 0;
  for (const k of ks) {
    const c = counts.get(k)!;
    if (c > 0 && below + c >= target) return 2 ** (k + (target - below) / c);
    below += c;
  }
  return 2 ** (ks[ks.length - 1]! + 1);
}
