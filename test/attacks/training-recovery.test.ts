/**
 * What training reveals, attacked from one party's view (DESIGN.md "Attacks"):
 * - an agency recovering the bank's labels from what training showed it;
 * - the bank recovering the agencies' partial scores of its training rows.
 * Each attack runs against the deliberately leaky gradient-revealing protocol (positive
 * control: it must succeed, which proves the attack works) and against the encrypted model,
 * reading only that party's transcript and its own data (it must stay at chance).
 *
 * Data (./data.ts): 400 enterprises, balanced labels carried by the bank's 9 features; two
 * agencies with 10 features of pure noise, so nothing an agency learns about labels can
 * come from its own data. Batch 40 = 4 × the widest party (the rule's minimum), 10 epochs
 * of SGD at learning rate 0.1 (a slowly moving model, as the recipe assumes).
 */
import { describe, expect, it } from 'vitest';
import type { FeatureTable } from '../../src/data/table.ts';
import { trainOnTables, type LocalTrainingResult } from '../../src/local/training.ts';
import type { ModelSlice } from '../../src/lr/model.ts';
import { StandardScaler } from '../../src/lr/scaler.ts';
import { Transcript } from '../../src/transport/transcript.ts';
import { syntheticParties } from './data.ts';
import { correlation } from './least-squares.ts';
import { runLeakyTraining } from './leaky/gradient-revealing.ts';
import { batchesFromTranscript, clearNumbers, recoverAgencyScores, recoverLabels } from './recovery.ts';

const { bank, agencies } = syntheticParties(400, 9, [10, 10], 'attacks/training');
const config = { seed: 'attacks', batchSize: 40, epochs: 10, learningRate: 0.1, validationFraction: 0.2 } as const;

function accuracy(guess: Uint8Array, truth: Uint8Array): number {
  return guess.reduce((s, g, i) => s + (g === truth[i] ? 1 : 0), 0) / truth.length;
}

function majorityRate(labels: Uint8Array): number {
  const ones = labels.reduce((s, v) => s + v, 0) / labels.length;
  return Math.max(ones, 1 - ones);
}

/** A slice's partial scores of `ids`, standardised with its own scaler (what the party itself can compute). */
function sliceScores(slice: ModelSlice, table: FeatureTable, ids: readonly string[]): Float64Array {
  const row = new Map(table.ids.map((id, i) => [id, i]));
  const F = table.featureNames.length;
  const values = new Float64Array(ids.length * F);
  ids.forEach((id, i) => values.set(table.values.subarray(row.get(id)! * F, (row.get(id)! + 1) * F), i * F));
  const X = StandardScaler.fromJSON(slice.scaler).transform({ values, rowCount: ids.length, featureCount: F }).values;
  return Float64Array.from(ids, (_, i) => slice.weights.reduce((s, w, j) => s + w * X[i * F + j]!, 0));
}

function labelsOf(ids: readonly string[]): Uint8Array {
  const row = new Map(bank.ids.map((id, i) => [id, i]));
  return Uint8Array.from(ids, (id) => bank.labels![row.get(id)!]!);
}

async function encryptedRun(sigmoid: 'taylor1' | 'poly2'): Promise<{ result: LocalTrainingResult; transcript: Transcript }> {
  const transcript = new Transcript();
  const result = await trainOnTables({
    label: { table: bank, name: 'bank', labelColumn: 'y' },
    features: agencies.map((table, k) => ({ table, name: `agency${k + 1}` })),
    config: { ...config, sigmoid, he: 'mock', jobId: 'attacks', threads: 0 },
    transcript,
  });
  return { result, transcript };
}

describe('label recovery by an agency', () => {
  it('recovers nearly every label from the gradients the leaky protocol reveals (positive control)', async () => {
    const run = await runLeakyTraining(bank, agencies, config);
    const view = run.agencies[0]!;
    const guess = recoverLabels({ X: view.data.X, width: view.data.width, trainRows: view.data.trainRows, batches: view.batches });
    const truth = Uint8Array.from(view.data.trainRows, (r) => run.label.labels[r]!);
    expect(guess).not.toBeNull();
    expect(majorityRate(truth)).toBeLessThan(0.56);
    expect(accuracy(guess!, truth)).toBeGreaterThan(0.95);
  }, 120_000);

  // Both sigmoids: poly2's residual is another ciphertext of the same messages.
  it.each(['taylor1', 'poly2'] as const)('stays at chance against the encrypted model (%s): the transcript holds no number until its own final weights', async (sigmoid) => {
    const { result, transcript } = await encryptedRun(sigmoid);
    const entries = transcript.entries('agency1');
    const F = agencies[0]!.featureNames.length;
    // Every clear number it received is one of its own final weights, two passes each.
    const clear = entries.flatMap(clearNumbers);
    expect(clear.length).toBeLessThanOrEqual(2 * F);
    const trainingOver = entries.findLastIndex((e) => e.type === 'train.epochEnd');
    expect(entries[trainingOver]!.fields.epoch).toBe(config.epochs - 1);
    entries.forEach((e, i) => {
      if (clearNumbers(e).length > 0) expect({ type: e.type, afterTraining: i > trainingOver }).toEqual({ type: 'train.decrypted', afterTraining: true });
    });
    expect(batchesFromTranscript(entries, 'train.residual', F)).toEqual([]);
    // The same attack has no equation to solve; what is left is the agency's own slice, whose
    // in-sample fit of 10 noise features to 320 labels is worth a few points (0.56 measured).
    const truth = labelsOf(result.trainIds);
    const slice = result.models.find((m) => m.party === 'agency1')!;
    const own = sliceScores(slice, agencies[0]!, result.trainIds);
    const median = [...own].sort((a, b) => a - b)[own.length >> 1]!;
    const guess = Uint8Array.from(own, (u) => (u > median ? 1 : 0));
    expect(accuracy(guess, truth)).toBeLessThan(majorityRate(truth) + 0.08);
  }, 120_000);
});

describe('partial-score recovery by the bank', () => {
  it('recovers the agencies\' summed partial score of every training row from its own gradients (positive control)', async () => {
    const run = await runLeakyTraining(bank, agencies, config);
    const view = run.label;
    const recovered = recoverAgencyScores({ X: view.data.X, width: view.data.width, trainRows: view.data.trainRows, batches: view.batches }, view.labels);
    expect(recovered).not.toBeNull();
    const truth = Float64Array.from(view.data.trainRows, (r) =>
      run.agencies.reduce((s, a) => s + a.finalWeights.reduce((t, w, j) => t + w * a.data.X[r * a.data.width + j]!, 0), 0),
    );
    expect(correlation(recovered!, truth)).toBeGreaterThan(0.9);
  }, 120_000);

  it.each(['taylor1', 'poly2'] as const)('stays at chance against the encrypted model (%s): one loss per batch, and validation totals say nothing of training rows', async (sigmoid) => {
    const { result, transcript } = await encryptedRun(sigmoid);
    const entries = transcript.entries('bank');
    const width = bank.featureNames.length + 1;
    expect(batchesFromTranscript(entries, 'train.forward', width)).toEqual([]);
    expect(batchesFromTranscript(entries, 'train.forward', 1).every((b) => b.numbers.length <= 2)).toBe(true);
    // What the bank does learn: the agencies' summed score z − u_L of each validation row. Its best
    // use for training rows is to regress that sum on its own features and predict.
    const own = result.models.find((m) => m.party === 'bank')!;
    const validationIds = result.predictions.ids;
    const z = result.predictions.scores.map((p) => Math.log(p / (1 - p)));
    const ownVal = sliceScores(own, bank, validationIds).map((u) => u + own.intercept!);
    const sumVal = z.map((v, i) => v - ownVal[i]!);
    const predictor = fitLinear(standardised(own, validationIds), sumVal, bank.featureNames.length);
    const Xtrain = standardised(own, result.trainIds);
    const predicted = Float64Array.from(result.trainIds, (_, i) => predictor.reduce((s, w, j) => s + w * (j < bank.featureNames.length ? Xtrain[i * bank.featureNames.length + j]! : 1), 0));
    const truth = new Float64Array(result.trainIds.length);
    agencies.forEach((table, k) => sliceScores(result.models.find((m) => m.party === `agency${k + 1}`)!, table, result.trainIds).forEach((u, i) => (truth[i]! += u)));
    expect(Math.abs(correlation(predicted, truth))).toBeLessThan(0.2);
  }, 120_000);
});

function standardised(slice: ModelSlice, ids: readonly string[]): Float64Array {
  const row = new Map(bank.ids.map((id, i) => [id, i]));
  const F = bank.featureNames.length;
  const values = new Float64Array(ids.length * F);
  ids.forEach((id, i) => values.set(bank.values.subarray(row.get(id)! * F, (row.get(id)! + 1) * F), i * F));
  return StandardScaler.fromJSON(slice.scaler).transform({ values, rowCount: ids.length, featureCount: F }).values;
}

/** Least squares of `target` on X (F columns) plus an intercept, by gradient-free normal equations. */
function fitLinear(X: Float64Array, target: Float64Array, F: number): Float64Array {
  const p = F + 1;
  const A = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let i = 0; i < target.length; i++) {
    const x = Array.from({ length: p }, (_, j) => (j < F ? X[i * F + j]! : 1));
    for (let j = 0; j < p; j++) {
      b[j]! += x[j]! * target[i]!;
      for (let k = 0; k < p; k++) A[j * p + k]! += x[j]! * x[k]!;
    }
  }
  for (let j = 0; j < p; j++) A[j * p + j]! += 1e-6;
  // Gauss–Jordan on the small system.
  const w = b.slice();
  for (let c = 0; c < p; c++) {
    const pivot = A[c * p + c]!;
    for (let k = 0; k < p; k++) A[c * p + k]! /= pivot;
    w[c]! /= pivot;
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = A[r * p + c]!;
      for (let k = 0; k < p; k++) A[r * p + k]! -= f * A[c * p + k]!;
      w[r]! -= f * w[c]!;
    }
  }
  return w;
}
