/**
 * A party's long-running service: one bank, agency or platform, on its own premises.
 *
 * It listens for its partners over mutual TLS (only certificates it trusts get through, and
 * the name a partner claims must be the name on its certificate), keeps every job in its
 * own job store, and runs the same protocol code as the in-process runner over network
 * channels. The bank's service (label role) also serves the HTTP API through which jobs are
 * submitted; it then drives the others: it opens a connection to every agency and to the
 * platform, hands each the part of the job it needs, and each agency connects to the
 * platform in turn.
 *
 * What crosses the network is exactly what crosses the in-memory channels in tests: the
 * protocol messages of psi/, lr/ and he/, inside TLS 1.3.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errors, isJinqiaoError } from '../errors.ts';
import { loadFeatureTable } from '../data/table.ts';
import { loadFeatureTableFromPostgres } from '../data/postgres.ts';
import { ckksBackend } from '../he/ckks.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../lr/config.ts';
import { conform } from '../schemas/check.ts';
import { JobDefinitionSchema } from '../schemas/job-definition.ts';
import { pathText } from '../data/yaml.ts';
import { loadModelSlice } from '../lr/model.ts';
import { KEPT_KEY_FILE } from '../lr/kept-key.ts';
import { PartnerBudgets } from '../governance/budget.ts';
import { loadOrCreateDecoyKey } from '../governance/keys.ts';
import { poolExecutor } from '../psi/executor.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';
import type { BankSession, EnterpriseScore } from '../score/bank.ts';
import { connectChannel, listenChannels, type TlsChannel, type TlsListener, type TlsPartyConfig } from '../transport/tls/index.ts';
import type { LoadedTable, PartyJobContext, PreparedKind, PreparedTags } from '../jobs/context.ts';
import { stagedOutputs, type StagedOutputs } from '../jobs/output-folder.ts';
import { joinJob, type PartnerOutcome } from '../jobs/partner.ts';
import { isLookupSession, LookupSessions, serveLookupAsAgency, type LookupCall, type PsiCall, type VerifyCall } from '../jobs/lookup.ts';
import { keptTags } from './kept-tags.ts';
import { readTagFile, tagsDigest } from '../lookup/tag-file.ts';
import { loadOprfKey } from '../lookup/oprf-key.ts';
import type { FrameTap } from '../transport/memory.ts';
import { openScoringAsBank } from '../jobs/scoring.ts';
import { trainAsLabel } from '../jobs/training.ts';
import { inThreadRoles, roleThreads, type RoleRunner } from '../jobs/role-threads.ts';
import { SharedMatvecPool } from '../he/pool.ts';
import type { ApprovalRequest, OperatorDecision } from '../governance/gate.ts';
import { jobsDefaults, lookupDefaults, scoringDefaults, type PartyConfig } from './config.ts';
import { PostgresJobStore } from './pg-store.ts';
import { ACTIVE_STATES, SqliteJobStore, type JobRecord, type JobState, type JobStore } from './store.ts';

/** What the bank submits: tables by the names the parties' configs give them. */
export interface JobDefinition {
  readonly job?: string;
  /** The declared purpose (e.g. credit-modeling) every data holder's policy must accept. */
  readonly purpose?: string;
  readonly label: { readonly table: string };
  readonly features: readonly { readonly party: string; readonly table: string }[];
  readonly arbiter?: string;
  readonly training?: Partial<TrainingConfig>;
}

/** A job as a list shows it; `position` (from 1) while it is queued. */
export interface JobSummary {
  readonly id: string;
  readonly state: JobState;
  readonly phase: string;
  readonly position?: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Who asked for an action on a job, for the audit log. */
export interface OperatorAction {
  /** The operator's name (the console's signed-in operator, or what an API caller gave); default `api`. */
  readonly operator: string;
}

/** The operator recorded when a caller names none (an API call without one). */
export const API_OPERATOR = 'api';

export interface PartyService {
  readonly config: PartyConfig;
  readonly tlsPort: number;
  readonly store: JobStore;
  /** (Label) Validates and queues a job (it starts when a slot is free); returns once it is recorded, not when it ends. */
  submit(definition: unknown): JobRecord;
  /**
   * (Label) Queues a failed or cancelled job again; it reruns from the first epoch. `by` names
   * the operator; the resume is in the party's audit log (`job.resumed`) before the job is queued.
   */
  resume(jobId: string, by?: OperatorAction): Promise<JobRecord>;
  /**
   * Stops a running job, takes a queued one out of the queue, or withdraws one awaiting this
   * party's approval; false when the job is none of those. The cancel is in the party's audit
   * log (`job.cancelled`, with `by`'s operator) before it takes effect.
   */
  cancel(jobId: string, by?: OperatorAction): Promise<boolean>;
  /** Every job of this party, newest first; queued jobs with their place in the queue. */
  listJobs(): JobSummary[];
  /**
   * This party's operator approves a job awaiting its approval. The decision is written to
   * the party's audit log first, then to the job store, then the job moves on; resolves with
   * the record. Rejects (the job still awaiting approval) when the audit log cannot be written.
   */
  approve(jobId: string, by: { operator: string; reason?: string }): Promise<JobRecord>;
  /** This party's operator rejects a job awaiting its approval (audited first); it fails at every party with the reason. */
  reject(jobId: string, by: { operator: string; reason: string }): Promise<JobRecord>;
  /** (Label) Scores enterprises with the model of a finished job, the agencies answering over TLS. */
  score(modelJobId: string, ids: readonly string[], options?: { decoys?: number }): Promise<readonly EnterpriseScore[]>;
  /** (Label) Verification of declared values, an agency answering over TLS under its policy (`POST /v1/verify`). */
  verify(call: VerifyCall): ReturnType<LookupSessions['verify']>;
  /** (Label) An interface call, identified or blind, an agency answering over TLS under its policy (`POST /v1/lookup`). */
  lookup(call: LookupCall): ReturnType<LookupSessions['lookup']>;
  /** (Label) Unbalanced PSI: which IDs an agency holds, against its tags prepared once per key period (`POST /v1/psi`). */
  psi(call: PsiCall): ReturnType<LookupSessions['psi']>;
  /** Resolves when a job of this party ends (for tests and `--wait`). */
  finished(jobId: string): Promise<JobRecord>;
  close(): Promise<void>;
}

export async function startPartyService(config: PartyConfig, log: (line: string) => void = () => {}, options: { readonly tap?: FrameTap } = {}): Promise<PartyService> {
  const tls: TlsPartyConfig = {
    ...(options.tap ? { tap: options.tap } : {}),
    key: await readFile(config.tls.key),
    cert: await readFile(config.tls.cert),
    ca: await Promise.all(config.tls.trust.map((f) => readFile(f))),
    timeoutMs: config.timeoutSeconds * 1000,
  };
  const store: JobStore = config.jobStore ? await PostgresJobStore.open(config.jobStore.postgres, config.name) : new SqliteJobStore(config.store);
  const jobsConfig = config.jobs ?? jobsDefaults();
  const scoringConfig = config.scoring ?? scoringDefaults();
  // A job the bank had queued waits again, in its old order. One that was running or
  // awaiting an approval when the service stopped was cut off: it fails (resume it; its
  // approval is asked again, since the partners' side of it is gone too).
  const requeued: string[] = [];
  for (const record of store.list().reverse()) {
    if (record.state === 'queued' && config.role === 'label') requeued.push(record.id);
    else if (ACTIVE_STATES.has(record.state)) {
      const interrupted = errors.interrupted(record.id);
      store.update(record.id, { state: 'failed', phase: 'interrupted', error: { code: interrupted.code, message: `${interrupted.message}; ${interrupted.hint}` } });
      log(`job ${record.id}: marked failed (interrupted by a stop of the service while ${record.state})`);
    }
  }
  await store.flush();
  // (Agency) Its partners' daily budgets, one ledger for every lookup session, with today's
  // answers counted again from its audit log (governance/budget.ts says why that is sound).
  const policy = config.governance?.policy;
  const auditLog = config.governance?.audit;
  const budgets = policy && auditLog && PartnerBudgets.anyIn(policy) ? await PartnerBudgets.fromAuditLog(policy, auditLog.file) : undefined;
  const psiExecutor = poolExecutor();
  // A training job's part here runs in a worker thread of its own, retired when it ends: the
  // job's CKKS keys and contexts go with it, and this thread stays free for the API and the
  // channels. Scoring sessions stay on this thread: a model keeps up to SESSIONS_PER_MODEL of
  // them open for as long as requests come, so their memory is bounded already, and a thread
  // per session cost more than it freed (load bench, quick: about 50 MB more RSS per session
  // at every party, and each session's thread warming up on its own halved the throughput at
  // 8 clients). One pooled thread per model is the way to move them.
  const threads = roleThreads();
  const roles: RoleRunner = { ...threads, arbiter: inThreadRoles.arbiter, agencyScoring: inThreadRoles.agencyScoring, bankScoring: inThreadRoles.bankScoring };
  const running = new Map<string, { channels: Channel[]; done: Promise<JobRecord>; cancelled: boolean }>();
  // Connections partners opened for a job, by job and party: the arbiter waits for every
  // agency, which may connect before or after the bank has told the arbiter about the job.
  const arrivals = new Map<string, Map<string, { channel?: TlsChannel; waiter?: (channel: TlsChannel) => void }>>();
  const slotOf = (jobId: string, party: string) => {
    const job = arrivals.get(jobId) ?? new Map();
    arrivals.set(jobId, job);
    const slot = job.get(party) ?? {};
    job.set(party, slot);
    return slot;
  };
  const arrive = (jobId: string, party: string, channel: TlsChannel) => {
    const slot = slotOf(jobId, party);
    slot.channel = channel;
    slot.waiter?.(channel);
    // A party that gave up before the bank told this arbiter of the job (a partner's operator rejected it) leaves nothing behind.
    void channel.closed.then(() => {
      if (!running.has(jobId) && !sessionModels.has(jobId) && arrivals.get(jobId)?.get(party) === slot) arrivals.delete(jobId);
    });
  };
  const waitFor = (jobId: string, party: string): Promise<TlsChannel> => {
    const slot = slotOf(jobId, party);
    if (slot.channel) return Promise.resolve(slot.channel);
    return new Promise((resolve, reject) => {
      slot.waiter = resolve;
      setTimeout(() => reject(errors.channelClosed(party, `did not connect within ${config.timeoutSeconds} s`)), config.timeoutSeconds * 1000).unref();
    });
  };

  /** Per job: the channels it opened (closed when it ends), its worker pool and staged outputs. */
  const jobResources = new Map<string, { channels: TlsChannel[]; pool?: SharedMatvecPool; outputs?: StagedOutputs }>();
  const resourcesOf = (jobId: string) => {
    let r = jobResources.get(jobId);
    if (!r) jobResources.set(jobId, (r = { channels: [] }));
    return r;
  };
  const release = async (jobId: string, outcome: 'commit' | 'discard') => {
    const r = jobResources.get(jobId);
    if (!r) return;
    jobResources.delete(jobId);
    for (const c of r.channels) c.close('job over');
    await r.pool?.destroy();
    if (outcome === 'commit') await r.outputs?.commit();
    else await r.outputs?.discard();
  };

  const jobDir = (jobId: string) => {
    const folder = jobId.replace(/[^A-Za-z0-9._-]/g, '_');
    if (/^\.*$/.test(folder)) throw errors.jobInvalid('job', 'job', `${JSON.stringify(jobId)} cannot name a job folder`);
    return join(config.store, 'jobs', folder);
  };

  const loadTable = async (name: string, withLabel: boolean, features?: readonly string[]): Promise<LoadedTable> => {
    const table = config.tables.get(name);
    if (!table) throw errors.tableUnknown(config.name, name, [...config.tables.keys()]);
    if (withLabel && !table.labelColumn) throw errors.optionInvalid(`tables.${name}.label`, "the label party needs the table's 0/1 outcome column", `add label: <column> under tables.${name} in ${config.name}'s config`);
    const columns = { idColumn: table.idColumn, ...(withLabel ? { labelColumn: table.labelColumn } : {}), ...((features ?? table.features) ? { features: features ?? table.features } : {}) };
    const loaded = table.postgres ? await loadFeatureTableFromPostgres({ ...table.postgres, ...columns }) : await loadFeatureTable(table.file!, columns);
    return { ...loaded, labelColumn: withLabel ? table.labelColumn : undefined };
  };

  /**
   * (Agency) Each table's prepared tags (PSI, verification), read once and again only when the file changes
   * (an operator who prepares it anew, in the same key period or the next, needs no restart).
   */
  const preparedByTable = new Map<string, { readonly stamp: string; readonly prepared: PreparedTags }>();
  const preparedTags = async (name: string, kind: PreparedKind): Promise<PreparedTags | undefined> => {
    const table = config.tables.get(name);
    if (!table) throw errors.tableUnknown(config.name, name, [...config.tables.keys()]);
    const file = table[kind];
    if (!file) return undefined;
    const info = await stat(file.tags).catch((e: Error) => {
      throw errors.fileUnreadable(file.tags, `${e.message} (tables.${name}.${kind}.tags in ${config.name}'s config)`);
    });
    const stamp = `${info.size}/${info.mtimeMs}`;
    const kept = preparedByTable.get(`${kind}/${name}`);
    if (kept?.stamp === stamp) return kept.prepared;
    const { header, tags } = await readTagFile(file.tags);
    const key = await loadOprfKey(file.keyDir);
    if (header.kind !== kind || key.keyId !== header.keyId) {
      throw errors.keyInvalid(file.tags, `the tag file changed since the service started and is no longer ${kind} tags of the key in ${file.keyDir} (tables.${name}.${kind})`, 'prepare it again with that --key folder, or restart the service with the config naming the new folder');
    }
    const prepared: PreparedTags = { header, key, digest: tagsDigest(tags.tags), tags };
    preparedByTable.set(`${kind}/${name}`, { stamp, prepared });
    return prepared;
  };

  /**
   * Jobs waiting for this party's operator, by job. The gate asks (governance.approval) and
   * waits; approve() and reject() take the waiter, audit the decision, then settle it.
   */
  const approvals = new Map<string, { resolve: (d: OperatorDecision) => void; reject: (e: Error) => void }>();
  /** Scoring sessions this service takes part in → the training job whose model they use: its approval covers them. */
  const sessionModels = new Map<string, string>();
  const takeApproval = (jobId: string) => {
    const waiter = approvals.get(jobId);
    approvals.delete(jobId);
    return waiter;
  };
  const awaitOperator = (request: ApprovalRequest): Promise<OperatorDecision> => {
    const { jobId, ...asked } = request;
    const modelJobId = sessionModels.get(jobId);
    if (modelJobId !== undefined) {
      const decision = store.get(modelJobId)?.approval?.decision;
      if (decision?.approved) return Promise.resolve({ operator: decision.operator });
      return Promise.reject(errors.policyRefused('approval.pending', `${config.name}'s operator has not approved the training of model ${modelJobId}, which scoring with it for ${request.purpose} needs`));
    }
    if (!store.get(jobId)) return Promise.reject(errors.protocol(`job ${jobId} asked for approval but is not in ${config.name}'s job store`));
    store.update(jobId, { state: 'awaiting-approval', phase: `awaiting approval by ${config.name}`, approval: { request: asked, requestedAt: new Date().toISOString() } });
    log(`job ${jobId}: awaiting approval by this party's operator (purpose ${request.purpose}, partners ${request.partners.join(', ')}, fields ${request.fields.join(', ') || 'none'}${request.rows === undefined ? '' : `, ${request.rows} rows`})`);
    const seconds = jobsConfig.approvalTimeoutSeconds;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!takeApproval(jobId)) return;
        log(`job ${jobId}: no operator decided within ${seconds} s`);
        const refusal = config.governance?.audit?.append('job.refused', { job: jobId, purpose: request.purpose, rule: 'approval.timeout' }) ?? Promise.resolve();
        void refusal.finally(() => reject(errors.approvalTimedOut(config.name, jobId, seconds)));
      }, Math.min(seconds * 1000, 2 ** 31 - 1));
      approvals.set(jobId, {
        resolve: (d) => (clearTimeout(timer), resolve(d)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  };
  /**
   * Audits an operator's decision on a job awaiting this party's approval, then records it in
   * the job store and lets the job act on it. An append that fails leaves the job awaiting
   * approval (the operator may decide again), with nothing recorded or done.
   */
  const decide = async (jobId: string, approved: boolean, by: { operator?: unknown; reason?: unknown }): Promise<JobRecord> => {
    const record = store.get(jobId);
    if (!record) throw errors.notFound(`no job ${JSON.stringify(jobId)}`, 'list the jobs awaiting approval with GET /v1/approvals');
    if (typeof by.operator !== 'string' || by.operator.trim() === '' || by.operator.length > 200) throw errors.optionInvalid('operator', 'must name the operator who decides (1 to 200 characters)');
    if (approved ? by.reason !== undefined && typeof by.reason !== 'string' : typeof by.reason !== 'string' || by.reason.trim() === '') throw errors.optionInvalid('reason', approved ? 'must be text' : 'a rejection must say why (it is shown to every party of the job)');
    if (typeof by.reason === 'string' && by.reason.length > 1000) throw errors.optionInvalid('reason', 'must be at most 1000 characters');
    // Taken before the append: a second decision, the timeout or a withdrawal cannot settle it meanwhile.
    const waiter = approvals.has(jobId) && record.state === 'awaiting-approval' ? takeApproval(jobId) : undefined;
    if (!waiter) throw errors.notAwaitingApproval(jobId, record.state === 'awaiting-approval' ? record.phase : record.state);
    const operator = by.operator.trim();
    const reason = typeof by.reason === 'string' ? by.reason : undefined;
    try {
      await config.governance?.audit?.append(approved ? 'job.approved' : 'job.rejected', { job: jobId, operator, ...(reason === undefined ? {} : { reason }), purpose: record.approval!.request.purpose });
    } catch (e) {
      approvals.set(jobId, waiter);
      log(`job ${jobId}: the ${approved ? 'approval' : 'rejection'} by ${operator} could not be audited, the job still awaits approval: ${(e as Error).message}`);
      throw e;
    }
    const decision = { approved, operator, ...(reason === undefined ? {} : { reason }), at: new Date().toISOString() };
    store.update(jobId, { ...(approved ? { state: 'running' as const } : { state: 'rejected' as const }), phase: `${approved ? 'approved' : 'rejected'} by ${operator}`, approval: { ...record.approval!, decision } });
    log(`job ${jobId}: ${approved ? 'approved' : 'rejected'} by ${operator}${reason ? `: ${reason}` : ''}`);
    if (approved) waiter.resolve({ operator, ...(reason === undefined ? {} : { reason }) });
    else waiter.reject(errors.jobRejected(config.name, operator, reason!));
    return store.get(jobId)!;
  };

  const context: PartyJobContext = {
    name: config.name,
    role: config.role,
    async connect(partner, jobId) {
      // A cancel that came before this job opened its channels had nothing to close: the
      // job stops at its next connection instead of running on.
      const refuseIfCancelled = (channel: Channel) => {
        if (!running.get(jobId)?.cancelled) return;
        channel.close('cancelled by the operator');
        throw errors.channelClosed(partner, `job ${jobId} was cancelled by the operator`);
      };
      if (config.role === 'arbiter') {
        const arrived = await waitFor(jobId, partner);
        refuseIfCancelled(arrived);
        return arrived;
      }
      const address = config.partners.get(partner);
      if (!address) throw errors.optionInvalid(`partners.${partner}`, `${config.name} has no address for partner ${JSON.stringify(partner)}`, `add it under partners: in ${config.name}'s config`);
      const channel = await connectChannel({ ...tls, host: address.host, port: address.port, expectedPeer: partner });
      resourcesOf(jobId).channels.push(channel);
      refuseIfCancelled(channel);
      await channel.send(message('job.open', { jobId, party: config.name, role: config.role }));
      return channel;
    },
    loadTable: (name, columns) => loadTable(name, columns.withLabel, columns.features),
    preparedTags: (table, kind) => preparedTags(table, kind),
    keptTags: config.role === 'label' ? keptTags(join(config.store, 'prepared-tags')) : undefined,
    loadModelSlice: async (jobId) => {
      // The bank ends a training job when its own part is done; this party may still be
      // writing its slice. A scoring session opened right then waits for that, instead of
      // finding no model (seen in the bench's scoring section, which scores at once).
      await running.get(jobId)?.done;
      return loadModelSlice(join(jobDir(jobId), `model-${config.name}.json`));
    },
    // (The platform) The key it kept for a model trained with keepEncrypted, among that job's outputs.
    keptKeyFile: (jobId) => join(jobDir(jobId), KEPT_KEY_FILE),
    institutionOf: (party) => party,
    roleOf: (party) => config.partnerRoles.get(party),
    anchorsFile: (partner) => join(config.store, 'anchors', `${partner.replace(/[^A-Za-z0-9._-]/g, '_')}.jsonl`),
    governance: config.governance && { ...config.governance, approval: awaitOperator, ...(budgets ? { budgets } : {}) },
    psiExecutor,
    heBackendFor(kind) {
      if (kind !== 'ckks') throw errors.paramsInsecure('he', `a party service runs only real CKKS, not ${kind} (plaintext, for tests only)`);
      return ckksBackend;
    },
    matvec(jobId, threads) {
      const r = resourcesOf(jobId);
      r.pool ??= new SharedMatvecPool(threads);
      const pool = r.pool;
      return (bundle) => pool.for(bundle);
    },
    outputs(jobId) {
      const r = resourcesOf(jobId);
      r.outputs ??= stagedOutputs(jobDir(jobId));
      return r.outputs;
    },
    onProgress: (jobId) => (event) => store.update(jobId, { phase: event.phase, progress: { ...event } }),
    roles,
    onAwaitingApproval: (jobId, parties) =>
      store.update(jobId, parties.length > 0 ? { state: 'awaiting-approval', phase: `awaiting approval by ${parties.join(', ')}` } : { state: 'running', phase: 'approved by every partner' }),
  };

  /** Runs a job's body under the job store's record; its resources (channels included) are released when it ends. */
  const track = (jobId: string, body: () => Promise<Record<string, unknown>>): Promise<JobRecord> => {
    const entry = { channels: resourcesOf(jobId).channels, cancelled: false, done: undefined as unknown as Promise<JobRecord> };
    entry.done = (async () => {
      store.update(jobId, { state: 'running', phase: 'starting' });
      try {
        await mkdir(jobDir(jobId), { recursive: true });
        const result = await body();
        await release(jobId, 'commit');
        store.update(jobId, { state: 'succeeded', phase: 'done', result });
        log(`job ${jobId}: succeeded`);
      } catch (e) {
        await release(jobId, 'discard').catch(() => {});
        const error = isJinqiaoError(e) ? { code: e.code, message: e.message } : { code: 'E_INTERNAL', message: (e as Error).message };
        // A rejection by any party's operator ends the job as rejected at every party.
        const state = entry.cancelled ? 'cancelled' : error.code === 'E_JOB_REJECTED' ? 'rejected' : 'failed';
        store.update(jobId, { state, phase: 'stopped', error });
        log(`job ${jobId}: ${state}: ${error.code} ${error.message}`);
      } finally {
        takeApproval(jobId)?.reject(errors.channelClosed(config.name, `job ${jobId} ended before the operator decided`));
        running.delete(jobId);
        arrivals.delete(jobId);
      }
      // A store that cannot be written is the service's to report, not a reason to crash:
      // the record in memory holds the outcome and the next write retries it.
      await store.flush().catch((e: unknown) => log(`job ${jobId}: the job store did not record the outcome: ${(e as Error).message}`));
      return store.get(jobId)!;
    })();
    running.set(jobId, entry);
    return entry.done;
  };

  /** (Features, arbiter) A training job (tracked in the job store) or a scoring session opened by the label party. */
  const serveLabel = async (label: TlsChannel, jobId: string) => {
    resourcesOf(jobId).channels.push(label);
    // A bank that gives up while this party's operator has yet to decide withdraws the question.
    void label.closed.then((reason) => takeApproval(jobId)?.reject(reason));
    // A training job is tracked in the job store, which reports and releases it; a scoring session is not.
    let tracked = false;
    const outcome: Promise<PartnerOutcome> = joinJob(context, label, {
      onSpec: (spec) => {
        if (spec.jobId !== jobId) throw errors.protocol(`${label.peerName} opened job ${jobId} but sent the spec of job ${spec.jobId}`);
        // Binning jobs run in one process (`jinqiao bin`, a job file's binning section); a
        // service does not yet track them in its job store, so it takes no part in one.
        if (spec.kind === 'binning') throw errors.jobInvalid(`job.spec from ${label.peerName}`, 'kind', 'party services do not run binning jobs yet: bin with `jinqiao bin` or a job file');
        if (spec.kind !== 'training') return void sessionModels.set(jobId, spec.modelJobId);
        if (running.has(jobId)) throw errors.protocol(`job ${jobId} is running already`);
        if (!store.get(jobId)) store.create(jobId, { kind: spec.kind, purpose: spec.purpose, table: spec.table, parties: [...spec.parties], from: label.peerName });
        tracked = true;
        void track(jobId, async () => partnerSummary(await outcome));
      },
    });
    try {
      const done = await outcome;
      if (done.role === 'features' && done.kind === 'scoring') log(`scoring session ${jobId}: ${done.report.requests} requests, ${done.report.rowsScored} rows scored`);
    } catch (e) {
      if (!tracked) log(`session ${jobId} from ${label.peerName}: ${(e as Error).message}`);
    } finally {
      if (!tracked) {
        sessionModels.delete(jobId);
        await release(jobId, 'discard');
        arrivals.delete(jobId);
      }
    }
  };

  /**
   * (Label) Open scoring sessions, a small pool per model, kept for the requests that follow.
   * A session's protocol is one conversation with each agency and the arbiter, so it serves
   * one round at a time. Requests queue per model (first come, first served; past
   * MAX_WAITING_REQUESTS the bank answers E_BUSY, 503 with Retry-After); a free session takes
   * every request waiting (up to MAX_BATCH_IDS enterprises) in one round
   * (`BankScoringSession.scoreTogether`: each request checked and audited on its own, one
   * answer per request), and while requests wait and the pool has fewer than
   * SESSIONS_PER_MODEL sessions, another opens beside it. Each session is its own job at every
   * partner (own ID, own channels, own audit entries), so the agencies serve them side by side
   * with every rule of a single session. A session that fails, or whose connection a partner
   * dropped while it was idle, is closed, its channels freed, and only it leaves the pool.
   */
  const pools = new Map<string, ScoringPool>();
  /** Orders requests and session openings: which session was opened after which request arrived. */
  let poolClock = 0;
  const poolOf = (modelJobId: string): ScoringPool => {
    let pool = pools.get(modelJobId);
    if (!pool) pools.set(modelJobId, (pool = { sessions: [], queue: [] }));
    return pool;
  };
  const forgetIfEmpty = (modelJobId: string, pool: ScoringPool) => {
    if (pool.sessions.length === 0 && pool.queue.length === 0 && pools.get(modelJobId) === pool) pools.delete(modelJobId);
  };
  /** A session whose channels a partner closed cannot answer: found before requests are lost on it. */
  const brokenChannel = (entry: ScoringEntry) => jobResources.get(entry.sessionId)?.channels.find((c) => c.closedReason !== undefined);
  const dropSession = async (modelJobId: string, pool: ScoringPool, entry: ScoringEntry, why: string) => {
    const at = pool.sessions.indexOf(entry);
    if (at >= 0) {
      pool.sessions.splice(at, 1);
      log(`scoring session ${entry.sessionId}: closed (${why})`);
    }
    forgetIfEmpty(modelJobId, pool);
    sessionModels.delete(entry.sessionId);
    const session = await entry.session.catch(() => undefined);
    await session?.close().catch(() => {});
    await release(entry.sessionId, 'discard');
  };
  const openSession = (modelJobId: string, pool: ScoringPool): void => {
    const sessionId = `score/${modelJobId}/${randomUUID()}`;
    sessionModels.set(sessionId, modelJobId);
    const session = (async () => {
      const record = store.get(modelJobId);
      if (!record || record.state !== 'succeeded') throw errors.modelInvalid(modelJobId, 'no finished training job of that id on this service; train first');
      const def = record.definition as unknown as JobDefinition;
      return openScoringAsBank(context, {
        sessionId,
        modelJobId,
        purpose: def.purpose,
        labelTable: def.label.table,
        features: def.features,
        arbiter: def.arbiter ?? 'arbiter',
        config: resolveTrainingConfig({ ...def.training, jobId: modelJobId }),
        // Kept across sessions and restarts: an enterprise's decoys must never change.
        decoyKey: await loadOrCreateDecoyKey(config.store),
        anchorEvery: { requests: scoringConfig.anchorEveryRequests, minutes: scoringConfig.anchorEveryMinutes },
      });
    })();
    const entry: ScoringEntry = { sessionId, session, busy: true, opening: true, startedAt: ++poolClock };
    pool.sessions.push(entry);
    session.then(
      () => {
        log(`scoring session ${sessionId}: open (${pool.sessions.length} of at most ${SESSIONS_PER_MODEL} for model ${modelJobId})`);
        entry.opening = false;
        entry.busy = false;
        pump(modelJobId, pool);
      },
      async (e: unknown) => {
        await dropSession(modelJobId, pool, entry, `could not open: ${(e as Error).message}`);
        // With no session left to serve them, the waiting requests get the reason (an unknown
        // model, a partner that refused). A partner that could not be reached may have been
        // restarting: the requests wait for one more session before that is their answer.
        if (!pool.sessions.some((s) => !s.opening)) {
          const transient = isJinqiaoError(e) && e.code === 'E_CHANNEL_CLOSED';
          for (const p of pool.queue.splice(0)) {
            // Only a session opened after the request arrived counts against it: one that was
            // opening while the partner was down says nothing about the partner now.
            if (entry.startedAt > p.queuedAt) p.openFailures = (p.openFailures ?? 0) + 1;
            if (transient && (p.openFailures ?? 0) < 2) pool.queue.push(p);
            else p.reject(e);
          }
        }
        forgetIfEmpty(modelJobId, pool);
        pump(modelJobId, pool);
      },
    );
  };
  /** Gives waiting requests to free sessions, and opens sessions while requests wait and the pool has room. */
  const pump = (modelJobId: string, pool: ScoringPool): void => {
    while (pool.queue.length > 0) {
      const idle = pool.sessions.find((e) => !e.busy);
      if (idle) {
        idle.busy = true;
        const broken = brokenChannel(idle);
        if (broken) {
          void dropSession(modelJobId, pool, idle, `idle, its connection ended: ${broken.closedReason!.message}`);
          continue;
        }
        let ids = 0;
        const batch: PendingScore[] = [];
        while (pool.queue.length > 0 && (batch.length === 0 || ids + pool.queue[0]!.ids.length <= MAX_BATCH_IDS)) {
          const next = pool.queue.shift()!;
          ids += next.ids.length;
          batch.push(next);
        }
        void serveBatch(modelJobId, pool, idle, batch);
        continue;
      }
      const opening = pool.sessions.filter((e) => e.opening).length;
      if (pool.sessions.length < SESSIONS_PER_MODEL && opening < pool.queue.length) {
        openSession(modelJobId, pool);
        continue;
      }
      return;
    }
  };
  const serveBatch = async (modelJobId: string, pool: ScoringPool, entry: ScoringEntry, batch: readonly PendingScore[]) => {
    const session = await entry.session;
    try {
      const answers = await session.scoreTogether(batch.map((p) => ({ ids: p.ids, options: p.options })));
      answers.forEach((a, i) => (a instanceof Error ? batch[i]!.reject(a) : batch[i]!.resolve(a)));
    } catch (e) {
      // A partner's connection that ended while the session sat idle (a restart) is often
      // seen only when the next round is sent on it. Such a round goes once more, on another
      // session: the agencies see the same slots (an enterprise's decoys are fixed), so the
      // second try tells them nothing the first did not; any other failure is the answer.
      const retry = isJinqiaoError(e) && e.code === 'E_CHANNEL_CLOSED' ? batch.filter((p) => !p.retried) : [];
      for (const p of batch) if (!retry.includes(p)) p.reject(e);
      pool.queue.unshift(...retry.map((p) => ({ ...p, retried: true })));
    }
    // A failed round ends the session; a refused request (a malformed ID) leaves it usable.
    if (session.failed) await dropSession(modelJobId, pool, entry, 'a request failed');
    else entry.busy = false;
    pump(modelJobId, pool);
  };

  /** (Label) Runs, or reruns from the first epoch (encrypted weights do not outlive the arbiter's key), the training job `jobId`. */
  const runTraining = (jobId: string, def: JobDefinition): Promise<JobRecord> => {
    const jobConfig = resolveTrainingConfig({ ...def.training, jobId });
    return track(jobId, async () => {
      const result = await trainAsLabel(context, { config: jobConfig, purpose: def.purpose, labelTable: def.label.table, features: def.features, arbiter: def.arbiter ?? 'arbiter' });
      return { auc: result.metrics.auc, ks: result.metrics.ks.statistic, alignedRows: result.alignedRows, epochs: result.epochsRun, lossCurve: [...result.lossCurve], timings: { ...result.timings } };
    });
  };

  /** (Features) A verification or lookup session the bank opened: answered under this party's policy and audit log. */
  const serveLookup = async (bank: TlsChannel, sessionId: string) => {
    try {
      const report = await serveLookupAsAgency(context, bank, sessionId, config.lookup ?? lookupDefaults());
      log(`lookup session ${sessionId}: ${report.mode}, ${report.calls} calls, ${report.evaluations} evaluations${report.expired ? `; ended: ${report.expired}` : ''}`);
    } catch (e) {
      log(`lookup session ${sessionId} from ${bank.peerName}: ${(e as Error).message}`);
    }
  };
  const lookups = new LookupSessions(context, (sessionId) => release(sessionId, 'discard'));

  /**
   * (Label) The job queue: at most `jobs.concurrency` jobs run at once (a job awaiting an
   * operator's approval keeps its slot); the others wait in order of submission.
   */
  const queue: string[] = [];
  let runningJobs = 0;
  let closing = false;
  const startQueued = () => {
    while (!closing && runningJobs < jobsConfig.concurrency && queue.length > 0) {
      const jobId = queue.shift()!;
      const record = store.get(jobId);
      if (record?.state !== 'queued') continue;
      runningJobs++;
      void runTraining(jobId, record.definition as unknown as JobDefinition).finally(() => {
        runningJobs--;
        startQueued();
      });
    }
  };
  const enqueue = (jobId: string) => {
    store.update(jobId, { state: 'queued', phase: 'queued' });
    queue.push(jobId);
    startQueued();
  };

  const listener: TlsListener = await listenChannels({
    ...tls,
    host: config.listen.host,
    port: config.listen.port,
    onRefused: (r) => log(`refused connection from ${r.address}: ${r.reason}`),
    onChannel: async (channel) => {
      try {
        const open = await channel.receive('job.open');
        if (open.party !== channel.peerName) throw errors.protocol(`a peer whose certificate names ${channel.peerName} claims to be ${open.party}`);
        log(`job ${open.jobId}: ${open.party} (${open.role}) connected from ${channel.peerAddress}`);
        if (open.role === 'label' && isLookupSession(open.jobId)) return await serveLookup(channel, open.jobId);
        if (open.role === 'label') return await serveLabel(channel, open.jobId);
        arrive(open.jobId, open.party, channel);
      } catch (e) {
        log(`connection from ${channel.peerName}: ${(e as Error).message}`);
        channel.close('refused');
      }
    },
  });
  log(`${config.name} (${config.role}) listening on ${listener.host}:${listener.port}`);
  for (const jobId of requeued) {
    queue.push(jobId);
    log(`job ${jobId}: queued again after a restart`);
  }
  startQueued();

  return {
    config,
    tlsPort: listener.port,
    store,
    submit(definition) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'jobs are submitted to the label party (the bank)');
      const def = checkDefinition(definition);
      const jobId = def.job ?? randomUUID();
      if (store.get(jobId)) throw errors.jobInvalid('definition', 'job', `a job ${JSON.stringify(jobId)} exists already`);
      resolveTrainingConfig({ ...def.training, jobId });
      store.create(jobId, def as unknown as Record<string, unknown>);
      enqueue(jobId);
      return store.get(jobId)!;
    },
    async resume(jobId, by) {
      const operator = operatorOf(by);
      const resumable = () => {
        if (config.role !== 'label') throw errors.optionInvalid('role', 'jobs are resumed at the label party (the bank)');
        const record = store.get(jobId);
        if (!record) throw errors.notFound(`no job ${JSON.stringify(jobId)}`, 'list jobs with GET /v1/jobs');
        if (record.state !== 'failed' && record.state !== 'cancelled') {
          throw errors.optionInvalid('job', `job ${jobId} is ${record.state}; only a failed or cancelled job can be resumed`);
        }
        return record;
      };
      const record = resumable();
      await config.governance?.audit?.append('job.resumed', { job: jobId, operator, was: record.state });
      // Checked again: another resume may have queued it while the entry was written.
      resumable();
      log(`job ${jobId}: resumed by ${operator}`);
      enqueue(jobId);
      return store.get(jobId)!;
    },
    async cancel(jobId, by) {
      const operator = operatorOf(by);
      const cancellable = () => queue.includes(jobId) || running.has(jobId);
      if (!cancellable()) return false;
      await config.governance?.audit?.append('job.cancelled', { job: jobId, operator, was: store.get(jobId)?.state ?? 'unknown' });
      // The job may have ended while the entry was written: then there is nothing left to stop.
      const place = queue.indexOf(jobId);
      if (place >= 0) {
        queue.splice(place, 1);
        store.update(jobId, { state: 'cancelled', phase: 'cancelled while queued' });
        log(`job ${jobId}: cancelled while queued by ${operator}`);
        return true;
      }
      const entry = running.get(jobId);
      if (!entry) return false;
      log(`job ${jobId}: cancelled by ${operator}`);
      entry.cancelled = true;
      takeApproval(jobId)?.reject(errors.jobRejected(config.name, operator, 'cancelled while it awaited approval'));
      for (const c of entry.channels) c.close('cancelled by the operator');
      return true;
    },
    listJobs() {
      return store.list().map((r) => {
        const place = r.state === 'queued' ? queue.indexOf(r.id) : -1;
        return { id: r.id, state: r.state, phase: r.phase, ...(place >= 0 ? { position: place + 1 } : {}), createdAt: r.createdAt, updatedAt: r.updatedAt };
      });
    },
    approve: (jobId, by) => decide(jobId, true, by),
    reject: (jobId, by) => decide(jobId, false, by),
    async score(modelJobId, ids, options = {}) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'scoring requests go to the label party (the bank)');
      const pool = poolOf(modelJobId);
      if (pool.queue.length >= MAX_WAITING_REQUESTS) throw errors.busy(`${pool.queue.length} scoring requests for model ${modelJobId} are waiting`, 1);
      return new Promise((resolve, reject) => {
        pool.queue.push({ ids, options, resolve, reject, queuedAt: ++poolClock });
        pump(modelJobId, pool);
      });
    },
    verify(call) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'verification requests go to the label party (the bank)');
      return lookups.verify(call);
    },
    lookup(call) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'lookup requests go to the label party (the bank)');
      return lookups.lookup(call);
    },
    psi(call) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'PSI requests go to the label party (the bank)');
      return lookups.psi(call);
    },
    finished(jobId) {
      const entry = running.get(jobId);
      if (entry) return entry.done;
      const record = store.get(jobId);
      if (!record) return Promise.reject(errors.notFound(`no job ${JSON.stringify(jobId)}`, 'list jobs with GET /v1/jobs'));
      if (ACTIVE_STATES.has(record.state)) {
        return new Promise((resolve) => {
          const poll = setInterval(() => {
            const r = store.get(jobId)!;
            if (!ACTIVE_STATES.has(r.state)) {
              clearInterval(poll);
              resolve(r);
            }
          }, 200);
        });
      }
      return Promise.resolve(record);
    },
    async close() {
      // Queued jobs stay queued in the store (they start after a restart); a pending approval is withdrawn.
      closing = true;
      for (const jobId of [...approvals.keys()]) takeApproval(jobId)?.reject(errors.interrupted(jobId));
      for (const pool of pools.values()) {
        for (const p of pool.queue.splice(0)) p.reject(errors.channelClosed(config.name, 'the service is stopping'));
        for (const entry of pool.sessions) await (await entry.session.catch(() => undefined))?.close().catch(() => {});
      }
      await lookups.close();
      await listener.close('service stopping');
      // Every job's and session's channels end with the service: a partner waiting on one of
      // them hears that it stopped instead of waiting on a service whose store is closed.
      for (const r of jobResources.values()) for (const c of r.channels) c.close('service stopping');
      for (const slots of arrivals.values()) for (const slot of slots.values()) slot.channel?.close('service stopping');
      // A job's thread still computing between two messages would keep the process alive.
      await threads.close();
      await psiExecutor.close();
      await store.close();
    },
  };
}

/**
 * Scoring sessions a model keeps open at most. Each is one request at a time through four
 * services; a few side by side keep every party busy (one computes while another's answer
 * is on the wire) without growing memory with the number of clients: a session holds CKKS
 * keys at every party.
 */
const SESSIONS_PER_MODEL = 4;
/** Scoring requests a model's pool queues before it refuses more. */
const MAX_WAITING_REQUESTS = 64;
/** Enterprises one round of a session takes from the queue at most (a larger single request goes alone). */
const MAX_BATCH_IDS = 1024;

interface ScoringEntry {
  readonly sessionId: string;
  readonly session: Promise<BankSession>;
  /** Opening, or serving a round. */
  busy: boolean;
  opening: boolean;
  /** When it began to open (poolClock). */
  readonly startedAt: number;
}

interface PendingScore {
  readonly ids: readonly string[];
  readonly options: { decoys?: number };
  readonly resolve: (scores: readonly EnterpriseScore[]) => void;
  readonly reject: (error: unknown) => void;
  /** Sent once already on a session whose connection turned out to be gone. */
  readonly retried?: boolean;
  /** When it joined the queue (poolClock). */
  readonly queuedAt: number;
  /** Sessions opened after it arrived that could not be opened. */
  openFailures?: number;
}

interface ScoringPool {
  readonly sessions: ScoringEntry[];
  /** Requests waiting for a session, first come first served. */
  readonly queue: PendingScore[];
}

/** What a partner's job store keeps of a job it took part in. */
function partnerSummary(outcome: PartnerOutcome): Record<string, unknown> {
  if (outcome.role === 'arbiter') return { decryptions: outcome.report.decryptions };
  if (outcome.kind === 'training') return { alignedRows: outcome.result.protocol.alignedRows.length, epochs: outcome.result.protocol.epochsRun };
  if (outcome.kind === 'binning') return { alignedRows: outcome.result.protocol.alignedRows.length };
  return { requests: outcome.report.requests };
}

/** Checks a submitted job definition, naming the field that is wrong. */
export function checkDefinition(value: unknown): JobDefinition {
  conform(JobDefinitionSchema, value, (path, why) => errors.jobInvalid('definition', path.length === 0 ? '(top level)' : pathText(path), why));
  // The schema knows the training parameters' names; their values are checked as the CLI's are.
  if (value.training) resolveTrainingConfig({ ...(value.training as Partial<TrainingConfig>), jobId: 'check' });
  return value as unknown as JobDefinition;
}

/** The operator an action is recorded under: the one named, checked as decide() checks it, or `api`. */
function operatorOf(by: OperatorAction | undefined): string {
  if (by === undefined) return API_OPERATOR;
  const { operator } = by as { operator?: unknown };
  if (typeof operator !== 'string' || operator.trim() === '' || operator.length > 200) throw errors.optionInvalid('operator', 'must name the operator who acts (1 to 200 characters)');
  return operator.trim();
}
