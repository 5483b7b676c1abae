/**
 * Public band grids for blind verification: both sides map a value to keys, so that a claim
 * is "consistent" exactly when its one key is among the register's keys (OPRF tags).
 *
 * Equality (no tolerance): one key, the number's shortest round-trip decimal form, so
 * `120`, `120.0` and `1.2e2` agree.
 *
 * Relative tolerance r: on t = ln|v| / W, K = `GRIDS` grids of band width W offset by W/K;
 * grid g has bands ⌊t − g/K⌋. The agency holds every value's key in every grid (K tags per
 * value, with its sign; 0 its own key). The bank evaluates ONE key per claim c: that of the
 * grid in which c lies farthest from a band edge. Grid centres are W/K apart, so in that grid
 * c is at least W(K − 1)/(2K) from both edges; with W = 2K/(K − 1)·ln(1 + r) that distance is
 * ln(1 + r). Hence, with d = |ln(c / a)| for c, a of the same sign:
 *
 *   always consistent     d < ln(1 + r)        (c within a factor 1 + r of a): a lies in
 *                                               c's band of the grid the bank picked;
 *   never consistent      d ≥ W = (8/3)·ln(1 + r) for K = 4 (a factor (1 + r)^(8/3) or more
 *                                               apart): no band holds both; also any sign
 *                                               mismatch, and zero against non-zero;
 *   grey zone             in between: consistent exactly when a lies in the band (a public
 *                                               interval of log-width W) that holds c in the
 *                                               grid c picks, which depends on where c sits.
 *
 * For r = 0.1: a claim within ×1.1 of the register is always consistent, one ×1.289 or more
 * away never is. Who learns what: the bank one bit per claim, "a lies in this band"; with a
 * key per grid it would also learn which grids matched, placing a within a fraction of a
 * band, as it did when a claim took two keys (test/attacks/verify-grid-hits.test.ts). The
 * agency: one evaluation per claim, whatever the field. Both sides compute ln with V8's
 * fdlibm-derived Math.log, the same bits on every platform; a value exactly on an edge falls
 * in the upper band on both sides.
 */
import { randomBytes } from 'node:crypto';

export type FieldCheck = { readonly field: string; readonly tolerance: number | undefined };

/**
 * How many offset grids a tolerance check has. More grids narrow the grey zone, whose outer
 * end is (1 + r)^(2K/(K − 1)), toward the (1 + r)² of a two-key protocol, at K tags per
 * register value: K = 2 would leave (1 + r)^4, K = 4 leaves (1 + r)^(8/3) (×1.289 at r = 0.1)
 * for twice the tags of two grids, and K = 8 would double the tags again for (1 + r)^2.29.
 */
export const GRIDS = 4;

/** The band width W of a tolerance r, on ln|v|: the one at which a claim within ×(1 + r) is always consistent. */
export function gridWidth(tolerance: number): number {
  return ((2 * GRIDS) / (GRIDS - 1)) * Math.log1p(tolerance);
}

/** Band of grid g holding t = ln|v| / W: the same expression on both sides, so the same bits. */
function bandIn(t: number, grid: number): number {
  return Math.floor(t - grid / GRIDS);
}

/** (Agency) The keys of a register value: one for equality, one per grid for a tolerance. */
export function registerKeys(value: number, check: FieldCheck): string[] {
  if (check.tolerance === undefined) return [`eq:${String(value === 0 ? 0 : value)}`];
  if (value === 0) return Array.from({ length: GRIDS }, (_, g) => `g${g}:0`);
  const sign = value < 0 ? '-' : '+';
  const t = Math.log(Math.abs(value)) / gridWidth(check.tolerance);
  return Array.from({ length: GRIDS }, (_, g) => `g${g}:${sign}${bandIn(t, g)}`);
}

/**
 * (Bank) The keys a claim is evaluated on: one, whatever the field. With a tolerance, the key
 * of the grid in which the claim lies farthest from a band edge (the lowest grid on a tie),
 * one of `registerKeys`, so the verdict is "the claim's key is among the tags". A list, as
 * `registerKeys` returns, so callers treat a claim's keys as the attack tests' leaky
 * variants (a key per grid) do.
 */
export function claimKeys(value: number, check: FieldCheck): string[] {
  if (check.tolerance === undefined) return [`eq:${String(value === 0 ? 0 : value)}`];
  if (value === 0) return ['g0:0'];
  const t = Math.log(Math.abs(value)) / gridWidth(check.tolerance);
  let best = 0;
  let bestOff = Infinity;
  for (let g = 0; g < GRIDS; g++) {
    const off = Math.abs(t - g / GRIDS - bandIn(t, g) - 0.5);
    if (off < bestOff) [best, bestOff] = [g, off];
  }
  return [`g${best}:${value < 0 ? '-' : '+'}${bandIn(t, best)}`];
}

/**
 * Whether a field its holder's policy bands by ×(1 + bandWidth) may be verified at
 * `tolerance`: only when the grids' offset W/K = 2·ln(1 + tolerance)/(K − 1) is a whole
 * multiple m ≥ 1 of ln(1 + bandWidth), i.e. 1 + tolerance = (1 + bandWidth)^(m(K − 1)/2)
 * ((1 + bandWidth)^1.5, ^3, ^4.5, … for K = 4). Every edge of every grid is then an edge of
 * the band grid (`bandOf`), so no sweep of claims, in one session or across sessions at
 * several such tolerances, places a value more finely than its band. Any other width would:
 * cells of grids of different widths intersect like a vernier
 * (test/attacks/banded-verification.test.ts).
 */
export function verifiableBandedTolerance(bandWidth: number, tolerance: number): boolean {
  const m = gridWidth(tolerance) / GRIDS / Math.log1p(bandWidth);
  return Math.round(m) >= 1 && Math.abs(m - Math.round(m)) < 1e-12 * m;
}

/** The smallest tolerances `verifiableBandedTolerance` admits for a band of ×(1 + bandWidth), for messages. */
export function bandedTolerances(bandWidth: number, count = 3): number[] {
  return Array.from({ length: count }, (_, i) => Number(((1 + bandWidth) ** (((i + 1) * (GRIDS - 1)) / 2) - 1).toPrecision(6)));
}

/** A padding key: matches no key of `registerKeys`. An empty cell (in-process verify) or a repeated claim key takes one, so the count of keys the agency sees never depends on them. */
export function paddingKey(): string {
  return `pad:${randomBytes(12).toString('hex')}`;
}

/** The OPRF input of one key: unambiguous whatever characters the ID and field name hold. */
export function verificationInput(id: string, field: string, key: string): string {
  return JSON.stringify([id, field, key]);
}

/**
 * What an interface call returns for a field its policy bands (policy `banded`): the band
 * of ×(1 + width) on the public log grid that holds the value, as an interval, e.g.
 * `[107.374, 134.218)`; `0` for zero; the mirror interval for a negative value.
 */
export function bandOf(value: number, width: number): string {
  if (value === 0) return '0';
  const step = Math.log1p(width);
  const b = Math.floor(Math.log(Math.abs(value)) / step);
  const [lo, hi] = [Math.exp(b * step), Math.exp((b + 1) * step)].map((x) => Number(x.toPrecision(6)));
  return value > 0 ? `[${lo}, ${hi})` : `(-${hi}, -${lo}]`;
}
