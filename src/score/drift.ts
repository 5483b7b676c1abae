/**
 * Population stability index (PSI-index, as credit teams use it; not to be confused with
 * private set intersection): Σ (actual − expected)·ln(actual / expected) over bins fixed by
 * the expected (previous) distribution's deciles. Below 0.1 stable, 0.1–0.25 watch, above
 * 0.25 shifted.
 */
export function populationStabilityIndex(expected: ArrayLike<number>, actual: ArrayLike<number>, bins = 10): number {
  if (expected.length === 0 || actual.length === 0) return 0;
  const sorted = Float64Array.from(expected).sort();
  const edges: number[] = [];
  for (let b = 1; b < bins; b++) edges.push(sorted[Math.min(sorted.length - 1, Math.floor((b * sorted.length) / bins))]!);
  const share = (values: ArrayLike<number>) => {
    const counts = new Float64Array(bins);
    for (let i = 0; i < values.length; i++) {
      let b = 0;
      while (b < edges.length && values[i]! > edges[b]!) b++;
      counts[b]!++;
    }
    // An empty bin would make the index infinite; a tiny floor keeps it finite and large.
    return counts.map((c) => Math.max(c / values.length, 1e-4));
  };
  const e = share(expected);
  const a = share(actual);
  let index = 0;
  for (let b = 0; b < bins; b++) index += (a[b]! - e[b]!) * Math.log(a[b]! / e[b]!);
  return index;
}
