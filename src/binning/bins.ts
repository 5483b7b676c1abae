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
import type { FeatureTable } from '../data/table.ts';
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
  // The present values in a buffer of our own: quantiles are selected in place, no sort.
  const present = new Float64Array(rows);
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0, at = column; i < rows; i++, at += width) {
    const v = values[at]!;
    if (Number.isNaN(v)) continue;
    present[count++] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const missingCount = rows - count;
  const refuse = (why: string, hint: string) => errors.featureUnbinnable(source.file, source.feature, why, hint);
  if (count === 0) throw refuse(`every one of the ${rows} aligned rows is missing`, 'drop the feature (leave it out of the feature list)');
  if (missingCount > 0 && missingCount < minRows) {
    throw refuse(
      `${missingCount} of ${rows} aligned rows are missing: a bin of their own would isolate ${missingCount} enterprise(s) (the minimum is ${minRows})`,
      'impute or drop those values before binning, or lower --min-bin-share',
    );
  }
  if (min === max) throw refuse(`every value is ${min}: one distinct value holds no information`, 'drop the feature');
  const candidates = rule.method === 'quantile' ? quantileEdges(present.subarray(0, count), min, rule.bins) : equalWidthEdges(min, max, rule.bins);
  // Each row's bin before merging, and the bins' counts, in one pass.
  const binOf = new Uint16Array(rows);
  const before = new Array<number>(candidates.length + 1).fill(0);
  const edges = Float64Array.from(candidates);
  const few = edges.length <= 16;
  for (let i = 0, at = column; i < rows; i++, at += width) {
    const v = values[at]!;
    if (Number.isNaN(v)) continue;
    let bin = 0;
    // A few edges: count those <= v without a branch to mispredict (twice as fast as a binary search on random values).
    if (few) for (let k = 0; k < edges.length; k++) bin += Number(edges[k]! <= v);
    else bin = binIndex(candidates, v);
    binOf[i] = bin;
    before[bin]!++;
  }
  const { interior, counts, merged } = mergeSmallBins(candidates, before, minRows);
  if (counts.length < 2) {
    throw refuse(
      `after merging bins under ${minRows} rows, one bin is left (the values are concentrated on one value)`,
      'drop the feature, or lower --min-bin-share',
    );
  }
  // Merging keeps the order of bins: each earlier bin maps to one merged bin; missing values go last.
  for (let i = 0, at = column; i < rows; i++, at += width) binOf[i] = Number.isNaN(values[at]!) ? counts.length : merged[binOf[i]!]!;
  return { edges: [-Infinity, ...interior, Infinity], counts, missingCount, binOf };
}

/** (Each party) Bins every feature of `table` over its aligned rows. */
export function binTable(table: FeatureTable, rows: Uint32Array, rule: BinningRule): { name: string; bins: FeatureBins }[] {
  const columns = alignedColumns(table, rows);
  return table.featureNames.map((feature, j) => ({ name: feature, bins: binFeature(columns[j]!, 1, 0, rule, { file: table.file, feature }) }));
}

/**
 * The aligned rows of every feature as one contiguous column each. Binning reads a column
 * several times; read in place from the row-major table, every value would be a cache miss
 * (a row of 300 features is 2.4 kB), while this copy reads each row once and writes each
 * column's cache line eight values at a time.
 */
function alignedColumns(table: FeatureTable, rows: Uint32Array): Float64Array[] {
  const width = table.featureNames.length;
  const columns = table.featureNames.map(() => new Float64Array(rows.length));
  const values = table.values;
  for (let p = 0; p < rows.length; p++) {
    const from = rows[p]! * width;
    for (let j = 0; j < width; j++) columns[j]![p] = values[from + j]!;
  }
  return columns;
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

/**
 * The k/bins order statistics, k = 1..bins−1, strictly above the minimum and distinct:
 * `values` (the caller's scratch, reordered) is partitioned around each wanted rank in turn,
 * so that selecting nine quantiles of 100k values costs a few passes, not a sort.
 */
function quantileEdges(values: Float64Array, min: number, bins: number): number[] {
  const ranks: number[] = [];
  for (let k = 1; k < bins; k++) ranks.push(Math.floor((k * values.length) / bins));
  selectRanks(values, 0, values.length, ranks, 0, ranks.length);
  const edges: number[] = [];
  for (const rank of ranks) {
    const q = values[rank]!;
    if (q > min && (edges.length === 0 || q > edges[edges.length - 1]!)) edges.push(q);
  }
  return edges;
}

/**
 * Places the values of ranks[first..end) (ascending, within [lo, hi)) where a sort would:
 * three-way partitions (repeated values, common in binned data, stay cheap) around a
 * median-of-three pivot, recursing only into parts that hold a wanted rank.
 */
function selectRanks(a: Float64Array, lo: number, hi: number, ranks: readonly number[], first: number, end: number): void {
  while (first < end && hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi - 1]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    // a[lo, lt) < pivot, a[lt, i) = pivot, a[gt, hi) > pivot.
    let lt = lo;
    let i = lo;
    let gt = hi;
    while (i < gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i] = a[lt]!;
        a[lt++] = v;
        i++;
      } else if (v > pivot) {
        a[i] = a[--gt]!;
        a[gt] = v;
      } else i++;
    }
    let below = first;
    while (below < end && ranks[below]! < lt) below++;
    let equal = below;
    while (equal < end && ranks[equal]! < gt) equal++;
    // The smaller part by recursion, the larger by the loop: the stack stays O(log n) deep.
    if (lt - lo < hi - gt) {
      selectRanks(a, lo, lt, ranks, first, below);
      lo = gt;
      first = equal;
    } else {
      selectRanks(a, gt, hi, ranks, equal, end);
      hi = lt;
      end = below;
    }
  }
}

function equalWidthEdges(min: number, max: number, bins: number): number[] {
  const step = (max - min) / bins;
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = min + k * step;
    if (e > min && (edges.length === 0 || e > edges[edges.length - 1]!)) edges.push(e);
  }
  return edges;
}

/**
 * Merges, while any bin is under `minRows` and more than one is left, the smallest such bin
 * (the leftmost on ties) with its smaller neighbour (the left one on ties) by dropping the
 * edge between them. `merged[b]` is the merged bin that bin b of the input ended in.
 */
function mergeSmallBins(interior: readonly number[], counts: readonly number[], minRows: number): { interior: number[]; counts: number[]; merged: number[] } {
  const edges = [...interior];
  const sizes = [...counts];
  // Each merged bin's first input bin.
  const starts = counts.map((_, b) => b);
  for (;;) {
    let smallest = -1;
    for (let i = 0; i < sizes.length; i++) {
      if (sizes[i]! < minRows && (smallest < 0 || sizes[i]! < sizes[smallest]!)) smallest = i;
    }
    if (smallest < 0 || sizes.length < 2) break;
    const left = smallest - 1;
    const right = smallest + 1;
    const into = right >= sizes.length || (left >= 0 && sizes[left]! <= sizes[right]!) ? left : right;
    const [first, second] = into < smallest ? [into, smallest] : [smallest, into];
    sizes.splice(first, 2, sizes[first]! + sizes[second]!);
    edges.splice(first, 1);
    starts.splice(second, 1);
  }
  const merged = counts.map((_, b) => {
    let m = 0;
    while (m + 1 < starts.length && starts[m + 1]! <= b) m++;
    return m;
  });
  return { interior: edges, counts: sizes, merged };
}
