/**
 * Which aligned rows train the model, which are held out for validation, and which rows form
 * each mini-batch — computed by every party (label, features) on its own from the job's shared
 * seed and the aligned row count, so that no row index ever crosses the network.
 *
 * Rows are indices into the canonical order of the aligned rows that PSI gives all parties.
 * The split is uniform, not stratified by label: feature parties do not know the labels, and
 * a stratified split would make them learn something about them.
 *
 * Batch rule: an epoch's train rows are shuffled and cut into k = ceil(n / b) batches of
 * near-equal size (sizes differ by at most one), rather than k - 1 full batches and a short
 * tail. A feature party unmasks its own gradient X_p[B]ᵀ d / |B|; for a batch of a few rows
 * that gradient determines the residuals d, and through them the labels, of those rows. With
 * balanced batches every batch holds at most b and at least floor(b / 2) rows, so a job that
 * checks b against the parties' feature counts has checked every batch.
 */
import { errors } from '../errors.ts';
import { SeededRng, type Seed } from '../util/rng.ts';

export interface TrainValidationSplit {
  /** Training rows, ascending. */
  readonly train: Uint32Array;
  /** Held-out rows, ascending; empty when the validation fraction is 0. */
  readonly validation: Uint32Array;
}

export interface SplitOptions {
  /** Share of rows held out; default 0.2. The held-out count is round(n × fraction). */
  readonly validationFraction?: number;
}

/** (Label, Features) Splits rows 0..rowCount-1 into train and validation sets, the same on every party. */
export function splitTrainValidation(rowCount: number, seed: Seed, options: SplitOptions = {}): TrainValidationSplit {
  const fraction = options.validationFraction ?? 0.2;
  if (!(fraction >= 0 && fraction < 1)) {
    throw errors.optionInvalid('validationFraction', `must be in [0, 1), got ${fraction}`);
  }
  if (!Number.isInteger(rowCount) || rowCount < 0) {
    throw errors.optionInvalid('rowCount', `must be a non-negative integer, got ${rowCount}`);
  }
  const validationCount = Math.round(rowCount * fraction);
  const trainCount = rowCount - validationCount;
  if (trainCount < 1 || (fraction > 0 && validationCount < 1)) {
    throw errors.tooFewRows(
      `${rowCount} aligned rows cannot be split into train and validation sets with validation fraction ${fraction}`,
    );
  }
  const order = SeededRng.fromSeed(seed, 'jinqiao/lr/split/train-validation').permutation(rowCount);
  // Ascending order lets each party read its held-out rows in file order when scoring.
  return {
    train: order.slice(validationCount).sort(),
    validation: order.slice(0, validationCount).sort(),
  };
}

/**
 * (Label, Features) The mini-batches of one epoch: views into one shuffled copy of
 * `trainRows`, covering every train row exactly once. Epoch `epoch` draws its own stream from
 * the seed, so a resumed job rebuilds it without replaying earlier epochs.
 */
export function epochBatches(trainRows: Uint32Array, batchSize: number, seed: Seed, epoch: number): Uint32Array[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw errors.optionInvalid('batchSize', `must be an integer >= 1, got ${batchSize}`);
  }
  if (!Number.isInteger(epoch) || epoch < 0) {
    throw errors.optionInvalid('epoch', `must be an integer >= 0, got ${epoch}`);
  }
  if (batchSize > trainRows.length) {
    throw errors.tooFewRows(`batch size ${batchSize} exceeds the ${trainRows.length} training rows`);
  }
  const shuffled = SeededRng.fromSeed(seed, 'jinqiao/lr/split/batches', String(epoch)).shuffleInPlace(trainRows.slice());
  const batchCount = Math.ceil(shuffled.length / batchSize);
  const batches: Uint32Array[] = [];
  for (let k = 0; k < batchCount; k++) {
    const start = Math.floor((k * shuffled.length) / batchCount);
    const end = Math.floor(((k + 1) * shuffled.length) / batchCount);
    batches.push(shuffled.subarray(start, end));
  }
  return batches;
}
