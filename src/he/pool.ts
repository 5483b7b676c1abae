/**
 * (Label, Features) Xᵀ[[d]] and X·[[w]] over a piscina pool. For Xᵀ[[d]] each worker takes
 * a contiguous share of d's chunks (and the rows of X they cover), runs the baby steps, the
 * multiply_plains and the giant-step rotations of its share, and returns one partial
 * ciphertext; the main thread adds the partials and folds once (diagonals.ts: rotation is
 * linear). For X·[[w]] each worker computes whole chunks of rows, which are independent.
 *
 * Share k of a product always goes to worker k (one single-thread pool per worker), and
 * both products cut a batch's chunks into the same shares: so the worker that kept a
 * batch's diagonals in its forward share (backend.ts KeepDiagonals) gets the same chunks of
 * the gradient product, and with them the diagonals.
 *
 * The public bundle goes to the workers in SharedArrayBuffers (no copy per task); a
 * worker parses it once and keeps its SEAL context for every later task of the same
 * bundle. Pass X backed by a SharedArrayBuffer to avoid copying each worker's rows.
 * Security is that of ckks.ts: workers hold only the public bundle.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { MatvecResult, MatvecTask } from '../../workers/tasks.ts';
import { errors } from '../errors.ts';
import { checkThreads } from '../util/threads.ts';
import type { CiphertextBytes, ColumnIndex, KeepDiagonals, KeptDiagonals, PublicKeyBundle } from './backend.ts';
import { sumCiphertextsFor } from './coefficients.ts';
import { createCkksEvaluator, type CkksEvaluator } from './ckks.ts';
import { checkMatvecShape } from './diagonals.ts';

export interface ParallelEvaluatorOptions {
  /** Worker threads; defaults to os.availableParallelism(). */
  readonly threads?: number;
}

export interface ParallelEvaluator {
  readonly slotCount: number;
  readonly threads: number;
  /** Same contract as HeEvaluator.matvecTransposed. */
  matvecTransposed(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, kept?: KeptDiagonals): Promise<CiphertextBytes>;
  /** Same contract as HeEvaluator.matvecReplicated. */
  matvecReplicated(w: CiphertextBytes, X: Float64Array, rows: number, F: number, keep?: KeepDiagonals): Promise<CiphertextBytes[]>;
  /** Same contract as HeEvaluator.columnSums. */
  columnSums(d: readonly CiphertextBytes[], rowsPerChunk: number, columns: ColumnIndex): Promise<CiphertextBytes[]>;
  /** Stops the workers and frees the main thread's SEAL objects. */
  destroy(): Promise<void>;
}

/** Ciphertexts in one SharedArrayBuffer: every worker reads them without a copy per task. */
function sharedChunks(chunks: readonly CiphertextBytes[]): CiphertextBytes[] {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const buffer = new SharedArrayBuffer(total);
  let offset = 0;
  return chunks.map((c) => {
    const view = new Uint8Array(buffer, offset, c.byteLength);
    view.set(c);
    offset += c.byteLength;
    return view;
  });
}

function sharedIndex(index: Uint16Array): Uint16Array {
  const copy = new Uint16Array(new SharedArrayBuffer(index.byteLength));
  copy.set(index);
  return copy;
}

function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  copy.set(bytes);
  return copy;
}

export async function createParallelEvaluator(bundle: PublicKeyBundle, options: ParallelEvaluatorOptions = {}): Promise<ParallelEvaluator> {
  const threads = options.threads ?? availableParallelism();
  if (checkThreads('threads', threads) < 1) throw errors.optionInvalid('threads', 'must be at least 1 for a worker pool');
  const combiner: CkksEvaluator = await createCkksEvaluator(bundle);
  const sharedBundle: PublicKeyBundle = {
    params: bundle.params,
    rotationSteps: [...bundle.rotationSteps],
    publicKey: shared(bundle.publicKey),
    relinKeys: shared(bundle.relinKeys),
    galoisKeys: shared(bundle.galoisKeys),
  };
  const bundleKey = randomUUID();
  const pools = Array.from(
    { length: threads },
    () => new Piscina<MatvecTask, MatvecResult>({ filename: new URL('../../workers/he.ts', import.meta.url).href, minThreads: 1, maxThreads: 1 }),
  );
  const S = combiner.slotCount;
  return {
    slotCount: S,
    threads,
    async matvecTransposed(d, X, rows, F, kept) {
      if (!Array.isArray(d)) throw errors.messageMalformed('d must be a list of ciphertexts');
      checkMatvecShape(d.length, X, rows, F, S);
      const shares = Math.min(threads, d.length);
      const tasks: Promise<Uint8Array>[] = [];
      for (let w = 0; w < shares; w++) {
        const firstChunk = Math.floor((w * d.length) / shares);
        const endChunk = Math.floor(((w + 1) * d.length) / shares);
        const firstRow = firstChunk * S;
        const endRow = Math.min(rows, endChunk * S);
        const view = X.subarray(firstRow * F, endRow * F);
        const rowsX = X.buffer instanceof SharedArrayBuffer ? view : view.slice();
        const task: MatvecTask = { kind: 'transposed', bundleKey, bundle: sharedBundle, d: d.slice(firstChunk, endChunk), X: rowsX, rows: endRow - firstRow, F, ...(kept && { kept }) };
        const transferList = rowsX.buffer instanceof ArrayBuffer ? [rowsX.buffer] : [];
        tasks.push(pools[w]!.run(task, { transferList }) as Promise<Uint8Array>);
      }
      const partials = await Promise.all(tasks);
      return combiner.combinePartials(partials, F);
    },
    async matvecReplicated(w, X, rows, F, keep) {
      const chunks = Math.ceil(rows / S);
      checkMatvecShape(chunks, X, rows, F, S);
      const shares = Math.min(threads, chunks);
      // Kept diagonals must be where the gradient product's share 0 runs: worker 0.
      if (shares === 1 && keep === undefined) return combiner.matvecReplicated(w, X, rows, F);
      // Every share of a keeping product needs the same G rotations of [[w]]: made once here.
      const giants = keep !== undefined && shares > 1 ? combiner.keptForwardGiants(w, F, keep.exponent) : undefined;
      const tasks: Promise<Uint8Array[]>[] = [];
      for (let k = 0; k < shares; k++) {
        const firstRow = Math.floor((k * chunks) / shares) * S;
        const endRow = Math.min(rows, Math.floor(((k + 1) * chunks) / shares) * S);
        const view = X.subarray(firstRow * F, endRow * F);
        const rowsX = X.buffer instanceof SharedArrayBuffer ? view : view.slice();
        const task: MatvecTask = { kind: 'forward', bundleKey, bundle: sharedBundle, w, X: rowsX, rows: endRow - firstRow, F, ...(keep && { keep }), ...(giants && { giants }) };
        const transferList = rowsX.buffer instanceof ArrayBuffer ? [rowsX.buffer] : [];
        tasks.push(pools[k]!.run(task, { transferList }) as Promise<Uint8Array[]>);
      }
      return (await Promise.all(tasks)).flat();
    },
    async columnSums(d, rowsPerChunk, columns) {
      if (!Array.isArray(d)) throw errors.messageMalformed('d must be a list of ciphertexts');
      // Each worker finishes whole result ciphertexts: nothing to combine. Every worker reads
      // every label chunk and the whole index, shared rather than copied per task.
      const groups = sumCiphertextsFor(columns.width, rowsPerChunk, combiner.params.polyModulusDegree);
      const shares = Math.min(threads, groups);
      if (shares <= 1) return combiner.columnSums(d, rowsPerChunk, columns);
      const labels = sharedChunks(d);
      const index = columns.index.buffer instanceof SharedArrayBuffer ? columns.index : sharedIndex(columns.index);
      const tasks: Promise<CiphertextBytes[]>[] = [];
      for (let w = 0; w < shares; w++) {
        const firstGroup = Math.floor((w * groups) / shares);
        const endGroup = Math.floor(((w + 1) * groups) / shares);
        const task: MatvecTask = { kind: 'columnSums', bundleKey, bundle: sharedBundle, d: labels, rowsPerChunk, columns: { ...columns, index }, firstGroup, endGroup };
        tasks.push(pools[w]!.run(task) as Promise<CiphertextBytes[]>);
      }
      return (await Promise.all(tasks)).flat();
    },
    async destroy() {
      await Promise.all(pools.map((pool) => pool.destroy()));
      combiner.dispose();
    },
  };
}

/**
 * One worker pool for a job's products, created for the first public bundle it is asked for
 * and shared by every party of the job that holds the same keys (all of them in-process;
 * one party in a service). Destroy it when the job ends.
 */
export class SharedMatvecPool {
  readonly #threads: number | undefined;
  #pool: { key: Uint8Array; evaluator: Promise<ParallelEvaluator> } | undefined;

  constructor(threads: number | undefined) {
    this.#threads = threads;
  }

  for(bundle: PublicKeyBundle): Promise<ParallelEvaluator> {
    if (this.#pool && Buffer.compare(this.#pool.key, bundle.publicKey) !== 0) {
      throw errors.protocol('parties of one job received different public keys');
    }
    this.#pool ??= { key: bundle.publicKey, evaluator: createParallelEvaluator(bundle, { threads: this.#threads }) };
    return this.#pool.evaluator;
  }

  async destroy(): Promise<void> {
    if (this.#pool) await (await this.#pool.evaluator).destroy();
  }
}
