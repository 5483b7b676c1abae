/**
 * Training benchmarks: seconds per epoch of the encrypted protocol (every party in one
 * process, CKKS, all cores) on FATE's default_credit and on a generated job of FATE 2.0's
 * published shape (100,000 training rows, 30 label-party + 300 feature-party features),
 * with the bytes each epoch puts on the wire and the plaintext epoch of the same
 * mini-batch algorithm as the reference. Each epoch really runs: nothing is skipped.
 *
 * Accuracy: the validation AUC of the encrypted run against its plaintext ceiling, a
 * centralised Newton fit on the pooled features of exactly the run's training rows, scored
 * on exactly its validation rows (test/helpers/fate-ceiling.ts for FATE's data, the same fit
 * here for generated tables).
 */
import { join } from 'node:path';
import { loadFeatureTable } from '../src/data/table.ts';
import { SharedMatvecPool } from '../src/he/pool.ts';
import { trainOnTables } from '../src/local/training.ts';
import type { TrainingConfig } from '../src/lr/config.ts';
import { Optimiser } from '../src/lr/optimiser.ts';
import { auc } from '../src/lr/metrics.ts';
import { fitNewton, plaintextEpoch, predictProbabilities } from '../src/lr/reference.ts';
import { epochBatches, splitTrainValidation } from '../src/lr/split.ts';
import { chooseBatchSize } from '../src/lr/batch-size.ts';
import { StandardScaler } from '../src/lr/scaler.ts';
import type { FeatureTable } from '../src/data/table.ts';
import { ceilingAuc } from '../test/helpers/fate-ceiling.ts';
import { ckksBackend } from '../src/he/ckks.ts';
import { runLeakyTraining } from '../test/attacks/leaky/gradient-revealing.ts';
import { syntheticTrainingTables } from './data.ts';
import { figure, type Figure } from './stats.ts';

export interface TrainingEpochResult {
  readonly name: string;
  readonly trainRows: number;
  readonly features: { readonly label: number; readonly features: readonly number[] };
  readonly batchSize: number;
  readonly epochs: number;
  /** Seconds per encrypted epoch (median over the epochs run, spread = max − min). */
  readonly epochSeconds: Figure;
  /** Bytes of training messages (forward, residual, decryptions, evaluation excluded) per epoch. */
  readonly bytesPerEpoch: number;
  /** Seconds of one plaintext epoch of the same mini-batch algorithm on pooled data. */
  readonly plaintextEpochSeconds: Figure;
  /** epochSeconds.median / plaintextEpochSeconds.median. */
  readonly slowdownVsPlaintext: number;
  readonly auc: number;
  /** Validation AUC of the centralised plaintext Newton fit on the same rows. */
  readonly ceilingAuc: number;
}

const FATE = join(import.meta.dirname, '../data/fate');
const TRAINING_MESSAGE = /train\.(forward|residual|decrypt)|he\.(refresh|decrypt)/;

export async function benchTrainingEpoch(
  name: string,
  label: FeatureTable,
  features: readonly FeatureTable[],
  config: Partial<TrainingConfig>,
  ceiling: (trainIds: readonly string[], validationIds: readonly string[]) => number,
): Promise<TrainingEpochResult> {
  const epochEnds: number[] = [];
  let trainingBytes = 0;
  let trainStart = 0;
  const result = await trainOnTables({
    label: { table: label, name: 'bank' },
    features: features.map((table, k) => ({ table, name: `agency${k + 1}` })),
    // Single-agency benchmark jobs: the bank learning that agency's partial scores is accepted here.
    config: { seed: 'bench', allowPartialScoreDisclosure: true, ...config },
    onProgress: (e) => {
      if (e.phase === 'keys') trainStart = performance.now();
      if (e.phase === 'epoch') epochEnds.push(performance.now());
    },
    tap: (_from, _to, frame) => {
      if (TRAINING_MESSAGE.test(Buffer.from(frame.buffer, frame.byteOffset, Math.min(32, frame.byteLength)).toString('latin1'))) trainingBytes += frame.byteLength;
    },
  });
  const durations = epochEnds.map((end, i) => (end - (i === 0 ? trainStart : epochEnds[i - 1]!)) / 1000);
  const widest = Math.max(label.featureNames.length + 1, ...features.map((f) => f.featureNames.length));
  const batchSize = chooseBatchSize(result.config.batchSize, result.trainRows, widest);
  const plaintext = figure([0, 1, 2].map(() => plaintextEpochSeconds(label, features, result.config, batchSize)));
  const epochSeconds = figure(durations);
  return {
    name,
    trainRows: result.trainRows,
    features: { label: label.featureNames.length, features: features.map((f) => f.featureNames.length) },
    batchSize,
    epochs: result.epochsRun,
    epochSeconds,
    bytesPerEpoch: trainingBytes / result.epochsRun,
    plaintextEpochSeconds: plaintext,
    slowdownVsPlaintext: epochSeconds.median / plaintext.median,
    auc: result.metrics.auc,
    ceilingAuc: ceiling(result.trainIds, result.predictions.ids),
  };
}

/** One epoch of the same algorithm in the clear, on all parties' columns pooled (the row order does not matter for timing). */
function plaintextEpochSeconds(label: FeatureTable, features: readonly FeatureTable[], config: TrainingConfig, batchSize: number): number {
  const tables = [label, ...features];
  const F = tables.reduce((s, t) => s + t.featureNames.length, 0);
  const n = label.rowCount;
  const values = new Float64Array(n * F);
  let offset = 0;
  for (const t of tables) {
    const w = t.featureNames.length;
    for (let i = 0; i < n; i++) for (let j = 0; j < w; j++) values[i * F + offset + j] = t.values[i * w + j]!;
    offset += w;
  }
  const split = splitTrainValidation(n, config.seed, { validationFraction: config.validationFraction });
  const pooled = StandardScaler.fit({ values, rowCount: n, featureCount: F }, split.train).transform({ values, rowCount: n, featureCount: F });
  const parameters = new Float64Array(F + 1);
  const optimiser = Optimiser.create(F + 1, { method: config.optimiser, learningRate: config.learningRate, schedule: config.schedule, interceptIndex: F });
  const batches = epochBatches(split.train, batchSize, config.seed, 0);
  const started = performance.now();
  plaintextEpoch({ features: pooled, labels: label.labels!, batches, parameters, optimiser, sigmoid: config.sigmoid });
  return (performance.now() - started) / 1000;
}

export interface GradientRevealingComparison {
  readonly name: string;
  readonly trainRows: number;
  readonly batchSize: number;
  /** Seconds per epoch of the encrypted model (this protocol). */
  readonly encryptedModel: Figure;
  /** Seconds per epoch of the old gradient-revealing protocol (test/attacks/leaky), same data, same run. */
  readonly gradientRevealing: Figure;
  /** encryptedModel.median / gradientRevealing.median; the target is <= 1.5. */
  readonly ratio: number;
  /** Seconds per epoch of the encrypted model with the quadratic sigmoid (N = 16384), same data, same run. */
  readonly encryptedModelPoly2?: Figure;
  /** CPU seconds per epoch, every thread of the process (all parties and the pool's workers). */
  readonly encryptedModelCpu: Figure;
  readonly gradientRevealingCpu: Figure;
  /** encryptedModelCpu.median / gradientRevealingCpu.median: the ratio of work, robust to other processes' load. */
  readonly cpuRatio: number;
  /** encryptedModelPoly2.median / gradientRevealing.median. */
  readonly ratioPoly2?: number;
}

/**
 * The encrypted model against the gradient-revealing protocol it replaced, on the same
 * generated tables in the same process, one after the other: with `allCores`, both put
 * their products on the worker pool; without, both run on the main thread (threads 0).
 * Then, with `withPoly2`, the encrypted model with the quadratic sigmoid (N = 16384). Needs epochs >= 2.
 */
export async function benchAgainstGradientRevealing(trainRows: number, epochs: number, batchSize: number, widths: readonly [number, number], allCores = false, withPoly2 = true): Promise<GradientRevealingComparison> {
  const { label, features } = syntheticTrainingTables(Math.round(trainRows / 0.8), widths[0], [widths[1]]);
  const config = { seed: 'bench', epochs, batchSize, threads: allCores ? undefined : 0 };
  // At each epoch's end: wall time, and the CPU time of every thread of this process (both
  // protocols run all their parties and pool workers here). On a machine shared with other
  // work the wall-time ratio moves with the others' load between the runs; the CPU ratio is
  // the work each protocol does, whatever runs beside it.
  const mark = () => ({ wall: performance.now(), cpu: cpuSeconds() });
  const leakyEnds: Mark[] = [];
  const pools = allCores ? new SharedMatvecPool(undefined) : undefined;
  try {
    await runLeakyTraining(label, features, config, { backend: ckksBackend, onEpochEnd: () => leakyEnds.push(mark()), ...(pools && { matvec: (b) => pools.for(b) }) });
  } finally {
    await pools?.destroy();
  }
  const encryptedEpochEnds = async (sigmoid: TrainingConfig['sigmoid']): Promise<Mark[]> => {
    const ends: Mark[] = [];
    await trainOnTables({
      label: { table: label, name: 'bank' },
      features: features.map((table, k) => ({ table, name: `agency${k + 1}` })),
      config: { ...config, sigmoid, allowPartialScoreDisclosure: true },
      onProgress: (e) => {
        if (e.phase === 'epoch') ends.push(mark());
      },
    });
    return ends;
  };
  const encryptedEnds = await encryptedEpochEnds('taylor1');
  const poly2Ends = withPoly2 ? await encryptedEpochEnds('poly2') : undefined;
  // Epochs between consecutive epoch ends: alignment and keys never count.
  const between = (ends: readonly Mark[]) => figure(ends.slice(1).map((end, i) => (end.wall - ends[i]!.wall) / 1000));
  const cpuBetween = (ends: readonly Mark[]) => figure(ends.slice(1).map((end, i) => end.cpu - ends[i]!.cpu));
  const leaky = between(leakyEnds);
  const encrypted = between(encryptedEnds);
  const leakyCpu = cpuBetween(leakyEnds);
  const encryptedCpu = cpuBetween(encryptedEnds);
  const poly2 = poly2Ends && between(poly2Ends);
  return {
    name: `generated ${trainRows} x (${widths[0]} + ${widths[1]})${allCores ? ', all cores' : ', one thread'}`,
    trainRows,
    batchSize,
    encryptedModel: encrypted,
    gradientRevealing: leaky,
    ratio: encrypted.median / leaky.median,
    encryptedModelCpu: encryptedCpu,
    gradientRevealingCpu: leakyCpu,
    cpuRatio: encryptedCpu.median / leakyCpu.median,
    ...(poly2 && { encryptedModelPoly2: poly2, ratioPoly2: poly2.median / leaky.median }),
  };
}

export async function benchDefaultCredit(epochs: number): Promise<TrainingEpochResult> {
  const [label, host] = await Promise.all([
    loadFeatureTable(join(FATE, 'default_credit_hetero_guest.csv'), { idColumn: 'id', labelColumn: 'y' }),
    loadFeatureTable(join(FATE, 'default_credit_hetero_host.csv'), { idColumn: 'id' }),
  ]);
  return benchTrainingEpoch('default_credit (FATE)', label, [host], { epochs }, (train, validation) => ceilingAuc('default_credit', train, validation));
}

/**
 * FATE 2.0's published shape: 100,000 training rows (125,000 aligned, 20% held out), 30 + 300
 * features; `widths` shrinks it for smoke runs.
 */
export async function benchFateShape(trainRows: number, epochs: number, batchSize: number, widths: readonly [number, number] = [30, 300]): Promise<TrainingEpochResult> {
  const { label, features } = syntheticTrainingTables(Math.round(trainRows / 0.8), widths[0], [widths[1]]);
  return benchTrainingEpoch(`generated ${trainRows} x (${widths[0]} + ${widths[1]})`, label, features, { epochs, batchSize }, (train, validation) =>
    pooledCeilingAuc([label, ...features], label.labels!, train, validation),
  );
}

/**
 * The ceiling for in-memory tables whose rows are aligned (row i is the same ID in every
 * table, as the generator makes them): Newton on the pooled, standardised columns.
 */
function pooledCeilingAuc(tables: readonly FeatureTable[], labels: Uint8Array, trainIds: readonly string[], validationIds: readonly string[]): number {
  const n = tables[0]!.rowCount;
  const index = new Map(tables[0]!.ids.map((id, i) => [id, i]));
  const rowsOf = (ids: readonly string[]) => Uint32Array.from(ids, (id) => index.get(id)!);
  const train = rowsOf(trainIds);
  const validation = rowsOf(validationIds);
  const F = tables.reduce((s, t) => s + t.featureNames.length, 0);
  const values = new Float64Array(n * F);
  let offset = 0;
  for (const t of tables) {
    const w = t.featureNames.length;
    for (let i = 0; i < n; i++) values.set(t.values.subarray(i * w, (i + 1) * w), i * F + offset);
    offset += w;
  }
  const raw = { values, rowCount: n, featureCount: F };
  const pooled = StandardScaler.fit(raw, train).transform(raw);
  const fit = fitNewton(pooled, labels, train, { maxIterations: 12, tolerance: 1e-9 });
  return auc(predictProbabilities(pooled, fit.parameters, validation), Uint8Array.from(validation, (r) => labels[r]!));
}

interface Mark {
  readonly wall: number;
  readonly cpu: number;
}

/** CPU seconds (user + system) used so far by every thread of this process. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
