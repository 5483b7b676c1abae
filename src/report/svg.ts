/**
 * Chart primitives drawn as inline SVG, so a report opens offline, prints, and archives as
 * one file. Each chart is an `<svg class="chart">` with a `<title>` (its accessible name and
 * tooltip), axes with ticks and gridlines, axis titles and a legend. Elements that carry
 * data have the class `data`, so a test can tell a drawn chart from an empty frame.
 *
 * Styling (fonts, text colour) comes from the page's stylesheet; only data colours are set
 * here. Every string is escaped: labels are feature and party names from the job.
 */
import { escapeHtml } from './escape.ts';

export type Point = readonly [x: number, y: number];

export interface Axis {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly number[];
  readonly format: (value: number) => string;
}

export interface Bar {
  readonly x0: number;
  readonly x1: number;
  readonly y: number;
  /** Shown on hover: the bar's exact value and range. */
  readonly tooltip?: string;
}

export type Layer =
  | {
      readonly kind: 'line';
      readonly name?: string;
      readonly points: readonly Point[];
      readonly color: string;
      readonly dashed?: boolean;
      readonly markers?: boolean;
    }
  | { readonly kind: 'bars'; readonly name?: string; readonly bars: readonly Bar[]; readonly color: string; readonly opacity?: number }
  /** A reference line or annotation (diagonal, threshold, KS gap); not data. */
  | {
      readonly kind: 'rule';
      readonly name?: string;
      readonly from: Point;
      readonly to: Point;
      readonly color: string;
      readonly dashed?: boolean;
      readonly label?: string;
      readonly width?: number;
    };

export interface XYChart {
  readonly title: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly layers: readonly Layer[];
  readonly width?: number;
  readonly height?: number;
}

/** Colour-blind-safe (Okabe–Ito) data colours, named for what they mean on our pages. */
export const COLORS = {
  good: '#0072B2',
  bad: '#D55E00',
  neutral: '#6B7280',
  accent: '#009E73',
  warn: '#E69F00',
  reference: '#9CA3AF',
} as const;

const MARGIN = { left: 64, right: 20, bottom: 50, top: 14, legend: 26 };
const LEGEND_CHAR_WIDTH = 6.4;

/** Rounds SVG coordinates: sub-pixel precision beyond 0.1 only makes the file bigger. */
function n(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/**
 * An axis from `lo` to `hi` widened to round tick values (1, 2, 2.5 or 5 × 10^k steps), so
 * a reader can interpolate between gridlines.
 */
export function niceAxis(label: string, lo: number, hi: number, format: (value: number) => string, tickCount = 5): Axis {
  let min = lo;
  let max = hi;
  if (!(max > min)) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 0.5;
    min -= pad;
    max += pad;
  }
  const rough = (max - min) / tickCount;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  const first = Math.floor(min / step + 1e-9) * step;
  const last = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= last + step / 2; v += step) ticks.push(Number(v.toFixed(decimals)));
  return { label, min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks, format };
}

/** An axis with fixed ends and ticks (rates from 0 to 1, category positions). */
export function fixedAxis(label: string, min: number, max: number, ticks: readonly number[], format: (value: number) => string): Axis {
  return { label, min, max, ticks, format };
}

export function xyChart(chart: XYChart): string {
  const width = chart.width ?? 560;
  const height = chart.height ?? 320;
  const named = chart.layers.filter((l) => l.name !== undefined);
  const top = MARGIN.top + (named.length > 0 ? MARGIN.legend : 0);
  const plot = { left: MARGIN.left, right: width - MARGIN.right, top, bottom: height - MARGIN.bottom };
  const sx = scale(chart.x.min, chart.x.max, plot.left, plot.right);
  const sy = scale(chart.y.min, chart.y.max, plot.bottom, plot.top);

  const parts: string[] = [];
  for (const t of chart.y.ticks) {
    const y = n(sy(t));
    parts.push(`<line class="grid" x1="${n(plot.left)}" x2="${n(plot.right)}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${n(plot.left - 6)}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeHtml(chart.y.format(t))}</text>`);
  }
  for (const t of chart.x.ticks) {
    const x = n(sx(t));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${n(plot.top)}" y2="${n(plot.bottom)}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${n(plot.bottom + 16)}" text-anchor="middle">${escapeHtml(chart.x.format(t))}</text>`);
  }
  parts.push(`<rect class="frame" x="${n(plot.left)}" y="${n(plot.top)}" width="${n(plot.right - plot.left)}" height="${n(plot.bottom - plot.top)}"/>`);
  parts.push(axisTitles(chart.x.label, chart.y.label, plot, height));
  for (const layer of chart.layers) parts.push(drawLayer(layer, sx, sy, chart.y));
  if (named.length > 0) parts.push(legend(named, plot.left, MARGIN.top + 8));
  return svg(chart.title, width, height, parts);
}

export interface HorizontalBar {
  readonly label: string;
  readonly value: number;
  readonly color: string;
}

export interface HorizontalBarChart {
  readonly title: string;
  readonly bars: readonly HorizontalBar[];
  readonly axisLabel: string;
  readonly format: (value: number) => string;
  /** Vertical reference lines, e.g. the PSI alert levels. */
  readonly rules?: readonly { readonly value: number; readonly label: string; readonly color: string }[];
  readonly width?: number;
}

const BAR_ROW = 26;
const MAX_LABEL_CHARS = 34;

/** One bar per category, growing left or right from zero (signed weights, PSI values). */
export function horizontalBarChart(chart: HorizontalBarChart): string {
  const width = chart.width ?? 560;
  const labels = chart.bars.map((b) => truncate(b.label, MAX_LABEL_CHARS));
  const longest = Math.max(4, ...labels.map((l) => l.length));
  const left = Math.min(240, Math.round(longest * 6.6 + 16));
  const plot = { left, right: width - MARGIN.right - 44, top: MARGIN.top, bottom: MARGIN.top + chart.bars.length * BAR_ROW };
  const height = plot.bottom + MARGIN.bottom;
  const values = [0, ...chart.bars.map((b) => b.value), ...(chart.rules ?? []).map((r) => r.value)];
  const axis = niceAxis(chart.axisLabel, Math.min(...values), Math.max(...values), chart.format, 4);
  const sx = scale(axis.min, axis.max, plot.left, plot.right);

  const parts: string[] = [];
  for (const t of axis.ticks) {
    const x = n(sx(t));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${n(plot.top)}" y2="${n(plot.bottom)}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${n(plot.bottom + 16)}" text-anchor="middle">${escapeHtml(axis.format(t))}</text>`);
  }
  chart.bars.forEach((bar, i) => {
    const y = plot.top + i * BAR_ROW;
    const x0 = sx(Math.min(0, bar.value));
    const x1 = sx(Math.max(0, bar.value));
    const mid = y + BAR_ROW / 2;
    parts.push(`<text class="category" x="${n(plot.left - 8)}" y="${n(mid)}" text-anchor="end" dominant-baseline="middle">${escapeHtml(labels[i]!)}</text>`);
    parts.push(
      `<rect class="data" x="${n(x0)}" y="${n(y + 5)}" width="${n(Math.max(x1 - x0, 1))}" height="${n(BAR_ROW - 10)}" fill="${bar.color}">` +
        `<title>${escapeHtml(`${bar.label}: ${chart.format(bar.value)}`)}</title></rect>`,
    );
    const valueX = bar.value < 0 ? x0 - 4 : x1 + 4;
    parts.push(`<text class="value" x="${n(valueX)}" y="${n(mid)}" text-anchor="${bar.value < 0 ? 'end' : 'start'}" dominant-baseline="middle">${escapeHtml(chart.format(bar.value))}</text>`);
  });
  parts.push(`<line class="zero" x1="${n(sx(0))}" x2="${n(sx(0))}" y1="${n(plot.top)}" y2="${n(plot.bottom)}"/>`);
  for (const rule of chart.rules ?? []) {
    const x = n(sx(rule.value));
    parts.push(`<line class="rule" x1="${x}" x2="${x}" y1="${n(plot.top)}" y2="${n(plot.bottom)}" stroke="${rule.color}" stroke-dasharray="4 3"><title>${escapeHtml(rule.label)}</title></line>`);
  }
  parts.push(`<text class="axis-title" x="${n((plot.left + plot.right) / 2)}" y="${n(height - 12)}" text-anchor="middle">${escapeHtml(chart.axisLabel)}</text>`);
  return svg(chart.title, width, height, parts);
}

function svg(title: string, width: number, height: number, parts: readonly string[]): string {
  return (
    `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">` +
    `<title>${escapeHtml(title)}</title>${parts.join('')}</svg>`
  );
}

function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

function axisTitles(xLabel: string, yLabel: string, plot: { left: number; right: number; top: number; bottom: number }, height: number): string {
  const cy = (plot.top + plot.bottom) / 2;
  return (
    `<text class="axis-title" x="${n((plot.left + plot.right) / 2)}" y="${n(height - 12)}" text-anchor="middle">${escapeHtml(xLabel)}</text>` +
    `<text class="axis-title" x="16" y="${n(cy)}" text-anchor="middle" transform="rotate(-90 16 ${n(cy)})">${escapeHtml(yLabel)}</text>`
  );
}

function drawLayer(layer: Layer, sx: (v: number) => number, sy: (v: number) => number, y: Axis): string {
  switch (layer.kind) {
    case 'line': {
      const d = layer.points.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${n(sx(px))} ${n(sy(py))}`).join('');
      const dash = layer.dashed ? ' stroke-dasharray="6 4"' : '';
      let out = `<path class="data" d="${d}" fill="none" stroke="${layer.color}" stroke-width="2"${dash}/>`;
      if (layer.markers) {
        for (const [px, py] of layer.points) out += `<circle class="data" cx="${n(sx(px))}" cy="${n(sy(py))}" r="3" fill="${layer.color}"/>`;
      }
      return out;
    }
    case 'bars': {
      const base = sy(Math.max(y.min, 0));
      return layer.bars
        .map((b) => {
          const top = sy(b.y);
          const tip = b.tooltip === undefined ? '' : `<title>${escapeHtml(b.tooltip)}</title>`;
          return (
            `<rect class="data" x="${n(sx(b.x0))}" y="${n(Math.min(top, base))}" width="${n(Math.max(sx(b.x1) - sx(b.x0), 0.5))}" ` +
            `height="${n(Math.abs(base - top))}" fill="${layer.color}" fill-opacity="${layer.opacity ?? 1}">${tip}</rect>`
          );
        })
        .join('');
    }
    case 'rule': {
      const [x1, y1] = layer.from;
      const [x2, y2] = layer.to;
      const dash = layer.dashed ? ' stroke-dasharray="5 4"' : '';
      let out = `<line class="rule" x1="${n(sx(x1))}" y1="${n(sy(y1))}" x2="${n(sx(x2))}" y2="${n(sy(y2))}" stroke="${layer.color}" stroke-width="${layer.width ?? 1.5}"${dash}/>`;
      if (layer.label !== undefined) {
        out += `<text class="annotation" x="${n(sx(x2) + 6)}" y="${n((sy(y1) + sy(y2)) / 2)}" dominant-baseline="middle">${escapeHtml(layer.label)}</text>`;
      }
      return out;
    }
  }
}

function legend(layers: readonly Layer[], x0: number, y: number): string {
  let x = x0;
  let out = '<g class="legend">';
  for (const layer of layers) {
    const name = layer.name!;
    if (layer.kind === 'bars') {
      out += `<rect x="${n(x)}" y="${n(y - 6)}" width="14" height="12" fill="${layer.color}" fill-opacity="${layer.opacity ?? 1}"/>`;
    } else {
      const dash = layer.dashed ? ' stroke-dasharray="5 3"' : '';
      out += `<line x1="${n(x)}" x2="${n(x + 16)}" y1="${n(y)}" y2="${n(y)}" stroke="${layer.color}" stroke-width="2.5"${dash}/>`;
    }
    out += `<text x="${n(x + 21)}" y="${n(y)}" dominant-baseline="middle">${escapeHtml(name)}</text>`;
    x += 21 + name.length * LEGEND_CHAR_WIDTH + 18;
  }
  return out + '</g>';
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
