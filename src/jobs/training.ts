/**
 * Training jobs, one runner per role, each doing its party's whole duty once for both hosts:
 * admission gate, the protocol (src/lr/roles/), audit entries written before the action they
 * record, the party's model slice and, for the label party, the job's metrics, predictions,
 * manifest and report. No per-epoch checkpoint is kept: every party's weights are
 * encrypted under a key the arbiter makes for this run alone and does not store, so a
 * resumed job trains again from the first epoch.
 *
 * Message flow before the protocol: the label party passes its own gate, then opens a
 * channel to every feature party and sends each a `job.spec`; a feature party checks the
 * spec, passes its gate (a refusal reaches the label as a code only; a gate waiting for its
 * operator's approval says `job.awaiting-approval` first), connects to the arbiter and
 * accepts. Then the label sends the arbiter its spec; the arbiter (after its own operator's
 * approval, where its policy asks for one) waits for every party the spec names and accepts.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { checkBothClasses } from '../data/table.ts';
import type { IdType } from '../ids/normalise.ts';
import type { TrainingConfig } from '../lr/config.ts';
import { checkTableIds } from '../lr/align.ts';
import { sliceOf, type ModelSlice } from '../lr/model.ts';
import type { IdSourceReport } from '../psi/source.ts';
import type { FeaturePartyResult } from '../lr/roles/features.ts';
import type { LabelPartyResult } from '../lr/roles/label.ts';
import type { Channel } from '../protocol/channel.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { message } from '../protocol/messages.ts';
import { rolesOf, type LoadedTable, type PartyJobContext } from './context.ts';
import { safeName } from './output-folder.ts';
import { agreeWithLabel, gated, idTypeOf, openWithPartners } from './admission.ts';
import { exchangeAnchors } from './anchors.ts';
import { refuseUnboundRoles } from './roles.ts';
import type { JobSpec } from './spec.ts';
import { labelOutputFiles, type LabelJobOutcome } from './training-outputs.ts';

/** A training job as the label party runs it: tables by the names its partners know them. */
export interface TrainingJob {
  readonly config: TrainingConfig;
  /** The declared purpose every data holder's policy must accept. */
  readonly purpose: string | undefined;
  readonly labelTable: string;
  readonly features: readonly { readonly party: string; readonly table: string }[];
  readonly arbiter: string;
}

export interface LabelJobResult extends LabelJobOutcome {
  readonly table: LoadedTable;
  /** IDs alignment skips in the label's table (invalid, empty or repeated). */
  readonly idReport: IdSourceReport;
  readonly protocol: LabelPartyResult;
  /** The training rows, as the label table spells their IDs. */
  readonly trainIds: readonly string[];
}

export interface FeaturesJobResult {
  readonly table: LoadedTable;
  /** IDs alignment skips in the party's own table; it stays with the party. */
  readonly idReport: IdSourceReport;
  readonly protocol: FeaturePartyResult;
  readonly slice: ModelSlice;
}

/** (Label) Runs a training job: gate, partners told, protocol, audit, outputs. */
export async function trainAsLabel(ctx: PartyJobContext, job: TrainingJob): Promise<LabelJobResult> {
  const started = performance.now();
  const { config } = job;
  const jobId = config.jobId;
  const purpose = job.purpose ?? 'undeclared';
  const partyNames = job.features.map((f) => f.party);
  if (partyNames.includes(job.arbiter) || job.arbiter === ctx.name) throw errors.jobInvalid('job', 'arbiter', `the arbiter ${job.arbiter} must not also be a data party of the job`);
  await refuseUnboundRoles(ctx, { jobId, kind: 'training', label: ctx.name, features: partyNames, arbiter: job.arbiter });
  const loaded = await ctx.loadTable(job.labelTable, { withLabel: true });
  checkBothClasses(loaded);
  const { table } = await gated(ctx, loaded, jobId, purpose, partyNames, partyNames, [...loaded.featureNames, loaded.labelColumn ?? 'label']);
  const idType = idTypeOf(table, config);
  const idReport = checkTableIds(table, idType, config.strict);
  const channels: Channel[] = [];
  const audit = ctx.governance?.audit;
  const protocol = await abortingPeersOnFailure(channels, async () => {
    const spec = (table: string): JobSpec => ({ kind: 'training', jobId, purpose, table, arbiter: job.arbiter, parties: [ctx.name, ...partyNames], idType, modelJobId: '', config });
    const { features, arbiter } = await openWithPartners(ctx, jobId, job.features, job.arbiter, spec, channels);
    await audit?.append('training.start', { job: jobId, partners: partyNames, arbiter: job.arbiter, rows: table.rowCount });
    return rolesOf(ctx).label(jobId, {
      config,
      idType,
      table,
      features,
      arbiter,
      psiExecutor: ctx.psiExecutor,
      heBackend: ctx.heBackendFor(config.he),
      matvec: ctx.matvec(jobId, config.threads),
      onProgress: ctx.onProgress?.(jobId),
    });
  });
  await audit?.append('training.run', { job: jobId, partners: partyNames, aligned: protocol.alignedRows.length, epochs: protocol.epochsRun, auc: protocol.metrics.auc, validationRows: protocol.validation.rows.length });
  const slice = { ...sliceOf(jobId, ctx.name, 'label', protocol, config.sigmoid), partners: partyNames };
  const idOf = (pos: number) => table.ids[protocol.alignedRows[pos]!]!.trim();
  const outcome: LabelJobResult = {
    config,
    idType,
    table,
    idReport,
    protocol,
    slice,
    alignedRows: protocol.alignedRows.length,
    trainRows: protocol.data.trainRows.length,
    validationRows: protocol.data.validationRows.length,
    epochsRun: protocol.epochsRun,
    lossCurve: protocol.lossCurve,
    metrics: protocol.metrics,
    trainIds: Array.from(protocol.data.trainRows, idOf),
    predictions: { ids: Array.from(protocol.validation.rows, idOf), scores: protocol.validation.scores, labels: protocol.validation.labels },
    parties: [
      { name: ctx.name, role: 'label', rowsRead: table.rowCount, features: table.featureNames.length, bytesSent: channels.reduce((sum, c) => sum + bytesSentOn(c), 0), ids: idReport },
      ...partyNames.map((name) => ({ name, role: 'features' as const, features: protocol.featureCounts.get(name) ?? 0 })),
    ],
    seconds: (performance.now() - started) / 1000,
    timings: protocol.timings,
  };
  await exportSlice(ctx, slice);
  const outputs = ctx.outputs(jobId);
  for (const [name, text] of labelOutputFiles(outcome)) await outputs.write(name, text);
  // The job's end: every partner keeps this party's signed head, and it keeps theirs.
  await exchangeAnchors(ctx, channels, jobId);
  return outcome;
}

/** (Features) Takes part in the training job `spec` the label opened on `label`. */
export async function trainAsFeatures(ctx: PartyJobContext, label: Channel, spec: JobSpec): Promise<FeaturesJobResult> {
  const { config, jobId } = spec;
  const channels: Channel[] = [label];
  const audit = ctx.governance?.audit;
  const { table, idReport, protocol } = await abortingPeersOnFailure(channels, async () => {
    const loaded = await ctx.loadTable(spec.table, { withLabel: false });
    const awaitingApproval = () => label.send(message('job.awaiting-approval', {}));
    const { table, disclosePartialScores } = await gated(ctx, loaded, jobId, spec.purpose, [spec.parties[0]!], spec.parties.filter((p) => p !== ctx.name), loaded.featureNames, awaitingApproval);
    // The only agency of a job: the bank's validation totals minus its own part are this
    // party's partial scores. Its policy decides (an ungoverned party: the job's own flag).
    if (spec.parties.length === 2 && !(disclosePartialScores ?? config.allowPartialScoreDisclosure)) {
      throw errors.partialScoreDisclosure(ctx.name, `${ctx.name} is the only agency of the job and its policy does not let the bank see its partial scores (disclosePartialScores for purpose ${spec.purpose})`);
    }
    const idType = agreeWithLabel(table, spec);
    const idReport = checkTableIds(table, idType, config.strict);
    const arbiter = await ctx.connect(spec.arbiter, jobId);
    channels.push(arbiter);
    await label.send(message('job.accept', {}));
    await audit?.append('training.start', { job: jobId, partners: [spec.parties[0]!], arbiter: spec.arbiter, rows: table.rowCount });
    const protocol = await rolesOf(ctx).features(jobId, {
      name: ctx.name,
      config,
      idType,
      table,
      label,
      arbiter,
      psiExecutor: ctx.psiExecutor,
      heBackend: ctx.heBackendFor(config.he),
      matvec: ctx.matvec(jobId, config.threads),
    });
    return { table, idReport, protocol };
  });
  await audit?.append('training.run', { job: jobId, partners: [spec.parties[0]!], aligned: protocol.alignedRows.length, epochs: protocol.epochsRun });
  const slice = sliceOf(jobId, ctx.name, 'features', protocol, config.sigmoid);
  await exportSlice(ctx, slice);
  await exchangeAnchors(ctx, [label], jobId);
  return { table, idReport, protocol, slice };
}

/** Writes the party's model slice, recording the export (with the slice's SHA-256) first. */
async function exportSlice(ctx: PartyJobContext, slice: ModelSlice): Promise<void> {
  const text = JSON.stringify(slice, null, 2) + '\n';
  const outputs = ctx.outputs(slice.jobId);
  const name = `model-${safeName(slice.party)}.json`;
  await ctx.governance?.audit?.append('model.export', { job: slice.jobId, file: outputs.path ? join(outputs.path, name) : name, sha256: createHash('sha256').update(text).digest('hex') });
  await outputs.write(name, text);
}

function bytesSentOn(channel: Channel): number {
  return 'bytesSent' in channel && typeof channel.bytesSent === 'number' ? channel.bytesSent : 0;
}
