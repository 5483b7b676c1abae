/**
 * Federated binning: per-bin good/bad counts of every party's features, with the labels
 * staying with the bank and the feature values with their agency.
 *
 * Message flow, after the rows are aligned by PSI exactly as for training (../lr/align.ts):
 *
 *   label, feature k → arbiter   he.keyRequest   (the feature party: the rotations of its products)
 *   label → feature k            bin.labels      [[y·2^-s]] for the aligned rows, in row chunks
 *   feature k → label            bin.sums        bin layout, per-bin row counts, [[Mᵀ y·2^-s]]
 *   label → arbiter              he.decrypt      [[Mᵀ y·2^-s + r]], masked by the label (../lr/arbiter-client.ts)
 *   label → feature k            bin.iv          the IV of each of k's features
 *
 * M is feature party k's 0/1 bin-membership matrix (aligned rows × bins, one column per bin
 * of each feature but its first, whose bad count the label derives from its total; the
 * missing-value bin included), built after its bins below the minimum size were merged
 * (bins.ts). Mᵀ[[y]] is the plaintext-matrix × ciphertext product training
 * uses for gradients (../he/diagonals.ts), one product per group of features (`binGroups`).
 * The label scales y by 2^-s so that a bin's sum stays within the largest bound the arbiter
 * decrypts, reveals each sum to 2^-12 (two masked passes), multiplies back and rounds: bad
 * counts are exact integers (`exactCounts` refuses a value that is not within 1/4 of one).
 *
 * Who learns what (honest-but-curious parties, the arbiter colluding with no one):
 * - feature party: the number of aligned rows (as in training), ciphertexts it cannot
 *   decrypt, and one IV per own feature: how informative the feature is, not in which
 *   direction, nor any bin's bad rate. It learns no label and no bin-level statistic.
 * - label: per feature of every agency, each bin's row count and bad count, and nothing
 *   about which enterprise is in which bin; not the agency's edges or feature names.
 * - arbiter: masked values, as in training.
 * Known weakness: a label party that deviates could encrypt a vector other than y (e.g.
 * one row's indicator) and learn that row's bins; the agency cannot check what [[y]]
 * holds. The attack suite covers the honest-but-curious case only.
 */
import { errors } from '../errors.ts';
import type { HeParams } from '../he/backend.ts';
import { nextPowerOfTwo, rotationSteps } from '../he/diagonals.ts';

/** Most bin columns in one product: keeps each row block's plaintext matrix small (rows × width Float64). */
export const GROUP_WIDTH = 1024;
/** Aligned rows per plaintext block of the product: four ciphertext chunks at N = 8192. */
export const BLOCK_CHUNKS = 4;

/** One product: features [first, first + count) whose product columns start at `column`. */
export interface BinGroup {
  readonly firstFeature: number;
  readonly features: number;
  readonly firstColumn: number;
  readonly width: number;
}

/** Bins of each feature as `bin.sums` lists its counts: its bins, plus one if it has a missing-value bin. */
export function columnsOf(bins: readonly number[], missing: readonly number[]): number[] {
  return bins.map((b, j) => b + (missing[j] ? 1 : 0));
}

/**
 * Product columns of each feature: every bin but the first, plus its missing-value bin. The
 * first bin's bad count is the bank's total bads minus the others, so it costs no product.
 */
export function productColumnsOf(bins: readonly number[], missing: readonly number[]): number[] {
  return bins.map((b, j) => b - 1 + (missing[j] ? 1 : 0));
}

/**
 * Features packed in order into products. A product of width w costs as much as one of
 * width nextPowerOfTwo(w) (diagonals.ts), so groups fill up to GROUP_WIDTH columns, and the
 * tail is split where two smaller powers of two cost less than one larger one.
 */
export function binGroups(columns: readonly number[], slotCount: number): BinGroup[] {
  const limit = Math.min(GROUP_WIDTH, slotCount);
  for (const c of columns) if (c > limit) throw errors.optionInvalid('--bins', `a feature with ${c} bins exceeds the ${limit} a product holds`);
  const groups: BinGroup[] = [];
  let first = 0;
  let column = 0;
  const take = (capacity: number) => {
    let end = first;
    let width = 0;
    while (end < columns.length && width + columns[end]! <= capacity) width += columns[end++]!;
    return { end, width };
  };
  while (first < columns.length) {
    const remaining = columns.slice(first).reduce((a, c) => a + c, 0);
    const capacity = Math.min(limit, nextPowerOfTwo(remaining));
    const { end, width } = remaining <= capacity ? splitTail(columns, first, capacity) : take(capacity);
    groups.push({ firstFeature: first, features: end - first, firstColumn: column, width });
    first = end;
    column += width;
  }
  return groups;
}

/** For a tail that fits one product of `capacity`: all of it, or the prefix filling half, whichever costs less overall. */
function splitTail(columns: readonly number[], first: number, capacity: number): { end: number; width: number } {
  const all = { end: columns.length, width: columns.slice(first).reduce((a, c) => a + c, 0) };
  if (capacity <= 1) return all;
  let end = first;
  let width = 0;
  while (end < columns.length && width + columns[end]! <= capacity / 2) width += columns[end++]!;
  if (end === first || end === columns.length) return all;
  return capacity / 2 + tailCost(columns.slice(end)) < capacity ? { end, width } : all;
}

function tailCost(columns: readonly number[]): number {
  const groups = binGroups(columns, GROUP_WIDTH);
  return groups.reduce((a, g) => a + nextPowerOfTwo(g.width), 0);
}

/** The rotations a feature party's products need. */
export function binRotationSteps(groups: readonly BinGroup[], slotCount: number): number[] {
  return [...new Set(groups.flatMap((g) => rotationSteps(g.width, slotCount)))].sort((a, b) => a - b);
}

/** s: labels are encrypted as y·2^-s so that a sum over every aligned row stays within 2^maxBoundBits. */
export function labelScaleBits(params: HeParams, rows: number): number {
  return Math.max(0, Math.ceil(Math.log2(rows + 1)) - params.maxBoundBits);
}

/** Declared bound on a revealed scaled sum: at most every aligned row is bad. */
export function sumBound(rows: number, scaleBits: number): number {
  return rows / 2 ** scaleBits;
}

/** Scaled sums back to integer counts; a value not within 1/4 of an integer means the computation went wrong. */
export function exactCounts(scaled: Float64Array, scaleBits: number): number[] {
  return Array.from(scaled, (v) => {
    const count = v * 2 ** scaleBits;
    const rounded = Math.round(count);
    if (!(Math.abs(count - rounded) < 0.25)) throw errors.protocol(`a decrypted bin sum ${count} is not an integer count`);
    return rounded === 0 ? 0 : rounded; // never −0
  });
}
