/**
 * (Features) An agency's role in binning: it bins its own features on the aligned rows,
 * merges bins below the minimum size, sends the bank its bins' row counts, and sums the
 * bank's encrypted labels per bin (its 0/1 bin-membership matrix times them, coefficient-
 * packed: he/coefficients.ts). It sends the bank the encrypted, blinded per-bin label sums
 * and learns nothing back: no IV (with features it crafted, IVs would give it the labels:
 * test/attacks/binning-iv-labels.test.ts), no WOE, no bad count. Its edges and feature
 * names never leave it. Protocol: ../protocol.ts.
 */
import { errors } from '../../errors.ts';
import type { FeatureTable } from '../../data/table.ts';
import type { HeBackend, PublicKeyBundle } from '../../he/backend.ts';
import { checkRowsPerChunk, chunksFor } from '../../he/coefficients.ts';
import type { IdType } from '../../ids/normalise.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import { alignAsFeatureParty } from '../../lr/align.ts';
import { ArbiterClient } from '../../lr/arbiter-client.ts';
import { inlineMatvec, type MatvecRunner } from '../../lr/protocol.ts';
import type { PsiExecutor } from '../../psi/executor.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message } from '../../protocol/messages.ts';
import { binTable, type FeatureBins } from '../bins.ts';
import { binningParams, type BinningConfig } from '../config.ts';
import { columnIndexOf } from '../protocol.ts';

export interface BinningFeaturePartyOptions {
  readonly name: string;
  readonly config: BinningConfig;
  readonly idType: IdType;
  readonly table: FeatureTable;
  readonly label: Channel;
  readonly arbiter: Channel;
  readonly psiExecutor: PsiExecutor;
  readonly heBackend: HeBackend;
  readonly matvec?: (bundle: PublicKeyBundle) => Promise<MatvecRunner>;
}

export interface BinningFeaturePartyResult {
  readonly alignedRows: Uint32Array;
  /** Its features' bins (edges included): its part of the job's binning, nothing label-derived. */
  readonly features: readonly { readonly name: string; readonly bins: FeatureBins }[];
}

export async function runBinningFeatureParty(options: BinningFeaturePartyOptions): Promise<BinningFeaturePartyResult> {
  return abortingPeersOnFailure([options.label, options.arbiter], () => featureParty(options));
}

async function featureParty(options: BinningFeaturePartyOptions): Promise<BinningFeaturePartyResult> {
  const { config, table, label, name } = options;
  const alignment = await alignAsFeatureParty(table, name, label, { jobId: config.jobId, seed: config.seed, idType: options.idType, backend: config.psiBackend, executor: options.psiExecutor });
  // Bins are fixed, small ones merged, before anything about them leaves this party.
  const features = binTable(table, alignment.rows, config.rule);
  const bins = features.map((f) => f.bins.counts.length);
  const missing = features.map((f) => (f.bins.missingCount > 0 ? 1 : 0));
  const counts = features.flatMap((f) => [...f.bins.counts, ...(f.bins.missingCount > 0 ? [f.bins.missingCount] : [])]);
  await label.send(message('bin.layout', { bins, missing, counts }));
  const rows = alignment.rows.length;
  const columns = columnIndexOf(features, rows);

  const arbiter = new ArbiterClient(options.arbiter);
  const bundle = await arbiter.requestKeys([]);
  const evaluator = await options.heBackend.createEvaluator(bundle);
  try {
    await arbiter.done();
    const matvec: MatvecRunner = options.matvec ? await options.matvec(bundle) : inlineMatvec(evaluator);
    const { rowsPerChunk, labels } = await label.receive('bin.labels');
    checkRowsPerChunk(rowsPerChunk, binningParams(config).polyModulusDegree);
    const chunks = chunksFor({ rows, rowsPerChunk });
    if (labels.length !== chunks) throw errors.protocol(`bin.labels holds ${labels.length} ciphertext(s), ${rows} aligned rows in chunks of ${rowsPerChunk} need ${chunks}`);
    const sums = await matvec.columnSums(labels, rowsPerChunk, columns);
    await label.send(message('bin.sums', { sums }));
    return { alignedRows: alignment.rows, features };
  } finally {
    evaluator.dispose();
  }
}
