/**
 * How the benchmarks summarise what they measure. Every figure is a median with a spread:
 * for repeated runs (end to end, epochs, worker scaling) the spread is max − min over the
 * runs; for micro benchmarks (tinybench, thousands of iterations) it is twice the median
 * absolute deviation of the per-iteration samples, close to the interquartile range and,
 * unlike max − min, not dominated by one garbage collection.
 */
import { Bench } from 'tinybench';

export interface Figure {
  readonly median: number;
  readonly spread: number;
  /** Runs (or samples) behind the figure. */
  readonly n: number;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(values: readonly number[]): number {
  return Math.max(...values) - Math.min(...values);
}

/** Median and max − min of repeated runs. */
export function figure(values: readonly number[]): Figure {
  return { median: median(values), spread: spread(values), n: values.length };
}

/** One micro-benchmarked operation. */
export interface OpResult {
  readonly op: string;
  /** Latency of one operation in µs: median and 2 × MAD over tinybench's samples. */
  readonly microseconds: Figure;
  readonly opsPerSecond: number;
}

export interface OpTask {
  readonly op: string;
  readonly fn: () => unknown;
  /** Operations one call of `fn` performs (calls of a sub-microsecond op are batched). */
  readonly inner?: number;
}

export interface MeasureOptions {
  /** Milliseconds of measurement per task (after warm-up). */
  readonly time: number;
  /** Minimum iterations per task, whatever the time. */
  readonly iterations?: number;
}

/** Runs each task under tinybench on this thread, one after the other. */
export async function measureOps(tasks: readonly OpTask[], options: MeasureOptions): Promise<OpResult[]> {
  const bench = new Bench({ time: options.time, warmupTime: Math.min(200, options.time / 2), iterations: options.iterations ?? 10 });
  for (const t of tasks) bench.add(t.op, t.fn);
  await bench.run();
  return bench.tasks.map((task, i) => {
    const result = task.result as { state?: string; error?: Error; latency?: { p50: number; mad: number; samplesCount: number } };
    if (!result.latency) throw new Error(`benchmark "${task.name}" failed: ${result.error?.message ?? result.state}`);
    const inner = tasks[i]!.inner ?? 1;
    const us = (result.latency.p50 * 1000) / inner;
    return {
      op: task.name,
      microseconds: { median: us, spread: (2 * result.latency.mad * 1000) / inner, n: result.latency.samplesCount },
      opsPerSecond: 1e6 / us,
    };
  });
}
