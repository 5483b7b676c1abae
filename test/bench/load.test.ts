/**
 * The load section alone (`npm run bench -- --smoke --sections load`): four service
 * processes, a model trained through the API, scoring at 1, 8 and 32 clients, RSS and
 * GET /v1/jobs under training. Checks the shape and the correctness figures (no error, every
 * answer equal to the sequential one), not the machine's speed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../bench/report.ts';
import { sectionMarkdown } from '../../bench/report.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'jinqiao-bench-load-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('load benchmark section', () => {
  it('scores at 1, 8 and 32 clients without an error or a different answer, and reports RSS and GET /v1/jobs under training', () => {
    const r = spawnSync(process.execPath, ['bench/run.ts', '--smoke', '--sections', 'load', '--json', '--out', out], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 840_000 });
    if (r.status !== 0) throw new Error(`bench/run.ts --smoke --sections load failed (${r.status ?? r.signal}): ${r.stderr}`);
    const results = JSON.parse(r.stdout) as BenchResults;
    const load = results.load!;
    expect(load.scoring.map((s) => s.clients)).toEqual([1, 8, 32]);
    for (const s of load.scoring) {
      expect(s.errors, `${s.clients} clients: ${JSON.stringify(s.errorKinds)}`).toBe(0);
      expect(s.mismatches, `${s.clients} clients`).toBe(0);
      expect(s.perSecond).toBeGreaterThan(0);
      expect(s.p99Ms).toBeGreaterThanOrEqual(s.p50Ms);
    }
    expect(load.scoring[0]!.speedup).toBe(1);
    expect(load.scoringRequests).toBeGreaterThanOrEqual(load.scoring.reduce((a, s) => a + s.requests, 0));
    expect(load.rssMB.map((m) => m.party).sort()).toEqual(['arbiter', 'bank', 'social-insurance', 'tax-bureau']);
    for (const m of load.rssMB) for (const v of [m.idle, m.afterFirstJob, m.afterScoring, m.afterTraining]) expect(v).toBeGreaterThan(20);
    expect(load.failedJobs).toEqual([]);
    expect(load.trainingJobs).toBe(3);
    expect(load.jobsList.idle.n).toBeGreaterThan(0);
    expect(load.jobsList.underTraining.n).toBeGreaterThan(0);
    expect(load.jobsList.underTraining.concurrentJobs).toBeGreaterThanOrEqual(1);
    const md = sectionMarkdown(results, 'load');
    expect(md).toContain('## Serving under load');
    expect(md).toMatch(/8 clients: throughput ≥ 1\.5× sequential \| [\d.]+×/);
  }, 900_000);
});
