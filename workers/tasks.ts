/**
 * Every message that crosses a worker thread, declared once: the task each piscina module
 * takes and the result it returns. Pools are typed by these (`Piscina<Task, Result>`), so
 * nothing crosses a thread as an untyped literal.
 */
import type { CiphertextBytes, ColumnIndex, HeParams, KeepDiagonals, KeptDiagonals, PublicKeyBundle } from '../src/he/backend.ts';
import type { BackendName } from '../src/psi/group.ts';
import type { FeatureTable } from '../src/data/table.ts';
import type { ErrorCode, SourceLocation } from '../src/errors.ts';
import type { AuditDetails, AuditEventType } from '../src/governance/audit.ts';
import type { ModelSlice } from '../src/lr/model.ts';
import type { IdType } from '../src/ids/normalise.ts';
import type { TrainingConfig } from '../src/lr/config.ts';
import type { TrainingProgress } from '../src/lr/progress.ts';
import type { DecryptionRecord } from '../src/lr/roles/training-arbiter.ts';
import type { Message, MessageType } from '../src/protocol/messages.ts';
import type { IdBatch } from '../src/psi/batch.ts';
import type { AnchorMessage } from '../src/score/agency.ts';

/** workers/psi.ts: hash-and-blind a batch of encoded IDs, re-blind a batch of points, or unblind OPRF evaluations. */
export type PsiTask =
  | { readonly op: 'hashAndBlind'; readonly backend: BackendName; readonly prefix: Uint8Array; readonly bytes: Uint8Array; readonly offsets: Uint32Array; readonly scalar: Uint8Array }
  | { readonly op: 'reblind'; readonly backend: BackendName; readonly points: Uint8Array; readonly scalar: Uint8Array }
  | { readonly op: 'unblind'; readonly backend: BackendName; readonly points: Uint8Array; readonly scalar: Uint8Array };

/**
 * The batch's points, 32 bytes each, in the task's order; or the task's error as its fields
 * (src/util/thread-errors.ts: Piscina's clone of a thrown error keeps neither class nor code).
 */
export type PsiResult = Uint8Array | { readonly error: ThreadError };

/**
 * workers/he.ts: one worker's share of a matvec: of Xᵀ[[d]] (`d`, its chunks), or of
 * X·[[w]] (`w`, the replicated weights; the share is a run of whole chunks of rows, whose
 * products are independent); or of coefficient-packed column sums (`columnSums`: a run of
 * whole result ciphertexts, each finished in the worker).
 */
export type MatvecTask = {
  /** Identifies the public bundle, so a worker parses a job's keys once. */
  readonly bundleKey: string;
  readonly bundle: PublicKeyBundle;
} & (
  | ({ readonly X: Float64Array; readonly rows: number; readonly F: number } & (
      | { readonly kind: 'transposed'; readonly d: readonly CiphertextBytes[]; readonly kept?: KeptDiagonals }
      | { readonly kind: 'forward'; readonly w: CiphertextBytes; readonly keep?: KeepDiagonals; readonly giants?: readonly CiphertextBytes[] }
    ))
  | { readonly kind: 'columnSums'; readonly d: readonly CiphertextBytes[]; readonly rowsPerChunk: number; readonly columns: ColumnIndex; readonly firstGroup: number; readonly endGroup: number }
);

/** The worker's partial product of Xᵀ[[d]] (one ciphertext), its chunks of X·[[w]], or its column-sum ciphertexts. */
export type MatvecResult = CiphertextBytes | CiphertextBytes[];

/**
 * workers/role.ts: one party's role in one job (src/jobs/role-threads.ts), in a worker
 * thread retired when the job ends. The task holds what the role reads; its channels stay
 * with the host, which the thread reaches by their index in `peers`.
 */
export type RoleTask = {
  /** Names the job in the thread's errors. */
  readonly jobId: string;
  /** The HE backend the host chose for the job; the thread makes its own. */
  readonly he: 'ckks' | 'mock';
  /** The peer of each channel, by index. */
  readonly peers: readonly string[];
  /** The host's PSI executor's threads (the thread's batches go to it). */
  readonly psiThreads: number;
} & (
  | {
      readonly role: 'label';
      readonly config: TrainingConfig;
      readonly idType: IdType;
      readonly table: FeatureTable;
      /** Feature party name → channel index. */
      readonly features: readonly (readonly [string, number])[];
      readonly arbiter: number;
      /** Products on a worker pool of the thread's own (config.threads), as the host's `matvec` asked. */
      readonly matvec: boolean;
      readonly progress: boolean;
    }
  | { readonly role: 'features'; readonly name: string; readonly config: TrainingConfig; readonly idType: IdType; readonly table: FeatureTable; readonly label: number; readonly arbiter: number; readonly matvec: boolean }
  | { readonly role: 'trainingArbiter'; readonly params: HeParams; readonly parties: readonly number[]; readonly audited: boolean }
  | { readonly role: 'arbiter'; readonly params: HeParams; readonly parties: readonly number[]; readonly coefficients: boolean; readonly secretKey?: Uint8Array }
  | {
      readonly role: 'agencyScoring';
      readonly name: string;
      readonly slice: ModelSlice;
      readonly table: FeatureTable;
      readonly bank: number;
      readonly arbiter: number;
      readonly idType: IdType;
      readonly psiBackend: BackendName;
      readonly previousMonitoring?: Float64Array;
      readonly disclosePartialScores?: boolean;
      /** Each request is written to the host's audit log before it is answered. */
      readonly audited: boolean;
      /** The host keeps the bank's audit anchors and gives this agency's (RoleRequest 'anchors'). */
      readonly anchored: boolean;
    }
  | {
      readonly role: 'bankScoring';
      readonly slice: ModelSlice;
      readonly table: FeatureTable;
      /** Agency name → channel index. */
      readonly agencies: readonly (readonly [string, number])[];
      readonly arbiter: number;
      readonly idType: IdType;
      readonly psiBackend: BackendName;
      readonly decoyKey?: Uint8Array;
      /** The salt of the host's audit log (IDs are logged as its salted hashes); absent: no log. */
      readonly auditSalt?: string;
    }
);

/** The host calls a method of the bank's session in its thread (RoleRequest 'returned' answers). */
export type SessionCall = { readonly t: 'invoke'; readonly call: number; readonly method: 'open' | 'score' | 'monitor' | 'scoreTogether' | 'exchangeAnchors' | 'close'; readonly args: readonly unknown[] };

/** What the role's thread asks of its host and tells it; `call` numbers a request the host answers with a RoleReply. */
export type RoleRequest =
  | { readonly t: 'send'; readonly call: number; readonly channel: number; readonly message: Message }
  | { readonly t: 'next'; readonly call: number; readonly channel: number }
  | { readonly t: 'receive'; readonly call: number; readonly channel: number; readonly type: MessageType }
  | { readonly t: 'close'; readonly channel: number; readonly reason: string | undefined }
  | { readonly t: 'psi'; readonly call: number; readonly op: 'hashAndBlind'; readonly backend: BackendName; readonly prefix: Uint8Array; readonly batch: IdBatch; readonly scalar: Uint8Array }
  | { readonly t: 'psi'; readonly call: number; readonly op: 'reblind'; readonly backend: BackendName; readonly points: Uint8Array; readonly scalar: Uint8Array }
  | { readonly t: 'psi'; readonly call: number; readonly op: 'unblind'; readonly backend: BackendName; readonly points: Uint8Array; readonly scalar: Uint8Array }
  | { readonly t: 'progress'; readonly event: TrainingProgress }
  | { readonly t: 'decryption'; readonly call: number; readonly record: DecryptionRecord }
  | { readonly t: 'audit'; readonly call: number; readonly type: AuditEventType; readonly details: AuditDetails }
  | { readonly t: 'anchors'; readonly call: number; readonly received: AnchorMessage }
  | { readonly t: 'ready' }
  | { readonly t: 'returned'; readonly call: number; readonly value?: unknown; readonly error?: ThreadError; readonly failed: boolean }
  | { readonly t: 'done'; readonly result: unknown }
  | { readonly t: 'failed'; readonly error: ThreadError };

/** The host's answer to request `call`. */
export type RoleReply = { readonly call: number; readonly value?: unknown; readonly error?: ThreadError };

/** An error as it crosses a thread: a JinqiaoError keeps its code, hint, location and field. */
export type ThreadError =
  | { readonly jinqiao: true; readonly code: ErrorCode; readonly message: string; readonly hint: string; readonly location?: SourceLocation; readonly field?: string; readonly extras: Record<string, unknown> }
  | { readonly jinqiao: false; readonly message: string };
