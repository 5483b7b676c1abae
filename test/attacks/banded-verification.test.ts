/**
 * Attack: narrowing a banded field through verification (the bank's view). The tax
 * bureau's policy answers `registered_capital_wan` only as its band of ×1.25 on the public
 * log grid, and the README promises that verification gives no more than that band (rule
 * `field.banded`). The bank opens verification sessions on the field, each with another
 * tolerance r, and in each sweeps claims across the plausible range for the enterprises it
 * targets. A claim is evaluated on one key, of the grid in whose band it sits most centrally
 * (K = 4 grids of width W = (8/3)·ln(1 + r), offset by W/4), and is consistent exactly when
 * the register's value lies in that band: a claim at the centre of every band of every grid
 * pins the value to a cell of log-width W/4 = (2/3)·ln(1 + r). Intersecting the cells of
 * grids of different widths (a vernier) narrows the value down.
 *
 * Its view: its own claims and the verdicts (the session's tags and OPRF answers, through
 * the real `BankLookupSession`). Success measure: the log-width of the interval the bank
 * pins each target's value in, as a fraction of the policy band's ln(1.25), with the true
 * value inside.
 *
 * Positive control: the agency's earlier rule, "a tolerance at least the band width",
 * admits every r ≥ 0.25, and eight sessions pin the value to well under half its band.
 * Real protocol: only tolerances whose grids' offset W/4 is a whole number of policy bands
 * (1 + r = 1.25^(1.5·m)) are admitted, so that every edge of every grid is an edge of the
 * policy's grid; every other is refused with `field.banded`, and the admitted ones never pin
 * the value tighter than its band.
 */
import { describe, expect, it, vi } from 'vitest';
import { gridWidth, GRIDS, type FieldCheck } from '../../src/lookup/bands.ts';
import { uscc } from '../helpers/ids.ts';
import { openSession, taxPolicy, type Register } from './lookup-fixture.ts';

/** The leaky variant: the agency admits a banded field's verification under its earlier rule. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/lookup/bands.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/bands.ts')>();
  return {
    ...real,
    verifiableBandedTolerance: (bandWidth: number, tolerance: number) => (leaky.on ? tolerance >= bandWidth : real.verifiableBandedTolerance(bandWidth, tolerance)),
  };
});

const BAND = 0.25;
const FIELD = 'registered_capital_wan';
const N = 40;
const TARGETS = 10;
// Registered capital log-uniform in [1e3, 1e5) wan: the bank knows this range, not the values.
const [LOW, HIGH] = [Math.log(1e3), Math.log(1e5)];
const ids = Array.from({ length: N }, (_, i) => uscc(52_000 + i));
const capital = ids.map((_, i) => Math.exp(LOW + (HIGH - LOW) * ((i * 0.6180339887) % 1)));
const register: Register = { ids, fields: { [FIELD]: capital } };
const targets = Array.from({ length: TARGETS }, (_, i) => i * 3);

/** An interval of ln(value). */
type Interval = readonly [number, number];

/**
 * (Bank) One session at tolerance r: for each target, a claim at the centre of every band of
 * every grid over the range, each of which the bank evaluates on that band's key; the value
 * lies in the band of every consistent claim. Returns each target's intersection of them as
 * an interval of ln(value).
 */
async function sweep(policy: Awaited<ReturnType<typeof taxPolicy>>, tolerance: number): Promise<Interval[]> {
  const check: FieldCheck = { field: FIELD, tolerance };
  const { session, served } = await openSession(register, policy, 'verify', [check]);
  const W = gridWidth(tolerance);
  // Band centres of all grids are W/K apart: centre n is that of band ⌊n/K⌋ of grid n mod K.
  const centres: number[] = [];
  for (let n = Math.floor((LOW / W - 1) * GRIDS); n <= Math.ceil((HIGH / W + 1) * GRIDS); n++) centres.push((n / GRIDS + 0.5) * W);
  const claims = targets.flatMap((t) => centres.map((x) => ({ id: ids[t]!, field: FIELD, value: Math.exp(x) })));
  const verdicts = await session.verify(claims);
  await session.close();
  await served;
  return targets.map((_, k) => {
    const hits = centres.filter((_, j) => verdicts[k * centres.length + j]);
    expect(hits.length, 'the band of each grid that holds the value').toBe(GRIDS);
    return [Math.max(...hits) - W / 2, Math.min(...hits) + W / 2] as const;
  });
}

/** Intersects every session's interval per target; returns the widths as fractions of the policy band, checking each holds the true value. */
async function vernier(tolerances: readonly number[]): Promise<number[]> {
  const policy = await taxPolicy(BAND);
  let pinned: Interval[] = targets.map(() => [-Infinity, Infinity]);
  for (const r of tolerances) {
    const cells = await sweep(policy, r);
    pinned = pinned.map(([lo, hi], k) => [Math.max(lo, cells[k]![0]), Math.min(hi, cells[k]![1])] as const);
  }
  return pinned.map(([lo, hi], k) => {
    const truth = Math.log(capital[targets[k]!]!);
    expect(truth).toBeGreaterThanOrEqual(lo - 1e-12);
    expect(truth).toBeLessThan(hi + 1e-12);
    return (hi - lo) / Math.log1p(BAND);
  });
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('attack: narrowing a banded field by verifying it at several tolerances', () => {
  it('positive control: admitted at every tolerance ≥ the band width, eight sessions pin the value to under a third of its band', async () => {
    leaky.on = true;
    try {
      const widths = await vernier(Array.from({ length: 8 }, (_, i) => BAND + 0.031 * i));
      expect(median(widths)).toBeLessThan(1 / 3);
      expect(Math.max(...widths)).toBeLessThan(0.6);
    } finally {
      leaky.on = false;
    }
  }, 60_000);

  it('refuses every tolerance whose grids are not made of the band grid, and the admitted ones never narrow the value below its band', async () => {
    const policy = await taxPolicy(BAND);
    // The band width itself and its square, admitted with two keys per claim, give grids offset by 2/3 and 4/3 of a band.
    for (const r of [BAND, (1 + BAND) ** 2 - 1, 0.26, 0.3, 0.5, 0.6, 1]) {
      await expect(openSession(register, policy, 'verify', [{ field: FIELD, tolerance: r }]), `tolerance ${r}`).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', message: expect.stringContaining(`${FIELD}`) });
    }
    const widths = await vernier([(1 + BAND) ** 1.5 - 1, (1 + BAND) ** 3 - 1, (1 + BAND) ** 4.5 - 1]);
    for (const w of widths) expect(w).toBeGreaterThanOrEqual(1 - 1e-9);
  }, 60_000);
});
