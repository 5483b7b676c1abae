/**
 * (Each party, locally) A model slice applied to the party's current records: the slice's
 * columns are picked by name, standardised with the scaler fitted at training (missing
 * values become the training mean), and combined with the slice's weights.
 */
import { errors } from '../errors.ts';
import type { FeatureTable } from '../data/table.ts';
import type { ModelSlice } from '../lr/model.ts';
import { StandardScaler } from '../lr/scaler.ts';

/** Partial linear scores of `rows` of `table` (the label slice adds its intercept). */
export function partialScores(slice: ModelSlice, table: FeatureTable, rows: Uint32Array): Float64Array {
  const columns = slice.featureNames.map((name) => {
    const j = table.featureNames.indexOf(name);
    if (j < 0) throw errors.modelInvalid(table.file, `has no column "${name}", which the model slice of ${slice.party} needs`);
    return j;
  });
  const width = table.featureNames.length;
  const F = columns.length;
  const raw = new Float64Array(rows.length * F);
  for (let i = 0; i < rows.length; i++) for (let j = 0; j < F; j++) raw[i * F + j] = table.values[rows[i]! * width + columns[j]!]!;
  const scaled = StandardScaler.fromJSON(slice.scaler, slice.party).transform({ values: raw, rowCount: rows.length, featureCount: F }).values;
  const out = new Float64Array(rows.length).fill(slice.intercept ?? 0);
  for (let i = 0; i < rows.length; i++) for (let j = 0; j < F; j++) out[i]! += scaled[i * F + j]! * slice.weights[j]!;
  return out;
}
