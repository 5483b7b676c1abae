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
 * decryptions, an agency's scoring answers), and the audit anchors a scoring session
 * exchanges (the host signs its own and keeps its partners').
 * Errors cross with their code, message and hint (thread-errors.ts); a thread that dies
 * (out of memory, a crash) fails its job with E_INTERNAL naming the job, never the host.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { errors, isJinqiaoError } from '../errors.ts';
import { StandardScaler, type ScalerJson } from '../lr/scaler.ts';
import { runArbiter, type ArbiterOptions, type ArbiterReport } from '../lr/roles/arbiter.ts';
import { runFeatureParty, type FeaturePartyOptions, type FeaturePartyResult } from '../lr/roles/features.ts';
import { runLabelParty, type LabelPartyOptions, type LabelPartyResult } from '../lr/roles/label.ts';
import { runTrainingArbiter, type DecryptionRecord, type TrainingArbiterOptions, type TrainingArbiterReport } from '../lr/roles/training-arbiter.ts';
import type { TrainingProgress } from '../lr/progress.ts';
import type { Channel } from '../protocol/channel.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import { serveScoring, type AgencyScoringOptions, type AgencyScoringReport, type AnchorMessage } from '../score/agency.ts';
import type { AuditLog } from '../governance/audit.ts';
import type { RoleReply, RoleRequest, RoleTask, SessionCall, ThreadError } from '../../workers/tasks.ts';
import { BankScoringSession, type BankScoringOptions, type BankSession, type EnterpriseScore, type MonitoringScores, type ReceivedAnchor, type ScoreRequestOptions } from '../score/bank.ts';
import { threadError, threadErrorOf } from '../util/thread-errors.ts';

/** A party's role in job `jobId`, run wherever the host wants it. */
export interface RoleRunner {
  label(jobId: string, options: LabelPartyOptions): Promise<LabelPartyResult>;
  features(jobId: string, options: FeaturePartyOptions): Promise<FeaturePartyResult>;
  trainingArbiter(jobId: string, options: TrainingArbiterOptions): Promise<TrainingArbiterReport>;
  arbiter(jobId: string, options: ArbiterOptions): Promise<ArbiterReport>;
  /** (Features) Serves a scoring session until the bank ends it. */
  agencyScoring(jobId: string, options: AgencyScoringOptions): Promise<AgencyScoringReport>;
  /** (Label) A scoring session, made but not opened; it lives until it is closed. */
  bankScoring(jobId: string, options: BankScoringOptions): Promise<BankSession>;
}

/** The roles on the calling thread (the in-process host, tests). */
export const inThreadRoles: RoleRunner = {
  label: (_, options) => runLabelParty(options),
  features: (_, options) => runFeatureParty(options),
  trainingArbiter: (_, options) => runTrainingArbiter(options),
  arbiter: (_, options) => runArbiter(options),
  agencyScoring: (_, options) => serveScoring(options),
  bankScoring: async (_, options) => new BankScoringSession(options),
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
  /** (An agency's scoring session) Keeps the bank's audit anchor and gives this party's. */
  readonly anchors?: (received: AnchorMessage) => Promise<AnchorMessage>;
}

type WithScaler<T extends { data: { scaler: StandardScaler } }> = Omit<T, 'data'> & { data: Omit<T['data'], 'scaler'> & { scaler: ScalerJson } };

function restoreScaler<T extends { data: { scaler: StandardScaler } }>(result: WithScaler<T>): T {
  return { ...result, data: { ...result.data, scaler: StandardScaler.fromJSON(result.data.scaler) } } as unknown as T;
}

export function roleThreads(options: RoleThreadOptions = {}): RoleThreads {
  const workers = new Set<Worker>();

  /**
   * Starts a role's thread. `ended` settles once the thread is gone, with the role's result or
   * error; `ready` once a bank's session is made in it (or its thread has ended);
   * `invoke` calls a method of that session.
   */
  const start = <T>(jobId: string, task: RoleTask, channels: readonly Channel[], host: HostSide) => {
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
    const invocations = new Map<number, { resolve: (r: { value: unknown; failed: boolean }) => void; reject: (e: Error) => void }>();
    let invoked = 0;
    let readied: () => void = () => {};
    const ready = new Promise<void>((resolve) => (readied = resolve));
    const invoke = (method: SessionCall['method'], args: readonly unknown[]) =>
      new Promise<{ value: unknown; failed: boolean }>((resolve, reject) => {
        if (!workers.has(worker)) return reject(errors.threadStopped(jobId, 'it had ended'));
        const call = ++invoked;
        invocations.set(call, { resolve, reject });
        worker.postMessage({ t: 'invoke', call, method, args } satisfies SessionCall);
      });
    const ended = new Promise<T>((resolve, reject) => {
      let outcome: { value: unknown } | { error: Error } | undefined;
      worker.on('message', (request: RoleRequest) => {
        // Whatever a request makes the host throw at once (a channel that throws rather than
        // rejects) is the thread's answer, never an exception in the host's own thread.
        try {
          handle(request);
        } catch (e) {
          if ('call' in request) reply({ call: request.call, error: threadErrorOf(e) });
        }
      });
      const handle = (request: RoleRequest): void => {
        switch (request.t) {
          case 'ready':
            return readied();
          case 'returned': {
            const waiter = invocations.get(request.call);
            invocations.delete(request.call);
            if (request.error) return waiter?.reject(threadError(request.error));
            return waiter?.resolve({ value: request.value, failed: request.failed });
          }
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
                  : psi.unblind(request.backend, request.points, request.scalar);
            return void answer(request.call, result, true);
          }
          case 'progress':
            return host.onProgress?.(request.event);
          case 'decryption':
            return void answer(request.call, (async () => void (await host.onDecryption?.(request.record)))());
          case 'audit':
            return void answer(request.call, host.audit ? host.audit.append(request.type, request.details) : Promise.reject(errors.protocol('a role thread wrote to an audit log its host does not keep')));
          case 'anchors':
            return void answer(request.call, host.anchors ? host.anchors(request.received) : Promise.reject(errors.protocol('a role thread exchanged audit anchors its host does not keep')));
          case 'done':
            outcome ??= { value: request.result };
            return void worker.terminate();
          case 'failed':
            outcome ??= { error: threadError(request.error) };
            return void worker.terminate();
        }
      };
      // An uncaught error in the thread, or a heap past its limits: the thread ends, its job fails.
      worker.on('error', (e) => (outcome ??= { error: errors.threadStopped(jobId, e.message) }));
      worker.on('exit', (code) => {
        workers.delete(worker);
        live--;
        const result = outcome ?? { error: errors.threadStopped(jobId, `it exited with code ${code} before the job ended`) };
        // A session call the thread never answered dies with it.
        const unanswered = 'error' in result ? result.error : errors.threadStopped(jobId, 'it ended before answering');
        for (const waiter of invocations.values()) waiter.reject(unanswered);
        invocations.clear();
        readied();
        if ('error' in result) reject(result.error);
        else resolve(result.value as T);
      });
    });
    return { ended, ready, invoke, gone: () => !workers.has(worker) };
  };
  const run = <T>(jobId: string, task: RoleTask, channels: readonly Channel[], host: HostSide): Promise<T> => start<T>(jobId, task, channels, host).ended;

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
      const task: RoleTask = { ...common(jobId, o.backend, o.parties, undefined), role: 'arbiter', params: o.params, parties: o.parties.map((_, i) => i), coefficients: o.coefficients ?? false, ...(o.secretKey && { secretKey: o.secretKey }) };
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
        anchored: o.anchors !== undefined,
      };
      return run(jobId, task, channels, { psiExecutor: o.psiExecutor, ...(o.audit && { audit: o.audit }), ...(o.anchors && { anchors: o.anchors }) });
    },
    async bankScoring(jobId, o) {
      const channels = [...o.agencies.values(), o.arbiter];
      const task: RoleTask = {
        ...common(jobId, o.heBackend, channels, o.psiExecutor),
        role: 'bankScoring',
        slice: o.slice,
        table: o.table,
        agencies: [...o.agencies.keys()].map((name, i) => [name, i] as const),
        arbiter: channels.length - 1,
        idType: o.idType,
        psiBackend: o.psiBackend,
        ...(o.decoyKey !== undefined && { decoyKey: o.decoyKey }),
        ...(o.audit && { auditSalt: o.audit.salt }),
      };
      const thread = start<unknown>(jobId, task, channels, { psiExecutor: o.psiExecutor, ...(o.audit && { audit: o.audit }) });
      // The session is made in the thread (its constructor's checks included) or the thread failed.
      const ended = thread.ended.then(() => undefined);
      await Promise.race([thread.ready, ended]);
      return new ThreadBankSession(thread.invoke, ended, thread.gone);
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

/**
 * (Label) A scoring session in a role thread, as the host holds it: each call goes to the
 * session in the thread, and `failed` follows what the thread reports with each answer (a
 * thread that died has failed). Closing it ends the thread.
 */
class ThreadBankSession implements BankSession {
  #failed = false;
  #closing = false;
  readonly #invoke: (method: SessionCall['method'], args: readonly unknown[]) => Promise<{ value: unknown; failed: boolean }>;
  readonly #ended: Promise<void>;
  readonly #gone: () => boolean;

  constructor(invoke: (method: SessionCall['method'], args: readonly unknown[]) => Promise<{ value: unknown; failed: boolean }>, ended: Promise<void>, gone: () => boolean) {
    this.#invoke = invoke;
    this.#ended = ended;
    this.#gone = gone;
    // A thread that dies is seen through `failed` and the calls it leaves unanswered.
    ended.catch(() => {});
  }

  get failed(): boolean {
    return this.#failed || (this.#gone() && !this.#closing);
  }

  async #call(method: SessionCall['method'], args: readonly unknown[]): Promise<unknown> {
    const { value, failed } = await this.#invoke(method, args);
    this.#failed ||= failed;
    return value;
  }

  async open(): Promise<void> {
    await this.#call('open', []);
  }

  async score(ids: readonly string[], options?: ScoreRequestOptions): Promise<readonly EnterpriseScore[]> {
    return (await this.#call('score', [ids, options])) as readonly EnterpriseScore[];
  }

  async monitor(): Promise<MonitoringScores> {
    return (await this.#call('monitor', [])) as MonitoringScores;
  }

  async scoreTogether(requests: readonly { readonly ids: readonly string[]; readonly options?: ScoreRequestOptions }[]): Promise<(readonly EnterpriseScore[] | Error)[]> {
    const answers = (await this.#call('scoreTogether', [requests])) as (readonly EnterpriseScore[] | { refused: ThreadError })[];
    return answers.map((a) => ('refused' in a ? threadError(a.refused) : a));
  }

  async exchangeAnchors(own: AnchorMessage): Promise<readonly ReceivedAnchor[]> {
    return (await this.#call('exchangeAnchors', [own])) as readonly ReceivedAnchor[];
  }

  async close(): Promise<void> {
    this.#closing = true;
    try {
      await this.#call('close', []);
    } finally {
      await this.#ended.catch(() => {});
    }
  }
}
