/**
 * Attack: reading which grid agreed, not just whether one did (the bank's view). The agency
 * holds every value's key in each of K offset band grids; the README promises the bank one
 * bit per claim. The bank unblinds each key's evaluation itself and looks each tag up on its
 * own, so were a claim evaluated on several grids' keys (jinqiao evaluated two), it would
 * know which of them matched: on the half-band cells h = ⌊ln v / ln(1 + r)⌋, a claim in cell
 * h against a register value in h − 1, h or h + 1 gives three different patterns, and one
 * claim places the value in a cell of log-width ln(1 + r), where the verdict alone leaves it
 * among the three.
 *
 * Its view: its own claims, the tags of the session and the evaluations it unblinds (what
 * the real `BankLookupSession` computes: each input's hit, recorded as `queryTags` reports
 * it). Success measure: with the register's value placed uniformly in one of the three cells
 * around each claim, the fraction of claims whose cell the bank names, guessing a cell whose
 * middle would give what it saw; the same guess from the verdicts alone is the reference.
 *
 * Positive control: claims evaluated on every grid's key (bands.ts `claimKeys` replaced by
 * `registerKeys`): the per-key hits name 52 of 60 cells, the verdicts 16. Real
 * protocol: one key per claim, so its hit is the verdict, and the bank names the cell exactly
 * as often as from the verdicts.
 */
import { describe, expect, it, vi } from 'vitest';
import { uscc } from '../helpers/ids.ts';
import { claimKeys, registerKeys, type FieldCheck } from '../../src/lookup/bands.ts';
import { openSession, taxPolicy, type Register } from './lookup-fixture.ts';

/** What the bank's own code computes per input: the rows `queryTags` reports as hits. */
const hits = vi.hoisted(() => ({ rows: [] as number[][] }));
/** The leaky variant: a claim is evaluated on every grid's key, as the agency holds them. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/lookup/bands.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/bands.ts')>();
  return { ...real, claimKeys: (...args: Parameters<typeof real.claimKeys>) => (leaky.on ? real.registerKeys(...args) : real.claimKeys(...args)) };
});
vi.mock('../../src/lookup/online.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/online.ts')>();
  return {
    ...real,
    queryTags: (config: Parameters<typeof real.queryTags>[0], inputs: Parameters<typeof real.queryTags>[1], onMatch: Parameters<typeof real.queryTags>[2]) => {
      const rows: number[] = [];
      hits.rows.push(rows);
      return real.queryTags(config, inputs, (m) => {
        rows.push(m.row);
        onMatch(m);
      });
    },
  };
});

const R = 0.1;
const CHECK: FieldCheck = { field: 'vat_paid_wan', tolerance: R };
const HALF = Math.log1p(R);
const N = 60;

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cellOf = (v: number) => Math.floor(Math.log(v) / HALF);
/** A value well inside half-band cell h. */
const valueIn = (h: number, at: number) => Math.exp((h + 0.05 + 0.9 * at) * HALF);

const rand = mulberry32(20261203);
const ids = Array.from({ length: N }, (_, i) => uscc(231_000 + i));
const claims = ids.map(() => valueIn(Math.floor(60 + 40 * rand()), rand()));
/** The register's value: uniformly in one of the three cells around the claim's. */
const truth = claims.map((c) => cellOf(c) - 1 + Math.floor(3 * rand()));
const values = truth.map((h) => valueIn(h, rand()));
const register: Register = { ids, fields: { vat_paid_wan: values, staff: values.map(() => 1), registered_capital_wan: values } };

/** Where in a cell the bank tries the register's value: 20 points across it. */
const SPOTS = Array.from({ length: 20 }, (_, j) => (j + 0.5) / 20);

/** (Bank) The most likely of the three cells around the claim's (the first on a tie): the one where most values would give `seen` (one bit per key, or the verdict). */
function guessCell(claim: number, seen: readonly boolean[], predict: (claim: number, value: number) => boolean[]): number {
  const h = cellOf(claim);
  const fits = (cand: number) => SPOTS.filter((at) => predict(claim, valueIn(cand, at)).every((bit, j) => bit === seen[j])).length;
  return [h, h - 1, h + 1].reduce((best, cand) => (fits(cand) > fits(best) ? cand : best));
}
const keyHits = (claim: number, value: number) => claimKeys(claim, CHECK).map((key) => registerKeys(value, CHECK).includes(key));
const verdictOf = (claim: number, value: number) => [keyHits(claim, value).some(Boolean)];

/** Rates at which the bank names the register value's cell: from the per-key hits it computes, and from the verdicts alone. */
async function attack(): Promise<{ keys: number; verdicts: number }> {
  hits.rows.length = 0;
  const { session, served } = await openSession(register, await taxPolicy(0.25), 'verify', [CHECK]);
  const verdicts = await session.verify(ids.map((id, i) => ({ id, field: CHECK.field, value: claims[i]! })));
  await session.close();
  await served;
  expect(hits.rows).toHaveLength(1);
  const matched = new Set(hits.rows[0]);
  let [fromKeys, fromVerdicts, at] = [0, 0, 0];
  claims.forEach((c, i) => {
    // Inputs are the claims' keys in claim order (every claim here is distinct).
    const seen = claimKeys(c, CHECK).map(() => matched.has(at++));
    expect(seen.some(Boolean)).toBe(verdicts[i]);
    if (guessCell(c, seen, keyHits) === truth[i]) fromKeys++;
    if (guessCell(c, [verdicts[i]!], verdictOf) === truth[i]) fromVerdicts++;
  });
  return { keys: fromKeys / N, verdicts: fromVerdicts / N };
}

describe("attack: the bank reads which band grid matched a verification claim, not just the claim's verdict", () => {
  it('positive control: with a key per grid, the per-key hits name the cell far more often than the verdicts', async () => {
    leaky.on = true;
    try {
      const rate = await attack();
      // Measured 52/60 cells named from the keys, 16/60 from the verdicts.
      expect(rate.verdicts).toBeLessThan(0.5);
      expect(rate.keys).toBeGreaterThan(0.75);
    } finally {
      leaky.on = false;
    }
  }, 60_000);

  it('real protocol: one key per claim, whose hit tells the bank no more than the verdict', async () => {
    const rate = await attack();
    // Measured 28/60 both ways (the verdict's bit: the claim's band is wider than one cell, narrower than three).
    expect(rate.keys).toBe(rate.verdicts);
    expect(rate.verdicts).toBeLessThan(0.6);
  }, 60_000);
});
