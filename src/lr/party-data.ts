/**
 * (Label, Features) A party's own slice of the aligned data, prepared locally: rows in the
 * job's order, the shared train/validation split, standardisation fitted on its training
 * rows (missing values imputed with the training mean, outliers clipped). The label party
 * appends a column of ones, whose weight is the intercept.
 */
import type { FeatureTable } from '../data/table.ts';
import { selectRows } from '../data/table.ts';
import type { TrainingConfig } from './config.ts';
import { StandardScaler } from './scaler.ts';
import { splitTrainValidation } from './split.ts';

export interface PartyData {
  /** Aligned rows × width, row-major, standardised. */
  readonly X: Float64Array;
  /** Columns of X: the party's features, plus the intercept's column for the label party. */
  readonly width: number;
  readonly featureNames: readonly string[];
  readonly scaler: StandardScaler;
  /** Positions in the aligned order. */
  readonly trainRows: Uint32Array;
  readonly validationRows: Uint32Array;
  readonly rowCount: number;
}

export function preparePartyData(table: FeatureTable, alignedRows: Uint32Array, config: TrainingConfig, withIntercept: boolean): PartyData {
  const F = table.featureNames.length;
  const n = alignedRows.length;
  const raw = { values: selectRows(table, alignedRows), rowCount: n, featureCount: F };
  const split = splitTrainValidation(n, config.seed, { validationFraction: config.validationFraction });
  const scaler = StandardScaler.fit(raw, split.train, config.clip > 0 ? { clip: config.clip } : {});
  const scaled = scaler.transform(raw).values;
  const width = withIntercept ? F + 1 : F;
  const X = withIntercept ? new Float64Array(n * width) : scaled;
  if (withIntercept) {
    for (let i = 0; i < n; i++) {
      X.set(scaled.subarray(i * F, (i + 1) * F), i * width);
      X[i * width + F] = 1;
    }
  }
  return {
    X,
    width,
    featureNames: table.featureNames,
    scaler,
    trainRows: split.train,
    validationRows: split.validation,
    rowCount: n,
  };
}

/** The rows `rows` of X (width columns), each multiplied by `factor`. */
export function gatherRows(X: Float64Array, width: number, rows: Uint32Array, factor = 1): Float64Array {
  const out = new Float64Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const from = rows[i]! * width;
    for (let j = 0; j < width; j++) out[i * width + j] = X[from + j]! * factor;
  }
  return out;
}

/** X[rows]·w. */
export function linearScores(X: Float64Array, width: number, rows: Uint32Array, w: Float64Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const base = rows[i]! * width;
    let z = 0;
    for (let j = 0; j < width; j++) z += X[base + j]! * w[j]!;
    out[i] = z;
  }
  return out;
}
