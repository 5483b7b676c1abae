/** A figure as the benchmarks report it: the median of repeated runs and their spread (max − min). */
export interface Figure {
  readonly median: number;
  readonly spread: number;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(values: readonly number[]): number {
  return Math.max(...values) - Math.min(...values);
}
