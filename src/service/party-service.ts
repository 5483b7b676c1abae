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
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors, isJinqiaoError } from '../errors.ts';
import { loadFeatureTable } from '../data/table.ts';
import { loadFeatureTableFromPostgres } from '../data/postgres.ts';
import { ckksBackend } from '../he/ckks.ts';
import { resolveTrainingConfig, TRAINING_DEFAULTS, type TrainingConfig } from '../lr/config.ts';
import { loadModelSlice } from '../lr/model.ts';
import { loadOrCreateDecoyKey } from '../governance/keys.ts';
import { poolExecutor } from '../psi/executor.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';
import type { BankScoringSession, EnterpriseScore } from '../score/bank.ts';
import { connectChannel, listenChannels, type TlsChannel, type TlsListener, type TlsPartyConfig } from '../transport/tls/index.ts';
import type { LoadedTable, PartyJobContext } from '../jobs/context.ts';
import { stagedOutputs, type StagedOutputs } from '../jobs/output-folder.ts';
import { joinJob, type PartnerOutcome } from '../jobs/partner.ts';
import { isLookupSession, LookupSessions, serveLookupAsAgency, type LookupCall, type VerifyCall } from '../jobs/lookup.ts';
import type { FrameTap } from '../transport/memory.ts';
import { openScoringAsBank } from '../jobs/scoring.ts';
import { trainAsLabel } from '../jobs/training.ts';
import { SharedMatvecPool } from '../he/pool.ts';
import type { PartyConfig } from './config.ts';
import { PostgresJobStore } from './pg-store.ts';
import { SqliteJobStore, type JobRecord, type JobStore } from './store.ts';

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

export interface PartyService {
  readonly config: PartyConfig;
  readonly tlsPort: number;
  readonly store: JobStore;
  /** (Label) Validates and starts a job; returns once it is recorded, not when it ends. */
  submit(definition: unknown): JobRecord;
  /** (Label) Reruns a failed or cancelled job from the last epoch every party checkpointed. */
  resume(jobId: string): JobRecord;
  cancel(jobId: string): boolean;
  /** (Label) Scores enterprises with the model of a finished job, the agencies answering over TLS. */
  score(modelJobId: string, ids: readonly string[], options?: { decoys?: number }): Promise<readonly EnterpriseScore[]>;
  /** (Label) Verification of declared values, an agency answering over TLS under its policy (`POST /v1/verify`). */
  verify(call: VerifyCall): ReturnType<LookupSessions['verify']>;
  /** (Label) An interface call, identified or blind, an agency answering over TLS under its policy (`POST /v1/lookup`). */
  lookup(call: LookupCall): ReturnType<LookupSessions['lookup']>;
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
  // A job recorded as running when the service starts was cut off by a crash or a kill.
  for (const record of store.list()) {
    if (record.state === 'running' || record.state === 'queued') {
      const interrupted = errors.interrupted(record.id);
      store.update(record.id, { state: 'failed', phase: 'interrupted', error: { code: interrupted.code, message: `${interrupted.message}; ${interrupted.hint}` } });
      log(`job ${record.id}: marked failed (interrupted by a stop of the service)`);
    }
  }
  await store.flush();
  const psiExecutor = poolExecutor();
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
  const jobResources = new Map<string, { channels: Channel[]; pool?: SharedMatvecPool; outputs?: StagedOutputs }>();
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

  const context: PartyJobContext = {
    name: config.name,
    role: config.role,
    async connect(partner, jobId) {
      if (config.role === 'arbiter') return waitFor(jobId, partner);
      const address = config.partners.get(partner);
      if (!address) throw errors.optionInvalid(`partners.${partner}`, `${config.name} has no address for partner ${JSON.stringify(partner)}`, `add it under partners: in ${config.name}'s config`);
      const channel = await connectChannel({ ...tls, host: address.host, port: address.port, expectedPeer: partner });
      resourcesOf(jobId).channels.push(channel);
      await channel.send(message('job.open', { jobId, party: config.name, role: config.role }));
      return channel;
    },
    loadTable: (name, columns) => loadTable(name, columns.withLabel, columns.features),
    loadModelSlice: async (jobId) => loadModelSlice(join(jobDir(jobId), `model-${config.name}.json`)),
    institutionOf: (party) => party,
    roleOf: (party) => config.partnerRoles.get(party),
    anchorsFile: (partner) => join(config.store, 'anchors', `${partner.replace(/[^A-Za-z0-9._-]/g, '_')}.jsonl`),
    governance: config.governance,
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
        store.update(jobId, { state: entry.cancelled ? 'cancelled' : 'failed', phase: 'stopped', error });
        log(`job ${jobId}: ${entry.cancelled ? 'cancelled' : 'failed'}: ${error.code} ${error.message}`);
      } finally {
        running.delete(jobId);
        arrivals.delete(jobId);
      }
      await store.flush();
      return store.get(jobId)!;
    })();
    running.set(jobId, entry);
    return entry.done;
  };

  /** (Features, arbiter) A training job (tracked in the job store) or a scoring session opened by the label party. */
  const serveLabel = async (label: TlsChannel, jobId: string) => {
    resourcesOf(jobId).channels.push(label);
    // A training job is tracked in the job store, which reports and releases it; a scoring session is not.
    let tracked = false;
    const outcome: Promise<PartnerOutcome> = joinJob(context, label, {
      onSpec: (spec) => {
        if (spec.jobId !== jobId) throw errors.protocol(`${label.peerName} opened job ${jobId} but sent the spec of job ${spec.jobId}`);
        if (spec.kind !== 'training') return;
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
        await release(jobId, 'discard');
        arrivals.delete(jobId);
      }
    }
  };

  /**
   * (Label) Open scoring sessions, one per model, kept for the requests that follow. A
   * session's protocol is one conversation with each agency, so its requests take turns:
   * each waits for the one before it, and a full queue is refused (E_BUSY, 503 with
   * Retry-After) rather than left to grow. A session that fails is closed, its channels freed,
   * and only that session is forgotten (a newer one for the same model is left alone).
   */
  const sessions = new Map<string, ScoringEntry>();
  const dropSession = async (modelJobId: string, entry: ScoringEntry) => {
    if (sessions.get(modelJobId) === entry) sessions.delete(modelJobId);
    const session = await entry.session.catch(() => undefined);
    await session?.close().catch(() => {});
    await release(entry.sessionId, 'discard');
  };
  const openScoring = (modelJobId: string): ScoringEntry => {
    const open = sessions.get(modelJobId);
    if (open) return open;
    const sessionId = `score/${modelJobId}/${randomUUID()}`;
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
      });
    })();
    const entry: ScoringEntry = { sessionId, session, tail: Promise.resolve(), waiting: 0 };
    session.catch(() => dropSession(modelJobId, entry));
    sessions.set(modelJobId, entry);
    return entry;
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
      const report = await serveLookupAsAgency(context, bank, sessionId);
      log(`lookup session ${sessionId}: ${report.mode}, ${report.calls} calls, ${report.evaluations} evaluations`);
    } catch (e) {
      log(`lookup session ${sessionId} from ${bank.peerName}: ${(e as Error).message}`);
    }
  };
  const lookups = new LookupSessions(context, (sessionId) => release(sessionId, 'discard'));

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
      const record = store.create(jobId, def as unknown as Record<string, unknown>);
      void runTraining(jobId, def);
      return record;
    },
    resume(jobId) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'jobs are resumed at the label party (the bank)');
      const record = store.get(jobId);
      if (!record) throw errors.notFound(`no job ${JSON.stringify(jobId)}`, 'list jobs with GET /v1/jobs');
      if (record.state !== 'failed' && record.state !== 'cancelled') {
        throw errors.optionInvalid('job', `job ${jobId} is ${record.state}; only a failed or cancelled job can be resumed`);
      }
      void runTraining(jobId, record.definition as unknown as JobDefinition);
      return store.get(jobId)!;
    },
    cancel(jobId) {
      const entry = running.get(jobId);
      if (!entry) return false;
      entry.cancelled = true;
      for (const c of entry.channels) c.close('cancelled by the operator');
      return true;
    },
    async score(modelJobId, ids, options = {}) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'scoring requests go to the label party (the bank)');
      const entry = openScoring(modelJobId);
      if (entry.waiting >= MAX_WAITING_REQUESTS) throw errors.busy(`${entry.waiting} scoring requests for model ${modelJobId} are waiting`, 1);
      entry.waiting++;
      const turn = entry.tail.then(async () => {
        const session = await entry.session;
        try {
          return await session.score(ids, options);
        } catch (e) {
          // A refused request (a malformed ID) leaves the session usable; a failed one is closed.
          if (session.failed) await dropSession(modelJobId, entry);
          throw e;
        }
      });
      entry.tail = turn.catch(() => {});
      try {
        return await turn;
      } finally {
        entry.waiting--;
      }
    },
    verify(call) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'verification requests go to the label party (the bank)');
      return lookups.verify(call);
    },
    lookup(call) {
      if (config.role !== 'label') throw errors.optionInvalid('role', 'lookup requests go to the label party (the bank)');
      return lookups.lookup(call);
    },
    finished(jobId) {
      const entry = running.get(jobId);
      if (entry) return entry.done;
      const record = store.get(jobId);
      if (!record) return Promise.reject(errors.notFound(`no job ${JSON.stringify(jobId)}`, 'list jobs with GET /v1/jobs'));
      if (record.state === 'queued' || record.state === 'running') {
        return new Promise((resolve) => {
          const poll = setInterval(() => {
            const r = store.get(jobId)!;
            if (r.state !== 'queued' && r.state !== 'running') {
              clearInterval(poll);
              resolve(r);
            }
          }, 200);
        });
      }
      return Promise.resolve(record);
    },
    async close() {
      for (const entry of sessions.values()) await (await entry.session.catch(() => undefined))?.close().catch(() => {});
      await lookups.close();
      await listener.close('service stopping');
      await psiExecutor.close();
      await store.close();
    },
  };
}

/** Scoring requests one session queues before it refuses more. */
const MAX_WAITING_REQUESTS = 64;

interface ScoringEntry {
  readonly sessionId: string;
  readonly session: Promise<BankScoringSession>;
  /** The last request's turn: the next one starts after it. */
  tail: Promise<unknown>;
  waiting: number;
}

/** What a partner's job store keeps of a job it took part in. */
function partnerSummary(outcome: PartnerOutcome): Record<string, unknown> {
  if (outcome.role === 'arbiter') return { decryptions: outcome.report.decryptions };
  if (outcome.kind === 'training') return { alignedRows: outcome.result.protocol.alignedRows.length, epochs: outcome.result.protocol.epochsRun };
  return { requests: outcome.report.requests };
}

/** Checks a submitted job definition, naming the field that is wrong. */
export function checkDefinition(value: unknown): JobDefinition {
  const bad = (field: string, why: string) => errors.jobInvalid('definition', field, why);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('(top level)', 'must be an object with label, features and training');
  const d = value as Record<string, unknown>;
  for (const key of Object.keys(d)) if (!['job', 'purpose', 'label', 'features', 'arbiter', 'training'].includes(key)) throw bad(key, 'unknown field (expected job, purpose, label, features, arbiter, training)');
  if (d.purpose !== undefined && (typeof d.purpose !== 'string' || d.purpose === '')) throw bad('purpose', 'must name the purpose, e.g. credit-modeling');
  if (d.job !== undefined && (typeof d.job !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(d.job) || /^\.+$/.test(d.job))) throw bad('job', 'must be 1 to 100 letters, digits, dots, dashes or underscores, and not only dots');
  const label = d.label as Record<string, unknown> | undefined;
  if (typeof label?.table !== 'string' || label.table === '') throw bad('label.table', 'must name one of the bank\'s configured tables');
  if (!Array.isArray(d.features) || d.features.length === 0) throw bad('features', 'must list at least one { party, table }');
  d.features.forEach((f, i) => {
    const spec = f as Record<string, unknown>;
    if (typeof spec?.party !== 'string' || spec.party === '') throw bad(`features[${i}].party`, 'must name a partner of the bank');
    if (typeof spec.table !== 'string' || spec.table === '') throw bad(`features[${i}].table`, "must name one of that party's configured tables");
  });
  if (d.arbiter !== undefined && typeof d.arbiter !== 'string') throw bad('arbiter', 'must name the arbiter partner');
  if (d.training !== undefined && (typeof d.training !== 'object' || d.training === null || Array.isArray(d.training))) throw bad('training', 'must be an object of training parameters');
  if (d.training) {
    for (const key of Object.keys(d.training)) {
      if (!Object.hasOwn(TRAINING_DEFAULTS, key)) throw bad(`training.${key}`, `unknown training parameter (expected one of: ${Object.keys(TRAINING_DEFAULTS).join(', ')})`);
    }
    resolveTrainingConfig({ ...(d.training as Partial<TrainingConfig>), jobId: 'check' });
  }
  return d as unknown as JobDefinition;
}
