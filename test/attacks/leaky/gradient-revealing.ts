/**
 * DELIBERATELY LEAKY. The gradient-revealing protocol jinqiao used before the encrypted
 * model, kept only as the positive control of the attacks (and never reachable from the
 * CLI, the services or the library's exports): each party keeps its weights in the clear,
 * sends [[a·u_k]], receives [[d]], and has the arbiter decrypt its own gradient
 * X_p[B]ᵀd/|B| every batch (masked, so the arbiter learns nothing, but the party does).
 *
 * Every party here is the honest party of that protocol; what it learned is returned as its
 * view (its own partial scores and revealed gradients per batch), which is exactly what a
 * curious party holds. Mock HE by default: the attacks concern what is revealed, not the
 * encryption; bench/train.ts runs it under CKKS as the speed baseline of the encrypted model.
 */
import { ArbiterClient } from '../../../src/lr/arbiter-client.ts';
import type { FeatureTable } from '../../../src/data/table.ts';
import { mockBackend } from '../../../src/he/mock.ts';
import type { HeBackend, HeEvaluator, PublicKeyBundle } from '../../../src/he/backend.ts';
import { DEGREE1_PARAMS } from '../../../src/he/params.ts';
import { alignAsFeatureParty, alignAsLabel } from '../../../src/lr/align.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../../../src/lr/config.ts';
import { gatherRows, linearScores, preparePartyData, type PartyData } from '../../../src/lr/party-data.ts';
import { inlineMatvec, rotationStepsFor, type MatvecRunner } from '../../../src/lr/protocol.ts';
import { runAnyPartyArbiter } from './any-party-arbiter.ts';
import { epochBatches } from '../../../src/lr/split.ts';
import { PartyWeights } from './party-weights.ts';
import { inlineExecutor } from '../../../src/psi/executor.ts';
import { settleParties } from '../../../src/local/settle.ts';
import type { Channel } from '../../../src/protocol/channel.ts';
import { memoryChannelPair } from '../../../src/transport/memory.ts';
import { message } from '../../../src/protocol/messages.ts';

const SLOPE = 0.25;
const GRADIENT_BOUND = 32;

/** What a party of the leaky protocol learned in one batch. */
export interface RevealedBatch {
  readonly epoch: number;
  readonly batch: number;
  /** Positions (in the aligned order) of the batch's rows. */
  readonly rows: Uint32Array;
  /** Its own partial scores X_p[B]·w_p before the update. */
  readonly ownScores: Float64Array;
  /** Its own gradient X_p[B]ᵀd/|B|, as decrypted for it. */
  readonly gradient: Float64Array;
}

export interface LeakyPartyView {
  readonly data: PartyData;
  readonly batches: RevealedBatch[];
  readonly finalWeights: Float64Array;
}

export interface LeakyRun {
  readonly label: LeakyPartyView & { readonly labels: Uint8Array };
  readonly agencies: LeakyPartyView[];
}

export interface LeakyRunOptions {
  /** Default: the mock (the attacks need only what is revealed); CKKS for the benchmark baseline. */
  readonly backend?: HeBackend;
  /** Called by the bank at the end of every epoch. */
  readonly onEpochEnd?: () => void;
  /** A pool for Xᵀ[[d]] holding the job's keys (the benchmark's all-cores run); default inline. */
  readonly matvec?: (bundle: PublicKeyBundle) => Promise<MatvecRunner>;
}

/** Runs the leaky protocol between a bank and its agencies, all in one process. */
export async function runLeakyTraining(label: FeatureTable, agencies: readonly FeatureTable[], partial: Partial<TrainingConfig>, options: LeakyRunOptions = {}): Promise<LeakyRun> {
  const backend = options.backend ?? mockBackend;
  const config = resolveTrainingConfig({ ...partial, he: backend.name, jobId: 'leaky' });
  const params = { ...DEGREE1_PARAMS, scheme: backend.name };
  const executor = inlineExecutor();
  const toArbiter = [label, ...agencies].map((_, k) => memoryChannelPair(`party-${k}`, 'arbiter'));
  const links = agencies.map((_, k) => memoryChannelPair('bank', `agency-${k}`));
  const [bank, ...rest] = await settleParties<[LeakyRun['label'], ...LeakyPartyView[]]>([
    leakyLabel(config, label, new Map(links.map(([bankSide], k) => [`agency-${k}`, bankSide])), toArbiter[0]![0], executor, options),
    ...agencies.map((table, k) => leakyAgency(config, `agency-${k}`, table, links[k]![1], toArbiter[k + 1]![0], executor, options)),
    runAnyPartyArbiter(backend, params, toArbiter.map(([, arbiterSide]) => arbiterSide)).then(() => undefined as never),
  ]);
  return { label: bank, agencies: rest.slice(0, agencies.length) as LeakyPartyView[] };
}

async function keys(arbiterChannel: Channel, width: number, sumsSlots: boolean, options: LeakyRunOptions): Promise<{ arbiter: ArbiterClient; evaluator: HeEvaluator; matvec: MatvecRunner }> {
  const arbiter = new ArbiterClient(arbiterChannel);
  const bundle = await arbiter.requestKeys(rotationStepsFor(width, DEGREE1_PARAMS.polyModulusDegree / 2, sumsSlots));
  const evaluator = await (options.backend ?? mockBackend).createEvaluator(bundle);
  arbiter.use(evaluator);
  return { arbiter, evaluator, matvec: options.matvec ? await options.matvec(bundle) : inlineMatvec(evaluator) };
}

async function leakyAgency(config: TrainingConfig, name: string, table: FeatureTable, label: Channel, arbiterChannel: Channel, executor: ReturnType<typeof inlineExecutor>, options: LeakyRunOptions): Promise<LeakyPartyView> {
  const alignment = await alignAsFeatureParty(table, name, label, { jobId: config.jobId, seed: config.seed, idType: 'plain', backend: config.psiBackend, executor });
  const data = preparePartyData(table, alignment.rows, config, false);
  await label.send(message('train.ready', { features: data.width }));
  const { arbiter, evaluator, matvec } = await keys(arbiterChannel, data.width, false, options);
  const weights = new PartyWeights(data.width, config);
  const batches: RevealedBatch[] = [];
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const cut = epochBatches(data.trainRows, fixedBatch(config), config.seed, epoch);
    for (let b = 0; b < cut.length; b++) {
      const rows = cut[b]!;
      const u = linearScores(data.X, data.width, rows, weights.current);
      const root = Math.sqrt(rows.length);
      await label.send(message('train.forward', { epoch, batch: b, scores: evaluator.encrypt(u.map((v) => (SLOPE * v) / root)) }));
      const { residual } = await label.receive('train.residual');
      const ct = await matvec.matvecTransposed(residual, gatherRows(data.X, data.width, rows, 1 / root), rows.length, data.width);
      const gradient = await arbiter.reveal(ct, data.width, GRADIENT_BOUND);
      batches.push({ epoch, batch: b, rows: rows.slice(), ownScores: u, gradient });
      weights.step(gradient);
    }
    weights.endEpoch();
    await label.receive('train.epochEnd');
  }
  await arbiter.done();
  return { data, batches, finalWeights: weights.final() };
}

export async function leakyLabel(
  config: TrainingConfig,
  table: FeatureTable,
  features: ReadonlyMap<string, Channel>,
  arbiterChannel: Channel,
  executor: ReturnType<typeof inlineExecutor>,
  options: LeakyRunOptions = {},
): Promise<LeakyRun['label']> {
  const alignment = await alignAsLabel(table, features, { jobId: config.jobId, seed: config.seed, idType: 'plain', backend: config.psiBackend, executor });
  const data = preparePartyData(table, alignment.rows, config, true);
  const y = Uint8Array.from(alignment.rows, (r) => table.labels![r]!);
  for (const channel of features.values()) await channel.receive('train.ready');
  const { arbiter, evaluator, matvec } = await keys(arbiterChannel, data.width, true, options);
  const weights = new PartyWeights(data.width, config, data.width - 1);
  const batches: RevealedBatch[] = [];
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const cut = epochBatches(data.trainRows, fixedBatch(config), config.seed, epoch);
    for (let b = 0; b < cut.length; b++) {
      const rows = cut[b]!;
      const parts = await Promise.all([...features.values()].map(async (c) => (await c.receive('train.forward')).scores));
      const u = linearScores(data.X, data.width, rows, weights.current);
      const root = Math.sqrt(rows.length);
      // [[t/√n]], t = z/4, as in the encrypted model: the residual and the loss without a level.
      let t = evaluator.addPlain(parts[0]!, u.map((v) => (SLOPE * v) / root));
      for (const part of parts.slice(1)) t = evaluator.add(t, part);
      const residual = evaluator.addPlain(t, Float64Array.from(rows, (r) => (0.5 - y[r]!) / root));
      await Promise.all([...features.values()].map((c) => c.send(message('train.residual', { epoch, batch: b, residual }))));
      const ct = await matvec.matvecTransposed(residual, gatherRows(data.X, data.width, rows, 1 / root), rows.length, data.width);
      const gradient = await arbiter.reveal(ct, data.width, GRADIENT_BOUND);
      // The loss, as the encrypted model has it decrypted: log 2 + 2·mean(t² − y′t).
      const lossTerms = evaluator.add(evaluator.square(t), evaluator.multiplyPlain(t, Float64Array.from(rows, (r) => -(2 * y[r]! - 1) / root)));
      await arbiter.reveal(evaluator.sumAllSlots(lossTerms), 1, 16);
      batches.push({ epoch, batch: b, rows: rows.slice(), ownScores: u, gradient });
      weights.step(gradient);
    }
    weights.endEpoch();
    await Promise.all([...features.values()].map((c) => c.send(message('train.epochEnd', { epoch, stop: false }))));
    options.onEpochEnd?.();
  }
  await arbiter.done();
  return { data, batches, finalWeights: weights.final(), labels: y };
}

/** The leaky variant cuts batches by the job's own size: it takes no part in choosing one. */
function fixedBatch(config: TrainingConfig): number {
  if (config.batchSize === 'auto') throw new Error('the leaky variant needs a fixed batch size');
  return config.batchSize;
}
