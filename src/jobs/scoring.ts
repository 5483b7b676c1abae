/**
 * Scoring sessions, one runner per role for both hosts: the bank opens a session with the
 * model of a finished training job (gate, partners told, agencies' registers prepared) and
 * then scores requests on it; an agency serves the session with its own model slice and
 * current records under its own gate and audit log. Protocol: src/score/.
 */
import { errors } from '../errors.ts';
import type { TrainingConfig } from '../lr/config.ts';
import type { Channel } from '../protocol/channel.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { message } from '../protocol/messages.ts';
import type { AgencyScoringReport } from '../score/agency.ts';
import type { BankSession } from '../score/bank.ts';
import { rolesOf, type PartyJobContext } from './context.ts';
import { sendJobSpec, type JobSpec } from './spec.ts';
import { refuseUnboundRoles } from './roles.ts';
import { agreeWithLabel, awaitAcceptance, gated, idTypeOf } from './admission.ts';

export interface ScoringSessionJob {
  /** Names the session in every party's audit log. */
  readonly sessionId: string;
  /** The training job whose model slices score. */
  readonly modelJobId: string;
  readonly purpose: string | undefined;
  readonly labelTable: string;
  readonly features: readonly { readonly party: string; readonly table: string }[];
  readonly arbiter: string;
  /** HE backend, ID type and PSI group of the session. */
  readonly config: TrainingConfig;
  /** The bank's persistent decoy key (32 bytes, `loadOrCreateDecoyKey`): needed for requests with decoys. */
  readonly decoyKey?: Uint8Array;
}

/** (Label) Opens a scoring session; requests then go to the returned session. */
export async function openScoringAsBank(ctx: PartyJobContext, job: ScoringSessionJob): Promise<BankSession> {
  const slice = await ctx.loadModelSlice(job.modelJobId);
  if (slice.role !== 'label') throw errors.modelInvalid(job.modelJobId, `${ctx.name}'s slice of that job is not a label party's`);
  const partyNames = job.features.map((f) => f.party);
  const missing = (slice.partners ?? []).filter((p) => !partyNames.includes(p));
  if (missing.length > 0) {
    throw errors.optionInvalid('features', `the model of job ${job.modelJobId} needs every agency it was trained with; missing: ${missing.join(', ')}`, 'give every agency of the training job (a missing agency would silently change every score)');
  }
  const unknown = slice.partners ? partyNames.filter((p) => !slice.partners!.includes(p)) : [];
  if (unknown.length > 0) throw errors.optionInvalid('features', `${unknown.join(', ')} took no part in training job ${job.modelJobId}`);
  await refuseUnboundRoles(ctx, { jobId: job.sessionId, kind: 'scoring', label: ctx.name, features: partyNames, arbiter: job.arbiter });
  const purpose = job.purpose ?? 'undeclared';
  const loaded = await ctx.loadTable(job.labelTable, { withLabel: false, features: slice.featureNames });
  const { table } = await gated(ctx, loaded, job.sessionId, purpose, partyNames, partyNames, slice.featureNames);
  const idType = idTypeOf(table, job.config);
  const channels: Channel[] = [];
  return abortingPeersOnFailure(channels, async () => {
    const spec = (table: string): JobSpec => ({ kind: 'scoring', jobId: job.sessionId, purpose, table, arbiter: job.arbiter, parties: [ctx.name, ...partyNames], idType, modelJobId: job.modelJobId, config: job.config });
    const agencies = new Map<string, Channel>();
    for (const f of job.features) {
      const channel = await ctx.connect(f.party, job.sessionId);
      channels.push(channel);
      await sendJobSpec(channel, spec(f.table));
      agencies.set(f.party, channel);
    }
    const arbiter = await ctx.connect(job.arbiter, job.sessionId);
    channels.push(arbiter);
    await sendJobSpec(arbiter, spec(''));
    await awaitAcceptance(channels);
    const bank = await rolesOf(ctx).bankScoring(job.sessionId, {
      slice,
      table,
      agencies,
      arbiter,
      heBackend: ctx.heBackendFor(job.config.he),
      psiExecutor: ctx.psiExecutor,
      idType,
      psiBackend: job.config.psiBackend,
      decoyKey: job.decoyKey,
      audit: ctx.governance?.audit,
    });
    try {
      await bank.open();
    } catch (e) {
      // Its peers are told already; a session in a role thread also ends its thread.
      await bank.close().catch(() => {});
      throw e;
    }
    return bank;
  });
}

/**
 * (Features) Serves the scoring session `spec` the bank opened on `bank`, until the bank ends
 * it. Whether scores that reveal this agency's partial score (enterprises only it holds) may
 * be answered is its policy's call; `disclosePartialScores` stands in for an ungoverned party.
 */
export async function serveScoringAsAgency(ctx: PartyJobContext, bank: Channel, spec: JobSpec, local: { previousMonitoring?: Float64Array; disclosePartialScores?: boolean } = {}): Promise<AgencyScoringReport> {
  const channels: Channel[] = [bank];
  return abortingPeersOnFailure(channels, async () => {
    const slice = await ctx.loadModelSlice(spec.modelJobId);
    if (slice.role !== 'features') throw errors.modelInvalid(spec.modelJobId, `${ctx.name}'s slice of that job is not a feature party's`);
    const loaded = await ctx.loadTable(spec.table, { withLabel: false, features: slice.featureNames });
    const admitted = await gated(ctx, loaded, spec.jobId, spec.purpose, [spec.parties[0]!], spec.parties.filter((p) => p !== ctx.name), slice.featureNames);
    const table = admitted.table;
    const idType = agreeWithLabel(table, spec);
    const arbiter = await ctx.connect(spec.arbiter, spec.jobId);
    channels.push(arbiter);
    await bank.send(message('job.accept', {}));
    try {
      return await rolesOf(ctx).agencyScoring(spec.jobId, {
        name: ctx.name,
        slice,
        table,
        bank,
        arbiter,
        heBackend: ctx.heBackendFor(spec.config.he),
        psiExecutor: ctx.psiExecutor,
        idType,
        psiBackend: spec.config.psiBackend,
        previousMonitoring: local.previousMonitoring,
        disclosePartialScores: admitted.disclosePartialScores ?? local.disclosePartialScores ?? false,
        audit: ctx.governance?.audit,
      });
    } finally {
      arbiter.close('session over');
    }
  });
}
