/**
 * The bank's report of a binning job (report.html beside binning.json): the aligned rows and
 * bads, an IV chart of every feature ranked, and a WOE chart per feature (one bar per bin,
 * its interval as label, and the missing bin), with the counts behind each bar. Built only
 * from binning.json, i.e. from what the bank holds: per-bin counts, never rows.
 */
import { formatCount, formatFixed, formatPercent } from './format.ts';
import { document, figure, note, table, tiles, type Section } from './page.ts';
import { COLORS, horizontalBarChart } from './svg.ts';

export interface BinningReportBin {
  readonly count: number;
  readonly bads: number;
  readonly woe: number;
}

export interface BinningReportInput {
  readonly rows: number;
  readonly bads: number;
  readonly parties: readonly {
    readonly party: string;
    readonly features: readonly { readonly name: string; readonly edges: readonly (number | null)[]; readonly bins: readonly BinningReportBin[]; readonly missing: BinningReportBin | null; readonly iv: number }[];
  }[];
  readonly jobId?: string;
  readonly minIv?: number;
}

/** Features drawn one WOE chart each; the rest are in the IV table (a page of 330 charts helps nobody). */
export const WOE_CHARTS = 40;

/** The conventional reading of an IV (Siddiqi, Credit Risk Scorecards, 2006). */
function strength(iv: number): string {
  if (iv < 0.02) return 'not predictive';
  if (iv < 0.1) return 'weak';
  if (iv < 0.3) return 'medium';
  if (iv < 0.5) return 'strong';
  return 'suspiciously strong';
}

/** A bin's interval as a reader writes it: [lo, hi), with −∞ / +∞ at the ends. */
export function binLabel(edges: readonly (number | null)[], k: number): string {
  const lo = edges[k];
  const hi = edges[k + 1];
  const show = (v: number) => String(Number(v.toPrecision(4)));
  return `[${lo === null || lo === undefined ? '−∞' : show(lo)}, ${hi === null || hi === undefined ? '+∞' : show(hi)})`;
}

export function renderBinningReport(input: BinningReportInput): string {
  const ranked = input.parties.flatMap((p) => p.features.map((f) => ({ party: p.party, feature: f }))).sort((a, b) => b.feature.iv - a.feature.iv);
  const sections: Section[] = [];
  sections.push({
    id: 'summary',
    heading: 'Summary',
    body: tiles([
      { label: 'Aligned rows', value: formatCount(input.rows) },
      { label: 'Bads', value: formatCount(input.bads), note: formatPercent(input.rows > 0 ? input.bads / input.rows : NaN) },
      { label: 'Features binned', value: formatCount(ranked.length), note: `${input.parties.length} parties` },
    ]),
  });
  const shown = ranked.slice(0, 60);
  sections.push({
    id: 'iv',
    heading: 'Information value',
    body:
      figure(
        horizontalBarChart({
          title: 'Information value by feature',
          bars: shown.map((r) => ({ label: `${r.party}/${r.feature.name}`, value: r.feature.iv, color: r.feature.iv >= 0.02 ? COLORS.good : COLORS.reference })),
          axisLabel: 'IV',
          format: (v) => formatFixed(v, 3),
          rules: [{ value: 0.02, label: '0.02', color: COLORS.warn }, ...(input.minIv ? [{ value: input.minIv, label: 'min IV', color: COLORS.bad }] : [])],
        }),
        ranked.length > shown.length ? `The ${shown.length} features of highest IV of ${ranked.length}; every feature is in the table below and in iv.csv.` : 'Every binned feature, highest IV first.',
      ) +
      table(
        [{ header: 'Party' }, { header: 'Feature' }, { header: 'IV', numeric: true }, { header: 'Reading' }],
        ranked.map((r) => [r.party, r.feature.name, formatFixed(r.feature.iv, 4), strength(r.feature.iv)]),
      ),
  });
  const woe = ranked.slice(0, WOE_CHARTS).map((r) => {
    const bins = r.feature.bins.map((b, k) => ({ label: binLabel(r.feature.edges, k), bin: b }));
    if (r.feature.missing) bins.push({ label: 'missing', bin: r.feature.missing });
    return (
      figure(
        horizontalBarChart({
          title: `WOE of ${r.party}/${r.feature.name}`,
          bars: bins.map(({ label, bin }) => ({ label, value: bin.woe, color: bin.woe >= 0 ? COLORS.good : COLORS.bad })),
          axisLabel: 'WOE = ln(good share / bad share)',
          format: (v) => formatFixed(v, 2),
          width: 520,
        }),
        `${r.party}/${r.feature.name}: IV ${formatFixed(r.feature.iv, 4)}`,
      ) +
      table(
        [{ header: 'Bin' }, { header: 'Count', numeric: true }, { header: 'Bads', numeric: true }, { header: 'Bad rate', numeric: true }, { header: 'WOE', numeric: true }],
        bins.map(({ label, bin }) => [label, formatCount(bin.count), formatCount(bin.bads), formatPercent(bin.count > 0 ? bin.bads / bin.count : NaN), formatFixed(bin.woe, 4)]),
      )
    );
  });
  sections.push({
    id: 'woe',
    heading: 'Weight of evidence per bin',
    body:
      note('Positive WOE: the bin holds a larger share of goods than of bads (lower risk). A bin with no goods or no bads is smoothed by adding 0.5 to both counts (see binning.json).') +
      woe.join('') +
      (ranked.length > WOE_CHARTS ? note(`Charts for the ${WOE_CHARTS} features of highest IV; the bins of every feature are in binning.json.`) : ''),
  });
  return document({ title: 'Binning report', facts: [...(input.jobId ? [['Job', input.jobId] as const] : []), ['Rows', formatCount(input.rows)]] }, sections);
}
