/**
 * Minimal SVG charts for BENCHMARKS.md, so that a reader sees the picture on GitHub without
 * running anything: line charts with error bars (median, spread) and horizontal bar charts
 * on a log scale. No dependencies; the output is plain, diffable text.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number; readonly spread?: number }[];
  /** Drawn dashed (ideal or reference lines). */
  readonly dashed?: boolean;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#7f7f7f'];
const W = 640;
const H = 360;
const M = { left: 70, right: 170, top: 40, bottom: 50 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(max: number, count = 5): number[] {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => i * step);
}

const label = (v: number) => (v >= 1e6 ? `${+(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toFixed(2)}`);

export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], options: { logX?: boolean } = {}): string {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y + (p.spread ?? 0) / 2));
  const fx = options.logX ? Math.log10 : (v: number) => v;
  const xMin = options.logX ? fx(Math.min(...xs)) : 0;
  const xMax = fx(Math.max(...xs));
  const yTicks = niceTicks(Math.max(...ys) * 1.05);
  const yMax = yTicks.at(-1)!;
  const px = (x: number) => M.left + ((fx(x) - xMin) / (xMax - xMin || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - (y / yMax) * (H - M.top - M.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const t of yTicks) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${label(t)}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<text x="${px(x)}" y="${H - M.bottom + 16}" text-anchor="middle">${label(x)}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="black"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="black"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const path = s.points.map((p, j) => `${j ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of s.points) {
      if (!s.dashed) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${colour}"/>`);
      if (p.spread) {
        const [lo, hi] = [py(p.y - p.spread / 2), py(p.y + p.spread / 2)];
        out.push(`<line x1="${px(p.x)}" x2="${px(p.x)}" y1="${lo.toFixed(1)}" y2="${hi.toFixed(1)}" stroke="${colour}"/>`);
      }
    }
    const ly = M.top + 10 + i * 18;
    out.push(`<line x1="${W - M.right + 10}" x2="${W - M.right + 30}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${W - M.right + 35}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface Bar {
  readonly name: string;
  readonly value: number;
  /** Hatched (extrapolated or published, not measured here). */
  readonly estimated?: boolean;
}

/** Horizontal bars on a log10 axis (values spanning several orders of magnitude). */
export function logBarChart(title: string, unit: string, bars: readonly Bar[]): string {
  const left = 300;
  const right = 90;
  const rowH = 28;
  const height = 60 + bars.length * rowH + 30;
  const lo = Math.floor(Math.log10(Math.min(...bars.map((b) => b.value))));
  const hi = Math.ceil(Math.log10(Math.max(...bars.map((b) => b.value))));
  const px = (v: number) => left + ((Math.log10(v) - lo) / (hi - lo || 1)) * (W - left - right);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    `<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4c7a1"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d9822b" stroke-width="3"/></pattern></defs>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    const x = px(10 ** e);
    out.push(`<line x1="${x}" x2="${x}" y1="40" y2="${height - 30}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${height - 14}" text-anchor="middle">${label(10 ** e)} ${esc(unit)}</text>`);
  }
  bars.forEach((b, i) => {
    const y = 45 + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(b.name)}</text>`);
    out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, px(b.value) - left).toFixed(1)}" height="${rowH - 8}" fill="${b.estimated ? 'url(#hatch)' : COLOURS[0]}"/>`);
    out.push(`<text x="${(px(b.value) + 4).toFixed(1)}" y="${y + 15}">${label(b.value)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
