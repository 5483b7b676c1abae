/**
 * Attack: reading which grid agreed, not just whether one did (the bank's view). A claim
 * checked within a tolerance r takes two keys, one per band grid (width W = 2·ln(1 + r),
 * offset by half a band), and the verdict is "consistent" when either key is among the
 * agency's tags. The README promises the bank one bit per claim. But the bank unblinds each
 * key's evaluation itself and looks each tag up on its own: it knows which of the two keys
 * matched. On the half-band cells h = ⌊ln v / (W/2)⌋, a consistent claim in cell h has the
 * register's value in cell h − 1, h or h + 1, and the three cells give three different
 * patterns (grid 0 only, both, grid 1 only): one claim places the value in a cell of
 * log-width ln(1 + r), where the verdict alone leaves three.
 *
 * Its view: its own claims, the tags of the session and the evaluations it unblinds (what
 * the real `BankLookupSession` computes: each input's hit, recorded as `queryTags` reports
 * it). Success measure: over claims that are all consistent, with the register's value
 * placed uniformly in one of the three cells the verdict allows, the fraction whose cell the
 * bank names (chance, from the verdict alone: ⅓).
 *
 * Calibration: naming the cell from the verdicts alone stays at ⅓. Real protocol: the per-key
 * hits name every cell — this test FAILS on the current code (a leak, not yet fixed: one key
 * per claim, on the grid where the claim lies at least a quarter band from an edge, would
 * leave the bank its verdict and nothing more).
 */
import { describe, expect, it, vi } from 'vitest';
import { uscc } from '../helpers/ids.ts';
import { bandKeys, type FieldCheck } from '../../src/lookup/bands.ts';
import { openSession, taxPolicy, type Register } from './lookup-fixture.ts';

/** What the bank's own code computes per input: the rows `queryTags` reports as hits. */
const hits = vi.hoisted(() => ({ rows: [] as number[][] }));
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
/** The register's value: uniformly in one of the three cells a consistent verdict allows. */
const truth = claims.map((c) => cellOf(c) - 1 + Math.floor(3 * rand()));
const values = truth.map((h) => valueIn(h, rand()));
const register: Register = { ids, fields: { vat_paid_wan: values, staff: values.map(() => 1), registered_capital_wan: values } };

/** The bank's guess of a value's cell from which of the claim's two keys matched. */
function cellFromKeys(claim: number, matched: readonly boolean[]): number | undefined {
  const mine = bandKeys(claim, CHECK);
  const h = cellOf(claim);
  return [h - 1, h, h + 1].find((cand) => {
    const theirs = bandKeys(valueIn(cand, 0.5), CHECK);
    return mine.every((key, j) => (key === theirs[j]) === matched[j]);
  });
}

async function attack(view: 'verdict' | 'keys'): Promise<number> {
  hits.rows.length = 0;
  const { session, served } = await openSession(register, await taxPolicy(0.25), 'verify', [CHECK]);
  const verdicts = await session.verify(ids.map((id, i) => ({ id, field: CHECK.field, value: claims[i]! })));
  await session.close();
  await served;
  expect(verdicts.every(Boolean)).toBe(true);
  expect(hits.rows).toHaveLength(1);
  const matched = new Set(hits.rows[0]);
  let named = 0;
  claims.forEach((c, i) => {
    // Inputs are the claims' keys in claim order, two each (every claim here is distinct).
    const guess = view === 'keys' ? cellFromKeys(c, [matched.has(2 * i), matched.has(2 * i + 1)]) : cellOf(c);
    if (guess === truth[i]) named++;
  });
  return named / N;
}

describe("attack: the bank reads which band grid matched a verification claim, not just the claim's verdict", () => {
  it('calibration: from the verdicts alone the bank names the cell at chance (⅓)', async () => {
    const rate = await attack('verdict');
    expect(rate).toBeGreaterThan(0.15);
    expect(rate).toBeLessThan(0.5);
  }, 60_000);

  it('real protocol: the per-key hits it computes itself tell it no more than the verdict', async () => {
    // Measured 1.0 on the current code: every cell named (see the header). Left failing on purpose.
    expect(await attack('keys')).toBeLessThan(0.5);
  }, 60_000);
});
