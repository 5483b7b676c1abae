/**
 * Binning jobs, one runner per role, each doing its party's whole duty once for every host:
 * the same admission as a training job (roles.ts, then the party's gate in admission.ts:
 * purpose, fields, consent of every enterprise for every institution of the job, operator
 * approval where the policy asks for it, each decision audited), then the binning protocol
 * (src/binning/roles/), with audit entries written before the action they record.
 *
 * Message flow before the protocol is training's (training.ts): the label party passes its
 * own gate, sends every feature party a `job.spec` of kind `binning` (with the binning
 * rule), and waits until each has passed its gate (a refusal reaches it as a code only) and
 * connected to the arbiter; only then does the arbiter hear of the job. No PSI point, key or
 * ciphertext moves before every party has admitted the job.
 */
import type { BinningConfig } from '../binning/config.ts';
import { binningParams } from '../binning/config.ts';
import { runBinningFeatureParty, type BinningFeaturePartyResult } from '../binning/roles/features.ts';
import { runBinningLabelParty, type BinningLabelPartyResult } from '../binning/roles/label.ts';
import { errors } from '../errors.ts';
import type { IdType } from '../ids/normalise.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../lr/config.ts';
import type { Channel } from '../protocol/channel.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { message } from '../protocol/messages.ts';
import { agreeWithLabel, gated, idTypeOf, openWithPartners } from './admission.ts';
import { exchangeAnchors } from './anchors.ts';
import type { LoadedTable, PartyJobContext } from './context.ts';
import { refuseUnboundRoles } from './roles.ts';
import type { JobSpec } from './spec.ts';

/** A binning job as the label party runs it: tables by the names its partners know them. */
export interface BinningJob {
  readonly config: BinningConfig;
  /** The declared purpose every data holder's policy must accept. */
  readonly purpose: string | undefined;
  readonly labelTable: string;
  readonly features: readonly { readonly party: string; readonly table: string }[];
  readonly arbiter: string;
}

export interface LabelBinningResult {
  /** The label's table after its gate (consent may have dropped rows). */
  readonly table: LoadedTable;
  readonly idType: IdType;
  readonly protocol: BinningLabelPartyResult;
}

export interface FeaturesBinningResult {
  readonly table: LoadedTable;
  readonly protocol: BinningFeaturePartyResult;
}

/** The parameters a binning job shares with training jobs, as its `job.spec` carries them. */
function specConfig(config: BinningConfig): TrainingConfig {
  return resolveTrainingConfig({ jobId: config.jobId, seed: config.seed, idType: config.idType, psiBackend: config.psiBackend, he: config.he, threads: config.threads });
}

/** (Features, arbiter) The binning configuration of a `job.spec` of kind binning. */
export function binningConfigOf(spec: JobSpec): BinningConfig {
  if (spec.kind !== 'binning' || !spec.binning) throw errors.protocol(`job ${spec.jobId} is not a binning job`);
  const { jobId, seed, idType, psiBackend, he, threads } = spec.config;
  return { jobId, seed, rule: spec.binning, minIv: 0, idType, psiBackend, he, threads };
}

/** (Label) Runs a binning job: gate, partners told and admitted, protocol, audit. */
export async function binAsLabel(ctx: PartyJobContext, job: BinningJob): Promise<LabelBinningResult> {
  const { config } = job;
  const jobId = config.jobId;
  const purpose = job.purpose ?? 'undeclared';
  const partyNames = job.features.map((f) => f.party);
  if (partyNames.includes(job.arbiter) || job.arbiter === ctx.name) throw errors.jobInvalid('job', 'arbiter', `the arbiter ${job.arbiter} must not also be a data party of the job`);
  await refuseUnboundRoles(ctx, { jobId, kind: 'binning', label: ctx.name, features: partyNames, arbiter: job.arbiter });
  const loaded = await ctx.loadTable(job.labelTable, { withLabel: true });
  const { table } = await gated(ctx, loaded, jobId, purpose, partyNames, partyNames, [...loaded.featureNames, loaded.labelColumn ?? 'label']);
  const idType = idTypeOf(table, config);
  const channels: Channel[] = [];
  const audit = ctx.governance?.audit;
  const protocol = await abortingPeersOnFailure(channels, async () => {
    const shared = specConfig(config);
    const spec = (table: string): JobSpec => ({ kind: 'binning', jobId, purpose, table, arbiter: job.arbiter, parties: [ctx.name, ...partyNames], idType, modelJobId: '', config: shared, binning: config.rule });
    const { features, arbiter } = await openWithPartners(ctx, jobId, job.features, job.arbiter, spec, channels);
    await audit?.append('binning.start', { job: jobId, partners: partyNames, arbiter: job.arbiter, rows: table.rowCount, rule: { ...config.rule } });
    return runBinningLabelParty({ config, idType, table, features, arbiter, psiExecutor: ctx.psiExecutor, heBackend: ctx.heBackendFor(config.he) });
  });
  await audit?.append('binning.run', {
    job: jobId,
    partners: partyNames,
    aligned: protocol.alignedRows.length,
    // What the bank now holds of each agency: how many features, and their bins (counts only).
    features: Object.fromEntries([...protocol.agencies].map(([party, evidence]) => [party, evidence.length])),
  });
  await exchangeAnchors(ctx, channels, jobId);
  return { table, idType, protocol };
}

/** (Features) Takes part in the binning job `spec` the label opened on `label`. */
export async function binAsFeatures(ctx: PartyJobContext, label: Channel, spec: JobSpec): Promise<FeaturesBinningResult> {
  const config = binningConfigOf(spec);
  const jobId = spec.jobId;
  const channels: Channel[] = [label];
  const audit = ctx.governance?.audit;
  const { table, protocol } = await abortingPeersOnFailure(channels, async () => {
    const loaded = await ctx.loadTable(spec.table, { withLabel: false });
    const awaitingApproval = () => label.send(message('job.awaiting-approval', {}));
    const { table } = await gated(ctx, loaded, jobId, spec.purpose, [spec.parties[0]!], spec.parties.filter((p) => p !== ctx.name), loaded.featureNames, awaitingApproval);
    const idType = agreeWithLabel(table, spec);
    const arbiter = await ctx.connect(spec.arbiter, jobId);
    channels.push(arbiter);
    await label.send(message('job.accept', {}));
    await audit?.append('binning.start', { job: jobId, partners: [spec.parties[0]!], arbiter: spec.arbiter, rows: table.rowCount, rule: { ...config.rule } });
    const protocol = await runBinningFeatureParty({
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
    return { table, protocol };
  });
  // What left this party: per-bin row counts of each feature (after merging), never a row's bin.
  await audit?.append('binning.run', { job: jobId, partners: [spec.parties[0]!], aligned: protocol.alignedRows.length, features: protocol.features.length, bins: protocol.features.map((f) => f.bins.counts.length) });
  await exchangeAnchors(ctx, [label], jobId);
  return { table, protocol };
}

/** (Arbiter) The key parameters of a binning job. */
export function binningHeParams(spec: JobSpec) {
  return binningParams(binningConfigOf(spec));
}
