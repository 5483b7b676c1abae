/**
 * The page around the charts: one self-contained HTML5 document with its stylesheet inline,
 * a Content-Security-Policy that forbids every script and every network fetch (so even a
 * string that slipped past escaping could neither run nor call home), section cards, key
 * figure tiles and tables. Tables take plain text and escape it; callers never pass markup
 * built from data.
 */
import { escapeHtml } from './escape.ts';

export interface PageHeader {
  readonly title: string;
  /** Facts shown under the title: job, viewer, run, generation time. */
  readonly facts: readonly (readonly [label: string, value: string])[];
}

export interface Section {
  readonly id: string;
  readonly heading: string;
  /** Already-rendered body (charts, tables, notes). */
  readonly body: string;
  /** Cards marked half share a row with their neighbour on wide screens. */
  readonly half?: boolean;
}

export function document(header: PageHeader, sections: readonly Section[]): string {
  const facts = header.facts.map(([label, value]) => `<div><dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd></div>`).join('');
  const nav = sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.heading)}</a>`).join('');
  const cards = sections
    .map((s) => `<section id="${s.id}" class="card${s.half ? ' half' : ''}"><h2>${escapeHtml(s.heading)}</h2>${s.body}</section>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(header.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(header.title)}</h1><dl class="facts">${facts}</dl><nav>${nav}</nav></header>
<main>
${cards}
</main>
</body>
</html>
`;
}

export interface Tile {
  readonly label: string;
  readonly value: string;
  readonly note?: string;
}

export function tiles(items: readonly Tile[]): string {
  const cells = items
    .map((t) => `<div class="tile"><div class="label">${escapeHtml(t.label)}</div><div class="value">${escapeHtml(t.value)}</div>${t.note ? `<div class="note">${escapeHtml(t.note)}</div>` : ''}</div>`)
    .join('');
  return `<div class="tiles">${cells}</div>`;
}

export interface Column {
  readonly header: string;
  /** Numbers align right so digits line up; text aligns left. */
  readonly numeric?: boolean;
}

/** A cell's text, and optionally a status class (`ok`, `warn`, `alert`) that colours it. */
export type Cell = string | { readonly text: string; readonly status: 'ok' | 'warn' | 'alert' };

export interface TableOptions {
  readonly caption?: string;
  /** A last row set apart as the total. */
  readonly footer?: readonly Cell[];
}

export function table(columns: readonly Column[], rows: readonly (readonly Cell[])[], options: TableOptions = {}): string {
  const head = columns.map((c) => `<th scope="col"${c.numeric ? ' class="num"' : ''}>${escapeHtml(c.header)}</th>`).join('');
  const line = (cells: readonly Cell[]) => `<tr>${cells.map((cell, i) => td(cell, columns[i]?.numeric ?? false)).join('')}</tr>`;
  const caption = options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : '';
  const foot = options.footer ? `<tfoot>${line(options.footer)}</tfoot>` : '';
  return `<div class="table-wrap"><table>${caption}<thead><tr>${head}</tr></thead><tbody>${rows.map(line).join('')}</tbody>${foot}</table></div>`;
}

function td(cell: Cell, numeric: boolean): string {
  const classes = [numeric ? 'num' : '', typeof cell === 'string' ? '' : cell.status].filter(Boolean).join(' ');
  const text = typeof cell === 'string' ? cell : cell.text;
  return `<td${classes ? ` class="${classes}"` : ''}>${escapeHtml(text)}</td>`;
}

/** A paragraph of explanation under a chart or table. */
export function note(text: string): string {
  return `<p class="note">${escapeHtml(text)}</p>`;
}

export function figure(chart: string, caption: string): string {
  return `<figure>${chart}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

const STYLE = `
:root{--ink:#1f2933;--muted:#52606d;--line:#d9dee4;--bg:#f4f6f8;--card:#fff;--brand:#12355b}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",Arial,sans-serif}
header{background:var(--brand);color:#fff;padding:20px 32px 12px}
h1{margin:0 0 10px;font-size:22px;font-weight:600}
.facts{display:flex;flex-wrap:wrap;gap:6px 28px;margin:0 0 12px}
.facts div{display:flex;gap:6px}.facts dt{opacity:.75}.facts dd{margin:0;font-weight:600}
nav{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}
nav a{color:#cfe3ff;text-decoration:none}nav a:hover{text-decoration:underline}
main{display:flex;flex-wrap:wrap;gap:16px;padding:20px 32px 40px;max-width:1280px}
.card{flex:1 1 100%;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:16px 20px;min-width:0}
.card.half{flex:1 1 calc(50% - 8px);min-width:420px}
h2{margin:0 0 12px;font-size:16px;font-weight:600;color:var(--brand)}
h3{margin:16px 0 8px;font-size:14px;font-weight:600}
.tiles{display:flex;flex-wrap:wrap;gap:12px}
.tile{flex:1 1 150px;border:1px solid var(--line);border-radius:6px;padding:10px 14px;background:#fafbfc}
.tile .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.tile .value{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
.tile .note{font-size:12px;color:var(--muted)}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:13px}
caption{text-align:left;font-weight:600;padding:0 0 6px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#eef1f5;font-weight:600;color:var(--muted);font-size:12px;white-space:normal;vertical-align:bottom}
.num{text-align:right}
tfoot td{font-weight:600;border-top:2px solid var(--ink)}
td.ok{color:#1b7f4c;font-weight:600}td.warn{color:#a15c00;font-weight:600}td.alert{color:#b42318;font-weight:600}
figure{margin:0}figcaption,.note{color:var(--muted);font-size:12.5px;margin:6px 0 0}
svg.chart{display:block;max-width:100%;height:auto;margin:0 auto}
svg.chart text{font-family:inherit;font-size:11px;fill:#3e4c59}
svg.chart .axis-title{font-size:12px;fill:var(--ink);font-weight:600}
svg.chart .legend text{font-size:12px;fill:var(--ink)}
svg.chart .annotation{font-size:12px;font-weight:600;fill:var(--ink);paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
svg.chart .category{font-size:12px;fill:var(--ink)}
svg.chart .grid{stroke:#e6e9ed;stroke-width:1}
svg.chart .frame{fill:none;stroke:#9aa5b1;stroke-width:1}
svg.chart .zero{stroke:#52606d;stroke-width:1}
.cols{display:flex;flex-wrap:wrap;gap:20px;margin-top:16px}.cols>*{flex:1 1 360px;min-width:0}
@media print{body{background:#fff}header{background:#fff;color:var(--ink);border-bottom:2px solid var(--brand)}nav{display:none}.card{break-inside:avoid;border-color:#bbb}.card.half{min-width:0}}
`;
