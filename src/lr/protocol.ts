/**
 * Parameters of the training protocol that every party derives alike from the job's
 * configuration: the CKKS parameter set, the rotations each party's products need, and the
 * bound on revealed scores. The protocol itself: encrypted-model.ts.
 */
import type { CiphertextBytes, ColumnIndex, HeEvaluator, HeParams, KeepDiagonals, KeptDiagonals } from '../he/backend.ts';
import { keptForwardSteps, rotationSteps } from '../he/diagonals.ts';
import { ENCRYPTED_MODEL_PARAMS, ENCRYPTED_MODEL_POLY2_PARAMS } from '../he/params.ts';
import type { TrainingConfig } from './config.ts';
import { sliceWidth, type ModelSlice } from './model.ts';

/** Computes Xᵀ[[d]] and X·[[w]]: the evaluator itself, or a worker pool holding the same keys. */
export interface MatvecRunner {
  matvecTransposed(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, kept?: KeptDiagonals): Promise<CiphertextBytes>;
  matvecReplicated(w: CiphertextBytes, X: Float64Array, rows: number, F: number, keep?: KeepDiagonals): Promise<CiphertextBytes[]>;
  /** Binning's per-bin sums (HeEvaluator.columnSums). */
  columnSums(d: readonly CiphertextBytes[], rowsPerChunk: number, columns: ColumnIndex): Promise<CiphertextBytes[]>;
}

export function inlineMatvec(evaluator: HeEvaluator): MatvecRunner {
  return {
    matvecTransposed: async (d, X, rows, F, kept) => evaluator.matvecTransposed(d, X, rows, F, kept),
    matvecReplicated: async (w, X, rows, F, keep) => evaluator.matvecReplicated(w, X, rows, F, keep),
    columnSums: async (d, rowsPerChunk, columns) => evaluator.columnSums(d, rowsPerChunk, columns),
  };
}

/** The encrypted-model set for the job's sigmoid: N = 8192 for taylor1, N = 16384 for poly2 (one more level). */
export function heParamsFor(config: TrainingConfig): HeParams {
  return { ...(config.sigmoid === 'poly2' ? ENCRYPTED_MODEL_POLY2_PARAMS : ENCRYPTED_MODEL_PARAMS), scheme: config.he };
}

/** Rotations a party with `width` columns needs (the label also sums slots for the loss), with the step of forward products that keep their diagonals. */
export function rotationStepsFor(width: number, slotCount: number, sumsSlots: boolean): number[] {
  const steps = new Set([...rotationSteps(width, slotCount), ...keptForwardSteps(width, slotCount)]);
  if (sumsSlots) for (const s of rotationSteps(1, slotCount)) steps.add(s);
  return [...steps].sort((a, b) => a - b);
}

/**
 * Rotations a party needs to score with its weights kept encrypted (src/score/apply.ts
 * `encryptedPartialScores`): those of its training forward product, for the slot count of
 * the parameters its model was trained with (the training key's).
 */
export function keptModelRotationSteps(slice: Pick<ModelSlice, 'role' | 'featureNames' | 'trainedWith'>): number[] {
  return rotationStepsFor(sliceWidth(slice), heParamsFor({ sigmoid: slice.trainedWith, he: 'ckks' } as TrainingConfig).polyModulusDegree / 2, false);
}

/** Slots of a ciphertext for the parameters of this job. */
export function slotCountFor(config: TrainingConfig): number {
  return heParamsFor(config).polyModulusDegree / 2;
}

/** Declared bound on validation and scoring scores z. */
export const SCORE_BOUND = 256;
