// The bench's PNG: one panel per headline metric (METRICS with chart: true), a bar per mode at its
// median with a min–max whisker, drawn by gnuplot (Debian's gnuplot-nox, offline). Without gnuplot
// the bench still measures and writes JSON and markdown; the chart is then reported as skipped.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { METRICS, type ModeKey, type Summary } from './report.js';

// Ss dark green, St light green: the same shim, with and without secure mode's programs.
const COLORS: Record<ModeKey, string> = { H: '0x7f7f7f', Ss: '0x1a7a1a', St: '0x98df8a', V: '0x1f77b4', O: '0xff7f0e' };

function gnuplotPath(): string | null {
  try {
    execFileSync('gnuplot', ['--version'], { stdio: 'ignore' });
    return 'gnuplot';
  } catch {
    return null;
  }
}

/** gnuplot string literal (single quotes: no escapes are processed inside). */
function q(s: string): string {
  return `'${s.replace(/'/g, '')}'`;
}

/** gnuplot double-quoted string: \n is a line break. */
function dq(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** An extra panel of ratios (e.g. Ss/St per repetition): a bar per metric at the median, min–max whisker, reference lines. */
export interface RatioPanel {
  title: string;
  bars: { label: string; median: number; min: number; max: number }[];
  refLines: number[];
}

/**
 * Writes the chart to pngFile. Returns null when written, else why not (no gnuplot, nothing to
 * draw, gnuplot's error).
 */
export function writeChart(pngFile: string, title: string, summary: Summary, modes: readonly ModeKey[], ratioPanel?: RatioPanel): string | null {
  if (!gnuplotPath()) return 'gnuplot is not installed (Debian package gnuplot-nox, see test/install-prereqs.sh)';
  const panels = METRICS.filter((m) => m.chart && modes.some((k) => summary[m.key]?.[k]?.n));
  if (panels.length === 0) return 'nothing measured to draw';
  const ratio = ratioPanel && ratioPanel.bars.length ? ratioPanel : undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slim-bench-chart-'));
  try {
    const count = panels.length + (ratio ? 1 : 0);
    const cols = Math.min(ratio ? 3 : 4, count);
    const rows = Math.ceil(count / cols);
    const titleLines = title.split('\n').length;
    const lines = [
      `set terminal pngcairo size ${cols * 400},${rows * 330 + 20 + 20 * titleLines} font 'sans,9'`,
      `set output ${q(pngFile)}`,
      `set multiplot layout ${rows},${cols} title ${dq(title)} font 'sans,11' noenhanced`,
      'set style fill solid 0.75 border -1',
      'set boxwidth 0.6',
      'unset key',
      'set grid ytics',
      'set yrange [0:*]',
      'set offsets 0, 0, graph 0.1, 0',
      `set xrange [-0.6:${modes.length - 0.4}]`,
      'set xtics nomirror',
    ];
    panels.forEach((m, i) => {
      const data = path.join(dir, `${i}.dat`);
      // every mode gets its slot, an unmeasured one an empty slot (median 0, no whisker)
      const rowsOut = modes.map((k) => {
        const s = summary[m.key]?.[k];
        const ok = s && s.n > 0 && Number.isFinite(s.median);
        return `${k} ${ok ? s.median : 0} ${ok ? s.min : 0} ${ok ? s.max : 0} ${COLORS[k]}`;
      });
      writeFileSync(data, `${rowsOut.join('\n')}\n`);
      lines.push('unset label');
      modes.forEach((k, x) => {
        if (!summary[m.key]?.[k]?.n) lines.push(`set label 'not measured' at ${x}, graph 0.04 left rotate by 90 font 'sans,8'`);
      });
      const arrow = m.better === 'higher' ? 'higher is better' : 'lower is better';
      lines.push(`set title ${dq(`${m.label}\n${m.unit}, ${arrow}`)} noenhanced`);
      lines.push(`plot ${q(data)} using 0:2:5:xtic(1) with boxes lc rgb variable, '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt 0 lw 1.5`);
    });
    if (ratio) {
      const data = path.join(dir, 'ratio.dat');
      writeFileSync(data, `${ratio.bars.map((b) => `"${b.label.replace(/"/g, '')}" ${b.median} ${b.min} ${b.max}`).join('\n')}\n`);
      lines.push('unset label', 'unset arrow');
      lines.push(`set xrange [-0.6:${ratio.bars.length - 0.4}]`, 'set xtics rotate by -35 left font \'sans,7\'');
      for (const y of ratio.refLines) lines.push(`set arrow from graph 0, first ${y} to graph 1, first ${y} nohead dt 2 lc rgb 'red'`);
      lines.push(`set title ${dq(ratio.title)} noenhanced`);
      lines.push(`plot ${q(data)} using 0:2:xtic(1) with boxes lc rgb '0x1a7a1a', '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt 0 lw 1.5`);
    }
    lines.push('unset multiplot');
    const script = path.join(dir, 'chart.gp');
    writeFileSync(script, `${lines.join('\n')}\n`);
    try {
      execFileSync('gnuplot', [script], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      return `gnuplot failed: ${e.stderr?.toString().trim() || e.message}`;
    }
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
