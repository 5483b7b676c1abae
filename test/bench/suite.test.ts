/**
 * The benchmark suite runs and reports every section. It runs `--smoke` (every section of
 * the quick suite at toy sizes, ~30 s alone) rather than `--quick` (~2–3 min on the 2-core
 * machine, longer beside the rest of `npm test`): the shape of the JSON is the same, and the
 * figures themselves are checked for sanity, not for speed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SECTIONS, type BenchResults } from '../../bench/report.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'jinqiao-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function runSmoke(): { results: BenchResults & { resultsFile: string }; stderr: string } {
  const r = spawnSync(process.execPath, ['bench/run.ts', '--smoke', '--json', '--out', out], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 840_000 });
  if (r.status !== 0) throw new Error(`bench/run.ts --smoke failed (${r.status ?? r.signal}): ${r.stderr}`);
  return { results: JSON.parse(r.stdout), stderr: r.stderr };
}

describe('benchmark suite (npm run bench)', () => {
  let run: ReturnType<typeof runSmoke>;

  it('runs every section and prints one JSON object', () => {
    run = runSmoke();
    expect(run.results.mode).toBe('smoke');
    // The load section's smoke run is test/bench/load.test.ts.
    for (const section of SECTIONS.filter((s) => s !== 'load')) expect(run.results[section], section).toBeDefined();
    expect(run.results.load).toBeUndefined();
  }, 900_000);

  it('stores the same results with the machine they were measured on', () => {
    const stored = JSON.parse(readFileSync(run.results.resultsFile, 'utf8')) as BenchResults;
    expect(stored.psiOps).toEqual(run.results.psiOps);
    expect(stored.machine.cores).toBeGreaterThan(0);
    expect(stored.machine.node).toMatch(/^v24\./);
    expect(stored.machine.cpu).toBeTruthy();
    for (const pkg of ['node-seal', 'sodium-native', '@noble/curves', 'tinybench']) expect(stored.machine.packages[pkg]).toMatch(/^\d+\./);
    expect(stored.durationSeconds).toBeGreaterThan(0);
  });

  it('measures every backend, CKKS parameter set and BFV, with a median and a spread', () => {
    const r = run.results;
    expect(new Set(r.psiOps!.ops.map((o) => o.backend))).toEqual(new Set(['x25519', 'x25519-noble', 'ristretto255-noble']));
    expect(r.psiOps!.ops.map((o) => o.op)).toEqual(expect.arrayContaining(['hash-to-group', 'multiply', 'decode (fromBytes)', 'encode (toBytes)']));
    expect(r.he!.ckks.map((c) => c.polyModulusDegree)).toEqual([8192, 16384]);
    for (const set of [...r.he!.ckks, r.he!.bfv]) {
      for (const op of set.ops) {
        expect(op.microseconds.median, `${set.parameterSet} ${op.op}`).toBeGreaterThan(0);
        expect(op.microseconds.spread).toBeGreaterThanOrEqual(0);
      }
    }
    expect(r.he!.bfvVsCkks.map((c) => c.op)).toEqual(['encode', 'encrypt', 'multiply_plain', 'rotate', 'decrypt']);
    expect(r.codec!.frames.map((f) => f.frame)).toEqual(expect.arrayContaining([expect.stringMatching(/^psi\.blinded/), expect.stringMatching(/^train\.forward/)]));
  });

  it('reports worker scaling, end-to-end runs, training against its ceiling, and baselines as ratios', () => {
    const r = run.results;
    for (const points of [r.scaling!.psi.points, r.scaling!.matvec.points]) {
      expect(points[0]!.threads).toBe(1);
      expect(points[0]!.efficiency).toBeCloseTo(1);
    }
    // The figures are what their definitions say, not merely positive: efficiency is the
    // throughput over threads × one worker's, and no configuration beats its raw limit by
    // more than measurement noise (25%).
    for (const points of [r.scaling!.psi.points, r.scaling!.matvec.points]) {
      const single = points[0]!.throughput.median;
      let previous = 0;
      for (const p of points) {
        expect(p.efficiency).toBeCloseTo(p.throughput.median / (p.threads * single), 9);
        expect(p.efficiency).toBeLessThan(1.25);
        if (p.threads > 1) expect(p.marginalGain).toBeCloseTo((p.throughput.median - previous) / single, 9);
        previous = p.throughput.median;
      }
    }
    const e2e = r.psi!.endToEnd[0]!;
    expect(e2e.backend).toBe('x25519');
    expect(e2e.idsPerSecond.median).toBeGreaterThan(0);
    expect(e2e.efficiency).toBeCloseTo(e2e.idsPerSecond.median / e2e.rawLimitIdsPerSecond, 9);
    expect(e2e.efficiency).toBeLessThan(1.25);
    expect(e2e.peakMemoryMB).toBeGreaterThan(0);
    // 32-byte points, each ID's blinded value one way and re-blinded back: 64 bytes per ID,
    // plus hello and frame headers, a few bytes per 16,384-value frame.
    expect(e2e.bytesPerId).toBeGreaterThanOrEqual(64);
    expect(e2e.bytesPerId).toBeLessThan(64 + 64 / Math.min(e2e.idsPerSide, 16384) + 200 / e2e.idsPerSide);
    expect(r.psi!.reference.slowdown).toBeGreaterThan(0);
    const epoch = r.train!.epochs.at(-1)!;
    expect(epoch.epochSeconds.median).toBeGreaterThan(0);
    expect(epoch.bytesPerEpoch).toBeGreaterThan(0);
    expect(epoch.ceilingAuc).toBeGreaterThan(0.5);
    expect(Math.abs(epoch.auc - epoch.ceilingAuc)).toBeLessThan(0.05);
    const paillier = r.baselines!.paillier[0]!;
    expect(paillier.estimate.extrapolated.note).toMatch(/EXTRAPOLATED/);
    expect(paillier.wallClockRatio).toBeGreaterThan(0);
    expect(r.baselines!.plaintext[0]!.slowdown).toBeGreaterThan(1);
    expect(r.baselines!.referenceBackend.multiplySlowdown).toBeGreaterThan(1);
    expect(r.anchors!.map((a) => a.id)).toEqual(['fate-psi', 'fate-lr', 'jinqiao-psi-10m', 'apsi-1m', 'secretflow-ubpsi']);
  });
});
