/**
 * Accuracy of encrypted-model training against plaintext logistic regression on the same
 * rows: the centralised Newton ceiling (the target), and plaintext mini-batch SGD on
 * the pooled features with the same batches, epochs, learning-rate schedule and Polyak tail
 * averaging, once with the exact sigmoid and once with each polynomial the protocol could
 * evaluate. The pooled plaintext runs are what a real job must never do; only tests and
 * benchmarks run them.
 */
import type { FeatureTable } from '../../src/data/table.ts';
import type { TrainingConfig } from '../../src/lr/config.ts';
import { evaluateScores } from '../../src/lr/metrics.ts';
import { Optimiser } from '../../src/lr/optimiser.ts';
import { fitNewton, plaintextEpoch, predictProbabilities } from '../../src/lr/reference.ts';
import { StandardScaler, type FeatureMatrix } from '../../src/lr/scaler.ts';
import type { SigmoidName } from '../../src/lr/sigmoid.ts';
import { epochBatches } from '../../src/lr/split.ts';

export interface PooledRun {
  /** Rows 0..train-1 are the run's training rows in its order, then its validation rows. */
  readonly features: FeatureMatrix;
  readonly labels: Uint8Array;
  readonly trainCount: number;
  readonly validationCount: number;
}

/**
 * The pooled, standardised (and clipped like the parties do) features of exactly a run's
 * training rows then validation rows, every party's columns side by side.
 */
export function poolRun(tables: readonly FeatureTable[], labelTable: FeatureTable, trainIds: readonly string[], validationIds: readonly string[], clip: number): PooledRun {
  const ids = [...trainIds, ...validationIds];
  const F = tables.reduce((s, t) => s + t.featureNames.length, 0);
  const values = new Float64Array(ids.length * F);
  let offset = 0;
  const train = Uint32Array.from(trainIds, (_, i) => i);
  for (const t of tables) {
    const w = t.featureNames.length;
    const index = new Map(t.ids.map((id, i) => [id.trim(), i]));
    const block = new Float64Array(ids.length * w);
    ids.forEach((id, i) => {
      const r = index.get(id);
      if (r === undefined) throw new Error(`${t.file}: no row for ${id}`);
      block.set(t.values.subarray(r * w, (r + 1) * w), i * w);
    });
    const raw = { values: block, rowCount: ids.length, featureCount: w };
    const scaled = StandardScaler.fit(raw, train, clip > 0 ? { clip } : {}).transform(raw);
    for (let i = 0; i < ids.length; i++) values.set(scaled.values.subarray(i * w, (i + 1) * w), i * F + offset);
    offset += w;
  }
  const labelIndex = new Map(labelTable.ids.map((id, i) => [id.trim(), i]));
  const labels = Uint8Array.from(ids, (id) => labelTable.labels![labelIndex.get(id)!]!);
  return { features: { values, rowCount: ids.length, featureCount: F }, labels, trainCount: trainIds.length, validationCount: validationIds.length };
}

export interface PlaintextFitResult {
  readonly auc: number;
  readonly ks: number;
}

export interface PlaintextSgdResult extends PlaintextFitResult {
  /** Mean taylor1 loss of each epoch, every batch scored before its update (as the protocol reveals it). */
  readonly lossCurve: number[];
  /** The model kept (the tail average, or the last iterate): F weights then the intercept. */
  readonly parameters: Float64Array;
}

/** Plaintext SGD on pooled rows with the run's batches, schedule and tail averaging. */
export function plaintextSgd(run: PooledRun, config: TrainingConfig, batchSize: number, sigmoid: SigmoidName): PlaintextSgdResult {
  const F = run.features.featureCount;
  const train = Uint32Array.from({ length: run.trainCount }, (_, i) => i);
  const validation = Uint32Array.from({ length: run.validationCount }, (_, i) => run.trainCount + i);
  const parameters = new Float64Array(F + 1);
  const optimiser = Optimiser.create(F + 1, { method: 'sgd', learningRate: config.learningRate, schedule: config.schedule, l2: config.l2, interceptIndex: F });
  const epochMeans: Float64Array[] = [];
  const lossCurve: number[] = [];
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const sum = new Float64Array(F + 1);
    const batches = epochBatches(train, batchSize, config.seed, epoch);
    let loss = 0;
    for (const batch of batches) {
      loss += plaintextEpoch({ features: run.features, labels: run.labels, batches: [batch], parameters, optimiser, sigmoid }).meanTaylor1Loss * batch.length;
      for (let j = 0; j <= F; j++) sum[j] += parameters[j]!;
    }
    lossCurve.push(loss / run.trainCount);
    epochMeans.push(sum.map((v) => v / batches.length));
  }
  let final = parameters;
  if (config.averaging === 'tail') {
    const tail = epochMeans.slice(Math.floor(epochMeans.length / 2));
    final = new Float64Array(F + 1);
    for (const m of tail) for (let j = 0; j <= F; j++) final[j] += m[j]! / tail.length;
  }
  const report = evaluateScores(predictProbabilities(run.features, final, validation), Uint8Array.from(validation, (r) => run.labels[r]!));
  return { auc: report.auc, ks: report.ks.statistic, lossCurve, parameters: final };
}

/** The centralised Newton fit on the training rows, scored on the validation rows. */
export function newtonCeiling(run: PooledRun): PlaintextFitResult {
  const train = Uint32Array.from({ length: run.trainCount }, (_, i) => i);
  const validation = Uint32Array.from({ length: run.validationCount }, (_, i) => run.trainCount + i);
  const fit = fitNewton(run.features, run.labels, train, { maxIterations: 25, tolerance: 1e-10 });
  const report = evaluateScores(predictProbabilities(run.features, fit.parameters, validation), Uint8Array.from(validation, (r) => run.labels[r]!));
  return { auc: report.auc, ks: report.ks.statistic };
}
