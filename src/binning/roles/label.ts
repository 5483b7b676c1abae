/**
 * (Label) The bank's role in binning: it bins its own features in the clear, encrypts the
 * aligned rows' labels under the arbiter's key for every agency, has the arbiter decrypt
 * the agencies' per-bin label sums masked (it alone removes the masks), and computes WOE
 * and IV for every feature. It learns per-bin row and bad counts of agency bins, never
 * which enterprise is in which bin, nor an agency's edges or values. Protocol: ../protocol.ts.
 */
import { errors } from '../../errors.ts';
import type { FeatureTable } from '../../data/table.ts';
import type { CiphertextBytes, HeBackend, HeEvaluator } from '../../he/backend.ts';
import type { IdType } from '../../ids/normalise.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import { alignAsLabel } from '../../lr/align.ts';
import { ArbiterClient } from '../../lr/arbiter-client.ts';
import type { PsiExecutor } from '../../psi/executor.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message, type MessageOf } from '../../protocol/messages.ts';
import { binTable, type FeatureBins } from '../bins.ts';
import type { BinningConfig } from '../config.ts';
import { binGroups, columnsOf, exactCounts, labelScaleBits, productColumnsOf, sumBound } from '../protocol.ts';
import { featureEvidence, type FeatureEvidence } from '../woe.ts';

/** The finest bound the arbiter accepts: the second pass of an exact reveal. */
const REMAINDER_BOUND = 2 ** -3;

export interface BinningLabelPartyOptions {
  readonly config: BinningConfig;
  readonly idType: IdType;
  readonly table: FeatureTable;
  /** Feature party name → channel. */
  readonly features: ReadonlyMap<string, Channel>;
  readonly arbiter: Channel;
  readonly psiExecutor: PsiExecutor;
  readonly heBackend: HeBackend;
}

export interface BinningLabelPartyResult {
  readonly alignedRows: Uint32Array;
  readonly bads: number;
  /** The bank's own features: bins (edges included) and evidence. */
  readonly own: readonly { readonly name: string; readonly bins: FeatureBins; readonly evidence: FeatureEvidence }[];
  /** Per agency (by name), the evidence of each of its features, in its order: no names, no edges. */
  readonly agencies: ReadonlyMap<string, readonly FeatureEvidence[]>;
}

export async function runBinningLabelParty(options: BinningLabelPartyOptions): Promise<BinningLabelPartyResult> {
  return abortingPeersOnFailure([...options.features.values(), options.arbiter], () => labelParty(options));
}

async function labelParty(options: BinningLabelPartyOptions): Promise<BinningLabelPartyResult> {
  const { config, table, features } = options;
  if (!table.labels) throw errors.optionInvalid('--label-column', 'the label party needs a label column');
  const alignment = await alignAsLabel(table, features, { jobId: config.jobId, seed: config.seed, idType: options.idType, backend: config.psiBackend, executor: options.psiExecutor });
  const rows = alignment.rows.length;
  const y = Float64Array.from(alignment.rows, (r) => table.labels![r]!);
  const bads = y.reduce((a, v) => a + v, 0);
  if (bads === 0) throw errors.oneClass('binning on the aligned rows', 0);
  if (bads === rows) throw errors.oneClass('binning on the aligned rows', 1);

  const own = binTable(table, alignment.rows, config.rule).map(({ name, bins }) => {
    const badsPerBin = new Array<number>(bins.counts.length + 1).fill(0);
    for (let i = 0; i < rows; i++) badsPerBin[bins.binOf[i]!]! += y[i]!;
    const hasMissing = bins.missingCount > 0;
    const counts = [...bins.counts, ...(hasMissing ? [bins.missingCount] : [])];
    return { name, bins, evidence: featureEvidence(counts, badsPerBin.slice(0, counts.length), hasMissing, rows, bads) };
  });

  const arbiter = new ArbiterClient(options.arbiter);
  const bundle = await arbiter.requestKeys([]);
  const evaluator = await options.heBackend.createEvaluator(bundle);
  arbiter.use(evaluator);
  try {
    const scaleBits = labelScaleBits(bundle.params, rows);
    const encrypted = evaluator.encrypt(y.map((v) => v / 2 ** scaleBits));
    await Promise.all([...features.values()].map((channel) => channel.send(message('bin.labels', { labels: encrypted }))));
    const agencies = new Map<string, FeatureEvidence[]>();
    for (const [name, channel] of features) {
      const reply = await channel.receive('bin.sums');
      const evidence = await evidenceOf(reply, { rows, bads, scaleBits, evaluator, arbiter, party: name });
      await channel.send(message('bin.iv', { iv: evidence.map((e) => e.iv) }));
      agencies.set(name, evidence);
    }
    await arbiter.done();
    return { alignedRows: alignment.rows, bads, own, agencies };
  } finally {
    evaluator.dispose();
  }
}

interface RevealContext {
  readonly rows: number;
  readonly bads: number;
  readonly scaleBits: number;
  readonly evaluator: HeEvaluator;
  readonly arbiter: ArbiterClient;
  readonly party: string;
}

/** Checks an agency's bin layout, reveals its per-bin bad counts exactly, and computes WOE and IV. */
async function evidenceOf(reply: MessageOf<'bin.sums'>, context: RevealContext): Promise<FeatureEvidence[]> {
  const { bins, missing, counts, sums } = reply;
  const bad = (why: string) => errors.protocol(`bin.sums from ${context.party}: ${why}`);
  if (bins.length !== missing.length || !bins.every((b) => Number.isInteger(b) && b >= 1) || !missing.every((m) => m === 0 || m === 1)) throw bad('malformed bin layout');
  const columns = columnsOf(bins, missing);
  const total = columns.reduce((a, c) => a + c, 0);
  if (counts.length !== total || !counts.every((c) => Number.isInteger(c) && c >= 0)) throw bad(`expected ${total} non-negative integer counts`);
  const productColumns = productColumnsOf(bins, missing);
  const groups = binGroups(productColumns, context.evaluator.slotCount);
  if (sums.length !== groups.length) throw bad(`expected ${groups.length} ciphertexts, got ${sums.length}`);
  const badCounts: number[] = [];
  for (const [g, group] of groups.entries()) badCounts.push(...(await revealExact(sums[g]!, group.width, context)));
  let column = 0;
  let productColumn = 0;
  return columns.map((width, j) => {
    const c = counts.slice(column, column + width);
    const rest = badCounts.slice(productColumn, productColumn + width - 1);
    const b = [context.bads - rest.reduce((a, v) => a + v, 0), ...rest];
    column += width;
    productColumn += width - 1;
    if (c.reduce((a, v) => a + v, 0) !== context.rows) throw bad(`feature ${j}'s bins do not add up to the ${context.rows} aligned rows`);
    if (b.some((v, i) => v < 0 || v > c[i]!)) throw bad(`feature ${j} has a bin with more bads than rows`);
    return featureEvidence(c, b, missing[j] === 1, context.rows, context.bads);
  });
}

/** The first `count` sums of `ct` as exact integers: a reveal to 2^-5, then its remainder to 2^-12. */
async function revealExact(ct: CiphertextBytes, count: number, context: RevealContext): Promise<number[]> {
  const { evaluator, arbiter } = context;
  const coarse = await arbiter.reveal(ct, count, sumBound(context.rows, context.scaleBits));
  const [remainderCt] = evaluator.addPlain([ct], coarse.map((v) => -v));
  const remainder = await arbiter.reveal(remainderCt!, count, REMAINDER_BOUND);
  for (let i = 0; i < count; i++) coarse[i]! += remainder[i]!;
  return exactCounts(coarse, context.scaleBits);
}
