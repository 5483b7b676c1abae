/**
 * Plaintext logistic regression on pooled features: the accuracy ceiling a federated run is
 * judged against, and the plaintext epoch the benchmarks time it against. Pooling every
 * party's features in one place is exactly what a real job must never do, so nothing in the
 * protocol calls this; tests and `bench/` do.
 *
 * Parameters are one Float64Array of F + 1 values: the F feature weights in column order, then
 * the intercept (in a federated run the label party holds the intercept).
 *
 * - `fitNewton`: Newton's method (IRLS) on mean log-loss plus a tiny ridge (intercept exempt),
 *   each step a Cholesky solve of the (F+1)×(F+1) Hessian, halved until the loss decreases.
 * - `plaintextEpoch`: one epoch of exactly the updates the federated protocol makes — same
 *   batches, same polynomial sigmoid, gradient Xᵀ(σ̃(z) − y)/|B|, same optimiser — without
 *   encryption.
 */
import { errors } from '../errors.ts';
import type { Optimiser } from './optimiser.ts';
import { checkFeatureMatrix, type FeatureMatrix } from './scaler.ts';
import { logisticLoss, sigmoid, sigmoidFunction, TAYLOR1_LOSS, type SigmoidName } from './sigmoid.ts';

export interface NewtonOptions {
  /** L2 penalty on the feature weights, on the mean-loss scale; default 1e-6. */
  readonly ridge?: number;
  /** Default 50. */
  readonly maxIterations?: number;
  /** Stop when half the squared Newton decrement, gᵀH⁻¹g / 2, falls below this; default 1e-12. */
  readonly tolerance?: number;
}

export interface NewtonFit {
  readonly parameters: Float64Array;
  readonly iterations: number;
  readonly converged: boolean;
  /** Mean log-loss plus the ridge term at `parameters`, on the training rows. */
  readonly loss: number;
}

export interface EpochInput {
  readonly features: FeatureMatrix;
  /** 0/1 label of every row of `features`. */
  readonly labels: ArrayLike<number>;
  /** This epoch's mini-batches, as `epochBatches` gives them. */
  readonly batches: readonly Uint32Array[];
  /** F + 1 values, updated in place. */
  readonly parameters: Float64Array;
  /** Over F + 1 weights with `interceptIndex` F. */
  readonly optimiser: Optimiser;
  readonly sigmoid: SigmoidName;
}

export interface EpochResult {
  /** Mean exact log-loss over the epoch's rows, each batch scored before its update. */
  readonly meanLoss: number;
  /** The same with FATE's taylor1 loss approximation: what an encrypted run reports. */
  readonly meanTaylor1Loss: number;
}

/** The centralised ceiling: fits on `trainRows` of the pooled, standardised `features`. */
export function fitNewton(features: FeatureMatrix, labels: ArrayLike<number>, trainRows: Uint32Array, options: NewtonOptions = {}): NewtonFit {
  const ridge = options.ridge ?? 1e-6;
  const maxIterations = options.maxIterations ?? 50;
  const tolerance = options.tolerance ?? 1e-12;
  if (!(ridge >= 0 && Number.isFinite(ridge))) throw errors.optionInvalid('ridge', `must be a number >= 0, got ${ridge}`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw errors.optionInvalid('maxIterations', `must be an integer >= 1, got ${maxIterations}`);
  }
  if (!(tolerance > 0)) throw errors.optionInvalid('tolerance', `must be a positive number, got ${tolerance}`);
  checkRows(features, labels, trainRows);
  const positives = countPositives(labels, trainRows);
  if (positives === 0 || positives === trainRows.length) {
    throw errors.oneClass('the reference fit', positives === 0 ? 0 : 1);
  }

  const f = features.featureCount;
  const dim = f + 1;
  let parameters = new Float64Array(dim);
  let loss = penalisedLoss(features, labels, trainRows, parameters, ridge);
  const gradient = new Float64Array(dim);
  const hessian = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  row[f] = 1;
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    gradient.fill(0);
    hessian.fill(0);
    for (const r of trainRows) {
      row.set(features.values.subarray(r * f, (r + 1) * f));
      const p = sigmoid(dot(row, parameters));
      const residual = p - labels[r];
      const curvature = p * (1 - p);
      for (let a = 0; a < dim; a++) {
        gradient[a] += residual * row[a];
        const weighted = curvature * row[a];
        for (let b = 0; b <= a; b++) hessian[a * dim + b] += weighted * row[b];
      }
    }
    const n = trainRows.length;
    for (let a = 0; a < dim; a++) {
      gradient[a] /= n;
      for (let b = 0; b <= a; b++) hessian[a * dim + b] /= n;
      if (a < f) {
        gradient[a] += ridge * parameters[a];
        hessian[a * dim + a] += ridge;
      }
    }
    const step = solveCholesky(hessian, dim, gradient);
    const halfDecrement = dot(gradient, step) / 2;
    if (halfDecrement < tolerance) return { parameters, iterations: iteration, converged: true, loss };
    // Near-separable data overshoots a full step; halving restores a decrease.
    let scale = 1;
    let candidate = parameters;
    let candidateLoss = Infinity;
    for (let halvings = 0; halvings < 30; halvings++, scale /= 2) {
      candidate = parameters.map((theta, j) => theta - scale * step[j]);
      candidateLoss = penalisedLoss(features, labels, trainRows, candidate, ridge);
      if (candidateLoss <= loss) break;
    }
    if (!(candidateLoss <= loss)) return { parameters, iterations: iteration, converged: false, loss };
    parameters = candidate;
    loss = candidateLoss;
  }
  return { parameters, iterations: maxIterations, converged: false, loss };
}

/** Linear scores z = x·w + b of `rows` (all rows when absent). */
export function linearScores(features: FeatureMatrix, parameters: Float64Array, rows?: Uint32Array): Float64Array {
  checkFeatureMatrix(features, 'features');
  checkParameters(features, parameters);
  const f = features.featureCount;
  const count = rows?.length ?? features.rowCount;
  const z = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const r = rows === undefined ? k : rows[k];
    if (r >= features.rowCount) throw errors.valuesInvalid('rows', `row ${r} is outside the ${features.rowCount} rows`);
    let sum = parameters[f];
    for (let j = 0; j < f; j++) sum += features.values[r * f + j] * parameters[j];
    z[k] = sum;
  }
  return z;
}

/** Predicted default probabilities σ(z) of `rows` (all rows when absent). */
export function predictProbabilities(features: FeatureMatrix, parameters: Float64Array, rows?: Uint32Array): Float64Array {
  return linearScores(features, parameters, rows).map(sigmoid);
}

/** One plaintext epoch of the federated updates; returns the epoch's mean losses. */
export function plaintextEpoch(input: EpochInput): EpochResult {
  const { features, labels, batches, parameters, optimiser } = input;
  const f = features.featureCount;
  checkParameters(features, parameters);
  if (optimiser.weightCount !== f + 1 || optimiser.options.interceptIndex !== f) {
    throw errors.optionInvalid('optimiser', `must cover ${f + 1} parameters with interceptIndex ${f}, the intercept's position`);
  }
  for (const batch of batches) checkRows(features, labels, batch);
  const approximateSigmoid = sigmoidFunction(input.sigmoid);
  const gradient = new Float64Array(f + 1);
  let rows = 0;
  let lossSum = 0;
  let taylorLossSum = 0;
  for (const batch of batches) {
    gradient.fill(0);
    for (const r of batch) {
      const x = features.values.subarray(r * f, (r + 1) * f);
      let z = parameters[f];
      for (let j = 0; j < f; j++) z += x[j] * parameters[j];
      const y = labels[r];
      lossSum += logisticLoss(z, y);
      taylorLossSum += TAYLOR1_LOSS.constant + TAYLOR1_LOSS.linear * (2 * y - 1) * z + TAYLOR1_LOSS.quadratic * z * z;
      const residual = approximateSigmoid(z) - y;
      for (let j = 0; j < f; j++) gradient[j] += residual * x[j];
      gradient[f] += residual;
    }
    for (let j = 0; j <= f; j++) gradient[j] /= batch.length;
    optimiser.step(parameters, gradient);
    rows += batch.length;
  }
  if (rows === 0) throw errors.valuesInvalid('batches', 'an epoch needs at least one row');
  return { meanLoss: lossSum / rows, meanTaylor1Loss: taylorLossSum / rows };
}

function penalisedLoss(features: FeatureMatrix, labels: ArrayLike<number>, rows: Uint32Array, parameters: Float64Array, ridge: number): number {
  const z = linearScores(features, parameters, rows);
  let sum = 0;
  for (let k = 0; k < rows.length; k++) sum += logisticLoss(z[k], labels[rows[k]]);
  let squaredNorm = 0;
  for (let j = 0; j < features.featureCount; j++) squaredNorm += parameters[j] ** 2;
  return sum / rows.length + (ridge / 2) * squaredNorm;
}

/** Solves H x = b for symmetric positive-definite H given by its lower triangle (row-major). */
function solveCholesky(lowerHessian: Float64Array, dim: number, b: Float64Array): Float64Array {
  const l = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = lowerHessian[i * dim + j];
      for (let k = 0; k < j; k++) sum -= l[i * dim + k] * l[j * dim + k];
      if (i === j) {
        if (!(sum > 0)) {
          throw errors.valuesInvalid('features', 'the Hessian is singular: some columns are linearly dependent on the training rows; drop one or raise the ridge');
        }
        l[i * dim + i] = Math.sqrt(sum);
      } else {
        l[i * dim + j] = sum / l[j * dim + j];
      }
    }
  }
  const x = Float64Array.from(b);
  for (let i = 0; i < dim; i++) {
    for (let k = 0; k < i; k++) x[i] -= l[i * dim + k] * x[k];
    x[i] /= l[i * dim + i];
  }
  for (let i = dim - 1; i >= 0; i--) {
    for (let k = i + 1; k < dim; k++) x[i] -= l[k * dim + i] * x[k];
    x[i] /= l[i * dim + i];
  }
  return x;
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function checkParameters(features: FeatureMatrix, parameters: Float64Array): void {
  if (!(parameters instanceof Float64Array) || parameters.length !== features.featureCount + 1) {
    throw errors.valuesInvalid('parameters', `must be a Float64Array of ${features.featureCount + 1} values (weights, then intercept)`);
  }
}

function checkRows(features: FeatureMatrix, labels: ArrayLike<number>, rows: Uint32Array): void {
  checkFeatureMatrix(features, 'features');
  if (labels.length !== features.rowCount) {
    throw errors.valuesInvalid('labels', `holds ${labels.length} values for ${features.rowCount} rows`);
  }
  if (rows.length === 0) throw errors.valuesInvalid('rows', 'no rows to train on');
  for (const r of rows) {
    if (r >= features.rowCount) throw errors.valuesInvalid('rows', `row ${r} is outside the ${features.rowCount} rows`);
    if (labels[r] !== 0 && labels[r] !== 1) throw errors.labelValueNotBinary('labels', r, labels[r]);
    for (let j = 0; j < features.featureCount; j++) {
      const x = features.values[r * features.featureCount + j];
      // Missing values must be imputed first (StandardScaler does), or one NaN poisons every weight.
      if (!Number.isFinite(x)) throw errors.valuesInvalid('features', `row ${r}, column ${j} is ${x}`);
    }
  }
}

function countPositives(labels: ArrayLike<number>, rows: Uint32Array): number {
  let positives = 0;
  for (const r of rows) positives += labels[r];
  return positives;
}
