/**
 * Worker thread: one party's role in one job (src/jobs/role-threads.ts). Every SEAL object
 * of the job — its context, keys, evaluator and the product pool's combiner — is made in this
 * thread's WASM heap, which goes when the host retires the thread at the job's end: a WASM
 * heap never shrinks, a thread's is freed with it.
 *
 * The channels, the PSI pool and the audit log stay with the host; the role reaches them
 * through requests on the parent port, answered in order of arrival (so sends on a channel
 * leave in the order the role made them).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { HeBackend } from '../src/he/backend.ts';
import { ckksBackend } from '../src/he/ckks.ts';
import { mockBackend } from '../src/he/mock.ts';
import { SharedMatvecPool } from '../src/he/pool.ts';
import { runArbiter } from '../src/lr/roles/arbiter.ts';
import { runFeatureParty } from '../src/lr/roles/features.ts';
import { runLabelParty } from '../src/lr/roles/label.ts';
import { runTrainingArbiter } from '../src/lr/roles/training-arbiter.ts';
import { threadError, threadErrorOf } from '../src/util/thread-errors.ts';
import type { Channel } from '../src/protocol/channel.ts';
import type { Message, MessageOf, MessageType } from '../src/protocol/messages.ts';
import type { PsiExecutor } from '../src/psi/executor.ts';
import { serveScoring } from '../src/score/agency.ts';
import { BankScoringSession } from '../src/score/bank.ts';
import { hashId } from '../src/governance/audit.ts';
import type { RoleReply, RoleRequest, RoleTask, SessionCall } from './tasks.ts';

const port = parentPort!;
const task = workerData as RoleTask;

const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let calls = 0;
/** (Bank scoring) The open session, which the host calls until it closes it. */
let onInvoke: ((call: SessionCall) => void) | undefined;
port.on('message', (reply: RoleReply | SessionCall) => {
  if ('t' in reply) return onInvoke?.(reply);
  const waiter = pending.get(reply.call);
  pending.delete(reply.call);
  if (reply.error) waiter?.reject(threadError(reply.error));
  else waiter?.resolve(reply.value);
});

type Asked = RoleRequest extends infer R ? (R extends { call: number } ? Omit<R, 'call'> : never) : never;

function ask<T>(request: Asked, transfer: ArrayBuffer[] = []): Promise<T> {
  const call = ++calls;
  return new Promise<T>((resolve, reject) => {
    pending.set(call, { resolve: resolve as (value: unknown) => void, reject });
    port.postMessage({ ...request, call } as RoleRequest, transfer);
  });
}

function tell(request: RoleRequest): void {
  port.postMessage(request);
}

/** The host's channel `index`, as the protocol sees it. */
function channel(index: number): Channel {
  return {
    peer: task.peers[index]!,
    send: (message) => ask<void>({ t: 'send', channel: index, message: message as Message }),
    next: () => ask<Message>({ t: 'next', channel: index }),
    receive: <K extends MessageType>(type: K) => ask<MessageOf<K>>({ t: 'receive', channel: index, type }),
    close: (reason) => tell({ t: 'close', channel: index, reason }),
  };
}

/** The host's PSI pool; batches move to it, as to the pool itself. */
const psiExecutor: PsiExecutor = {
  threads: task.psiThreads,
  hashAndBlind: (backend, prefix, batch, scalar) =>
    ask({ t: 'psi', op: 'hashAndBlind', backend, prefix, batch, scalar }, [batch.bytes.buffer as ArrayBuffer, batch.offsets.buffer as ArrayBuffer]),
  reblind: (backend, points, scalar) => ask({ t: 'psi', op: 'reblind', backend, points, scalar }, [points.buffer as ArrayBuffer]),
  unblind: (backend, points, scalar) => ask({ t: 'psi', op: 'unblind', backend, points, scalar }, [points.buffer as ArrayBuffer]),
  close: async () => {},
};

const heBackend: HeBackend = task.he === 'ckks' ? ckksBackend : mockBackend;

async function run(pool: SharedMatvecPool | undefined): Promise<unknown> {
  const matvec = pool && ((bundle: Parameters<SharedMatvecPool['for']>[0]) => pool.for(bundle));
  switch (task.role) {
    case 'label': {
      const result = await runLabelParty({
        config: task.config,
        idType: task.idType,
        table: task.table,
        features: new Map(task.features.map(([name, index]) => [name, channel(index)])),
        arbiter: channel(task.arbiter),
        psiExecutor,
        heBackend,
        ...(matvec && { matvec }),
        ...(task.progress && { onProgress: (event) => tell({ t: 'progress', event }) }),
      });
      // A class does not cross a thread: the scaler goes as its JSON, the host restores it.
      return { ...result, data: { ...result.data, scaler: result.data.scaler.toJSON() } };
    }
    case 'features': {
      const result = await runFeatureParty({ name: task.name, config: task.config, idType: task.idType, table: task.table, label: channel(task.label), arbiter: channel(task.arbiter), psiExecutor, heBackend, ...(matvec && { matvec }) });
      return { ...result, data: { ...result.data, scaler: result.data.scaler.toJSON() } };
    }
    case 'trainingArbiter':
      return runTrainingArbiter({
        backend: heBackend,
        params: task.params,
        parties: task.parties.map(channel),
        ...(task.audited && { onDecryption: (record) => ask<void>({ t: 'decryption', record }) }),
      });
    case 'arbiter':
      return runArbiter({ backend: heBackend, params: task.params, parties: task.parties.map(channel), coefficients: task.coefficients, ...(task.secretKey && { secretKey: task.secretKey }) });
    case 'agencyScoring':
      return serveScoring({
        name: task.name,
        slice: task.slice,
        table: task.table,
        bank: channel(task.bank),
        arbiter: channel(task.arbiter),
        heBackend,
        psiExecutor,
        idType: task.idType,
        psiBackend: task.psiBackend,
        ...(task.previousMonitoring && { previousMonitoring: task.previousMonitoring }),
        ...(task.disclosePartialScores !== undefined && { disclosePartialScores: task.disclosePartialScores }),
        ...(task.audited && { audit: { append: (type, details) => ask({ t: 'audit', type, details }) } }),
        ...(task.anchored && { anchors: (received) => ask({ t: 'anchors', received }) }),
      });
    case 'bankScoring':
      return serveBankSession(task);
  }
}

/**
 * The bank's session lives in this thread from its opening to its close: the host calls its
 * methods (SessionCall) and the thread ends once it is closed. A call's answer carries
 * whether the session has failed, so the host's `failed` is never behind.
 */
function serveBankSession(task: Extract<RoleTask, { role: 'bankScoring' }>): Promise<unknown> {
  const salt = task.auditSalt;
  const session = new BankScoringSession({
    slice: task.slice,
    table: task.table,
    agencies: new Map(task.agencies.map(([name, index]) => [name, channel(index)])),
    arbiter: channel(task.arbiter),
    heBackend,
    psiExecutor,
    idType: task.idType,
    psiBackend: task.psiBackend,
    ...(task.decoyKey && { decoyKey: task.decoyKey }),
    ...(salt !== undefined && { audit: { salt, append: (type, details) => ask({ t: 'audit', type, details }), hashId: (id: string) => hashId(salt, id) } }),
  });
  tell({ t: 'ready' });
  return new Promise((resolve) => {
    onInvoke = (call) => {
      const method = session[call.method] as (...args: unknown[]) => Promise<unknown>;
      method.apply(session, [...call.args]).then(
        (value) => {
          // A refused request's error goes as its fields, like any error across the thread.
          const sent = call.method === 'scoreTogether' ? (value as unknown[]).map((v) => (v instanceof Error ? { refused: threadErrorOf(v) } : v)) : value;
          tell({ t: 'returned', call: call.call, value: sent, failed: session.failed });
          if (call.method === 'close') resolve(undefined);
        },
        (e: unknown) => {
          tell({ t: 'returned', call: call.call, error: threadErrorOf(e), failed: session.failed });
          if (call.method === 'close') resolve(undefined);
        },
      );
    };
  });
}

const pool = (task.role === 'label' || task.role === 'features') && task.matvec ? new SharedMatvecPool(task.config.threads) : undefined;
try {
  const result = await run(pool);
  await pool?.destroy();
  tell({ t: 'done', result });
} catch (e) {
  await pool?.destroy().catch(() => {});
  tell({ t: 'failed', error: threadErrorOf(e) });
}
// Nothing is left to do: the host retires the thread.
