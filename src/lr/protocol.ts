/**
 * Vertical logistic regression under CKKS: the pieces both the label and the feature
 * parties run. Message flow of one mini-batch B (rows known to all from the shared seed):
 *
 *   feature k → label    train.forward   [[a·u_k]], [[u_k/√(8|B|)]] with u_k = X_k[B]·w_k
 *   label → feature k    train.residual  [[d]] = [[σ̃(z) − y]], z = Σ u_k + X_L[B]·w_L
 *   party p → arbiter    he.decrypt      [[X_p[B]ᵀd/|B| + r]], twice (arbiter-client.ts)
 *   label → arbiter      he.decrypt      [[loss + r]]
 *
 * Each party then updates its own weights. `a` folds the sigmoid's slope into the plaintext
 * (¼ for the degree-1 Taylor sigmoid, so the residual costs no level; 1 for the cubic),
 * and the second scaled copy makes Σ s² the loss's quadratic term without spending a level.
 *
 * Who sees what: feature parties see only ciphertexts and their own gradient; the label
 * party sees others' contributions only encrypted, and learns its own gradient, the loss
 * per batch and (at evaluation) the validation scores; the arbiter sees masked values.
 */
import type { CiphertextBytes, HeEvaluator, HeParams } from '../he/backend.ts';
import { rotationSteps } from '../he/diagonals.ts';
import { DEGREE1_PARAMS, DEGREE3_PARAMS } from '../he/params.ts';
import type { SigmoidApproximation, TrainingConfig } from './config.ts';
import { POLY3, TAYLOR1 } from './sigmoid.ts';

/** Computes Xᵀ[[d]]: the evaluator itself, or a worker pool holding the same keys. */
export interface MatvecRunner {
  matvecTransposed(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number): Promise<CiphertextBytes>;
}

export function inlineMatvec(evaluator: HeEvaluator): MatvecRunner {
  return { matvecTransposed: async (d, X, rows, F) => evaluator.matvecTransposed(d, X, rows, F) };
}

export function heParamsFor(config: TrainingConfig): HeParams {
  const base = config.sigmoid === 'taylor1' ? DEGREE1_PARAMS : DEGREE3_PARAMS;
  return { ...base, scheme: config.he };
}

/** The factor a of [[a·u_k]]: the sigmoid's slope when it is linear, else 1. */
export function residualScale(sigmoid: SigmoidApproximation): number {
  return sigmoid === 'taylor1' ? TAYLOR1.coefficients[1] : 1;
}

export function sigmoidCoefficients(sigmoid: SigmoidApproximation): readonly number[] {
  return sigmoid === 'taylor1' ? TAYLOR1.coefficients : POLY3.coefficients;
}

/** The factor of the loss copy: Σ (z/√(8n))² = ⅛·mean(z²), the Taylor loss's quadratic term. */
export function lossScale(batchRows: number): number {
  return 1 / Math.sqrt(8 * batchRows);
}

/** Rotations a party with `width` columns needs (the label also sums slots for the loss). */
export function rotationStepsFor(width: number, slotCount: number, sumsSlots: boolean): number[] {
  const steps = new Set(rotationSteps(width, slotCount));
  if (sumsSlots) for (const s of rotationSteps(1, slotCount)) steps.add(s);
  return [...steps].sort((a, b) => a - b);
}

/** Slots of a ciphertext for the parameters of this job. */
export function slotCountFor(config: TrainingConfig): number {
  return heParamsFor(config).polyModulusDegree / 2;
}

/**
 * Declared bound on a gradient entry: |Xᵀd/|B|| <= max|x|·max|d|. Standardised values are
 * clipped to ±clip and |d| stays below ~2 for a sane model; a larger value makes the
 * arbiter refuse the request rather than hide it less.
 */
export function gradientBound(config: TrainingConfig): number {
  const maxAbsX = config.clip > 0 ? config.clip : 32;
  return 2 ** Math.ceil(Math.log2(maxAbsX * 4));
}

/** Declared bound on the per-batch loss value and on validation scores z. */
export const LOSS_BOUND = 64;
export const SCORE_BOUND = 256;
