/**
 * Population stability index (PSI), the credit-risk drift measure: how far a score's
 * distribution in this run has moved from a reference run. (Not to be confused with
 * private set intersection, which jinqiao also calls PSI: this file is about drift.)
 *
 *   PSI = Σ over bins (actual% − expected%) · ln(actual% / expected%)
 *
 * with bins cut at the reference run's quantiles. Each party computes it on its own partial
 * score, so drift is located per party without any party seeing another's data. The usual
 * reading: below 0.10 stable, 0.10–0.25 worth a look, 0.25 and above a material shift.
 */
import { errors } from '../errors.ts';

export type StabilityStatus = 'stable' | 'monitor' | 'shifted';

export const STABILITY_LEVELS = { monitor: 0.1, shifted: 0.25 } as const;

/** Bin shares are floored here: an empty bin would make the index infinite. */
const SHARE_FLOOR = 1e-4;

export function populationStabilityIndex(expected: ArrayLike<number>, actual: ArrayLike<number>, bins = 10): number {
  checkSample('expected', expected);
  checkSample('actual', actual);
  if (!(Number.isInteger(bins) && bins >= 2)) throw errors.optionInvalid('bins', `must be an integer >= 2, got ${bins}`);
  const sorted = Float64Array.from(expected).sort();
  // Interior quantile cuts of the reference; ties collapse so no bin is empty by construction.
  const cuts = [...new Set(Array.from({ length: bins - 1 }, (_, k) => sorted[Math.floor(((k + 1) * sorted.length) / bins)]!))];
  const share = (sample: ArrayLike<number>) => {
    const counts = new Float64Array(cuts.length + 1);
    for (let i = 0; i < sample.length; i++) counts[binOf(cuts, sample[i]!)]!++;
    return Array.from(counts, (c) => Math.max(c / sample.length, SHARE_FLOOR));
  };
  const e = share(expected);
  const a = share(actual);
  let psi = 0;
  for (let k = 0; k < e.length; k++) psi += (a[k]! - e[k]!) * Math.log(a[k]! / e[k]!);
  return psi;
}

export function stabilityStatus(psi: number): StabilityStatus {
  if (psi >= STABILITY_LEVELS.shifted) return 'shifted';
  return psi >= STABILITY_LEVELS.monitor ? 'monitor' : 'stable';
}

/** The first bin whose upper cut exceeds the value: bins are [cut k−1, cut k). */
function binOf(cuts: readonly number[], value: number): number {
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value < cuts[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function checkSample(name: string, sample: ArrayLike<number>): void {
  if (sample.length === 0) throw errors.valuesInvalid(name, 'no scores to compare');
  for (let i = 0; i < sample.length; i++) {
    if (!Number.isFinite(sample[i])) throw errors.valuesInvalid(name, `entry ${i} is ${sample[i]}`);
  }
}
