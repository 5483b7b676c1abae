/**
 * A party's standardiser: each party (label, features) fits it on its own columns over the
 * training rows only, applies it to all its rows, and saves it with its slice of the model so
 * that scoring new applicants sees features on the scale the weights were trained for.
 *
 * Per column: the mean and population standard deviation of the observed (non-NaN) training
 * values. A missing value (NaN) is imputed with the training mean, so it standardises to 0,
 * the value that moves the score least. A constant column keeps scale 1 (it becomes all
 * zeros) instead of dividing rounding noise by a near-zero deviation. Optional clipping bounds
 * every standardised value to [-clip, clip]: an outlier at scoring time cannot push the linear
 * score outside the interval where the encrypted polynomial sigmoid is accurate.
 *
 * Fitting on validation rows too would leak their distribution into training, which is why
 * `fit` takes the training rows explicitly.
 */
import { errors } from '../errors.ts';

/** A party's feature block: `rowCount` × `featureCount` values, row-major; NaN marks a missing value. */
export interface FeatureMatrix {
  readonly values: Float64Array;
  readonly rowCount: number;
  readonly featureCount: number;
}

export interface ScalerOptions {
  /** Bound on standardised values, in standard deviations; absent means no clipping. */
  readonly clip?: number;
}

/** The scaler as saved in a party's model slice. */
export interface ScalerJson {
  readonly kind: 'jinqiao.standard-scaler';
  readonly version: 1;
  readonly means: number[];
  readonly scales: number[];
  readonly clip: number | null;
}

export class StandardScaler {
  readonly means: Float64Array;
  readonly scales: Float64Array;
  readonly clip: number | undefined;

  private constructor(means: Float64Array, scales: Float64Array, clip: number | undefined) {
    this.means = means;
    this.scales = scales;
    this.clip = clip;
  }

  /** (Label, Features) Fits means and scales on `trainRows` of `features`. */
  static fit(features: FeatureMatrix, trainRows: Uint32Array, options: ScalerOptions = {}): StandardScaler {
    checkFeatureMatrix(features, 'features');
    const clip = checkClip(options.clip);
    const { values, featureCount: f } = features;
    for (const row of trainRows) {
      if (row >= features.rowCount) throw errors.valuesInvalid('trainRows', `row ${row} is outside the ${features.rowCount} rows`);
    }
    const counts = new Float64Array(f);
    const means = new Float64Array(f);
    for (const row of trainRows) {
      for (let j = 0; j < f; j++) {
        const x = values[row * f + j];
        if (Number.isNaN(x)) continue;
        if (!Number.isFinite(x)) throw errors.valuesInvalid('features', `row ${row}, column ${j} is ${x}`);
        counts[j]++;
        means[j] += x;
      }
    }
    for (let j = 0; j < f; j++) {
      if (counts[j] === 0) {
        throw errors.valuesInvalid('features', `column ${j} has no value on any training row; drop the column`);
      }
      means[j] /= counts[j];
    }
    // A second pass over deviations: the one-pass E[x²] − E[x]² loses digits on large-valued columns.
    const scales = new Float64Array(f);
    for (const row of trainRows) {
      for (let j = 0; j < f; j++) {
        const x = values[row * f + j];
        if (!Number.isNaN(x)) scales[j] += (x - means[j]) ** 2;
      }
    }
    for (let j = 0; j < f; j++) {
      const std = Math.sqrt(scales[j] / counts[j]);
      scales[j] = std <= 1e-12 * Math.max(1, Math.abs(means[j])) ? 1 : std;
    }
    return new StandardScaler(means, scales, clip);
  }

  get featureCount(): number {
    return this.means.length;
  }

  /** (Label, Features) Standardises, imputes and clips every row; returns a new matrix. */
  transform(features: FeatureMatrix): FeatureMatrix {
    checkFeatureMatrix(features, 'features');
    const f = this.featureCount;
    if (features.featureCount !== f) {
      throw errors.valuesInvalid('features', `has ${features.featureCount} columns, the scaler was fitted on ${f}`);
    }
    const bound = this.clip ?? Infinity;
    const out = new Float64Array(features.values.length);
    for (let i = 0; i < features.values.length; i++) {
      const x = features.values[i];
      if (Number.isNaN(x)) continue; // imputed with the mean: standardised value 0
      if (!Number.isFinite(x)) throw errors.valuesInvalid('features', `row ${Math.floor(i / f)}, column ${i % f} is ${x}`);
      const j = i % f;
      out[i] = Math.min(bound, Math.max(-bound, (x - this.means[j]) / this.scales[j]));
    }
    return { values: out, rowCount: features.rowCount, featureCount: f };
  }

  toJSON(): ScalerJson {
    return {
      kind: 'jinqiao.standard-scaler',
      version: 1,
      means: Array.from(this.means),
      scales: Array.from(this.scales),
      clip: this.clip ?? null,
    };
  }

  /** Restores a saved scaler; `source` names where it came from (a model file) in errors. */
  static fromJSON(json: unknown, source = 'scaler'): StandardScaler {
    const record = json as Partial<ScalerJson> | null;
    if (typeof record !== 'object' || record === null || record.kind !== 'jinqiao.standard-scaler') {
      throw errors.modelInvalid(source, 'not a jinqiao standard scaler');
    }
    if (record.version !== 1) throw errors.modelInvalid(source, `scaler version ${String(record.version)} is not supported (expected 1)`);
    const { means, scales, clip } = record;
    if (!isFiniteArray(means) || !isFiniteArray(scales) || means.length !== scales.length) {
      throw errors.modelInvalid(source, 'scaler means and scales must be finite number arrays of equal length');
    }
    if (scales.some((s) => s <= 0)) throw errors.modelInvalid(source, 'scaler scales must be positive');
    if (clip !== null && !(typeof clip === 'number' && clip > 0)) {
      throw errors.modelInvalid(source, 'scaler clip must be a positive number or null');
    }
    return new StandardScaler(Float64Array.from(means), Float64Array.from(scales), clip ?? undefined);
  }
}

/** Checks a matrix's shape and storage at the API boundary; `name` says which argument it is. */
export function checkFeatureMatrix(features: FeatureMatrix, name: string): void {
  const { values, rowCount, featureCount } = features;
  if (!(values instanceof Float64Array)) throw errors.valuesInvalid(name, 'values must be a Float64Array');
  if (!Number.isInteger(featureCount) || featureCount < 1 || !Number.isInteger(rowCount) || rowCount < 0) {
    throw errors.valuesInvalid(name, `shape ${rowCount} × ${featureCount} is not a valid matrix shape`);
  }
  if (values.length !== rowCount * featureCount) {
    throw errors.valuesInvalid(name, `holds ${values.length} values, expected ${rowCount} × ${featureCount}`);
  }
}

function checkClip(clip: number | undefined): number | undefined {
  if (clip !== undefined && !(clip > 0)) throw errors.optionInvalid('clip', `must be a positive number of standard deviations, got ${clip}`);
  return clip;
}

function isFiniteArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}
