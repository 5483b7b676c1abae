/**
 * (Each party, locally) A model slice applied to the party's current records: the slice's
 * columns are picked by name, standardised with the scaler fitted at training (missing
 * values become the training mean), and combined with the slice's weights.
 */
import { errors } from '../errors.ts';
import type { FeatureTable } from '../data/table.ts';
import type { CiphertextBytes, HeEvaluator } from '../he/backend.ts';
import { sliceWidth, type ModelSlice } from '../lr/model.ts';
import { StandardScaler } from '../lr/scaler.ts';

/** Partial linear scores of `rows` of `table` (the label slice adds its intercept). */
export function partialScores(slice: ModelSlice, table: FeatureTable, rows: Uint32Array): Float64Array {
  if (slice.encryptedWeights !== undefined) throw errors.modelInvalid(`model slice of ${slice.party}`, 'its weights are encrypted: its scores come from encryptedPartialScores');
  const F = slice.featureNames.length;
  const scaled = scaledRows(slice, table, rows);
  const out = new Float64Array(rows.length).fill(slice.intercept ?? 0);
  for (let i = 0; i < rows.length; i++) for (let j = 0; j < F; j++) out[i]! += scaled[i * F + j]! * slice.weights[j]!;
  return out;
}

/**
 * A slice whose weights were kept encrypted (`keepEncrypted`): [[X·w]] for `rows` of
 * `table`, laid out over `slots` slots (row k in slot `slotOf[k]`, 0 — the training mean —
 * in every other slot), computed on the ciphertext [[w]] as training computes validation
 * scores (`matvecReplicated`); the label's slice has its intercept as the weight of a last
 * column of ones. The party never sees a weight or its own partial score.
 */
export function encryptedPartialScores(evaluator: HeEvaluator, slice: ModelSlice, weights: CiphertextBytes, table: FeatureTable, rows: Uint32Array, slotOf: ArrayLike<number>, slots: number): CiphertextBytes[] {
  const F = slice.featureNames.length;
  const width = sliceWidth(slice);
  const scaled = scaledRows(slice, table, rows);
  const X = new Float64Array(slots * width);
  for (let k = 0; k < rows.length; k++) {
    const at = slotOf[k]! * width;
    X.set(scaled.subarray(k * F, (k + 1) * F), at);
    if (width > F) X[at + F] = 1;
  }
  return evaluator.matvecReplicated(weights, X, slots, width);
}

/** The slice's columns of `rows`, standardised with its training scaler: rows × F, row-major. */
function scaledRows(slice: ModelSlice, table: FeatureTable, rows: Uint32Array): Float64Array {
  const columns = slice.featureNames.map((name) => {
    const j = table.featureNames.indexOf(name);
    if (j < 0) throw errors.modelInvalid(table.file, `has no column "${name}", which the model slice of ${slice.party} needs`);
    return j;
  });
  const width = table.featureNames.length;
  const F = columns.length;
  const raw = new Float64Array(rows.length * F);
  for (let i = 0; i < rows.length; i++) for (let j = 0; j < F; j++) raw[i * F + j] = table.values[rows[i]! * width + columns[j]!]!;
  return StandardScaler.fromJSON(slice.scaler, slice.party).transform({ values: raw, rowCount: rows.length, featureCount: F }).values;
}
