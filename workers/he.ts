/**
 * Piscina task: one worker's share of Xᵀ[[d]], X·[[w]] or coefficient-packed column sums (see src/he/pool.ts). Holds only the public
 * bundle; keeps the SEAL context of the last bundle it saw, so a job parses its keys once
 * per worker.
 */
import { Piscina } from 'piscina';
import { createCkksEvaluator, type CkksEvaluator } from '../src/he/ckks.ts';
import type { MatvecTask } from './tasks.ts';

let current: { key: string; evaluator: CkksEvaluator } | undefined;

async function evaluatorFor(task: MatvecTask): Promise<CkksEvaluator> {
  if (current?.key === task.bundleKey) return current.evaluator;
  current?.evaluator.dispose();
  current = undefined;
  // Partials stay inside this process: skip zstd, which costs more than the copy it saves.
  const evaluator = await createCkksEvaluator(task.bundle, { compression: 'none' });
  current = { key: task.bundleKey, evaluator };
  return evaluator;
}

export default async function matvecShare(task: MatvecTask) {
  const evaluator = await evaluatorFor(task);
  if (task.kind === 'columnSums') return evaluator.columnSumsRange(task.d, task.rowsPerChunk, task.columns, task.firstGroup, task.endGroup);
  if (task.kind === 'forward') {
    const kept = task.giants && task.keep && evaluator.matvecReplicatedFromGiants(task.giants, task.X, task.rows, task.F, task.keep);
    return kept ?? evaluator.matvecReplicated(task.w, task.X, task.rows, task.F, task.keep);
  }
  const partial = evaluator.matvecPartial(task.d, task.X, task.rows, task.F, task.kept);
  return Piscina.move(partial);
}
