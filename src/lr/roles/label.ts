/**
 * (Label) The bank's role in training: it holds the outcomes y and its own features.
 *
 * It aligns rows with every feature party by PSI, combines the parties' encrypted partial
 * scores into the encrypted residual [[σ̃(z) − y]] that every party's gradient needs, follows
 * the encrypted loss for early stopping, and at the end learns the validation scores and
 * computes the metrics. It never sees another party's features, weights or partial scores:
 * only their encrypted sum, and the decrypted total score z of validation rows.
 * Protocol details: ../protocol.ts.
 *
 * With a checkpoint store it saves its own state after every epoch, before announcing the
 * epoch's end. On a rerun of the job every feature party reports how many epochs it holds
 * checkpoints of; training resumes after the fewest any party completed, the label included,
 * so every party holds the state it resumes from (../checkpoint.ts).
 */
import { errors } from '../../errors.ts';
import { checkBothClasses, type FeatureTable } from '../../data/table.ts';
import type { HeBackend, HeEvaluator, PublicKeyBundle } from '../../he/backend.ts';
import type { IdType } from '../../ids/normalise.ts';
import type { PsiExecutor } from '../../psi/executor.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message } from '../../protocol/messages.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import { alignAsLabel } from '../align.ts';
import { ArbiterClient } from '../arbiter-client.ts';
import { checkpoint, resumeTraining, type CheckpointStore, type LabelTrainingState } from '../checkpoint.ts';
import type { TrainingConfig } from '../config.ts';
import { chooseBatchSize } from '../batch-size.ts';
import { evaluateScores, type ScoreReport } from '../metrics.ts';
import { gatherRows, linearScores, preparePartyData, type PartyData } from '../party-data.ts';
import type { ProgressListener } from '../progress.ts';
import {
  gradientBound,
  inlineMatvec,
  LOSS_BOUND,
  lossScale,
  residualScale,
  rotationStepsFor,
  SCORE_BOUND,
  sigmoidCoefficients,
  slotCountFor,
  type MatvecRunner,
} from '../protocol.ts';
import { sigmoid } from '../sigmoid.ts';
import { epochBatches } from '../split.ts';
import type { PartyWeights } from '../weights.ts';

export interface LabelPartyOptions {
  readonly config: TrainingConfig;
  readonly idType: IdType;
  readonly table: FeatureTable;
  /** Feature party name → channel. */
  readonly features: ReadonlyMap<string, Channel>;
  readonly arbiter: Channel;
  readonly psiExecutor: PsiExecutor;
  readonly heBackend: HeBackend;
  /** A pool for Xᵀ[[d]] holding the same keys; default: the party's own evaluator. */
  readonly matvec?: (bundle: PublicKeyBundle) => Promise<MatvecRunner>;
  readonly onProgress?: ProgressListener;
  /** This party's own checkpoints of this job: saved after every epoch, resumed from on a rerun. */
  readonly checkpoints?: CheckpointStore;
  /** Names this party in its checkpoints; default 'label'. */
  readonly name?: string;
}

export interface LabelPartyResult {
  readonly alignedRows: Uint32Array;
  readonly data: PartyData;
  /** Weights of the label's features, then the intercept. */
  readonly weights: Float64Array;
  readonly featureCounts: ReadonlyMap<string, number>;
  /** Mean Taylor loss of each epoch run (resumed ones included), decrypted from the encrypted loss. */
  readonly lossCurve: number[];
  readonly epochsRun: number;
  /** Validation rows (positions in the aligned order), their scores and labels. */
  readonly validation: { readonly rows: Uint32Array; readonly scores: Float64Array; readonly labels: Uint8Array };
  readonly metrics: ScoreReport;
  readonly timings: { readonly alignSeconds: number; readonly trainSeconds: number; readonly evaluateSeconds: number };
}

export async function runLabelParty(options: LabelPartyOptions): Promise<LabelPartyResult> {
  const channels = [...options.features.values(), options.arbiter];
  return abortingPeersOnFailure(channels, () => labelParty(options));
}

async function labelParty(options: LabelPartyOptions): Promise<LabelPartyResult> {
  const { config, table, features, onProgress } = options;
  if (!table.labels) throw errors.optionInvalid('labelColumn', 'the label party needs a label column');
  checkBothClasses(table);
  const started = performance.now();
  const alignment = await alignAsLabel(table, features, { jobId: config.jobId, seed: config.seed, idType: options.idType, backend: config.psiBackend, executor: options.psiExecutor });
  onProgress?.({ phase: 'align', party: 'label', rows: alignment.rows.length });
  const data = preparePartyData(table, alignment.rows, config, true);
  const y = Uint8Array.from(alignment.rows, (r) => table.labels![r]!);
  const alignSeconds = (performance.now() - started) / 1000;

  const featureCounts = new Map<string, number>();
  for (const [name, channel] of features) featureCounts.set(name, (await channel.receive('train.ready')).features);
  const widest = Math.max(data.width, ...featureCounts.values());
  const batchSize = chooseBatchSize(config.batchSize, data.trainRows.length, widest);
  const resumed = await agreeOnStart(options, data.width, batchSize);

  const arbiter = new ArbiterClient(options.arbiter);
  const bundle = await arbiter.requestKeys(rotationStepsFor(data.width, slotCountFor(config), true));
  const evaluator = await options.heBackend.createEvaluator(bundle);
  arbiter.use(evaluator);
  onProgress?.({ phase: 'keys' });
  try {
    const matvec = options.matvec ? await options.matvec(bundle) : inlineMatvec(evaluator);
    const trainStarted = performance.now();
    const { weights } = resumed;
    const { lossCurve, epochsRun } = await train(options, evaluator, matvec, arbiter, data, y, resumed);
    const trainSeconds = (performance.now() - trainStarted) / 1000;

    const evaluateStarted = performance.now();
    onProgress?.({ phase: 'evaluate', rows: data.validationRows.length });
    const final = weights.final();
    const scores = await scoreRows(evaluator, arbiter, features, data, data.validationRows, final);
    const labels = Uint8Array.from(data.validationRows, (r) => y[r]!);
    const metrics = evaluateScores(scores, labels);
    await arbiter.done();
    return {
      alignedRows: alignment.rows,
      data,
      weights: final,
      featureCounts,
      lossCurve,
      epochsRun,
      validation: { rows: data.validationRows, scores, labels },
      metrics,
      timings: { alignSeconds, trainSeconds, evaluateSeconds: (performance.now() - evaluateStarted) / 1000 },
    };
  } finally {
    evaluator.dispose();
  }
}

interface Resumed {
  /** The first epoch to run. */
  readonly start: number;
  readonly weights: PartyWeights;
  /** The training state after epoch start − 1; null when starting afresh. */
  readonly state: LabelTrainingState | null;
  readonly batchSize: number;
}

/**
 * Training resumes after the fewest epochs any party holds checkpoints of (0 without
 * checkpoints), so every party can restore that epoch; the feature parties learn it, and
 * whether early stopping had already ended training there, from train.start.
 */
async function agreeOnStart(options: LabelPartyOptions, width: number, batchSize: number): Promise<Resumed> {
  const { config, features, checkpoints } = options;
  const own = checkpoints ? (await checkpoints.latestEpoch()) + 1 : 0;
  const reported = await Promise.all([...features.values()].map(async (c) => (await c.receive('train.resumeFrom')).completedEpochs));
  const start = Math.min(own, ...reported);
  const { weights, label: state } = await resumeTraining(checkpoints, start, { name: options.name ?? 'label', role: 'label', config, width, interceptIndex: width - 1 });
  const stop = state?.stopped ?? false;
  await Promise.all([...features.values()].map((c) => c.send(message('train.start', { epoch: start, stop, batchSize }))));
  return { start, weights, state, batchSize };
}

async function train(
  options: LabelPartyOptions,
  evaluator: HeEvaluator,
  matvec: MatvecRunner,
  arbiter: ArbiterClient,
  data: PartyData,
  y: Uint8Array,
  { start, weights, state, batchSize }: Resumed,
): Promise<{ lossCurve: number[]; epochsRun: number }> {
  const { config, features, onProgress, checkpoints } = options;
  const a = residualScale(config.sigmoid);
  const coefficients = sigmoidCoefficients(config.sigmoid);
  const lossCurve = [...(state?.lossCurve ?? [])];
  // JSON has no Infinity: a checkpoint says null for "no loss recorded yet".
  let best = state?.best ?? Infinity;
  let sinceBest = state?.sinceBest ?? 0;
  let stopped = state?.stopped ?? false;
  let epoch = start;
  for (; !stopped && epoch < config.epochs; epoch++) {
    const batches = epochBatches(data.trainRows, batchSize, config.seed, epoch);
    let lossSum = 0;
    let rowsSeen = 0;
    for (let b = 0; b < batches.length; b++) {
      const batch = batches[b]!;
      const n = batch.length;
      const forwards = await Promise.all(
        [...features].map(async ([name, channel]) => {
          const f = await channel.receive('train.forward');
          if (f.epoch !== epoch || f.batch !== b) throw errors.protocol(`${name} sent batch ${f.epoch}/${f.batch}, expected ${epoch}/${b}`);
          return f;
        }),
      );
      const own = linearScores(data.X, data.width, batch, weights.current);
      const t = evaluator.addPlain(sum(evaluator, forwards.map((f) => f.scores)), own.map((v) => a * v));
      const lossCopy = evaluator.addPlain(sum(evaluator, forwards.map((f) => f.lossScores)), own.map((v) => v * lossScale(n)));
      const labels = Float64Array.from(batch, (r) => y[r]!);
      const residual =
        config.sigmoid === 'taylor1'
          ? evaluator.addPlain(t, labels.map((v) => coefficients[0]! - v))
          : evaluator.addPlain(evaluator.polyEval(t, coefficients), labels.map((v) => -v));
      await Promise.all([...features.values()].map((c) => c.send(message('train.residual', { epoch, batch: b, residual }))));

      const gradientCt = await matvec.matvecTransposed(residual, gatherRows(data.X, data.width, batch, 1 / n), n, data.width);
      const gradient = await arbiter.reveal(gradientCt, data.width, gradientBound(config));
      weights.step(gradient);

      // Taylor loss: log 2 − ½·mean(y′z) + ⅛·mean(z²), from [[a·z]] and [[z/√(8n)]].
      const linear = labels.map((v) => -(2 * v - 1) / (2 * a * n));
      const lossTerms = evaluator.add(evaluator.square(lossCopy), evaluator.multiplyPlain(t, linear));
      const [lossValue] = await arbiter.reveal(evaluator.sumAllSlots(lossTerms), 1, LOSS_BOUND);
      lossSum += (Math.LN2 + lossValue!) * n;
      rowsSeen += n;
      onProgress?.({ phase: 'batch', epoch, epochs: config.epochs, batch: b, batches: batches.length });
    }
    weights.endEpoch();
    const loss = lossSum / rowsSeen;
    lossCurve.push(loss);
    if (config.earlyStopping) {
      if (loss < best - config.earlyStopping.minDelta) {
        best = loss;
        sinceBest = 0;
      } else if (++sinceBest >= config.earlyStopping.patience) {
        stopped = true;
      }
    }
    // Saved before the epoch's end is announced, so a crash from here on never loses it.
    await checkpoints?.save(
      checkpoint({
        jobId: config.jobId,
        party: options.name ?? 'label',
        role: 'label',
        epoch,
        ...weights.toJSON(),
        label: { lossCurve: [...lossCurve], best: Number.isFinite(best) ? best : null, sinceBest, stopped },
      }),
    );
    await Promise.all([...features.values()].map((c) => c.send(message('train.epochEnd', { epoch, stop: stopped }))));
    onProgress?.({ phase: 'epoch', epoch, epochs: config.epochs, loss, stop: stopped });
  }
  return { lossCurve, epochsRun: epoch };
}

/** Σ of several parties' chunked ciphertexts. */
function sum(evaluator: HeEvaluator, parts: readonly (readonly Uint8Array[])[]): Uint8Array[] {
  let total = [...parts[0]!];
  for (const part of parts.slice(1)) total = evaluator.add(total, part);
  return total;
}

/**
 * (Label) Probabilities for `rows`: the feature parties send [[u_k]], the label adds its own
 * part and reveals z through the arbiter, chunk by chunk.
 */
export async function scoreRows(
  evaluator: HeEvaluator,
  arbiter: ArbiterClient,
  features: ReadonlyMap<string, Channel>,
  data: PartyData,
  rows: Uint32Array,
  weights: Float64Array,
): Promise<Float64Array> {
  const parts = await Promise.all([...features.values()].map(async (c) => (await c.receive('eval.forward')).scores));
  const own = linearScores(data.X, data.width, rows, weights);
  const total = evaluator.addPlain(sum(evaluator, parts), own);
  const scores = new Float64Array(rows.length);
  const S = evaluator.slotCount;
  for (let c = 0; c < total.length; c++) {
    const count = Math.min(S, rows.length - c * S);
    const z = await arbiter.reveal(total[c]!, count, SCORE_BOUND);
    for (let i = 0; i < count; i++) scores[c * S + i] = sigmoid(z[i]!);
  }
  return scores;
}
