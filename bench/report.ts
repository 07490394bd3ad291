// What the benchmark reports: the metrics, their summaries per mode, the ratios between modes, and
// the markdown table. Modes and ratios are data, so a new mode (S) is a new column, not new code.
import { spread, type Spread } from './stats.js';

export type ModeKey = 'H' | 'S' | 'V' | 'O';
export const MODE_ORDER: readonly ModeKey[] = ['H', 'S', 'V', 'O'];

/** Ratios shown when both modes were measured: numerator / denominator of the medians. */
export const RATIOS: readonly [ModeKey, ModeKey][] = [['V', 'O'], ['S', 'H'], ['S', 'O'], ['V', 'H'], ['O', 'H']];

export interface MetricDef {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  digits: number;
}

export const METRICS: readonly MetricDef[] = [
  { key: 'gbps', label: 'TCP throughput, 1 flow (iperf3)', unit: 'Gbit/s', better: 'higher', digits: 2 },
  { key: 'cpuSecondsPerGB', label: 'CPU per GB received (throughput run)', unit: 'CPU-s/GB', better: 'lower', digits: 2 },
  { key: 'retransmits', label: 'TCP retransmits per run', unit: 'count', better: 'lower', digits: 0 },
  { key: 'rttP50', label: 'TCP request/response RTT p50 (sockperf, 64 B)', unit: 'µs', better: 'lower', digits: 1 },
  { key: 'rttP99', label: 'TCP request/response RTT p99', unit: 'µs', better: 'lower', digits: 1 },
  { key: 'transactionsPerSecond', label: 'TCP request/response transactions/s', unit: '1/s', better: 'higher', digits: 0 },
  { key: 'cpuMicrosPerTransaction', label: 'CPU per transaction (latency run)', unit: 'CPU-µs', better: 'lower', digits: 1 },
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

export function activeRatios(modes: readonly ModeKey[]): [ModeKey, ModeKey][] {
  return RATIOS.filter(([a, b]) => modes.includes(a) && modes.includes(b));
}

export function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
}

export function markdownTable(summary: Summary, ratios: Ratios, modes: readonly ModeKey[]): string {
  const rs = activeRatios(modes).map(([a, b]) => `${a}/${b}`);
  const head = ['metric', 'unit', ...modes.map((m) => `${m} median (min–max)`), ...rs];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const m of METRICS) {
    const cells = modes.map((mode) => {
      const s = summary[m.key]?.[mode];
      return s ? `${fmt(s.median, m.digits)} (${fmt(s.min, m.digits)}–${fmt(s.max, m.digits)})` : '–';
    });
    const rcells = rs.map((r) => fmt(ratios[m.key]?.[r], 2));
    lines.push(`| ${m.label} | ${m.unit} | ${cells.join(' | ')} | ${rcells.join(' | ')} |`);
  }
  return lines.join('\n');
}
