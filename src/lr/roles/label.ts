/**
 * (Label) The bank's role in encrypted-model training (../encrypted-model.ts): it holds the
 * outcomes y and its own features, and its weights only encrypted until the end.
 *
 * It aligns rows with every feature party by PSI, combines the parties' encrypted partial
 * scores into the encrypted residual that every party's update needs, follows the loss
 * (one masked value per batch) for early stopping, and at the end learns the validation
 * scores and its own weights. It never sees a gradient, another party's features, weights
 * or partial scores, except that with a single agency the validation totals minus its own
 * part are that agency's partial scores: such a job runs only with
 * `allowPartialScoreDisclosure` (the agency's policy allowing it), else it is refused.
 */
import { errors } from '../../errors.ts';
import type { FeatureTable } from '../../data/table.ts';
import type { CiphertextBytes, HeBackend, HeEvaluator, PublicKeyBundle } from '../../he/backend.ts';
import type { IdType } from '../../ids/normalise.ts';
import type { PsiExecutor } from '../../psi/executor.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message } from '../../protocol/messages.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import { alignAsLabel } from '../align.ts';
import { ArbiterClient } from '../arbiter-client.ts';
import type { TrainingConfig } from '../config.ts';
import { chooseBatchSize } from '../batch-size.ts';
import { batchResidual, batchesPerEpoch, EncryptedWeights, forwardFactor, TrainingArbiterSession, WEIGHT_BOUND } from '../encrypted-model.ts';
import { evaluateScores, type ScoreReport } from '../metrics.ts';
import { gatherRows, preparePartyData, type PartyData } from '../party-data.ts';
import type { ProgressListener } from '../progress.ts';
import { inlineMatvec, rotationStepsFor, SCORE_BOUND, slotCountFor, type MatvecRunner } from '../protocol.ts';
import { sigmoid } from '../sigmoid.ts';
import { epochBatches } from '../split.ts';

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
}

export interface LabelPartyResult {
  readonly alignedRows: Uint32Array;
  readonly data: PartyData;
  /** Weights of the label's features, then the intercept; null when kept encrypted. */
  readonly weights: Float64Array | null;
  /** The final weights as a ciphertext (replicated layout), under the arbiter's key. */
  readonly encryptedWeights: CiphertextBytes;
  readonly featureCounts: ReadonlyMap<string, number>;
  /** Mean Taylor loss of each epoch run, decrypted from the encrypted loss. */
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
  const started = performance.now();
  const alignment = await alignAsLabel(table, features, { jobId: config.jobId, seed: config.seed, idType: options.idType, backend: config.psiBackend, executor: options.psiExecutor });
  onProgress?.({ phase: 'align', party: 'label', rows: alignment.rows.length });
  const data = preparePartyData(table, alignment.rows, config, true);
  const y = Uint8Array.from(alignment.rows, (r) => table.labels![r]!);
  const alignSeconds = (performance.now() - started) / 1000;

  const featureCounts = new Map<string, number>();
  for (const [name, channel] of features) featureCounts.set(name, (await channel.receive('train.ready')).features);
  checkJob(config, featureCounts);
  // The batch size every party cuts its epochs with: the configured one, or (auto) the largest that suits the data.
  const batchSize = chooseBatchSize(config.batchSize, data.trainRows.length, Math.max(data.width, ...featureCounts.values()));
  await Promise.all([...features.values()].map((c) => c.send(message('train.start', { batchSize }))));

  const arbiterKeys = new ArbiterClient(options.arbiter);
  const bundle = await arbiterKeys.requestKeys(rotationStepsFor(data.width, slotCountFor(config), true));
  const evaluator = await options.heBackend.createEvaluator(bundle);
  onProgress?.({ phase: 'keys' });
  try {
    const arbiter = new TrainingArbiterSession(options.arbiter, evaluator);
    await arbiter.plan({
      epochs: config.epochs,
      batchesPerEpoch: batchesPerEpoch(data.trainRows.length, batchSize),
      validationRows: data.validationRows.length,
      widths: [data.width, ...featureCounts.values()],
      vectors: config.momentum > 0 ? 2 : 1,
      keepEncrypted: config.keepEncrypted,
    });
    const matvec = options.matvec ? await options.matvec(bundle) : inlineMatvec(evaluator);
    const weights = new EncryptedWeights(evaluator, data.width, config, data.width - 1);
    const trainStarted = performance.now();
    const { lossCurve, epochsRun } = await train(options, batchSize, evaluator, matvec, arbiter, weights, data, y);
    const trainSeconds = (performance.now() - trainStarted) / 1000;

    const evaluateStarted = performance.now();
    onProgress?.({ phase: 'evaluate', rows: data.validationRows.length });
    const final = weights.averaged ? await arbiter.refresh(weights.final(), weights.period, config.epochs, 0) : weights.final();
    const scores = await scoreValidation(evaluator, matvec, arbiter, features, data, final, config.epochs);
    const labels = Uint8Array.from(data.validationRows, (r) => y[r]!);
    const metrics = evaluateScores(scores, labels);
    const revealed = config.keepEncrypted ? null : await arbiter.reveal('weights', final, data.width, WEIGHT_BOUND, config.epochs, 0);
    await arbiter.done();
    return {
      alignedRows: alignment.rows,
      data,
      weights: revealed,
      encryptedWeights: final,
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

/** Refuses a job whose outputs would show the bank an agency's partial scores. */
function checkJob(config: TrainingConfig, featureCounts: ReadonlyMap<string, number>): void {
  if (featureCounts.size === 1 && !config.allowPartialScoreDisclosure) {
    throw errors.partialScoreDisclosure(
      [...featureCounts.keys()][0]!,
      'with a single agency the validation scores minus the bank\'s own part are that agency\'s partial scores',
    );
  }
}

async function train(
  options: LabelPartyOptions,
  batchSize: number,
  evaluator: HeEvaluator,
  matvec: MatvecRunner,
  arbiter: TrainingArbiterSession,
  weights: EncryptedWeights,
  data: PartyData,
  y: Uint8Array,
): Promise<{ lossCurve: number[]; epochsRun: number }> {
  const { config, features, onProgress } = options;
  const lossCurve: number[] = [];
  let best = Infinity;
  let sinceBest = 0;
  let stopped = false;
  let epoch = 0;
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
          return f.scores;
        }),
      );
      // [[α·z]]: every part scaled in its party's plaintext (forwardFactor), no level spent.
      const alpha = forwardFactor(config.sigmoid, n);
      const own = await weights.forward(matvec, gatherRows(data.X, data.width, batch, alpha), n, alpha);
      const scaledT = sum(evaluator, [...forwards, own]);
      const labels = Float64Array.from(batch, (r) => y[r]!);
      const { residual, lossTerm, lossBound, loss } = batchResidual(evaluator, config.sigmoid, scaledT, labels);
      await Promise.all([...features.values()].map((c) => c.send(message('train.residual', { epoch, batch: b, residual }))));

      const step = await weights.gradient(matvec, residual, gatherRows(data.X, data.width, batch, weights.gradientFactor(n)), n);
      await weights.step(step, (ct) => arbiter.refresh(ct, weights.period, epoch, b));

      // Taylor loss: log 2 − ½·mean(y′z) + ⅛·mean(z²), y′ = 2y − 1, from one revealed value.
      const [term] = await arbiter.reveal('loss', lossTerm, 1, lossBound, epoch, b);
      lossSum += loss(term!) * n;
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
 * (Label) Probabilities of the validation rows: the feature parties send [[u_k]], the label
 * adds its own [[X_L·w_L]] and reveals z through the arbiter, chunk by chunk.
 */
async function scoreValidation(
  evaluator: HeEvaluator,
  matvec: MatvecRunner,
  arbiter: TrainingArbiterSession,
  features: ReadonlyMap<string, Channel>,
  data: PartyData,
  weights: CiphertextBytes,
  epoch: number,
): Promise<Float64Array> {
  const rows = data.validationRows;
  const parts = await Promise.all([...features.values()].map(async (c) => (await c.receive('eval.forward')).scores));
  const own = await matvec.matvecReplicated(weights, gatherRows(data.X, data.width, rows), rows.length, data.width);
  const total = sum(evaluator, [...parts, own]);
  const scores = new Float64Array(rows.length);
  const S = evaluator.slotCount;
  for (let c = 0; c < total.length; c++) {
    const count = Math.min(S, rows.length - c * S);
    const z = await arbiter.reveal('validation', total[c]!, count, SCORE_BOUND, epoch, 0);
    for (let i = 0; i < count; i++) scores[c * S + i] = sigmoid(z[i]!);
  }
  return scores;
}
