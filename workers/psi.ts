/** Piscina task module: one PSI batch (hash-and-blind, re-blind or unblind) per call. */
import { Piscina } from 'piscina';
import { DEFAULT_BACKEND, loadBackend } from '../src/psi/backends/index.ts';
import { hashAndBlind, reblind, unblind } from '../src/psi/batch.ts';
import { threadErrorOf } from '../src/util/thread-errors.ts';
import type { PsiResult, PsiTask } from './tasks.ts';

// The default backend (native sodium) loads while the worker starts rather than on its first
// batch, so a pool started ahead of its work (verify --prepared reads its inputs meanwhile)
// is ready when the work arrives. A failure shows on first use, with its reason.
loadBackend(DEFAULT_BACKEND).catch(() => undefined);

export default async function run(task: PsiTask): Promise<PsiResult> {
  try {
    const backend = await loadBackend(task.backend);
    const out =
      task.op === 'hashAndBlind'
        ? hashAndBlind(backend, task.prefix, { bytes: task.bytes, offsets: task.offsets }, task.scalar)
        : task.op === 'reblind'
          ? reblind(backend, task.points, task.scalar)
          : unblind(backend, task.points, task.scalar);
    return Piscina.move(out) as PsiResult;
  } catch (e) {
    // A peer's bad point is a protocol error: it goes as its fields, to be made again (executor.ts).
    return { error: threadErrorOf(e) };
  }
}
