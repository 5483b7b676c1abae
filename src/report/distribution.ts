/**
 * Overlaid histograms of two score samples (goods against bads; this run against the last).
 * Each histogram is drawn as the share of its own sample per bin, because the samples differ
 * in size — bads are a few percent of a book — and raw counts would flatten the smaller one.
 * Bars are translucent with a solid outline, so the overlap stays readable in print.
 */
import { formatPercent } from './format.ts';
import { niceAxis, xyChart, type Layer, type Point } from './svg.ts';

export interface Sample {
  readonly name: string;
  readonly values: ArrayLike<number>;
  readonly color: string;
}

export interface DistributionChart {
  readonly title: string;
  readonly xLabel: string;
  readonly format: (value: number) => string;
  readonly samples: readonly Sample[];
  /** A vertical marker, e.g. the classification or watch-list threshold. */
  readonly marker?: { readonly value: number; readonly label: string; readonly color: string };
}

/** Bins per x-axis tick interval: about twenty bins across the chart. */
const BINS_PER_TICK = 4;

export function distributionChart(chart: DistributionChart): string {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of chart.samples) {
    for (let i = 0; i < s.values.length; i++) {
      lo = Math.min(lo, s.values[i]!);
      hi = Math.max(hi, s.values[i]!);
    }
  }
  if (chart.marker) {
    lo = Math.min(lo, chart.marker.value);
    hi = Math.max(hi, chart.marker.value);
  }
  const x = niceAxis(chart.xLabel, lo, hi, chart.format);
  const step = (x.ticks[1]! - x.ticks[0]!) / BINS_PER_TICK;
  const bins = Math.max(1, Math.round((x.max - x.min) / step));
  const shares = chart.samples.map((s) => binShares(s.values, x.min, step, bins));
  const top = Math.max(...shares.flat(), 0.01);
  const y = niceAxis('Share of group in bin', 0, top, (v) => formatPercent(v, 0), 4);

  const layers: Layer[] = [];
  chart.samples.forEach((s, k) => {
    const share = shares[k]!;
    layers.push({
      kind: 'bars',
      name: `${s.name} (n = ${s.values.length})`,
      color: s.color,
      opacity: 0.35,
      bars: share.map((v, b) => ({
        x0: x.min + b * step,
        x1: x.min + (b + 1) * step,
        y: v,
        tooltip: `${s.name}: ${formatPercent(v)} between ${chart.format(x.min + b * step)} and ${chart.format(x.min + (b + 1) * step)}`,
      })),
    });
    const outline: Point[] = [[x.min, 0]];
    share.forEach((v, b) => outline.push([x.min + b * step, v], [x.min + (b + 1) * step, v]));
    outline.push([x.min + bins * step, 0]);
    layers.push({ kind: 'line', points: outline, color: s.color });
  });
  if (chart.marker) {
    const m = chart.marker;
    layers.push({ kind: 'rule', from: [m.value, y.min], to: [m.value, y.max], color: m.color, dashed: true, name: m.label });
  }
  return xyChart({ title: chart.title, x, y, layers });
}

function binShares(values: ArrayLike<number>, min: number, step: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.max(0, Math.floor((values[i]! - min) / step)))]!++;
  return counts.map((c) => (values.length === 0 ? 0 : c / values.length));
}
