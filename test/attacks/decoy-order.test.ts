/**
 * Attack: the real enterprise by its place among its decoys (an agency's view). The bank
 * asks about one enterprise with d decoys; the agency is told which of its own records to
 * score, in the bank's slot order, and returns its partial scores in that order. Decoy
 * peeling (decoy-peeling.test.ts) intersects the sets; this attack reads the order within
 * one request instead: the bank builds the slots from the real enterprise, then its decoys.
 * Success measure: over requests about different enterprises, how often the first record
 * it is asked to score is the real one (chance: one in the number of records it scores,
 * about d + 1 where it holds the decoys).
 *
 * Positive control: slots sent in the order the bank built them (the slot shuffle replaced
 * by the identity here) give the real enterprise away in every request. Real protocol: the
 * slots go out in a uniformly random order (`securePermutation`), and the first record is
 * the real one about as often as any other.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { openSession, trainFixture, type ScoringFixture } from './scoring-fixture.ts';

/** The agency's view: the IDs of the records it scored, per request, in the order it was asked. */
const taxView = vi.hoisted(() => [] as string[][]);
vi.mock('../../src/score/apply.ts', async (importOriginal) => (await import('./agency-view.ts')).recordingPartialScores(importOriginal, 'tax', (ids) => taxView.push(ids)));

/** The leaky variant: every permutation the identity, so slots keep the order they were built in. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/util/secure-shuffle.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/util/secure-shuffle.ts')>();
  return { ...real, securePermutation: (n: number) => (leaky.on ? Uint32Array.from({ length: n }, (_, i) => i) : real.securePermutation(n)) };
});

const D = 5;
const REQUESTS = 30;
let fixture: ScoringFixture;
let targets: string[];

beforeAll(async () => {
  fixture = await trainFixture('attack-decoy-order');
  // Enterprises both agencies hold, so the tax bureau scores each and no single-holder rule interferes.
  const social = new Set(fixture.social.ids);
  const bank = new Set(fixture.bank.ids);
  targets = fixture.tax.ids.filter((id) => social.has(id) && bank.has(id)).filter((_, i) => i % 37 === 0).slice(0, REQUESTS);
}, 120_000);

/** The attack: the share of requests whose first record to score is the real enterprise, and the chance level of that guess. */
async function attack(): Promise<{ hits: number; chance: number }> {
  taxView.length = 0;
  const s = await openSession(fixture, { decoyKey: createHash('sha256').update('attack-decoy-order').digest() });
  for (const target of targets) expect((await s.score([target], { decoys: D }))[0]).toMatchObject({ id: target, status: 'scored' });
  await s.close();
  expect(taxView).toHaveLength(REQUESTS);
  taxView.forEach((asked, k) => expect(asked).toContain(targets[k]));
  return {
    hits: taxView.filter((asked, k) => asked[0] === targets[k]).length / REQUESTS,
    chance: taxView.reduce((s, asked) => s + 1 / asked.length, 0) / REQUESTS,
  };
}

describe('attack: the agency reads the real enterprise off the order of its decoys', () => {
  it('positive control: slots in the order they were built put the real one first every time', async () => {
    leaky.on = true;
    try {
      const { hits, chance } = await attack();
      expect(chance).toBeLessThan(0.35);
      expect(hits).toBe(1);
    } finally {
      leaky.on = false;
    }
  }, 120_000);

  it('with the slots shuffled, the first record is the real one at chance', async () => {
    const { hits, chance } = await attack();
    expect(chance).toBeLessThan(0.35);
    expect(hits).toBeLessThan(chance + 0.3);
  }, 120_000);
});
