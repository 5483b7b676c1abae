/**
 * Where PSI batches are computed: inline on the calling thread (tests, tiny jobs), or on a
 * piscina pool of worker threads, one per core by default, with buffers transferred rather
 * than copied. The main thread only streams, shuffles and compares.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { PsiResult, PsiTask } from '../../workers/tasks.ts';
import { loadBackend } from './backends/index.ts';
import { hashAndBlind, reblind, unblind, type IdBatch } from './batch.ts';
import type { BackendName, ScalarBytes } from './group.ts';
import { checkThreads } from '../util/threads.ts';
import { threadError } from '../util/thread-errors.ts';

export interface PsiExecutor {
  readonly threads: number;
  hashAndBlind(backend: BackendName, prefix: Uint8Array, batch: IdBatch, scalar: ScalarBytes): Promise<Uint8Array>;
  reblind(backend: BackendName, points: Uint8Array, scalar: ScalarBytes): Promise<Uint8Array>;
  /** An OPRF client's unblinding: each point times c⁻¹, twist points refused (batch.ts `unblind`). */
  unblind(backend: BackendName, points: Uint8Array, scalar: ScalarBytes): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function inlineExecutor(): PsiExecutor {
  return {
    threads: 1,
    async hashAndBlind(name, prefix, batch, scalar) {
      return hashAndBlind(await loadBackend(name), prefix, batch, scalar);
    },
    async reblind(name, points, scalar) {
      return reblind(await loadBackend(name), points, scalar);
    },
    async unblind(name, points, scalar) {
      return unblind(await loadBackend(name), points, scalar);
    },
    async close() {},
  };
}

export interface PoolOptions {
  /** Worker threads; defaults to the machine's available parallelism. */
  readonly threads?: number;
}

/**
 * A worker's points, or its error made again with its class, code and hint (a peer's bad
 * point, small order or an evaluation on the twist, stays a protocol error).
 */
function fromWorker(result: PsiResult): Uint8Array {
  if (result instanceof Uint8Array) return result;
  throw threadError(result.error);
}

export function poolExecutor(options: PoolOptions = {}): PsiExecutor {
  const threads = options.threads === undefined ? availableParallelism() : checkThreads('threads', options.threads);
  const pool = new Piscina<PsiTask, PsiResult>({
    filename: new URL('../../workers/psi.ts', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    // Enough queued batches to keep every worker busy while the main thread streams.
    maxQueue: threads * 64,
  });
  return {
    threads,
    hashAndBlind(backend, prefix, batch, scalar) {
      return pool
        .run({ op: 'hashAndBlind', backend, prefix, bytes: batch.bytes, offsets: batch.offsets, scalar }, { transferList: [batch.bytes.buffer as ArrayBuffer, batch.offsets.buffer as ArrayBuffer] })
        .then(fromWorker);
    },
    reblind(backend, points, scalar) {
      return pool.run({ op: 'reblind', backend, points, scalar }, { transferList: [points.buffer as ArrayBuffer] }).then(fromWorker);
    },
    unblind(backend, points, scalar) {
      return pool.run({ op: 'unblind', backend, points, scalar }, { transferList: [points.buffer as ArrayBuffer] }).then(fromWorker);
    },
    close: () => pool.destroy(),
  };
}
