/**
 * Scorecards from binning: each party encodes its own features as bin indicators (one-hot,
 * the first bin as reference, a column for the missing-value bin where it has one) from its
 * own part of binning.json, training runs unchanged on those columns, and points per bin
 * come from the trained weights with PDO scaling (../report/scorecard.ts):
 *
 *   z = b' + Σ_j β_j,bin(j)      (β = w/σ for a bin's indicator, 0 for the reference bin,
 *                                 b' = b − Σ w·μ/σ: the scaler folded back into raw 0/1)
 *   points = offset − factor · z = base + Σ_j points_j,bin(j)
 *   base = offset − factor · b',  points_j,k = −factor · β_j,k
 *
 * No WOE leaves the bank: an agency's indicators depend only on its own values and edges.
 * Bins hold at least 5% of rows by default, so a standardised indicator never reaches the
 * ±5σ clip (√(0.95/0.05) ≈ 4.4) and the points are exact; the host checks it.
 */
import { errors } from '../errors.ts';
import type { FeatureTable } from '../data/table.ts';
import type { ModelSlice } from '../lr/model.ts';
import { scorecard, type Scorecard, type ScorecardOptions } from '../report/scorecard.ts';
import { binIndex } from './bins.ts';

/** One feature of binning.json as a party reads its own part. */
export interface BinningFileFeature {
  readonly name: string;
  /** Edges with ±∞ restored from null. */
  readonly edges: readonly number[];
  readonly hasMissing: boolean;
}

export type BinningFile = ReadonlyMap<string, readonly BinningFileFeature[]>;

/** Indicator column names of one binned feature: bins 1.. (bin 0 is the reference), then the missing bin. */
export function indicatorNames(feature: BinningFileFeature): string[] {
  const names = feature.edges.slice(1, -1).map((_, k) => `${feature.name}[${k + 1}]`);
  return feature.hasMissing ? [...names, `${feature.name}[missing]`] : names;
}

/**
 * (Each party, locally) Its table with every binned feature replaced by bin indicators. A
 * missing value of a feature binned without a missing bin falls in the reference bin.
 */
export function binIndicatorTable(table: FeatureTable, features: readonly BinningFileFeature[] | undefined, party: string): FeatureTable {
  if (!features || features.length === 0) throw errors.optionInvalid('--binning', `binning.json holds no feature of party "${party}"`);
  const width = table.featureNames.length;
  const columns = features.map((f) => {
    const j = table.featureNames.indexOf(f.name);
    if (j < 0) throw errors.columnMissing(table.file, f.name, table.featureNames);
    return j;
  });
  const names = features.flatMap(indicatorNames);
  const out = new Float64Array(table.rowCount * names.length);
  for (let i = 0; i < table.rowCount; i++) {
    let offset = 0;
    for (const [k, f] of features.entries()) {
      const v = table.values[i * width + columns[k]!]!;
      const bins = f.edges.length - 1;
      if (Number.isNaN(v)) {
        if (f.hasMissing) out[i * names.length + offset + bins - 1] = 1;
      } else {
        const bin = binIndex(f.edges.slice(1, -1), v);
        if (bin > 0) out[i * names.length + offset + bin - 1] = 1;
      }
      offset += bins - 1 + (f.hasMissing ? 1 : 0);
    }
  }
  return { ...table, featureNames: names, values: out };
}

export interface ScorecardRow {
  readonly party: string;
  readonly feature: string;
  readonly bin: string;
  readonly points: number;
}

/** Points per bin of every party's binned features, and the base points, from the trained model slices. */
export function scorecardRows(models: readonly ModelSlice[], binning: BinningFile, options: ScorecardOptions = {}): ScorecardRow[] {
  const card = scorecard(options);
  const label = models.find((m) => m.role === 'label');
  if (!label || label.intercept === null) throw errors.modelInvalid('model', 'no label slice with an intercept');
  let intercept = label.intercept;
  const rows: ScorecardRow[] = [];
  for (const model of models) {
    const beta = new Map<string, number>();
    model.featureNames.forEach((name, c) => {
      const sigma = model.scaler.scales[c]!;
      const w = model.weights[c]!;
      const raw = sigma > 0 ? w / sigma : 0;
      beta.set(name, raw);
      intercept -= raw * model.scaler.means[c]!;
      const clip = model.scaler.clip;
      if (clip !== null && sigma > 0 && Math.max(Math.abs((1 - model.scaler.means[c]!) / sigma), Math.abs(model.scaler.means[c]! / sigma)) > clip) {
        throw errors.optionInvalid('--binning', `indicator ${name} of party ${model.party} is clipped by the scaler: its points would not be exact`, 'bin with a larger --min-bin-share');
      }
    });
    for (const feature of binning.get(model.party) ?? []) {
      const names = indicatorNames(feature);
      const interval = (k: number) => `[${fmt(feature.edges[k]!)}, ${fmt(feature.edges[k + 1]!)})`;
      rows.push({ party: model.party, feature: feature.name, bin: interval(0), points: 0 });
      feature.edges.slice(1, -1).forEach((_, k) => rows.push({ party: model.party, feature: feature.name, bin: interval(k + 1), points: -card.factor * beta.get(names[k]!)! }));
      if (feature.hasMissing) rows.push({ party: model.party, feature: feature.name, bin: 'missing', points: -card.factor * beta.get(names.at(-1)!)! });
    }
  }
  return [{ party: label.party, feature: '(base)', bin: '', points: card.offset - card.factor * intercept }, ...rows];
}

/**
 * scorecard.json: the points scale scorecard.csv was written with. Points at scoring time
 * must use this scale, not the defaults, or they would not be the sum of the card's points.
 */
export interface ScorecardScaleJson {
  readonly kind: typeof SCORECARD_SCALE_KIND;
  readonly version: typeof SCORECARD_SCALE_VERSION;
  readonly baseScore: number;
  readonly baseOdds: number;
  readonly pdo: number;
}

export const SCORECARD_SCALE_KIND = 'jinqiao.scorecard-scale';
export const SCORECARD_SCALE_VERSION = 1;

export function scorecardScaleJson(card: Scorecard): string {
  const json: ScorecardScaleJson = { kind: SCORECARD_SCALE_KIND, version: SCORECARD_SCALE_VERSION, baseScore: card.baseScore, baseOdds: card.baseOdds, pdo: card.pdo };
  return JSON.stringify(json, null, 2) + '\n';
}

/** A scorecard's two files, name → text, as `train --binning` writes them next to the model. */
export function scorecardFiles(rows: readonly ScorecardRow[], card: Scorecard): Map<string, string> {
  return new Map([
    ['scorecard.csv', scorecardCsv(rows)],
    ['scorecard.json', scorecardScaleJson(card)],
  ]);
}

export function scorecardCsv(rows: readonly ScorecardRow[]): string {
  const field = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return 'party,feature,bin,points\n' + rows.map((r) => `${field(r.party)},${field(r.feature)},${field(r.bin)},${r.points}`).join('\n') + '\n';
}

function fmt(edge: number): string {
  return edge === -Infinity ? '-inf' : edge === Infinity ? 'inf' : String(edge);
}
