/**
 * Public band grids for blind verification: both sides map a value to the same keys, so
 * that equal keys (and only those) say "consistent" through the OPRF tags.
 *
 * Equality (no tolerance): one key, the number's shortest round-trip decimal form, so
 * `120`, `120.0` and `1.2e2` agree.
 *
 * Relative tolerance r: on t = ln|v| / W with W = 2·ln(1 + r), grid 0 has bands
 * ⌊t⌋ and grid 1 bands ⌊t + ½⌋; each value gives one key per grid, with its sign, and 0
 * gives its own key. A claim c is consistent with the register's value a when they share
 * the key of either grid. Hence, with d = |ln(c / a)| for c, a of the same sign:
 *
 *   guaranteed consistent     d < ln(1 + r)     (c within a factor 1 + r of a): the two
 *                              values are less than half a band apart, and the two grids'
 *                              edges alternate every half band, so one grid has no edge
 *                              between them;
 *   guaranteed inconsistent   d ≥ 2·ln(1 + r)   (a factor (1 + r)² or more apart): a whole
 *                              band lies between them in both grids; also any sign
 *                              mismatch, and zero against non-zero;
 *   grey zone                 in between: consistent exactly when no edge of one of the
 *                              grids falls between them, which depends on where the
 *                              values sit on the public grid.
 *
 * For r = 0.1: a claim within ×1.1 of the register is always consistent, one ×1.21 or more
 * away never is. Both sides compute ln with V8's fdlibm-derived Math.log, the same bits on
 * every platform; a value exactly on an edge falls in the upper band on both sides.
 */
import { randomBytes } from 'node:crypto';

export type FieldCheck = { readonly field: string; readonly tolerance: number | undefined };

/** The band keys of `value` for one field check (one key for equality, two for a tolerance). */
export function bandKeys(value: number, check: FieldCheck): string[] {
  if (check.tolerance === undefined) return [`eq:${String(value === 0 ? 0 : value)}`];
  if (value === 0) return ['g0:0', 'g1:0'];
  const sign = value < 0 ? '-' : '+';
  const t = Math.log(Math.abs(value)) / (2 * Math.log1p(check.tolerance));
  return [`g0:${sign}${Math.floor(t)}`, `g1:${sign}${Math.floor(t + 0.5)}`];
}

/**
 * Whether a field its holder's policy bands by ×(1 + bandWidth) may be verified at
 * `tolerance`: only when 1 + tolerance is a whole power (1 + bandWidth)^m. Both grids' edges
 * then lie at multiples of ln(1 + tolerance) = m·ln(1 + bandWidth), every one an edge of the
 * band grid (`bandOf`), so no sweep of claims, in one session or across sessions at several
 * such tolerances, places a value more finely than its band. Any other width would: cells of
 * grids of different widths intersect like a vernier (test/attacks/banded-verification.test.ts).
 */
export function verifiableBandedTolerance(bandWidth: number, tolerance: number): boolean {
  const m = Math.log1p(tolerance) / Math.log1p(bandWidth);
  return Math.round(m) >= 1 && Math.abs(m - Math.round(m)) < 1e-12 * m;
}

/**
 * The keys every claim of a session takes: two when any of its fields has a tolerance, else
 * one. A claim of an exact field in a session that also checks a tolerance is padded with a
 * key no register value has; otherwise the count of a call's evaluations, which the agency
 * sees, would tell which of the session's fields the call claims
 * (test/attacks/verify-field-count.test.ts).
 */
export function keysPerClaim(checks: readonly FieldCheck[]): number {
  return checks.some((c) => c.tolerance !== undefined) ? 2 : 1;
}

/** A padding key (see `keysPerClaim`): matches no key of `bandKeys`. */
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
