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
import type { AgencyScoringReport, AnchorMessage } from '../score/agency.ts';
import type { BankSession, EnterpriseScore, MonitoringScores, ReceivedAnchor, ScoreRequestOptions } from '../score/bank.ts';
import { exchangeAnchors, keepAnchor, ownAnchor } from './anchors.ts';
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
  /** How often the session exchanges audit anchors with the agencies besides at its close (default `ANCHOR_EVERY`). */
  readonly anchorEvery?: AnchorSchedule;
}

/** A scoring session anchors after this many requests, or once this many minutes passed since its last anchors with requests served meanwhile. */
export interface AnchorSchedule {
  readonly requests: number;
  readonly minutes: number;
}

export const ANCHOR_EVERY: AnchorSchedule = { requests: 100, minutes: 5 };

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
    // A model kept encrypted is scored under its training key: the spec tells the arbiter to
    // restore it and every agency to score on its encrypted weights (its slice must agree).
    const config: TrainingConfig = { ...job.config, keepEncrypted: slice.encryptedWeights !== undefined };
    const spec = (table: string): JobSpec => ({ kind: 'scoring', jobId: job.sessionId, purpose, table, arbiter: job.arbiter, parties: [ctx.name, ...partyNames], idType, modelJobId: job.modelJobId, config });
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
    return new AnchoredBankSession(ctx, bank, job.sessionId, arbiter, [...channels], job.anchorEvery ?? ANCHOR_EVERY);
  });
}

/**
 * (Label) A scoring session that anchors the audit logs of the bank and its agencies as a
 * job's end does (anchors.ts), since one session may serve requests for hours: after every
 * `requests` requests, once `minutes` have passed since the last exchange with requests
 * served meanwhile (a timer, so an idle session anchors too), and as it closes, when the
 * platform's part ends too and it anchors with the bank. An exchange waits for the round in
 * progress. A partner's anchor that shows its log went back fails the session
 * (E_AUDIT_BROKEN, every peer told), as it fails a job.
 */
class AnchoredBankSession implements BankSession {
  readonly #ctx: PartyJobContext;
  readonly #inner: BankSession;
  readonly #sessionId: string;
  readonly #arbiter: Channel;
  readonly #channels: readonly Channel[];
  readonly #every: AnchorSchedule;
  /** Requests since the last exchange, and when it was. */
  #since = 0;
  #last = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #failed = false;
  #closed = false;

  constructor(ctx: PartyJobContext, inner: BankSession, sessionId: string, arbiter: Channel, channels: readonly Channel[], every: AnchorSchedule) {
    if (!Number.isInteger(every.requests) || every.requests < 1) throw errors.optionInvalid('anchorEvery.requests', `must be a whole number of requests, at least 1, got ${every.requests}`);
    if (!(every.minutes > 0) || !Number.isFinite(every.minutes)) throw errors.optionInvalid('anchorEvery.minutes', `must be a positive number of minutes, got ${every.minutes}`);
    this.#ctx = ctx;
    this.#inner = inner;
    this.#sessionId = sessionId;
    this.#arbiter = arbiter;
    this.#channels = channels;
    this.#every = every;
    this.#arm();
  }

  get failed(): boolean {
    return this.#failed || this.#inner.failed;
  }

  open(): Promise<void> {
    return this.#inner.open();
  }

  score(ids: readonly string[], options?: ScoreRequestOptions): Promise<readonly EnterpriseScore[]> {
    return this.#round(1, () => this.#inner.score(ids, options));
  }

  monitor(): Promise<MonitoringScores> {
    return this.#round(1, () => this.#inner.monitor());
  }

  scoreTogether(requests: readonly { readonly ids: readonly string[]; readonly options?: ScoreRequestOptions }[]): Promise<(readonly EnterpriseScore[] | Error)[]> {
    return this.#round(requests.length, () => this.#inner.scoreTogether(requests));
  }

  exchangeAnchors(own: AnchorMessage): Promise<readonly ReceivedAnchor[]> {
    return this.#serial(() => this.#inner.exchangeAnchors(own));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#serial(async () => {
      if (this.failed) return this.#inner.close();
      try {
        await this.#exchange();
      } catch (e) {
        await this.#inner.close().catch(() => {});
        throw e;
      }
      await this.#inner.close();
      if (!this.#inner.failed) await abortingPeersOnFailure([this.#arbiter], () => exchangeAnchors(this.#ctx, [this.#arbiter], this.#sessionId));
    });
  }

  /** One round of `requests` requests, then the anchors if they are due. */
  #round<T>(requests: number, body: () => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      const answer = await body();
      this.#since += requests;
      if (this.#since >= this.#every.requests || this.#elapsed()) await this.#exchange();
      return answer;
    });
  }

  #elapsed(): boolean {
    return Date.now() - this.#last >= this.#every.minutes * 60_000;
  }

  /** Sends the bank's anchor to every agency and keeps theirs; a failure ends the session at every peer. */
  async #exchange(): Promise<void> {
    try {
      await abortingPeersOnFailure(this.#channels, async () => {
        const received = await this.#inner.exchangeAnchors(await ownAnchor(this.#ctx, this.#sessionId));
        for (const r of received) await keepAnchor(this.#ctx, r.party, this.#sessionId, r.anchor, r.publicKey);
      });
    } catch (e) {
      this.#failed = true;
      clearTimeout(this.#timer);
      throw e;
    }
    this.#since = 0;
    this.#last = Date.now();
    this.#arm();
  }

  /** The time trigger: fires once `minutes` passed since the last exchange, and anchors if requests were served since. */
  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#closed || this.failed) return;
    const wait = Math.max(0, this.#last + this.#every.minutes * 60_000 - Date.now());
    this.#timer = setTimeout(() => {
      // A failure is the session's: `failed` tells its host, which closes it.
      this.#serial(async () => {
        if (this.#closed || this.failed) return;
        if (this.#since > 0 && this.#elapsed()) await this.#exchange();
        else this.#arm();
      }).catch(() => {});
    }, Math.min(wait, 2 ** 31 - 1));
    // An idle session does not keep its process alive.
    this.#timer.unref?.();
  }

  #serial<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(body);
    this.#tail = run.catch(() => undefined);
    return run;
  }
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
    if ((slice.encryptedWeights !== undefined) !== spec.config.keepEncrypted) {
      throw errors.modelInvalid(spec.modelJobId, spec.config.keepEncrypted ? `the bank scores it as a model kept encrypted, but ${ctx.name}'s slice holds plain weights` : `${ctx.name}'s slice holds encrypted weights, but the bank scores it as a model with plain weights`, 'score with the slices of one training job, as that job wrote them');
    }
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
        // The bank's anchors during and at the end of the session, as at a job's end.
        anchors: async (received) => {
          await keepAnchor(ctx, bank.peer, spec.jobId, received.anchor, received.publicKey);
          return ownAnchor(ctx, spec.jobId);
        },
      });
    } finally {
      arbiter.close('session over');
    }
  });
}
