/**
 * PSI benchmarks: the group operations per backend (one core), the hot loop on 1..cores
 * worker threads, and end-to-end runs of `jinqiao psi` in a child process, each against the
 * raw primitive limit measured in the same run: (threads × single-core multiplies per
 * second) / 2 multiplies per ID. The end-to-end runs do everything the protocol does
 * (CSV streaming, normalisation, hashing, blinding, shuffling, msgpack framing over the
 * in-memory channel, re-blinding, matching); only the network is absent.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { loadBackend } from '../src/psi/backends/index.ts';
import type { IdBatch } from '../src/psi/batch.ts';
import { poolExecutor } from '../src/psi/executor.ts';
import { jobHashPrefix, type BackendName } from '../src/psi/group.ts';
import { uscc } from '../test/helpers/ids.ts';
import { idTablePair } from './data.ts';
import { figure, measureOps, type Figure, type OpResult } from './stats.ts';

export interface PsiOpResult extends OpResult {
  readonly backend: BackendName;
}

export interface PsiEndToEnd {
  readonly backend: BackendName;
  readonly idsPerSide: number;
  readonly threads: number;
  readonly seconds: Figure;
  /** IDs of both sides per second. */
  readonly idsPerSecond: Figure;
  /** Largest peak RSS of the child process over the runs. */
  readonly peakMemoryMB: number;
  /** Bytes both parties sent, over the IDs of both sides. */
  readonly bytesPerId: number;
  /** (threads × single-core multiplies/s of this backend) / 2 multiplies per ID. */
  readonly rawLimitIdsPerSecond: number;
  /** idsPerSecond.median / rawLimitIdsPerSecond. */
  readonly efficiency: number;
}

export interface ScalingPoint {
  readonly threads: number;
  /** Work items (IDs, rows) per second over the repeated runs. */
  readonly throughput: Figure;
  /** throughput / (threads × single-thread throughput). */
  readonly efficiency: number;
  /** (throughput − previous point's) / single-thread throughput: what the added workers gave. */
  readonly marginalGain: number;
}

export const PSI_BACKENDS: readonly BackendName[] = ['x25519', 'x25519-noble', 'ristretto255-noble'];

/**
 * Hash-to-group and multiply for every backend; for ristretto255 also the point decoding
 * (`fromBytes`, with its validity checks) and encoding (`toBytes`) that each multiply
 * performs. X25519 has no separate encoding: its 32-byte u-coordinate is what the ladder
 * reads and writes.
 */
export async function benchPsiOps(timeMs: number): Promise<PsiOpResult[]> {
  const out: PsiOpResult[] = [];
  const prefix = jobHashPrefix('bench-job-0001');
  const inputs = Array.from({ length: 64 }, (_, i) => {
    const id = new TextEncoder().encode(uscc(i));
    const input = new Uint8Array(prefix.length + id.length);
    input.set(prefix);
    input.set(id, prefix.length);
    return input;
  });
  for (const name of PSI_BACKENDS) {
    const group = await loadBackend(name);
    const scalar = group.randomScalar();
    const points = new Uint8Array(64 * 32);
    inputs.forEach((input, i) => group.hashToGroup(input, points, i * 32));
    const out32 = new Uint8Array(32);
    let k = 0;
    const tasks = [
      // x25519 hashes onto the curve in ~2 SHA-512 and 2 Jacobi symbols (tens of µs), ristretto255 in hundreds: 64 per iteration.
      { op: 'hash-to-group', fn: () => inputs.forEach((input) => group.hashToGroup(input, out32, 0)), inner: 64 },
      { op: 'multiply', fn: () => group.multiply(points.subarray((k = (k + 1) & 63) * 32, k * 32 + 32), scalar, out32, 0) },
    ];
    if (name === 'ristretto255-noble') {
      const decoded = ristretto255.Point.fromBytes(points.subarray(0, 32));
      tasks.push(
        { op: 'decode (fromBytes)', fn: () => ristretto255.Point.fromBytes(points.subarray((k = (k + 1) & 63) * 32, k * 32 + 32)) },
        { op: 'encode (toBytes)', fn: () => decoded.toBytes() },
      );
    }
    for (const r of await measureOps(tasks, { time: timeMs })) out.push({ backend: name, ...r });
  }
  return out;
}

function idBatches(count: number, size: number): IdBatch[] {
  const encoder = new TextEncoder();
  return Array.from({ length: count }, (_, b) => {
    const ids = Array.from({ length: size }, (_, i) => encoder.encode(uscc(b * size + i)));
    const offsets = new Uint32Array(size + 1);
    ids.forEach((id, i) => (offsets[i + 1] = offsets[i]! + id.length));
    const bytes = new Uint8Array(offsets[size]!);
    ids.forEach((id, i) => bytes.set(id, offsets[i]));
    return { bytes, offsets };
  });
}

const copyBatch = (b: IdBatch): IdBatch => ({ bytes: b.bytes.slice(), offsets: b.offsets.slice() });

/**
 * The PSI hot loop (hashAndBlind of a fixed set of batches, x25519) on a pool of each size,
 * as the protocol runs it: buffers transferred to the workers, results back.
 */
export async function benchPsiScaling(threadCounts: readonly number[], batchCount: number, batchSize: number, runs: number): Promise<ScalingPoint[]> {
  const batches = idBatches(batchCount, batchSize);
  const prefix = jobHashPrefix('bench-job-0001');
  const scalar = (await loadBackend('x25519')).randomScalar();
  return interleavedScaling(threadCounts, runs, batchCount * batchSize, {
    async start(threads) {
      const executor = poolExecutor({ threads });
      // Start every worker (module load, sodium init) before timing.
      await Promise.all(Array.from({ length: threads }, (_, i) => executor.hashAndBlind('x25519', prefix, copyBatch(batches[i % batchCount]!), scalar)));
      return executor;
    },
    async prepare() {
      return batches.map(copyBatch);
    },
    async run(executor, fresh) {
      await Promise.all(fresh.map((b) => executor.hashAndBlind('x25519', prefix, b, scalar)));
    },
    stop: (executor) => executor.close(),
  });
}

export interface ScalingSubject<P, I> {
  start(threads: number): Promise<P>;
  /** Untimed per-run input (transferred buffers are gone after a run). */
  prepare(): Promise<I>;
  run(pool: P, input: I): Promise<void>;
  stop(pool: P): Promise<void>;
}

/**
 * Throughput of the same work on pools of each size. Every pool is started first and the
 * runs are interleaved (1, 2, …, 1, 2, …), so that load from other work on a shared machine
 * falls on every thread count alike instead of on whichever ran last.
 */
export async function interleavedScaling<P, I>(threadCounts: readonly number[], runs: number, items: number, subject: ScalingSubject<P, I>): Promise<ScalingPoint[]> {
  const pools: P[] = [];
  try {
    for (const threads of threadCounts) pools.push(await subject.start(threads));
    const samples = threadCounts.map((): number[] => []);
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < threadCounts.length; k++) {
        const input = await subject.prepare();
        const started = performance.now();
        await subject.run(pools[k]!, input);
        samples[k]!.push(items / ((performance.now() - started) / 1000));
      }
    }
    const points: ScalingPoint[] = [];
    threadCounts.forEach((threads, k) => points.push(scalingPoint(threads, figure(samples[k]!), points)));
    return points;
  } finally {
    for (const pool of pools) await subject.stop(pool);
  }
}

export function scalingPoint(threads: number, throughput: Figure, previous: readonly ScalingPoint[]): ScalingPoint {
  const single = previous[0]?.throughput.median ?? throughput.median / threads;
  const last = previous.at(-1);
  return {
    threads,
    throughput,
    efficiency: throughput.median / (threads * single),
    marginalGain: last ? (throughput.median - last.throughput.median) / single : 1,
  };
}

const BIN = resolve(import.meta.dirname, '../bin/jinqiao.js');

/** `jinqiao psi` on generated USCC tables with 50% overlap, `runs` times per size. */
export async function benchPsiEndToEnd(
  backend: BackendName,
  sizes: readonly number[],
  runs: number,
  multipliesPerSecond: number,
  threads = availableParallelism(),
): Promise<PsiEndToEnd[]> {
  const rawLimit = (threads * multipliesPerSecond) / 2;
  const results: PsiEndToEnd[] = [];
  for (const size of sizes) {
    const pair = await idTablePair(size);
    const samples: { seconds: number; idsPerSecond: number; peakMemoryMB: number; bytes: number }[] = [];
    for (let i = 0; i < runs; i++) {
      const args = [BIN, 'psi', pair.left, pair.right, '--id', 'uscc', '--backend', backend, '--threads', String(threads), '--json'];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`psi ${size} (${backend}) failed: ${r.stderr}`);
      const j = JSON.parse(r.stdout);
      if (j.intersection !== pair.expected) throw new Error(`psi ${size}: intersection ${j.intersection}, expected ${pair.expected}`);
      samples.push({ seconds: j.seconds, idsPerSecond: j.idsPerSecond, peakMemoryMB: j.peakMemoryMB, bytes: j.bytesSent.left + j.bytesSent.right });
    }
    const idsPerSecond = figure(samples.map((s) => s.idsPerSecond));
    results.push({
      backend,
      idsPerSide: size,
      threads,
      seconds: figure(samples.map((s) => s.seconds)),
      idsPerSecond,
      peakMemoryMB: Math.max(...samples.map((s) => s.peakMemoryMB)),
      bytesPerId: samples[0]!.bytes / (2 * size),
      rawLimitIdsPerSecond: rawLimit,
      efficiency: idsPerSecond.median / rawLimit,
    });
  }
  return results;
}
