/**
 * (Features) An agency's role in encrypted-model training (../encrypted-model.ts): it holds
 * features about enterprises and ends with its own slice of the model, which never leaves it.
 *
 * Per mini-batch it sends its partial scores encrypted, receives the encrypted residual,
 * updates its encrypted weights with its encrypted gradient, and has the arbiter refresh
 * them into a fresh ciphertext. During training it receives ciphertexts only: no gradient,
 * no residual, no loss, no other party's score. At the end it learns its own final weights
 * (or keeps them encrypted).
 */
import type { FeatureTable } from '../../data/table.ts';
import type { CiphertextBytes, HeBackend, PublicKeyBundle } from '../../he/backend.ts';
import type { IdType } from '../../ids/normalise.ts';
import type { PsiExecutor } from '../../psi/executor.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message } from '../../protocol/messages.ts';
import { errors } from '../../errors.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import { alignAsFeatureParty } from '../align.ts';
import { ArbiterClient } from '../arbiter-client.ts';
import { MIN_ROWS_PER_FEATURE, type TrainingConfig } from '../config.ts';
import { smallestBatch } from '../batch-size.ts';
import { batchesPerEpoch, EncryptedWeights, forwardFactor, TrainingArbiterSession, WEIGHT_BOUND } from '../encrypted-model.ts';
import { gatherRows, preparePartyData, type PartyData } from '../party-data.ts';
import { inlineMatvec, rotationStepsFor, slotCountFor, type MatvecRunner } from '../protocol.ts';
import { epochBatches } from '../split.ts';

export interface FeaturePartyOptions {
  readonly name: string;
  readonly config: TrainingConfig;
  readonly idType: IdType;
  readonly table: FeatureTable;
  readonly label: Channel;
  readonly arbiter: Channel;
  readonly psiExecutor: PsiExecutor;
  readonly heBackend: HeBackend;
  readonly matvec?: (bundle: PublicKeyBundle) => Promise<MatvecRunner>;
}

export interface FeaturePartyResult {
  readonly alignedRows: Uint32Array;
  readonly data: PartyData;
  /** Its final weights; null when kept encrypted. */
  readonly weights: Float64Array | null;
  readonly encryptedWeights: CiphertextBytes;
  readonly epochsRun: number;
}

export async function runFeatureParty(options: FeaturePartyOptions): Promise<FeaturePartyResult> {
  return abortingPeersOnFailure([options.label, options.arbiter], () => featureParty(options));
}

async function featureParty(options: FeaturePartyOptions): Promise<FeaturePartyResult> {
  const { config, table, label, name } = options;
  const alignment = await alignAsFeatureParty(table, name, label, { jobId: config.jobId, seed: config.seed, idType: options.idType, backend: config.psiBackend, executor: options.psiExecutor });
  const data = preparePartyData(table, alignment.rows, config, false);
  await label.send(message('train.ready', { features: data.width }));
  const { batchSize } = await label.receive('train.start');
  checkBatchSize(batchSize, config.batchSize, data.trainRows.length, data.width);

  const bundle = await new ArbiterClient(options.arbiter).requestKeys(rotationStepsFor(data.width, slotCountFor(config), false));
  const evaluator = await options.heBackend.createEvaluator(bundle);
  try {
    const arbiter = new TrainingArbiterSession(options.arbiter, evaluator);
    await arbiter.plan({
      epochs: config.epochs,
      batchesPerEpoch: batchesPerEpoch(data.trainRows.length, batchSize),
      validationRows: data.validationRows.length,
      widths: [data.width],
      vectors: config.momentum > 0 ? 2 : 1,
      keepEncrypted: config.keepEncrypted,
    });
    const matvec: MatvecRunner = options.matvec ? await options.matvec(bundle) : inlineMatvec(evaluator);
    const weights = new EncryptedWeights(evaluator, data.width, config);
    let stopped = false;
    let epoch = 0;
    for (; !stopped && epoch < config.epochs; epoch++) {
      const batches = epochBatches(data.trainRows, batchSize, config.seed, epoch);
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b]!;
        const n = batch.length;
        const alpha = forwardFactor(config.sigmoid, n);
        const scores = await weights.forward(matvec, gatherRows(data.X, data.width, batch, alpha), n, alpha);
        await label.send(message('train.forward', { epoch, batch: b, scores }));
        const { residual, epoch: e, batch: rb } = await label.receive('train.residual');
        if (e !== epoch || rb !== b) throw errors.protocol(`the label party sent the residual of batch ${e}/${rb}, expected ${epoch}/${b}`);
        const step = await weights.gradient(matvec, residual, gatherRows(data.X, data.width, batch, weights.gradientFactor(n)), n);
        await weights.step(step, (ct) => arbiter.refresh(ct, weights.period, epoch, b));
      }
      weights.endEpoch();
      const end = await label.receive('train.epochEnd');
      if (end.epoch !== epoch) throw errors.protocol(`the label party ended epoch ${end.epoch}, expected ${epoch}`);
      stopped = end.stop;
    }
    const final = weights.averaged ? await arbiter.refresh(weights.final(), weights.period, config.epochs, 0) : weights.final();
    const rows = data.validationRows;
    await label.send(message('eval.forward', { scores: await matvec.matvecReplicated(final, gatherRows(data.X, data.width, rows), rows.length, data.width) }));
    const revealed = config.keepEncrypted ? null : await arbiter.reveal('weights', final, data.width, WEIGHT_BOUND, config.epochs, 0);
    await arbiter.done();
    return { alignedRows: alignment.rows, data, weights: revealed, encryptedWeights: final, epochsRun: epoch };
  } finally {
    evaluator.dispose();
  }
}

/** The label party's batch size: the job's, when it names one, and never one that leaves a batch too small to hide the residuals from this party. */
function checkBatchSize(chosen: number, configured: number | 'auto', trainRows: number, width: number): void {
  if (configured !== 'auto' && chosen !== configured) throw errors.protocol(`the label party trains with batch size ${chosen}, the job says ${configured}`);
  if (chosen < 1 || smallestBatch(trainRows, chosen) < MIN_ROWS_PER_FEATURE * width) {
    throw errors.protocol(`the label party's batch size ${chosen} leaves batches smaller than ${MIN_ROWS_PER_FEATURE} × ${width}, this party's feature count`);
  }
}
