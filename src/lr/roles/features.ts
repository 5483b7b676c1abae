/**
 * (Features) An agency's role in training: it holds features about enterprises and ends
 * with its own slice of the model (its weights and scaler), which never leaves it.
 *
 * Per mini-batch it sends its partial scores encrypted, receives the encrypted residual,
 * computes its encrypted gradient Xᵀ[[d]]/|B| and learns that gradient, and nothing else,
 * through the arbiter's masked decryption. It never sees a label, a residual, another
 * party's score, or the loss. Protocol details: ../protocol.ts.
 *
 * With a checkpoint store it saves its own state after every epoch, before it goes on, and
 * on a rerun of the job tells the label how many epochs it holds; the label picks the epoch
 * all parties can resume from (../checkpoint.ts).
 */
import { errors } from '../../errors.ts';
import type { FeatureTable } from '../../data/table.ts';
import type { HeBackend, PublicKeyBundle } from '../../he/backend.ts';
import type { IdType } from '../../ids/normalise.ts';
import type { PsiExecutor } from '../../psi/executor.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message } from '../../protocol/messages.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import { alignAsFeatureParty } from '../align.ts';
import { ArbiterClient } from '../arbiter-client.ts';
import { checkpoint, resumeTraining, type CheckpointStore } from '../checkpoint.ts';
import { MIN_ROWS_PER_FEATURE, type TrainingConfig } from '../config.ts';
import { smallestBatch } from '../batch-size.ts';
import { gatherRows, linearScores, preparePartyData, type PartyData } from '../party-data.ts';
import { gradientBound, inlineMatvec, lossScale, residualScale, rotationStepsFor, slotCountFor, type MatvecRunner } from '../protocol.ts';
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
  /** This party's own checkpoints of this job: saved after every epoch, resumed from on a rerun. */
  readonly checkpoints?: CheckpointStore;
}

export interface FeaturePartyResult {
  readonly alignedRows: Uint32Array;
  readonly data: PartyData;
  readonly weights: Float64Array;
  readonly epochsRun: number;
}

export async function runFeatureParty(options: FeaturePartyOptions): Promise<FeaturePartyResult> {
  return abortingPeersOnFailure([options.label, options.arbiter], () => featureParty(options));
}

async function featureParty(options: FeaturePartyOptions): Promise<FeaturePartyResult> {
  const { config, table, label, name, checkpoints } = options;
  const alignment = await alignAsFeatureParty(table, name, label, { jobId: config.jobId, seed: config.seed, idType: options.idType, backend: config.psiBackend, executor: options.psiExecutor });
  const data = preparePartyData(table, alignment.rows, config, false);
  await label.send(message('train.ready', { features: data.width }));
  const completedEpochs = checkpoints ? (await checkpoints.latestEpoch()) + 1 : 0;
  await label.send(message('train.resumeFrom', { completedEpochs }));
  const start = await label.receive('train.start');
  checkBatchSize(start.batchSize, config.batchSize, data.trainRows.length, data.width);
  if (start.epoch > completedEpochs) {
    throw errors.protocol(`the label party resumes at epoch ${start.epoch}, but this party completed only ${completedEpochs}`);
  }
  const { weights } = await resumeTraining(checkpoints, start.epoch, { name, role: 'features', config, width: data.width });

  const arbiter = new ArbiterClient(options.arbiter);
  const bundle = await arbiter.requestKeys(rotationStepsFor(data.width, slotCountFor(config), false));
  const evaluator = await options.heBackend.createEvaluator(bundle);
  arbiter.use(evaluator);
  try {
    const matvec: MatvecRunner = options.matvec ? await options.matvec(bundle) : inlineMatvec(evaluator);
    const a = residualScale(config.sigmoid);
    let stopped = start.stop;
    let epoch = start.epoch;
    for (; !stopped && epoch < config.epochs; epoch++) {
      const batches = epochBatches(data.trainRows, start.batchSize, config.seed, epoch);
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b]!;
        const n = batch.length;
        const u = linearScores(data.X, data.width, batch, weights.current);
        await label.send(
          message('train.forward', {
            epoch,
            batch: b,
            scores: evaluator.encrypt(u.map((v) => a * v)),
            lossScores: evaluator.encrypt(u.map((v) => v * lossScale(n))),
          }),
        );
        const { residual, epoch: e, batch: rb } = await label.receive('train.residual');
        if (e !== epoch || rb !== b) throw errors.protocol(`the label party sent the residual of batch ${e}/${rb}, expected ${epoch}/${b}`);
        const gradientCt = await matvec.matvecTransposed(residual, gatherRows(data.X, data.width, batch, 1 / n), n, data.width);
        weights.step(await arbiter.reveal(gradientCt, data.width, gradientBound(config)));
      }
      weights.endEpoch();
      // Saved before waiting for the label, so a crash from here on never loses this epoch.
      await checkpoints?.save(checkpoint({ jobId: config.jobId, party: name, role: 'features', epoch, ...weights.toJSON(), label: null }));
      const end = await label.receive('train.epochEnd');
      if (end.epoch !== epoch) throw errors.protocol(`the label party ended epoch ${end.epoch}, expected ${epoch}`);
      stopped = end.stop;
    }
    const final = weights.final();
    const validationScores = linearScores(data.X, data.width, data.validationRows, final);
    await label.send(message('eval.forward', { scores: evaluator.encrypt(validationScores) }));
    await arbiter.done();
    return { alignedRows: alignment.rows, data, weights: final, epochsRun: epoch };
  } finally {
    evaluator.dispose();
  }
}

/** The label chooses the batch size; this party holds it to the job's setting and to the rule for its own features. */
function checkBatchSize(chosen: number, configured: number | 'auto', trainRows: number, width: number): void {
  if (configured !== 'auto' && chosen !== configured) throw errors.protocol(`the label party trains with batch size ${chosen}, the job says ${configured}`);
  if (chosen < 1 || smallestBatch(trainRows, chosen) < MIN_ROWS_PER_FEATURE * width) {
    throw errors.protocol(`the label party's batch size ${chosen} leaves batches smaller than ${MIN_ROWS_PER_FEATURE} × ${width}, this party's feature count`);
  }
}
