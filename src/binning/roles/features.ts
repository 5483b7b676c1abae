/**
 * (Features) An agency's role in binning: it bins its own features on the aligned rows,
 * merges bins below the minimum size, and multiplies its 0/1 bin-membership matrix by the
 * bank's encrypted labels. It sends the bank its bins' row counts and the encrypted per-bin
 * label sums, and learns back one IV per feature. Its edges and feature names never leave
 * it; it never sees a label, a bin's bad count or a WOE. Protocol: ../protocol.ts.
 */
import { errors } from '../../errors.ts';
import type { FeatureTable } from '../../data/table.ts';
import type { CiphertextBytes, HeBackend, PublicKeyBundle } from '../../he/backend.ts';
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
import { BLOCK_CHUNKS, binGroups, binRotationSteps, productColumnsOf, type BinGroup } from '../protocol.ts';

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
  readonly features: readonly { readonly name: string; readonly bins: FeatureBins }[];
  /** The IV of each feature, as the bank computed it. */
  readonly iv: readonly number[];
}

export async function runBinningFeatureParty(options: BinningFeaturePartyOptions): Promise<BinningFeaturePartyResult> {
  return abortingPeersOnFailure([options.label, options.arbiter], () => featureParty(options));
}

async function featureParty(options: BinningFeaturePartyOptions): Promise<BinningFeaturePartyResult> {
  const { config, table, label, name } = options;
  const alignment = await alignAsFeatureParty(table, name, label, { jobId: config.jobId, seed: config.seed, idType: options.idType, backend: config.psiBackend, executor: options.psiExecutor });
  const features = binTable(table, alignment.rows, config.rule);
  const bins = features.map((f) => f.bins.counts.length);
  const missing = features.map((f) => (f.bins.missingCount > 0 ? 1 : 0));
  const columns = productColumnsOf(bins, missing);

  const arbiter = new ArbiterClient(options.arbiter);
  const slots = binningParams(config).polyModulusDegree / 2;
  const bundle = await arbiter.requestKeys(binRotationSteps(binGroups(columns, slots), slots));
  const evaluator = await options.heBackend.createEvaluator(bundle);
  try {
    await arbiter.done();
    const matvec: MatvecRunner = options.matvec ? await options.matvec(bundle) : inlineMatvec(evaluator);
    const { labels } = await label.receive('bin.labels');
    const rows = alignment.rows.length;
    const S = evaluator.slotCount;
    if (labels.length !== Math.ceil(rows / S)) throw errors.protocol(`bin.labels holds ${labels.length} ciphertext(s), ${rows} aligned rows need ${Math.ceil(rows / S)}`);
    const sums: CiphertextBytes[] = [];
    for (const group of binGroups(columns, S)) {
      let total: CiphertextBytes | undefined;
      for (let first = 0; first < rows; first += BLOCK_CHUNKS * S) {
        const blockRows = Math.min(BLOCK_CHUNKS * S, rows - first);
        const M = membership(features, group, columns, first, blockRows);
        const part = await matvec.matvecTransposed(labels.slice(first / S, Math.ceil((first + blockRows) / S)), M, blockRows, group.width);
        total = total === undefined ? part : evaluator.add([total], [part])[0]!;
      }
      sums.push(total!);
    }
    const counts = features.flatMap((f) => [...f.bins.counts, ...(f.bins.missingCount > 0 ? [f.bins.missingCount] : [])]);
    await label.send(message('bin.sums', { bins, missing, counts, sums }));
    const { iv } = await label.receive('bin.iv');
    if (iv.length !== features.length) throw errors.protocol(`bin.iv holds ${iv.length} values for ${features.length} features`);
    return { alignedRows: alignment.rows, features, iv };
  } finally {
    evaluator.dispose();
  }
}

/**
 * Rows [first, first + blockRows) of the 0/1 bin-membership matrix of one group's features:
 * bin b >= 1 in column b − 1 (the missing-value bin, numbered last, lands in the last column);
 * the first bin has no column.
 */
function membership(features: readonly { bins: FeatureBins }[], group: BinGroup, columns: readonly number[], first: number, blockRows: number): Float64Array {
  const M = new Float64Array(blockRows * group.width);
  let offset = 0;
  for (let j = group.firstFeature; j < group.firstFeature + group.features; j++) {
    const binOf = features[j]!.bins.binOf;
    for (let i = 0; i < blockRows; i++) {
      const bin = binOf[first + i]!;
      if (bin > 0) M[i * group.width + offset + bin - 1] = 1;
    }
    offset += columns[j]!;
  }
  return M;
}
