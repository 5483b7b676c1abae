/**
 * A party's slice of the joint model, as it keeps it: its feature names, weights and the
 * scaler fitted on its own training rows (the label party's slice also holds the
 * intercept). No slice is enough to score alone; no slice ever leaves its party.
 */
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.ts';
import type { SigmoidApproximation } from './config.ts';
import { StandardScaler, type ScalerJson } from './scaler.ts';

export const MODEL_SLICE_KIND = 'jinqiao.model-slice';
export const MODEL_SLICE_VERSION = 1;

export interface ModelSlice {
  readonly kind: typeof MODEL_SLICE_KIND;
  readonly version: typeof MODEL_SLICE_VERSION;
  readonly jobId: string;
  readonly party: string;
  readonly role: 'label' | 'features';
  readonly featureNames: readonly string[];
  /** Empty when the weights are kept encrypted (`encryptedWeights`). */
  readonly weights: readonly number[];
  /** The label party's intercept; null for feature parties and for encrypted weights. */
  readonly intercept: number | null;
  /**
   * With `keepEncrypted`: the final weights (intercept last for the label), base64 of one
   * CKKS ciphertext under the training arbiter's key, replicated layout (encrypted-model.ts).
   */
  readonly encryptedWeights?: string;
  readonly scaler: ScalerJson;
  /** The sigmoid the slice was trained with (scoring always uses the exact logistic function). */
  readonly trainedWith: SigmoidApproximation;
  /** The label party's slice: the feature parties of its job, every one of which scoring needs. */
  readonly partners?: readonly string[];
  readonly createdAt: string;
}

/** Base64 text, as slices and kept keys hold their bytes. */
export const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Columns of a slice's weight vector: its features, and for the label the intercept's column of ones. */
export function sliceWidth(slice: Pick<ModelSlice, 'role' | 'featureNames'>): number {
  return slice.featureNames.length + (slice.role === 'label' ? 1 : 0);
}

/** [[w]] of a slice kept encrypted, as bytes; undefined for a slice with plain weights. */
export function encryptedWeightsOf(slice: Pick<ModelSlice, 'encryptedWeights'>): Uint8Array | undefined {
  return slice.encryptedWeights === undefined ? undefined : new Uint8Array(Buffer.from(slice.encryptedWeights, 'base64'));
}

export function modelSlice(fields: Omit<ModelSlice, 'kind' | 'version' | 'createdAt'>): ModelSlice {
  return { kind: MODEL_SLICE_KIND, version: MODEL_SLICE_VERSION, ...fields, createdAt: new Date().toISOString() };
}

/** What a party ends training with: its weights (the label party's intercept last) and its data's scaler. */
export interface TrainedParty {
  /** Null when kept encrypted. */
  readonly weights: Float64Array | null;
  readonly encryptedWeights: Uint8Array;
  readonly data: { readonly featureNames: readonly string[]; readonly width: number; readonly scaler: { toJSON(): ScalerJson } };
}

/** The slice a party keeps from its training result. */
export function sliceOf(jobId: string, party: string, role: ModelSlice['role'], trained: TrainedParty, trainedWith: SigmoidApproximation): ModelSlice {
  const { weights, data } = trained;
  if (weights === null) {
    return modelSlice({
      jobId,
      party,
      role,
      featureNames: data.featureNames,
      weights: [],
      intercept: null,
      encryptedWeights: Buffer.from(trained.encryptedWeights).toString('base64'),
      scaler: data.scaler.toJSON(),
      trainedWith,
    });
  }
  return modelSlice({
    jobId,
    party,
    role,
    featureNames: data.featureNames,
    weights: Array.from(role === 'label' ? weights.subarray(0, data.width - 1) : weights),
    intercept: role === 'label' ? weights[data.width - 1]! : null,
    scaler: data.scaler.toJSON(),
    trainedWith,
  });
}

/** Reads and checks a model slice; every problem names the file and what is wrong. */
export async function loadModelSlice(file: string): Promise<ModelSlice> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw errors.modelInvalid(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not JSON (${(e as Error).message})`);
  }
  const m = json as Partial<ModelSlice>;
  if (m?.kind !== MODEL_SLICE_KIND) throw errors.modelInvalid(file, 'not a jinqiao model slice');
  if (m.version !== MODEL_SLICE_VERSION) throw errors.modelInvalid(file, `model version ${String(m.version)} is not supported (this jinqiao reads version ${MODEL_SLICE_VERSION})`);
  if (m.role !== 'label' && m.role !== 'features') throw errors.modelInvalid(file, 'role must be label or features');
  if (!Array.isArray(m.featureNames) || !m.featureNames.every((n) => typeof n === 'string')) throw errors.modelInvalid(file, 'featureNames must be a list of column names');
  if (m.encryptedWeights !== undefined) {
    // Kept encrypted (--keep-encrypted): one ciphertext, scored under the key the training arbiter kept.
    if (typeof m.encryptedWeights !== 'string' || m.encryptedWeights === '' || !BASE64.test(m.encryptedWeights)) throw errors.modelInvalid(file, 'encryptedWeights must be the base64 of one ciphertext');
    if (!Array.isArray(m.weights) || m.weights.length !== 0 || m.intercept !== null) throw errors.modelInvalid(file, 'a slice with encryptedWeights holds no plain weights (weights [], intercept null)');
    if (!['taylor1', 'poly2', 'poly3'].includes(m.trainedWith as string)) throw errors.modelInvalid(file, 'trainedWith must name the sigmoid it was trained with (taylor1, poly2 or poly3): it fixes the parameters of its key');
  } else {
    if (!Array.isArray(m.weights) || m.weights.length !== m.featureNames.length || !m.weights.every(Number.isFinite)) {
      throw errors.modelInvalid(file, 'weights must be one finite number per feature name');
    }
    if (m.role === 'label' && !Number.isFinite(m.intercept)) throw errors.modelInvalid(file, 'the label slice needs a finite intercept');
  }
  if (m.partners !== undefined && !(Array.isArray(m.partners) && m.partners.every((p) => typeof p === 'string' && p !== ''))) throw errors.modelInvalid(file, 'partners must list the names of the feature parties');
  StandardScaler.fromJSON(m.scaler, file);
  return m as ModelSlice;
}
