/**
 * (Each party, locally) Binning one feature over the aligned rows: quantile or equal-width
 * edges, then bins below the minimum size merged with a neighbour, and missing values in a
 * bin of their own. This runs before anything about the feature leaves its party, so no bin
 * that crosses a boundary (as a count, or as an encrypted label sum) holds fewer than the
 * minimum number of enterprises.
 *
 * Bin i holds the values v with edges[i] <= v < edges[i+1]; the first and last edges are
 * −∞ and +∞. Quantile edges are values of the data (the k/bins-th order statistics), with
 * ties collapsed, so a value that repeats across a quantile stays in one bin.
 */
import { selectRows, type FeatureTable } from '../data/table.ts';
import { errors } from '../errors.ts';

export type BinningMethod = 'quantile' | 'equal-width';

export interface BinningRule {
  readonly bins: number;
  readonly method: BinningMethod;
  /** Smallest share of the aligned rows a bin may hold (the missing-value bin included). */
  readonly minBinShare: number;
}

/** Fewest enterprises a bin may ever hold, whatever the share: below it a bin singles out a handful. */
export const MIN_BIN_ENTERPRISES = 10;

export interface FeatureBins {
  /** bins + 1 edges; the first is −∞, the last +∞. */
  readonly edges: readonly number[];
  /** Rows per bin, in edge order. */
  readonly counts: readonly number[];
  /** Rows with a missing value (NaN). */
  readonly missingCount: number;
  /** Per row: its bin, or `edges.length − 1` (one past the last bin) for a missing value. */
  readonly binOf: Uint16Array;
}

/** Where a feature comes from, for error messages. */
export interface FeatureSource {
  readonly file: string;
  readonly feature: string;
}

export const DEFAULT_BINNING_RULE: BinningRule = Object.freeze({ bins: 10, method: 'quantile', minBinShare: 0.05 });

export function checkBinningRule(rule: BinningRule): void {
  if (!Number.isInteger(rule.bins) || rule.bins < 2 || rule.bins > 1000) throw errors.optionInvalid('--bins', `must be a whole number in 2..1000, got ${String(rule.bins)}`);
  if (rule.method !== 'quantile' && rule.method !== 'equal-width') throw errors.optionInvalid('--method', `must be quantile or equal-width, got ${String(rule.method)}`);
  if (!(rule.minBinShare > 0 && rule.minBinShare < 0.5)) throw errors.optionInvalid('--min-bin-share', `must be a share in (0, 0.5), got ${String(rule.minBinShare)}`);
}

/** The minimum bin size on `rows` aligned rows; refuses a rule that would let a bin single out a few enterprises. */
export function minBinRows(rule: BinningRule, rows: number): number {
  const min = Math.ceil(rule.minBinShare * rows);
  if (min < MIN_BIN_ENTERPRISES) {
    throw errors.optionInvalid(
      '--min-bin-share',
      `${rule.minBinShare} of ${rows} aligned rows allows bins of ${min} enterprise(s); a bin must hold at least ${MIN_BIN_ENTERPRISES}`,
      `raise --min-bin-share to at least ${(MIN_BIN_ENTERPRISES / rows).toPrecision(2)} or align more rows`,
    );
  }
  return min;
}

/**
 * Bins column `column` of the row-major `values` (rows × width). Refuses, naming the
 * feature, a feature that is all missing, holds one distinct value, ends in a single bin
 * after merging, or has so few missing values that their bin would isolate them.
 */
export function binFeature(values: Float64Array, width: number, column: number, rule: BinningRule, source: FeatureSource): FeatureBins {
  const rows = values.length / width;
  const minRows = minBinRows(rule, rows);
  const present: number[] = [];
  for (let i = 0; i < rows; i++) {
    const v = values[i * width + column]!;
    if (!Number.isNaN(v)) present.push(v);
  }
  const missingCount = rows - present.length;
  const refuse = (why: string, hint: string) => errors.featureUnbinnable(source.file, source.feature, why, hint);
  if (present.length === 0) throw refuse(`every one of the ${rows} aligned rows is missing`, 'drop the feature (leave it out of the feature list)');
  if (missingCount > 0 && missingCount < minRows) {
    throw refuse(
      `${missingCount} of ${rows} aligned rows are missing: a bin of their own would isolate ${missingCount} enterprise(s) (the minimum is ${minRows})`,
      'impute or drop those values before binning, or lower --min-bin-share',
    );
  }
  const sorted = Float64Array.from(present).sort();
  if (sorted[0] === sorted[sorted.length - 1]) throw refuse(`every value is ${sorted[0]}: one distinct value holds no information`, 'drop the feature');
  let interior = rule.method === 'quantile' ? quantileEdges(sorted, rule.bins) : equalWidthEdges(sorted, rule.bins);
  let counts = countBins(sorted, interior);
  ({ interior, counts } = mergeSmallBins(interior, counts, minRows));
  if (counts.length < 2) {
    throw refuse(
      `after merging bins under ${minRows} rows, one bin is left (the values are concentrated on one value)`,
      'drop the feature, or lower --min-bin-share',
    );
  }
  const binOf = new Uint16Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = values[i * width + column]!;
    binOf[i] = Number.isNaN(v) ? counts.length : binIndex(interior, v);
  }
  return { edges: [-Infinity, ...interior, Infinity], counts, missingCount, binOf };
}

/** (Each party) Bins every feature of `table` over its aligned rows. */
export function binTable(table: FeatureTable, rows: Uint32Array, rule: BinningRule): { name: string; bins: FeatureBins }[] {
  const values = selectRows(table, rows);
  const width = table.featureNames.length;
  return table.featureNames.map((feature, j) => ({ name: feature, bins: binFeature(values, width, j, rule, { file: table.file, feature }) }));
}

/** The bin of `v` given the interior edges: the number of edges <= v. */
export function binIndex(interior: readonly number[], v: number): number {
  let lo = 0;
  let hi = interior.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (interior[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The k/bins order statistics, k = 1..bins−1, strictly above the minimum and distinct. */
function quantileEdges(sorted: Float64Array, bins: number): number[] {
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const q = sorted[Math.floor((k * sorted.length) / bins)]!;
    if (q > sorted[0]! && (edges.length === 0 || q > edges[edges.length - 1]!)) edges.push(q);
  }
  return edges;
}

function equalWidthEdges(sorted: Float64Array, bins: number): number[] {
  const min = sorted[0]!;
  const step = (sorted[sorted.length - 1]! - min) / bins;
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = min + k * step;
    if (e > min && (edges.length === 0 || e > edges[edges.length - 1]!)) edges.push(e);
  }
  return edges;
}

function countBins(sorted: Float64Array, interior: readonly number[]): number[] {
  const counts = new Array<number>(interior.length + 1).fill(0);
  for (const v of sorted) counts[binIndex(interior, v)]!++;
  return counts;
}

/**
 * Merges, while any bin is under `minRows` and more than one is left, the smallest such bin
 * (the leftmost on ties) with its smaller neighbour (the left one on ties) by dropping the
 * edge between them.
 */
function mergeSmallBins(interior: number[], counts: number[], minRows: number): { interior: number[]; counts: number[] } {
  interior = [...interior];
  counts = [...counts];
  for (;;) {
    let smallest = -1;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i]! < minRows && (smallest < 0 || counts[i]! < counts[smallest]!)) smallest = i;
    }
    if (smallest < 0 || counts.length < 2) return { interior, counts };
    const left = smallest - 1;
    const right = smallest + 1;
    const into = right >= counts.length || (left >= 0 && counts[left]! <= counts[right]!) ? left : right;
    const [first, second] = into < smallest ? [into, smallest] : [smallest, into];
    counts.splice(first, 2, counts[first]! + counts[second]!);
    interior.splice(first, 1);
  }
}
