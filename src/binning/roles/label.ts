/**
 * (Label) The bank's role in binning: it bins its own features in the clear, encrypts the
 * aligned rows' labels under the arbiter's key for every agency (packed for that agency's
 * bin layout, he/coefficients.ts), has the arbiter decrypt
 * the agencies' per-bin label sums masked (it alone removes the masks), and computes WOE
 * and IV for every feature. It learns per-bin row and bad counts of agency bins, never
 * which enterprise is in which bin, nor an agency's edges or values. It tells the agencies
 * nothing back: no IV, WOE or count, nor which features screening kept (an agency that
 * crafts its features could solve IVs for labels: test/attacks/binning-iv-labels.test.ts).
 * Protocol: ../protocol.ts.
 */
import { errors } from '../../errors.ts';
import type { FeatureTable } from '../../data/table.ts';
import type { HeBackend, HeEvaluator } from '../../he/backend.ts';
import { chooseRowsPerChunk, columnsPerCiphertext, sumCiphertextsFor } from '../../he/coefficients.ts';
import type { IdType } from '../../ids/normalise.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import { alignAsLabel } from '../../lr/align.ts';
import { ArbiterClient } from '../../lr/arbiter-client.ts';
import type { PsiExecutor } from '../../psi/executor.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message, type MessageOf } from '../../protocol/messages.ts';
import { binTable, type FeatureBins } from '../bins.ts';
import { binningParams, type BinningConfig } from '../config.ts';
import { columnsOf, exactCounts, productColumnsOf } from '../protocol.ts';
import { featureEvidence, type FeatureEvidence } from '../woe.ts';

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
  const N = binningParams(config).polyModulusDegree;
  try {
    // Each agency's labels are packed for its own layout: the fewest ciphertexts both ways.
    const layouts = new Map<string, Layout>();
    await Promise.all(
      [...features].map(async ([name, channel]) => {
        const layout = layoutOf(await channel.receive('bin.layout'), rows, name);
        const rowsPerChunk = chooseRowsPerChunk(rows, layout.width, N);
        layouts.set(name, { ...layout, rowsPerChunk });
        await channel.send(message('bin.labels', { rowsPerChunk, labels: evaluator.encryptCoefficients(y, rowsPerChunk) }));
      }),
    );
    const agencies = new Map<string, FeatureEvidence[]>();
    for (const [name, channel] of features) {
      const { sums } = await channel.receive('bin.sums');
      agencies.set(name, await evidenceOf(sums, layouts.get(name)!, { rows, bads, evaluator, arbiter, party: name, N }));
    }
    await arbiter.done();
    return { alignedRows: alignment.rows, bads, own, agencies };
  } finally {
    evaluator.dispose();
  }
}

interface Layout {
  readonly bins: readonly number[];
  readonly missing: readonly number[];
  readonly counts: readonly number[];
  /** Product columns: the sums the agency computes. */
  readonly width: number;
  readonly rowsPerChunk: number;
}

/** Checks an agency's bin layout: every feature's bins, each a count, adding up to the aligned rows. */
function layoutOf(reply: MessageOf<'bin.layout'>, rows: number, party: string): Omit<Layout, 'rowsPerChunk'> {
  const { bins, missing, counts } = reply;
  const bad = (why: string) => errors.protocol(`bin.layout from ${party}: ${why}`);
  if (bins.length === 0 || bins.length !== missing.length || !bins.every((b) => Number.isInteger(b) && b >= 2) || !missing.every((m) => m === 0 || m === 1)) throw bad('malformed bin layout');
  const columns = columnsOf(bins, missing);
  const total = columns.reduce((a, c) => a + c, 0);
  if (counts.length !== total || !counts.every((c) => Number.isInteger(c) && c >= 0)) throw bad(`expected ${total} non-negative integer counts`);
  let column = 0;
  for (const [j, width] of columns.entries()) {
    if (counts.slice(column, column + width).reduce((a, v) => a + v, 0) !== rows) throw bad(`feature ${j}'s bins do not add up to the ${rows} aligned rows`);
    column += width;
  }
  return { bins, missing, counts, width: productColumnsOf(bins, missing).reduce((a, c) => a + c, 0) };
}

interface RevealContext {
  readonly rows: number;
  readonly bads: number;
  readonly evaluator: HeEvaluator;
  readonly arbiter: ArbiterClient;
  readonly party: string;
  readonly N: number;
}

/** Reveals an agency's per-bin bad counts exactly and computes WOE and IV. */
async function evidenceOf(sums: readonly Uint8Array[], layout: Layout, context: RevealContext): Promise<FeatureEvidence[]> {
  const { rowsPerChunk, width } = layout;
  const bad = (why: string) => errors.protocol(`bin.sums from ${context.party}: ${why}`);
  const expected = sumCiphertextsFor(width, rowsPerChunk, context.N);
  if (sums.length !== expected) throw bad(`expected ${expected} ciphertexts, got ${sums.length}`);
  const perCiphertext = columnsPerCiphertext(context.N, rowsPerChunk);
  const badCounts: number[] = [];
  for (const [g, ct] of sums.entries()) {
    const count = Math.min(perCiphertext, width - g * perCiphertext);
    badCounts.push(...exactCounts(await context.arbiter.revealCoefficients(ct, { rows: context.rows, rowsPerChunk }, count)));
  }
  let column = 0;
  let productColumn = 0;
  return columnsOf(layout.bins, layout.missing).map((columns, j) => {
    const c = layout.counts.slice(column, column + columns);
    const rest = badCounts.slice(productColumn, productColumn + columns - 1);
    const b = [context.bads - rest.reduce((a, v) => a + v, 0), ...rest];
    column += columns;
    productColumn += columns - 1;
    if (b.some((v, i) => v < 0 || v > c[i]!)) throw bad(`feature ${j} has a bin with more bads than rows`);
    return featureEvidence(c, b, layout.missing[j] === 1, context.rows, context.bads);
  });
}
