/**
 * Where a party's role in a job runs (issue 17, memory that comes back). In one thread the
 * CKKS contexts, keys and evaluators of every job live in the thread's node-seal WASM heap,
 * which never shrinks: a service that ran a few jobs side by side stays hundreds of MB
 * larger, and its API waits behind their CKKS work. A host that gives its job runners
 * `roleThreads()` runs each role (the protocol of src/lr/roles/) in a worker thread of its
 * own, retired when the role ends: the heap goes with the thread, and the host's thread only
 * moves messages and keeps the job's records.
 *
 * What stays with the host: the channels (the thread asks for each send and receive, so the
 * wire sees exactly what it saw before), the PSI pool, progress and the audit log (a thread
 * waits for each entry to be written before the action it records: the arbiter's
 * decryptions, an agency's scoring answers).
 * Errors cross with their code, message and hint (thread-errors.ts); a thread that dies
 * (out of memory, a crash) fails its job with E_INTERNAL naming the job, never the host.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { errors } from '../errors.ts';
import { StandardScaler, type ScalerJson } from '../lr/scaler.ts';
import { runArbiter, type ArbiterOptions, type ArbiterReport } from '../lr/roles/arbiter.ts';
import { runFeatureParty, type FeaturePartyOptions, type FeaturePartyResult } from '../lr/roles/features.ts';
import { runLabelParty, type LabelPartyOptions, type LabelPartyResult } from '../lr/roles/label.ts';
import { runTrainingArbiter, type DecryptionRecord, type TrainingArbiterOptions, type TrainingArbiterReport } from '../lr/roles/training-arbiter.ts';
import type { TrainingProgress } from '../lr/progress.ts';
import type { Channel } from '../protocol/channel.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import { serveScoring, type AgencyScoringOptions, type AgencyScoringReport } from '../score/agency.ts';
import type { AuditLog } from '../governance/audit.ts';
import type { RoleReply, RoleRequest, RoleTask } from '../../workers/tasks.ts';
import { threadError, threadErrorOf } from './thread-errors.ts';

/** A party's role in job `jobId`, run wherever the host wants it. */
export interface RoleRunner {
  label(jobId: string, options: LabelPartyOptions): Promise<LabelPartyResult>;
  features(jobId: string, options: FeaturePartyOptions): Promise<FeaturePartyResult>;
  trainingArbiter(jobId: string, options: TrainingArbiterOptions): Promise<TrainingArbiterReport>;
  arbiter(jobId: string, options: ArbiterOptions): Promise<ArbiterReport>;
  /** (Features) Serves a scoring session until the bank ends it. */
  agencyScoring(jobId: string, options: AgencyScoringOptions): Promise<AgencyScoringReport>;
}

/** The roles on the calling thread (the in-process host, tests). */
export const inThreadRoles: RoleRunner = {
  label: (_, options) => runLabelParty(options),
  features: (_, options) => runFeatureParty(options),
  trainingArbiter: (_, options) => runTrainingArbiter(options),
  arbiter: (_, options) => runArbiter(options),
  agencyScoring: (_, options) => serveScoring(options),
};

export interface RoleThreadOptions {
  /** Caps each thread's heaps (Node's Worker resourceLimits); a thread past them fails its job alone. */
  readonly resourceLimits?: ResourceLimits;
}

export interface RoleThreads extends RoleRunner {
  /** Retires every thread still running (the host is stopping): their jobs fail. */
  close(): Promise<void>;
}

let live = 0;
let started = 0;

/** Role threads of this process running now (a test's proof that a job's thread was retired). */
export function liveRoleThreads(): number {
  return live;
}

/** Role threads this process has started. */
export function roleThreadsStarted(): number {
  return started;
}

/** What the host does for a role's thread besides its channels. */
interface HostSide {
  readonly psiExecutor: PsiExecutor;
  readonly onProgress?: (event: TrainingProgress) => void;
  readonly onDecryption?: (record: DecryptionRecord) => unknown;
  readonly audit?: Pick<AuditLog, 'append'>;
}

type WithScaler<T extends { data: { scaler: StandardScaler } }> = Omit<T, 'data'> & { data: Omit<T['data'], 'scaler'> & { scaler: ScalerJson } };

function restoreScaler<T extends { data: { scaler: StandardScaler } }>(result: WithScaler<T>): T {
  return { ...result, data: { ...result.data, scaler: StandardScaler.fromJSON(result.data.scaler) } } as unknown as T;
}

export function roleThreads(options: RoleThreadOptions = {}): RoleThreads {
  const workers = new Set<Worker>();

  const run = <T>(jobId: string, task: RoleTask, channels: readonly Channel[], host: HostSide): Promise<T> => {
    const worker = new Worker(new URL('../../workers/role.ts', import.meta.url), { workerData: task, ...(options.resourceLimits && { resourceLimits: options.resourceLimits }) });
    workers.add(worker);
    live++;
    started++;
    const reply = (message: RoleReply, transfer: ArrayBuffer[] = []) => {
      // A thread that has ended takes no more answers; the request died with it.
      if (workers.has(worker)) worker.postMessage(message, transfer);
    };
    const answer = (call: number, value: Promise<unknown>, moved = false) =>
      value.then(
        (v) => reply({ call, value: v }, moved && v instanceof Uint8Array && v.buffer instanceof ArrayBuffer ? [v.buffer] : []),
        (e: unknown) => reply({ call, error: threadErrorOf(e) }),
      );
    return new Promise<T>((resolve, reject) => {
      let outcome: { value: unknown } | { error: Error } | undefined;
      worker.on('message', (request: RoleRequest) => {
        switch (request.t) {
          case 'send':
            return void answer(request.call, channels[request.channel]!.send(request.message));
          case 'next':
            return void answer(request.call, channels[request.channel]!.next());
          case 'receive':
            return void answer(request.call, channels[request.channel]!.receive(request.type));
          case 'close':
            return channels[request.channel]!.close(request.reason);
          case 'psi': {
            const psi = host.psiExecutor;
            const result =
              request.op === 'hashAndBlind'
                ? psi.hashAndBlind(request.backend, request.prefix, request.batch, request.scalar)
                : request.op === 'reblind'
                  ? psi.reblind(request.backend, request.points, request.scalar)
                  : psi.unblind(request.backend, request.points, request.scalars);
            return void answer(request.call, result, true);
          }
          case 'progress':
            return host.onProgress?.(request.event);
          case 'decryption':
            return void answer(request.call, (async () => void (await host.onDecryption?.(request.record)))());
          case 'audit':
            return void answer(request.call, host.audit ? host.audit.append(request.type, request.details) : Promise.reject(errors.protocol('a role thread wrote to an audit log its host does not keep')));
          case 'done':
            outcome ??= { value: request.result };
            return void worker.terminate();
          case 'failed':
            outcome ??= { error: threadError(request.error) };
            return void worker.terminate();
        }
      });
      // An uncaught error in the thread, or a heap past its limits: the thread ends, its job fails.
      worker.on('error', (e) => (outcome ??= { error: errors.threadStopped(jobId, e.message) }));
      worker.on('exit', (code) => {
        workers.delete(worker);
        live--;
        const ended = outcome ?? { error: errors.threadStopped(jobId, `it exited with code ${code} before the job ended`) };
        if ('error' in ended) reject(ended.error);
        else resolve(ended.value as T);
      });
    });
  };

  const common = (jobId: string, backend: { name: 'ckks' | 'mock' }, channels: readonly Channel[], psiExecutor: PsiExecutor | undefined) => ({
    jobId,
    he: backend.name,
    peers: channels.map((c) => c.peer),
    psiThreads: psiExecutor?.threads ?? 1,
  });

  return {
    async label(jobId, o) {
      const channels = [...o.features.values(), o.arbiter];
      const task: RoleTask = {
        ...common(jobId, o.heBackend, channels, o.psiExecutor),
        role: 'label',
        config: o.config,
        idType: o.idType,
        table: o.table,
        features: [...o.features.keys()].map((name, i) => [name, i] as const),
        arbiter: channels.length - 1,
        matvec: o.matvec !== undefined,
        progress: o.onProgress !== undefined,
      };
      return restoreScaler(await run<WithScaler<LabelPartyResult>>(jobId, task, channels, { psiExecutor: o.psiExecutor, onProgress: o.onProgress }));
    },
    async features(jobId, o) {
      const channels = [o.label, o.arbiter];
      const task: RoleTask = { ...common(jobId, o.heBackend, channels, o.psiExecutor), role: 'features', name: o.name, config: o.config, idType: o.idType, table: o.table, label: 0, arbiter: 1, matvec: o.matvec !== undefined };
      return restoreScaler(await run<WithScaler<FeaturePartyResult>>(jobId, task, channels, { psiExecutor: o.psiExecutor }));
    },
    trainingArbiter(jobId, o) {
      const task: RoleTask = { ...common(jobId, o.backend, o.parties, undefined), role: 'trainingArbiter', params: o.params, parties: o.parties.map((_, i) => i), audited: o.onDecryption !== undefined };
      return run(jobId, task, o.parties, { psiExecutor: noPsi, onDecryption: o.onDecryption });
    },
    arbiter(jobId, o) {
      const task: RoleTask = { ...common(jobId, o.backend, o.parties, undefined), role: 'arbiter', params: o.params, parties: o.parties.map((_, i) => i), coefficients: o.coefficients ?? false };
      return run(jobId, task, o.parties, { psiExecutor: noPsi });
    },
    agencyScoring(jobId, o) {
      const channels = [o.bank, o.arbiter];
      const task: RoleTask = {
        ...common(jobId, o.heBackend, channels, o.psiExecutor),
        role: 'agencyScoring',
        name: o.name,
        slice: o.slice,
        table: o.table,
        bank: 0,
        arbiter: 1,
        idType: o.idType,
        psiBackend: o.psiBackend,
        ...(o.previousMonitoring && { previousMonitoring: o.previousMonitoring }),
        ...(o.disclosePartialScores !== undefined && { disclosePartialScores: o.disclosePartialScores }),
        audited: o.audit !== undefined,
      };
      return run(jobId, task, channels, { psiExecutor: o.psiExecutor, ...(o.audit && { audit: o.audit }) });
    },
    async close() {
      await Promise.all([...workers].map((w) => w.terminate()));
    },
  };
}

/** The arbiter computes no PSI; a thread of its that asked would be a bug. */
const noPsi: PsiExecutor = {
  threads: 1,
  hashAndBlind: () => Promise.reject(errors.protocol('the arbiter computes no PSI')),
  reblind: () => Promise.reject(errors.protocol('the arbiter computes no PSI')),
  unblind: () => Promise.reject(errors.protocol('the arbiter computes no PSI')),
  close: async () => {},
};
