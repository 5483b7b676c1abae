/**
 * The parameters of a training job, shared by every party (each validates them itself),
 * with the defaults that reach the plaintext ceiling on FATE's benchmark data.
 */
import { errors } from '../errors.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import type { BackendName } from '../psi/group.ts';
import { BACKEND_NAMES } from '../psi/backends/index.ts';
import { checkThreads } from '../util/threads.ts';
import type { LearningRateSchedule, OptimiserMethod } from './optimiser.ts';

export type SigmoidApproximation = 'taylor1' | 'poly2' | 'poly3';

export interface TrainingConfig {
  readonly jobId: string;
  /** Shared seed of the split and the mini-batches (not a secret). */
  readonly seed: string;
  readonly epochs: number;
  /** Rows per mini-batch; 'auto': up to 2048, adapted to small data (lr/batch-size.ts). */
  readonly batchSize: number | 'auto';
  readonly validationFraction: number;
  readonly sigmoid: SigmoidApproximation;
  readonly optimiser: OptimiserMethod;
  readonly learningRate: number;
  /** Heavy-ball momentum μ in [0, 1); 0: plain SGD. Costs a second encrypted vector refreshed per batch. */
  readonly momentum: number;
  /**
   * Nesterov's momentum (PyTorch's form: the step is the gradient plus μ times the new
   * velocity) instead of the heavy ball; needs momentum > 0. Costs nothing more: the new
   * velocity is refreshed before the weights anyway.
   */
  readonly nesterov: boolean;
  readonly schedule: LearningRateSchedule;
  readonly l2: number;
  /** Standardised features are clipped to ±clip (0: no clipping). */
  readonly clip: number;
  /** 'tail': each party keeps the average of its weights over the second half of training. */
  readonly averaging: 'tail' | 'none';
  /** Stop when the encrypted loss has not fallen by minDelta for `patience` epochs. */
  readonly earlyStopping: { readonly patience: number; readonly minDelta: number } | null;
  /**
   * A job with a single agency shows the bank that agency's partial scores (validation
   * totals minus the bank's own part); it runs only where this says the agency allows it.
   */
  readonly allowPartialScoreDisclosure: boolean;
  /** Keep every party's final weights encrypted under the arbiter's key instead of revealing each to its owner. */
  readonly keepEncrypted: boolean;
  /** 'ckks' (real) or 'mock' (plaintext, INSECURE, for protocol tests only). */
  readonly he: 'ckks' | 'mock';
  readonly idType: IdTypeOption;
  readonly psiBackend: BackendName;
  /** Worker threads for the hot loops (default: all cores). */
  readonly threads: number | undefined;
  /** Make a party's first invalid, empty or repeated ID an error instead of skipping and counting it. */
  readonly strict: boolean;
}

export const TRAINING_DEFAULTS: Omit<TrainingConfig, 'jobId'> = Object.freeze({
  seed: 'jinqiao',
  epochs: 10,
  batchSize: 'auto',
  validationFraction: 0.2,
  sigmoid: 'taylor1',
  optimiser: 'sgd',
  learningRate: 0.5,
  momentum: 0,
  nesterov: false,
  schedule: Object.freeze({ kind: 'inverse-sqrt', decay: 0.01 }),
  l2: 0,
  clip: 5,
  averaging: 'tail',
  earlyStopping: null,
  allowPartialScoreDisclosure: false,
  keepEncrypted: false,
  he: 'ckks',
  idType: 'auto',
  psiBackend: 'x25519',
  threads: undefined,
  strict: false,
});

/**
 * Batches must hold this many times more rows than any party has features, checked on the
 * smallest batch an epoch actually cuts (split.ts). The encrypted model reveals no per-batch
 * projection, but a deviating party's one final decryption (encrypted-model.ts) could be spent
 * on F projections of one batch's residuals: with |B| close to F those would give the labels.
 */
export const MIN_ROWS_PER_FEATURE = 4;

/** Resolves a partial configuration against the defaults, checking every field by name. */
export function resolveTrainingConfig(partial: Partial<TrainingConfig> & { jobId: string }): TrainingConfig {
  const c: TrainingConfig = { ...TRAINING_DEFAULTS, ...stripUndefined(partial), jobId: partial.jobId };
  const positiveInt = (field: keyof TrainingConfig, value: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(value) || value < 1 || value > max) throw errors.optionInvalid(field, `must be a whole number from 1 to ${max}, got ${value}`);
  };
  positiveInt('epochs', c.epochs, 10_000);
  if (c.batchSize !== 'auto') positiveInt('batchSize', c.batchSize);
  if (!(c.validationFraction > 0 && c.validationFraction < 1)) throw errors.optionInvalid('validationFraction', `must be between 0 and 1, got ${c.validationFraction}`);
  if (c.sigmoid !== 'taylor1' && c.sigmoid !== 'poly2') {
    throw errors.optionInvalid('sigmoid', `must be taylor1 or poly2, got ${String(c.sigmoid)}: the weights stay encrypted, and a cubic needs one level more than even poly2's parameters (N = 16384) hold`);
  }
  if (c.optimiser !== 'sgd') {
    throw errors.optionInvalid('optimiser', `must be sgd, got ${String(c.optimiser)}: the weights stay encrypted, so only linear updates work; Adam and RMSprop divide by a square root`);
  }
  if (typeof c.allowPartialScoreDisclosure !== 'boolean') throw errors.optionInvalid('allowPartialScoreDisclosure', 'must be true or false');
  if (typeof c.keepEncrypted !== 'boolean') throw errors.optionInvalid('keepEncrypted', 'must be true or false');
  if (!(c.learningRate > 0 && Number.isFinite(c.learningRate))) throw errors.optionInvalid('learningRate', `must be a positive number, got ${c.learningRate}`);
  if (!(c.momentum >= 0 && c.momentum < 1)) throw errors.optionInvalid('momentum', `must be in [0, 1), got ${c.momentum}`);
  if (typeof c.nesterov !== 'boolean') throw errors.optionInvalid('nesterov', `must be true or false, got ${String(c.nesterov)}`);
  if (c.nesterov && c.momentum === 0) throw errors.optionInvalid('nesterov', 'needs a momentum above 0 (set momentum, e.g. 0.9): without it Nesterov is plain SGD');
  if (!(c.l2 >= 0 && Number.isFinite(c.l2))) throw errors.optionInvalid('l2', `must be zero or positive, got ${c.l2}`);
  if (!(c.clip >= 0 && Number.isFinite(c.clip))) throw errors.optionInvalid('clip', `must be zero (no clipping) or positive, got ${c.clip}`);
  if (c.averaging !== 'tail' && c.averaging !== 'none') throw errors.optionInvalid('averaging', `must be tail or none, got ${String(c.averaging)}`);
  if (c.he !== 'ckks' && c.he !== 'mock') throw errors.optionInvalid('he', `must be ckks or mock, got ${String(c.he)}`);
  if (!(BACKEND_NAMES as readonly string[]).includes(c.psiBackend)) throw errors.optionInvalid('psiBackend', `unknown backend ${String(c.psiBackend)}`);
  if (c.earlyStopping) {
    positiveInt('earlyStopping', c.earlyStopping.patience, 1000);
    if (!(c.earlyStopping.minDelta >= 0)) throw errors.optionInvalid('earlyStopping', `minDelta must be zero or positive, got ${c.earlyStopping.minDelta}`);
  }
  if (c.threads !== undefined) checkThreads('threads', c.threads);
  if (typeof c.strict !== 'boolean') throw errors.optionInvalid('strict', `must be true or false, got ${String(c.strict)}`);
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
