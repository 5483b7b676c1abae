/**
 * Federated binning: per-bin good/bad counts of every party's features, with the labels
 * staying with the bank and the feature values with their agency.
 *
 * Message flow, after the rows are aligned by PSI exactly as for training (../lr/align.ts):
 *
 *   feature k → label            bin.layout      its bins: per feature the bin count, a missing-value
 *                                                bin or not, every bin's row count
 *   label, feature k → arbiter   he.keyRequest   (no rotation: the products need no Galois key)
 *   label → feature k            bin.labels      [[y]] for the aligned rows, coefficient-packed
 *                                                (he/coefficients.ts), n rows per ciphertext
 *   feature k → label            bin.sums        [[Mᵀy]], blinded but for the sums
 *   label → arbiter              he.decryptCoefficients   each result masked uniformly mod q
 *
 * M is feature party k's 0/1 bin-membership matrix (aligned rows × bins, one column per bin
 * of each feature but its first, whose bad count the label derives from its total; the
 * missing-value bin included), built after its bins below the minimum size were merged
 * (bins.ts). The agency holds it as one column index per row and feature (`columnIndexOf`),
 * and computes Mᵀ[[y]] with one plaintext product per N (row, column) pairs
 * (HeEvaluator.columnSums). The label picks n from the agency's layout so that the fewest
 * ciphertexts cross (`chooseRowsPerChunk`), has the arbiter decrypt each result behind its
 * own masks, and rounds: bad counts are exact integers (`exactCounts` refuses a value not
 * within 1/4 of one; the agency's flood keeps them within 1/8).
 *
 * Who learns what (honest-but-curious parties, the arbiter colluding with no one):
 * - feature party: the number of aligned rows (as in training) and ciphertexts it cannot
 *   decrypt; nothing derived from the labels. The bank sends it no IV: an agency chooses its
 *   features, and two-bin features it crafted around the rows it probes would turn their IVs
 *   into labels (test/attacks/binning-iv-labels.test.ts). Which features IV screening
 *   (`--min-iv`) kept is the bank's decision, not sent either.
 * - label: per feature of every agency, each bin's row count and bad count, and nothing
 *   about which enterprise is in which bin; not the agency's edges or feature names. Every
 *   other coefficient of the results is blinded by the agency, and its flood hides the
 *   decryption noise (he/coefficients.ts).
 * - arbiter: values masked uniformly mod q: nothing.
 * Known weakness: a label party that deviates could encrypt a vector other than y (e.g.
 * one row's indicator) and learn that row's bins; the agency cannot check what [[y]]
 * holds. The attack suite covers the honest-but-curious case only.
 */
import { errors } from '../errors.ts';
import { NO_COLUMN, type ColumnIndex } from '../he/backend.ts';
import type { FeatureBins } from './bins.ts';

/** Bins of each feature as `bin.layout` lists its counts: its bins, plus one if it has a missing-value bin. */
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
 * The agency's membership matrix as a column index (he/backend.ts `ColumnIndex`): row i of
 * feature j adds to product column offset_j + bin − 1, its first bin to none; the
 * missing-value bin, numbered last, to the feature's last column. The index lives in a
 * SharedArrayBuffer, so worker threads read it without a copy.
 */
export function columnIndexOf(features: readonly { readonly bins: FeatureBins }[], rows: number): ColumnIndex {
  const columns = productColumnsOf(
    features.map((f) => f.bins.counts.length),
    features.map((f) => (f.bins.missingCount > 0 ? 1 : 0)),
  );
  const width = columns.reduce((a, c) => a + c, 0);
  if (width >= NO_COLUMN) throw errors.optionInvalid('--bins', `${width} bin columns at one agency; at most ${NO_COLUMN - 1} fit (fewer bins or features)`);
  const index = new Uint16Array(new SharedArrayBuffer(2 * rows * features.length));
  let offset = 0;
  features.forEach(({ bins }, j) => {
    const binOf = bins.binOf;
    const base = j * rows;
    for (let i = 0; i < rows; i++) {
      const bin = binOf[i]!;
      index[base + i] = bin === 0 ? NO_COLUMN : offset + bin - 1;
    }
    offset += columns[j]!;
  });
  return { rows, fields: features.length, width: Math.max(width, 1), index };
}

/** Revealed sums back to integer counts; a value not within 1/4 of an integer means the computation went wrong. */
export function exactCounts(sums: Float64Array): number[] {
  return Array.from(sums, (count) => {
    const rounded = Math.round(count);
    if (!(Math.abs(count - rounded) < 0.25)) throw errors.protocol(`a decrypted bin sum ${count} is not an integer count`);
    return rounded === 0 ? 0 : rounded; // never −0
  });
}
