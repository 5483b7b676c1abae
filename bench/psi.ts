/**
 * PSI benchmarks: the group operations per backend (one core), then end-to-end runs of
 * `jinqiao psi` in a child process, each against the raw primitive limit measured in the
 * same run: (threads × single-core multiplies per second) / 2 multiplies per ID.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Bench } from 'tinybench';
import { loadBackend } from '../src/psi/backends/index.ts';
import type { BackendName } from '../src/psi/group.ts';
import { idTablePair } from './data.ts';
import { median, spread, type Figure } from './stats.ts';

export interface PsiOpResult {
  readonly backend: BackendName;
  readonly op: string;
  readonly microseconds: Figure;
  readonly opsPerSecond: number;
}

export interface PsiEndToEnd {
  readonly idsPerSide: number;
  readonly runs: number;
  readonly seconds: Figure;
  readonly idsPerSecond: Figure;
  readonly peakMemoryMB: number;
  readonly bytesPerId: number;
  /** idsPerSecond / ((threads × single-core x25519 multiplies/s) / 2). */
  readonly efficiency: number;
  readonly rawLimitIdsPerSecond: number;
}

export async function benchPsiOps(quick: boolean): Promise<PsiOpResult[]> {
  const out: PsiOpResult[] = [];
  for (const name of ['x25519', 'x25519-noble', 'ristretto255-noble'] as const) {
    const group = await loadBackend(name);
    const scalar = group.randomScalar();
    const input = new TextEncoder().encode('jinqiao/psi/v1....job-0001 91350100M000100Y43');
    const point = new Uint8Array(32);
    const out32 = new Uint8Array(32);
    group.hashToGroup(input, point, 0);
    const bench = new Bench({ time: quick ? 300 : 1000, warmupTime: 100, iterations: 20 });
    bench
      .add('hash-to-group', () => group.hashToGroup(input, out32, 0))
      .add('multiply', () => group.multiply(point, scalar, out32, 0));
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result as { latency: { p50: number; min: number; max: number; samples?: number[] }; throughput: { mean: number } };
      out.push({
        backend: name,
        op: task.name,
        microseconds: { median: r.latency.p50 * 1000, spread: (r.latency.max - r.latency.min) * 1000 },
        opsPerSecond: 1000 / r.latency.p50,
      });
    }
  }
  return out;
}

const BIN = resolve(import.meta.dirname, '../bin/jinqiao.js');

export async function benchPsiEndToEnd(sizes: readonly number[], runs: number, multipliesPerSecond: number): Promise<PsiEndToEnd[]> {
  const threads = availableParallelism();
  const rawLimit = (threads * multipliesPerSecond) / 2;
  const results: PsiEndToEnd[] = [];
  for (const size of sizes) {
    const pair = await idTablePair(size);
    const samples: { seconds: number; idsPerSecond: number; peakMemoryMB: number; bytes: number }[] = [];
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(process.execPath, [BIN, 'psi', pair.left, pair.right, '--id', 'uscc', '--json'], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`psi ${size} failed: ${r.stderr}`);
      const j = JSON.parse(r.stdout);
      if (j.intersection !== pair.expected) throw new Error(`psi ${size}: intersection ${j.intersection}, expected ${pair.expected}`);
      samples.push({ seconds: j.seconds, idsPerSecond: j.idsPerSecond, peakMemoryMB: j.peakMemoryMB, bytes: j.bytesSent.left + j.bytesSent.right });
    }
    const idsPerSecond = samples.map((s) => s.idsPerSecond);
    results.push({
      idsPerSide: size,
      runs,
      seconds: { median: median(samples.map((s) => s.seconds)), spread: spread(samples.map((s) => s.seconds)) },
      idsPerSecond: { median: median(idsPerSecond), spread: spread(idsPerSecond) },
      peakMemoryMB: Math.max(...samples.map((s) => s.peakMemoryMB)),
      bytesPerId: samples[0]!.bytes / (2 * size),
      efficiency: median(idsPerSecond) / rawLimit,
      rawLimitIdsPerSecond: rawLimit,
    });
  }
  return results;
}
