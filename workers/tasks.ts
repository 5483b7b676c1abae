/**
 * Every message that crosses a worker thread, declared once: the task each piscina module
 * takes and the result it returns. Pools are typed by these (`Piscina<Task, Result>`), so
 * nothing crosses a thread as an untyped literal.
 */
import type { CiphertextBytes, ColumnIndex, KeepDiagonals, KeptDiagonals, PublicKeyBundle } from '../src/he/backend.ts';
import type { BackendName } from '../src/psi/group.ts';

/** workers/psi.ts: hash-and-blind a batch of encoded IDs, re-blind a batch of points, or unblind OPRF evaluations. */
export type PsiTask =
  | { readonly op: 'hashAndBlind'; readonly backend: BackendName; readonly prefix: Uint8Array; readonly bytes: Uint8Array; readonly offsets: Uint32Array; readonly scalar: Uint8Array }
  | { readonly op: 'reblind'; readonly backend: BackendName; readonly points: Uint8Array; readonly scalar: Uint8Array }
  | { readonly op: 'unblind'; readonly backend: BackendName; readonly points: Uint8Array; readonly scalar: Uint8Array };

/** The batch's points, 32 bytes each, in the task's order. */
export type PsiResult = Uint8Array;

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
