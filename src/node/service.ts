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
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors, isJinqiaoError } from '../errors.ts';
import { loadFeatureTable, type FeatureTable } from '../data/table.ts';
import { loadFeatureTableFromPostgres } from '../data/postgres.ts';
import { ckksBackend } from '../he/ckks.ts';
import { detectIdType, type IdType } from '../ids/normalise.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../lr/config.ts';
import { loadModelSlice, sliceOf, type ModelSlice } from '../lr/model.ts';
import { admitJob } from '../governance/gate.ts';
import { abortingPeersOnFailure } from '../lr/abort.ts';
import { serveScoring } from '../score/agency.ts';
import { BankScoringSession, type EnterpriseScore } from '../score/bank.ts';
import { SharedMatvecPool } from '../lr/local.ts';
import { heParamsFor } from '../lr/protocol.ts';
import { runArbiter } from '../lr/roles/arbiter.ts';
import { runFeatureParty } from '../lr/roles/features.ts';
import { runLabelParty } from '../lr/roles/label.ts';
import { runTrainingArbiter } from '../lr/roles/training-arbiter.ts';
import { poolExecutor } from '../psi/executor.ts';
import type { Channel } from '../transport/channel.ts';
import { message } from '../transport/messages.ts';
import { connectChannel, listenChannels, type TlsChannel, type TlsListener, type TlsPartyConfig } from '../transport/tls/index.ts';
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

/** What a partner is told of a job. */
interface JobSpec {
  /** A training job (default), or a scoring session with the model of job `modelJobId`. */
  readonly kind?: 'training' | 'scoring';
  readonly modelJobId?: string;
  readonly purpose?: string;
  readonly config: TrainingConfig;
  /** Feature parties: the table to use. */
  readonly table?: string;
  /** Feature parties: the arbiter to connect to. */
  readonly arbiter?: string;
  /** The arbiter: every party, the label first. */
  readonly parties?: readonly string[];
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
  /** Resolves when a job of this party ends (for tests and `--wait`). */
  finished(jobId: string): Promise<JobRecord>;
  close(): Promise<void>;
}

export async function startPartyService(config: PartyConfig, log: (line: string) => void = () => {}): Promise<PartyService> {
  const tls: TlsPartyConfig = {
    key: await readFile(config.tls.key),
    cert: await readFile(config.tls.cert),
    ca: await Promise.all(config.tls.trust.map((f) => readFile(f))),
    timeoutMs: config.timeoutSeconds * 1000,
  };
  const store: JobStore = config.jobStore ? await PostgresJobStore.open(config.jobStore.postgres, config.name) : new SqliteJobStore(config.store);
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

  const connect = async (partner: string, jobId: string): Promise<TlsChannel> => {
    const address = config.partners.get(partner);
    if (!address) throw errors.optionInvalid(`partners.${partner}`, `${config.name} has no address for partner ${JSON.stringify(partner)}`, `add it under partners: in ${config.file}`);
    const channel = await connectChannel({ ...tls, host: address.host, port: address.port, expectedPeer: partner });
    await channel.send(message('job.open', { jobId, party: config.name, role: config.role }));
    return channel;
  };

  const track = (jobId: string, channels: Channel[], body: () => Promise<Record<string, unknown>>): Promise<JobRecord> => {
    const entry = { channels, cancelled: false, done: undefined as unknown as Promise<JobRecord> };
    entry.done = (async () => {
      store.update(jobId, { state: 'running', phase: 'starting' });
      try {
        const result = await body();
        store.update(jobId, { state: 'succeeded', phase: 'done', result });
        log(`job ${jobId}: succeeded`);
      } catch (e) {
        const error = isJinqiaoError(e) ? { code: e.code, message: e.message } : { code: 'E_INTERNAL', message: (e as Error).message };
        store.update(jobId, { state: entry.cancelled ? 'cancelled' : 'failed', phase: 'stopped', error });
        log(`job ${jobId}: ${entry.cancelled ? 'cancelled' : 'failed'}: ${error.code} ${error.message}`);
      } finally {
        for (const c of channels) c.close('job over');
        running.delete(jobId);
      }
      await store.flush();
      return store.get(jobId)!;
    })();
    running.set(jobId, entry);
    return entry.done;
  };

  const loadTable = async (name: string, withLabel: boolean): Promise<FeatureTable> => {
    const table = config.tables.get(name);
    if (!table) throw errors.optionInvalid('table', `${config.name} has no table ${JSON.stringify(name)}`, `tables known: ${[...config.tables.keys()].join(', ')}`);
    if (withLabel && !table.labelColumn) throw errors.optionInvalid(`tables.${name}.label`, 'the label party needs the table\'s 0/1 outcome column');
    const columns = { idColumn: table.idColumn, ...(withLabel ? { labelColumn: table.labelColumn } : {}), ...(table.features ? { features: table.features } : {}) };
    if (table.postgres) return loadFeatureTableFromPostgres({ ...table.postgres, ...columns });
    return loadFeatureTable(table.file!, columns);
  };

  const jobDir = async (jobId: string) => {
    const dir = join(config.store, 'jobs', jobId.replace(/[^A-Za-z0-9._-]/g, '_'));
    await mkdir(dir, { recursive: true });
    return dir;
  };

  /** The party's admission gate, if it has governance: refusals reach `peers` as a code only. */
  const gate = async (table: FeatureTable, jobId: string, purpose: string | undefined, partners: readonly string[], fields: readonly string[], peers: readonly Channel[]): Promise<FeatureTable> => {
    if (!config.governance) return table;
    return (await abortingPeersOnFailure(peers, () => admitJob(config.governance!, table, { jobId, purpose: purpose ?? 'undeclared', partners, fields }))).table;
  };
  const audit = config.governance?.audit;

  /** Writes the party's model slice, recording the export (with the slice's hash) first. */
  const saveSlice = async (jobId: string, slice: ModelSlice) => {
    const text = JSON.stringify(slice, null, 2) + '\n';
    const file = join(await jobDir(jobId), `model-${config.name}.json`);
    await audit?.append('model.export', { job: jobId, file, sha256: createHash('sha256').update(text).digest('hex') });
    await writeFile(file, text);
  };

  const idTypeOf = (table: FeatureTable, jobConfig: TrainingConfig): IdType =>
    jobConfig.idType === 'uscc' || jobConfig.idType === 'plain' ? jobConfig.idType : detectIdType(table.ids.slice(0, 1000));

  /** (Features, arbiter) A job opened by the label party. */
  const serveJob = async (label: TlsChannel, jobId: string) => {
    const spec = JSON.parse((await label.receive('job.spec')).spec) as JobSpec;
    if (spec.kind === 'scoring') return serveScoringSession(label, jobId, spec);
    const jobConfig = resolveTrainingConfig(spec.config);
    if (!store.get(jobId)) store.create(jobId, { ...spec, from: label.peerName });
    if (config.role === 'features') {
      const channels: Channel[] = [label];
      await track(jobId, channels, async () => {
        const loaded = await loadTable(spec.table ?? '', false);
        const table = await gate(loaded, jobId, spec.purpose, [label.peerName], loaded.featureNames, [label]);
        const arbiter = await connect(spec.arbiter ?? 'arbiter', jobId);
        channels.push(arbiter);
        const pools = new SharedMatvecPool(jobConfig.threads);
        try {
          const result = await runFeatureParty({ name: config.name, config: jobConfig, idType: idTypeOf(table, jobConfig), table, label, arbiter, psiExecutor, heBackend: ckksBackend, matvec: (b) => pools.for(b) });
          const slice = sliceOf(jobId, config.name, 'features', result, jobConfig.sigmoid);
          await audit?.append('psi.run', { job: jobId, partners: [label.peerName], aligned: result.alignedRows.length });
          await audit?.append('training.run', { job: jobId, epochs: result.epochsRun });
          await saveSlice(jobId, slice);
          return { alignedRows: result.alignedRows.length, epochs: result.epochsRun };
        } finally {
          await pools.destroy();
        }
      });
    } else if (config.role === 'arbiter') {
      const parties = spec.parties ?? [];
      const channels: Channel[] = [label];
      await track(jobId, channels, async () => {
        for (const party of parties.slice(1)) channels.push(await waitFor(jobId, party));
        const report = await runTrainingArbiter({ backend: ckksBackend, params: heParamsFor(jobConfig), parties: channels, onDecryption: audit && ((record) => audit.append('training.decryption', { ...record })) });
        return { decryptions: report.decryptions, refreshes: report.refreshes };
      });
      arrivals.delete(jobId);
    } else {
      throw errors.protocol(`${label.peerName} opened job ${jobId} with the label party`);
    }
  };

  /** (Features, arbiter) A scoring session the bank opened with the model of a finished job. */
  const serveScoringSession = async (label: TlsChannel, sessionId: string, spec: JobSpec) => {
    const jobConfig = resolveTrainingConfig(spec.config);
    if (config.role === 'features') {
      const slice = await loadModelSlice(join(await jobDir(spec.modelJobId ?? ''), `model-${config.name}.json`));
      const table = await gate(await loadTable(spec.table ?? '', false), sessionId, spec.purpose, [label.peerName], slice.featureNames, [label]);
      const arbiter = await connect(spec.arbiter ?? 'arbiter', sessionId);
      const report = await serveScoring({ name: config.name, slice, table, bank: label, arbiter, heBackend: ckksBackend, psiExecutor, idType: idTypeOf(table, jobConfig), psiBackend: jobConfig.psiBackend, audit });
      log(`scoring session ${sessionId}: ${report.requests} requests, ${report.rowsScored} rows scored`);
      arbiter.close('session over');
    } else if (config.role === 'arbiter') {
      const channels: Channel[] = [label];
      for (const party of (spec.parties ?? []).slice(1)) channels.push(await waitFor(sessionId, party));
      await runArbiter({ backend: ckksBackend, params: heParamsFor({ ...jobConfig, sigmoid: 'taylor1' }), parties: channels });
      arrivals.delete(sessionId);
    }
    label.close('session over');
  };

  /** (Label) Open scoring sessions, one per model, kept for the requests that follow. */
  const sessions = new Map<string, Promise<BankScoringSession>>();
  const openScoring = (modelJobId: string): Promise<BankScoringSession> => {
    const open = sessions.get(modelJobId);
    if (open) return open;
    const session = (async () => {
      const record = store.get(modelJobId);
      if (!record || record.state !== 'succeeded') throw errors.modelInvalid(modelJobId, 'no finished training job of that id on this service; train first');
      const def = record.definition as unknown as JobDefinition;
      const jobConfig = resolveTrainingConfig({ ...def.training, jobId: modelJobId });
      const slice = await loadModelSlice(join(await jobDir(modelJobId), `model-${config.name}.json`));
      const sessionId = `score/${modelJobId}/${randomUUID()}`;
      const table = await gate(await loadTable(def.label.table, false), sessionId, def.purpose, def.features.map((f) => f.party), slice.featureNames, []);
      const arbiterName = def.arbiter ?? 'arbiter';
      const agencies = new Map<string, Channel>();
      for (const f of def.features) {
        const channel = await connect(f.party, sessionId);
        await channel.send(message('job.spec', { spec: JSON.stringify({ kind: 'scoring', modelJobId, purpose: def.purpose, config: jobConfig, table: f.table, arbiter: arbiterName } satisfies JobSpec) }));
        agencies.set(f.party, channel);
      }
      const arbiter = await connect(arbiterName, sessionId);
      await arbiter.send(message('job.spec', { spec: JSON.stringify({ kind: 'scoring', modelJobId, config: jobConfig, parties: [config.name, ...agencies.keys()] } satisfies JobSpec) }));
      const bank = new BankScoringSession({ slice, table, agencies, arbiter, heBackend: ckksBackend, psiExecutor, idType: idTypeOf(table, jobConfig), psiBackend: jobConfig.psiBackend, audit });
      await bank.open();
      return bank;
    })();
    session.catch(() => sessions.delete(modelJobId));
    sessions.set(modelJobId, session);
    return session;
  };

  /** (Label) Runs, or reruns from the first epoch (encrypted weights do not outlive the arbiter's key), the training job `jobId`. */
  const runTraining = (jobId: string, def: JobDefinition): Promise<JobRecord> => {
    const jobConfig = resolveTrainingConfig({ ...def.training, jobId });
    const channels: Channel[] = [];
    return track(jobId, channels, async () => {
      const loaded = await loadTable(def.label.table, true);
      const labelColumn = config.tables.get(def.label.table)!.labelColumn!;
      const table = await gate(loaded, jobId, def.purpose, def.features.map((f) => f.party), [...loaded.featureNames, labelColumn], []);
      const arbiterName = def.arbiter ?? 'arbiter';
      const features = new Map<string, Channel>();
      for (const f of def.features) {
        const channel = await connect(f.party, jobId);
        channels.push(channel);
        await channel.send(message('job.spec', { spec: JSON.stringify({ config: jobConfig, purpose: def.purpose, table: f.table, arbiter: arbiterName } satisfies JobSpec) }));
        features.set(f.party, channel);
      }
      const arbiter = await connect(arbiterName, jobId);
      channels.push(arbiter);
      await arbiter.send(message('job.spec', { spec: JSON.stringify({ config: jobConfig, parties: [config.name, ...features.keys()] } satisfies JobSpec) }));
      const pools = new SharedMatvecPool(jobConfig.threads);
      try {
        const result = await runLabelParty({
          config: jobConfig,
          idType: idTypeOf(table, jobConfig),
          table,
          features,
          arbiter,
          psiExecutor,
          heBackend: ckksBackend,
          matvec: (b) => pools.for(b),
          onProgress: (event) => store.update(jobId, { phase: event.phase, progress: { ...event } }),
        });
        const dir = await jobDir(jobId);
        const slice = sliceOf(jobId, config.name, 'label', result, jobConfig.sigmoid);
        await audit?.append('psi.run', { job: jobId, partners: def.features.map((f) => f.party), aligned: result.alignedRows.length });
        await audit?.append('training.run', { job: jobId, epochs: result.epochsRun, auc: result.metrics.auc });
        await saveSlice(jobId, slice);
        const metrics = { auc: result.metrics.auc, ks: result.metrics.ks.statistic, ...result.metrics.classification, lossCurve: result.lossCurve, roc: result.metrics.roc };
        await writeFile(join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
        return { auc: result.metrics.auc, ks: result.metrics.ks.statistic, alignedRows: result.alignedRows.length, epochs: result.epochsRun, lossCurve: result.lossCurve, timings: result.timings };
      } finally {
        await pools.destroy();
      }
    });
  };

  const listener: TlsListener = await listenChannels({
    ...tls,
    host: config.listen.host,
    port: config.listen.port,
    onRefused: (r) => log(`refused a connection from ${r.address}: ${r.reason}`),
    onChannel: async (channel) => {
      try {
        const open = await channel.receive('job.open');
        if (open.party !== channel.peerName) throw errors.protocol(`a peer whose certificate names ${channel.peerName} claims to be ${open.party}`);
        log(`job ${open.jobId}: ${open.party} (${open.role}) connected from ${channel.peerAddress}`);
        if (open.role === 'label') return await serveJob(channel, open.jobId);
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
      if (!record) throw errors.optionInvalid('job', `no job ${JSON.stringify(jobId)}`, 'list jobs with GET /v1/jobs');
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
      const session = await openScoring(modelJobId);
      try {
        return await session.score(ids, options);
      } catch (e) {
        // A refused request (a malformed ID) leaves the session usable; a failed one is gone.
        if (session.failed) sessions.delete(modelJobId);
        throw e;
      }
    },
    finished(jobId) {
      const entry = running.get(jobId);
      if (entry) return entry.done;
      const record = store.get(jobId);
      if (!record) return Promise.reject(errors.optionInvalid('job', `no job ${JSON.stringify(jobId)}`));
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
      for (const session of sessions.values()) await (await session.catch(() => undefined))?.close().catch(() => {});
      await listener.close('service stopping');
      await psiExecutor.close();
      await store.close();
    },
  };
}

/** Checks a submitted job definition, naming the field that is wrong. */
export function checkDefinition(value: unknown): JobDefinition {
  const bad = (field: string, why: string) => errors.jobInvalid('definition', field, why);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('(top level)', 'must be an object with label, features and training');
  const d = value as Record<string, unknown>;
  for (const key of Object.keys(d)) if (!['job', 'purpose', 'label', 'features', 'arbiter', 'training'].includes(key)) throw bad(key, 'unknown field (expected job, purpose, label, features, arbiter, training)');
  if (d.purpose !== undefined && (typeof d.purpose !== 'string' || d.purpose === '')) throw bad('purpose', 'must name the purpose, e.g. credit-modeling');
  if (d.job !== undefined && (typeof d.job !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(d.job))) throw bad('job', 'must be 1 to 100 letters, digits, dots, dashes or underscores');
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
  if (d.training) resolveTrainingConfig({ ...(d.training as Partial<TrainingConfig>), jobId: 'check' });
  return d as unknown as JobDefinition;
}
