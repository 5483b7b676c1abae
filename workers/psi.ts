/** Piscina task module: one PSI batch (hash-and-blind or re-blind) per call. */
import { Piscina } from 'piscina';
import { loadBackend } from '../src/psi/backends/index.ts';
import { hashAndBlind, reblind } from '../src/psi/batch.ts';
import type { PsiTask } from './tasks.ts';

export default async function run(task: PsiTask) {
  const backend = await loadBackend(task.backend);
  const out =
    task.op === 'hashAndBlind'
      ? hashAndBlind(backend, task.prefix, { bytes: task.bytes, offsets: task.offsets }, task.scalar)
      : reblind(backend, task.points, task.scalar);
  return Piscina.move(out);
}
