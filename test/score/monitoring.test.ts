/**
 * Run comparison of loan-book monitoring (`jinqiao monitor`): which enterprises raise a
 * warning against the previous run, the drift and the summary, and the runs kept on disk
 * in order. Expected values are worked out by hand below.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EnterpriseScore, MonitoringScores } from '../../src/score/bank.ts';
import { compareRuns, loadRuns, saveRun } from '../../src/score/monitoring.ts';
import { populationStabilityIndex } from '../../src/score/stability.ts';

const options = { threshold: 0.3, delta: 0.1, modelJobId: 'job-m' };
const scored = (id: string, probability: number): EnterpriseScore => ({ status: 'scored', id, probability, z: Math.log(probability / (1 - probability)), fallbacks: [] });
const book = (scores: EnterpriseScore[], drift: [string, number | undefined][] = [['tax', undefined]]): MonitoringScores => ({ scores, agencyDrift: new Map(drift) });

describe('monitoring run comparison', () => {
  it('a first run: summary only, no drift, no warnings', () => {
    const unscored = { status: 'refused', id: 'E', code: 'E_SCORE_REFUSED', reason: 'held by one agency' } as unknown as EnterpriseScore;
    const run = compareRuns(book([scored('A', 0.1), scored('B', 0.3), scored('C', 0.5), unscored]), undefined, options);
    expect(run.alerts).toEqual([]);
    expect(run.scoreDrift).toBeNull();
    expect(run.agencyDrift).toEqual({ tax: null });
    // 0.3 is at the threshold: "at or above" counts it.
    expect(run.summary).toEqual({ enterprises: 3, meanProbability: 0.3, aboveThreshold: 2, notScored: 1 });
    expect(run.scores).toEqual({ A: 0.1, B: 0.3, C: 0.5 });
    expect(run).toMatchObject({ kind: 'jinqiao.monitoring-run', version: 1, modelJobId: 'job-m', threshold: 0.3 });
  });

  it('raises crossings both ways and moves beyond delta, and nothing else', () => {
    const previous = compareRuns(book([scored('up', 0.25), scored('down', 0.35), scored('moved', 0.5), scored('edge', 0.5), scored('still', 0.1), scored('gone', 0.9)]), undefined, options);
    const current = compareRuns(
      book(
        [scored('up', 0.3), scored('down', 0.29), scored('moved', 0.65), scored('edge', 0.59), scored('still', 0.15), scored('new', 0.8)],
        [['tax', 0.02]],
      ),
      previous,
      options,
    );
    expect(current.alerts).toEqual([
      { id: 'up', previous: 0.25, current: 0.3, reason: 'crossed-up' },
      { id: 'down', previous: 0.35, current: 0.29, reason: 'crossed-down' },
      { id: 'moved', previous: 0.5, current: 0.65, reason: 'moved' },
    ]);
    // 'edge' moved by 0.09 (< delta), 'still' by 0.05, 'gone' left the book, 'new' has no previous score.
    expect(current.scoreDrift).toBeCloseTo(populationStabilityIndex([0.25, 0.35, 0.5, 0.5, 0.1, 0.9], [0.3, 0.29, 0.65, 0.59, 0.15, 0.8]), 12);
    expect(current.agencyDrift).toEqual({ tax: 0.02 });
    expect(current.summary.aboveThreshold).toBe(4);
  });

  it('keeps runs on disk and loads them oldest first, refusing a file that is not a run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jinqiao-runs-'));
    const first = { ...compareRuns(book([scored('A', 0.1)]), undefined, options), at: '2026-01-02T00:00:00.000Z' };
    const second = { ...compareRuns(book([scored('A', 0.2)]), first, options), at: '2026-01-10T00:00:00.000Z' };
    // Saved newest first: the order comes from the times, not from the writes.
    await saveRun(dir, second);
    await saveRun(dir, first);
    expect(readdirSync(dir).sort()).toEqual(['run-2026-01-02T00-00-00-000Z.json', 'run-2026-01-10T00-00-00-000Z.json']);
    expect((await loadRuns(dir)).map((r) => r.scores.A)).toEqual([0.1, 0.2]);
    expect(await loadRuns(join(dir, 'none'))).toEqual([]);
    writeFileSync(join(dir, 'run-2026-02-01.json'), JSON.stringify({ kind: 'something-else' }));
    await expect(loadRuns(dir)).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringContaining('not a jinqiao monitoring run') });
  });
});
