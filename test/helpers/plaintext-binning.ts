/**
 * The centralised plaintext computation a federated binning result must equal: every
 * party's CSV and the bank's labels joined on ID in one place, each row put in the bin the
 * result's edges say (`edges[i] <= v < edges[i+1]`, null for ±∞, empty cell = missing),
 * and counts, WOE (0.5 added to both counts of a bin with no goods or no bads) and IV
 * computed from those. Written independently of src/binning on purpose.
 */
import { readFileSync } from 'node:fs';

export interface PlainBin {
  readonly count: number;
  readonly bads: number;
  readonly woe: number;
}

export interface PlainFeature {
  readonly bins: PlainBin[];
  readonly missing: PlainBin | null;
  readonly iv: number;
}

export interface PlainCsv {
  readonly header: string[];
  readonly rows: Map<string, string[]>;
}

export function readPlainCsv(file: string): PlainCsv {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  const header = lines[0]!.split(',');
  return { header, rows: new Map(lines.slice(1).map((l) => { const f = l.split(','); return [f[0]!, f]; })) };
}

/** IDs held by every table. */
export function commonIds(tables: readonly PlainCsv[]): string[] {
  return [...tables[0]!.rows.keys()].filter((id) => tables.every((t) => t.rows.has(id)));
}

export function plainFeature(
  table: PlainCsv,
  column: string,
  ids: readonly string[],
  labelOf: (id: string) => number,
  edges: readonly (number | null)[],
  withMissing: boolean,
): PlainFeature {
  const j = table.header.indexOf(column);
  const nBins = edges.length - 1;
  const counts = new Array<number>(nBins + 1).fill(0);
  const bads = new Array<number>(nBins + 1).fill(0);
  let totalBads = 0;
  for (const id of ids) {
    const cell = table.rows.get(id)![j]!.trim();
    let bin = nBins;
    if (cell !== '') {
      const v = Number(cell);
      bin = edges.findIndex((lo, i) => (lo === null || lo <= v) && (edges[i + 1] === null || v < edges[i + 1]!));
    }
    counts[bin]!++;
    bads[bin]! += labelOf(id);
    totalBads += labelOf(id);
  }
  const totalGoods = ids.length - totalBads;
  let iv = 0;
  const stats = counts.map((count, i) => {
    const b = bads[i]!;
    const g = count - b;
    const s = g === 0 || b === 0 ? 0.5 : 0;
    const woe = Math.log(((g + s) / totalGoods) / ((b + s) / totalBads));
    if (i < nBins || withMissing) iv += ((g + s) / totalGoods - (b + s) / totalBads) * woe;
    return { count, bads: b, woe };
  });
  if (!withMissing && counts[nBins] !== 0) throw new Error(`${column}: missing values but no missing bin`);
  return { bins: stats.slice(0, nBins), missing: withMissing ? stats[nBins]! : null, iv };
}
