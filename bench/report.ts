// What the benchmark reports: the metrics, their summaries per mode, the ratios between modes, and
// the markdown table. Modes, tests and ratios are data: a new one is a new column or row, not new code.
import { spread, type Spread } from './stats.js';

/**
 * H host networking, Ss socket replacement with the plugin in secure mode (SECURE_MODE=auto, the
 * default), St socket replacement with the plugin in trusted mode (SECURE_MODE=off), V Slim's
 * overlay, O Docker's overlay.
 */
export type ModeKey = 'H' | 'Ss' | 'St' | 'V' | 'O';
export const MODE_ORDER: readonly ModeKey[] = ['H', 'Ss', 'St', 'V', 'O'];
/** The modes that run through the shim and the router (socket replacement). */
export const SHIM_MODES: readonly ModeKey[] = ['Ss', 'St'];
export const isShimMode = (k: ModeKey): boolean => SHIM_MODES.includes(k);

/** Ratios shown when both modes were measured: numerator / denominator of the medians. */
export const RATIOS: readonly [ModeKey, ModeKey][] = [['Ss', 'St'], ['Ss', 'H'], ['Ss', 'O'], ['St', 'O'], ['V', 'O'], ['V', 'H'], ['O', 'H']];

/** The four workloads; each metric belongs to one. */
export type TestKey = 'throughput' | 'latency' | 'connrate' | 'memcached';
export const TEST_ORDER: readonly TestKey[] = ['throughput', 'latency', 'connrate', 'memcached'];

export interface MetricDef {
  key: string;
  test: TestKey;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  digits: number;
  /** a panel of the chart (the headline figures) */
  chart?: boolean;
  /** its short name in the chart's Ss/St panel, if it has a bar there */
  ratioChart?: string;
}

export const METRICS: readonly MetricDef[] = [
  { key: 'gbps', test: 'throughput', label: 'TCP throughput, 1 flow (iperf3)', unit: 'Gbit/s', better: 'higher', digits: 2, chart: true, ratioChart: 'throughput' },
  { key: 'cpuSecondsPerGB', test: 'throughput', label: 'CPU per GB received (throughput run)', unit: 'CPU-s/GB', better: 'lower', digits: 2, chart: true },
  { key: 'retransmits', test: 'throughput', label: 'TCP retransmits per run', unit: 'count', better: 'lower', digits: 0 },
  { key: 'rttP50', test: 'latency', label: 'TCP request/response RTT p50 (sockperf, 64 B)', unit: 'µs', better: 'lower', digits: 1, chart: true, ratioChart: 'RTT p50' },
  { key: 'rttP99', test: 'latency', label: 'TCP request/response RTT p99', unit: 'µs', better: 'lower', digits: 1, chart: true },
  { key: 'transactionsPerSecond', test: 'latency', label: 'TCP request/response transactions/s', unit: '1/s', better: 'higher', digits: 0 },
  { key: 'cpuMicrosPerTransaction', test: 'latency', label: 'CPU per transaction (latency run)', unit: 'CPU-µs', better: 'lower', digits: 1 },
  { key: 'connsPerSecond', test: 'connrate', label: 'TCP connections/s (connect, 1 B each way, close; one at a time)', unit: '1/s', better: 'higher', digits: 0, chart: true, ratioChart: 'conns/s' },
  { key: 'connP50', test: 'connrate', label: 'time per connection p50 (socket() to close())', unit: 'µs', better: 'lower', digits: 1, chart: true, ratioChart: 'conn p50' },
  { key: 'connP99', test: 'connrate', label: 'time per connection p99', unit: 'µs', better: 'lower', digits: 1 },
  { key: 'connectP50', test: 'connrate', label: 'connect() call alone p50', unit: 'µs', better: 'lower', digits: 1, ratioChart: 'connect p50' },
  { key: 'cpuSecondsPer10kConns', test: 'connrate', label: 'CPU per 10k connections', unit: 'CPU-s', better: 'lower', digits: 2, ratioChart: 'CPU/10k conns' },
  { key: 'memcachedOpsPerSecond', test: 'memcached', label: 'memcached ops/s (memcaslap, 32 conns, 9:1 get:set)', unit: '1/s', better: 'higher', digits: 0, chart: true, ratioChart: 'memcached ops/s' },
  { key: 'memcachedAvgUs', test: 'memcached', label: 'memcached latency, mean', unit: 'µs', better: 'lower', digits: 0 },
  { key: 'memcachedP99Us', test: 'memcached', label: 'memcached latency p99 (from memcaslap\'s log2 histogram)', unit: 'µs', better: 'lower', digits: 0 },
  { key: 'cpuSecondsPer100kOps', test: 'memcached', label: 'CPU per 100k memcached ops', unit: 'CPU-s', better: 'lower', digits: 2, chart: true, ratioChart: 'CPU/100k ops' },
];

/** One measured value: metric key → number, for one mode in one repetition. */
export interface Sample {
  mode: ModeKey;
  rep: number;
  values: Record<string, number>;
}

export type Summary = Record<string, Partial<Record<ModeKey, Spread>>>;
export type Ratios = Record<string, Record<string, number>>;

export function summarize(samples: readonly Sample[], modes: readonly ModeKey[]): { summary: Summary; ratios: Ratios } {
  const summary: Summary = {};
  const ratios: Ratios = {};
  for (const m of METRICS) {
    const perMode: Partial<Record<ModeKey, Spread>> = {};
    for (const mode of modes) {
      const vals = samples.filter((s) => s.mode === mode && m.key in s.values).map((s) => s.values[m.key]!);
      if (vals.length) perMode[mode] = spread(vals);
    }
    summary[m.key] = perMode;
    const r: Record<string, number> = {};
    for (const [a, b] of activeRatios(modes)) {
      const x = perMode[a]?.median;
      const y = perMode[b]?.median;
      if (x !== undefined && y !== undefined && y !== 0) r[`${a}/${b}`] = x / y;
    }
    ratios[m.key] = r;
  }
  return { summary, ratios };
}

/**
 * a/b per repetition (both measured in the same repetition, so the same machine load), then the
 * spread of those ratios over the repetitions: steadier than the ratio of the medians when the load
 * changes between repetitions.
 */
export function pairedRatios(samples: readonly Sample[], a: ModeKey, b: ModeKey): Record<string, Spread> {
  const out: Record<string, Spread> = {};
  for (const m of METRICS) {
    const vals: number[] = [];
    for (const sa of samples.filter((s) => s.mode === a && m.key in s.values)) {
      const sb = samples.find((s) => s.mode === b && s.rep === sa.rep && m.key in s.values);
      if (sb && sb.values[m.key] !== 0) vals.push(sa.values[m.key]! / sb.values[m.key]!);
    }
    if (vals.length) out[m.key] = spread(vals);
  }
  return out;
}

export function activeRatios(modes: readonly ModeKey[]): [ModeKey, ModeKey][] {
  return RATIOS.filter(([a, b]) => modes.includes(a) && modes.includes(b));
}

export function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
}

export interface TableOptions {
  /** modes asked for but not measured, with the reason: a column of "SKIPPED" */
  skipped?: Partial<Record<ModeKey, string>>;
  /** only these tests' rows (default: all) */
  tests?: readonly TestKey[];
  /** repetitions asked for: a cell with fewer samples says how many it has */
  reps?: number;
  /** what a mode's column header says after its key, e.g. the enforcement its daemons reported */
  headerNotes?: Partial<Record<ModeKey, string>>;
}

export function markdownTable(summary: Summary, ratios: Ratios, modes: readonly ModeKey[], opts: TableOptions = {}): string {
  const skipped = opts.skipped ?? {};
  const measured = modes.filter((m) => !(m in skipped));
  const rs = activeRatios(measured).map(([a, b]) => `${a}/${b}`);
  const note = (m: ModeKey): string => (opts.headerNotes?.[m] ? ` [${opts.headerNotes[m]}]` : '');
  const head = ['metric', 'unit', ...modes.map((m) => `${m}${note(m)} median (min–max)`), ...rs];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const m of METRICS.filter((x) => !opts.tests || opts.tests.includes(x.test))) {
    const cells = modes.map((mode) => {
      if (mode in skipped) return 'SKIPPED';
      const s = summary[m.key]?.[mode];
      if (!s || s.n === 0) return '–';
      const n = opts.reps !== undefined && s.n < opts.reps ? ` n=${s.n}` : '';
      return `${fmt(s.median, m.digits)} (${fmt(s.min, m.digits)}–${fmt(s.max, m.digits)})${n}`;
    });
    const rcells = rs.map((r) => fmt(ratios[m.key]?.[r], 2));
    lines.push(`| ${m.label} | ${m.unit} | ${cells.join(' | ')} | ${rcells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** One row per metric: a/b per repetition, median (min–max) over the repetitions, next to the ratio of the medians. */
export function pairedTable(paired: Record<string, Spread>, ratios: Ratios, a: ModeKey, b: ModeKey, opts: { tests?: readonly TestKey[]; reps?: number } = {}): string {
  const r = `${a}/${b}`;
  const lines = [`| metric | ${r} per repetition, median (min–max) | ${r} of the medians |`, '|---|---:|---:|'];
  for (const m of METRICS.filter((x) => !opts.tests || opts.tests.includes(x.test))) {
    const p = paired[m.key];
    lines.push(`| ${m.label} | ${p ? `${fmt(p.median, 2)} (${fmt(p.min, 2)}–${fmt(p.max, 2)})${opts.reps !== undefined && p.n < opts.reps ? ` n=${p.n}` : ''}` : '–'} | ${fmt(ratios[m.key]?.[r], 2)} |`);
  }
  return lines.join('\n');
}
