/**
 * Attack: one agency's partial scores, ordered, from its drift index (the bank's view). For
 * an enterprise two agencies hold, scoring gives the bank only the sum of their partial
 * scores. But in a monitoring run each agency also sends the bank the population stability
 * index of its own partial scores against its previous run, with bins cut at the previous
 * run's quantiles — and the bank chooses both runs' sets: its loan book is its own table.
 * With a book of one enterprise P, the next run's bins are "below u(P)" and "at or above":
 * a run over one enterprise F then gives PSI ≈ 18.4 where u(F) < u(P) and 0 where not. A
 * chain of one-enterprise runs E0, E1, … reads the order of each agency's partial score
 * between neighbours, separately for each agency.
 *
 * Its view: the `agencyDrift` of each monitoring run (the `monitor.drift` messages) and the
 * books it chose. Success measure: the share of neighbours whose order of the tax bureau's
 * partial score the bank reads right. The chain is picked (by the test, from the true partial
 * scores) so that the tax bureau's order agrees with the order of the sum, all the bank should
 * learn, for half the neighbours and disagrees for the other half: whatever the bank infers
 * from sums alone is right half of the time (chance: ½).
 *
 * The leaky variant is the protocol as it was before the fix, which is still what an agency
 * gets when its policy lets the bank see its partial scores (`disclosePartialScores`): there
 * every agency sent its drift, and the attack reads the order every time. Without that
 * policy the agency keeps its drift (agency.ts), the bank sees 'withheld', and the order
 * read is the sums' (chance here).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openLocalScoringSession } from '../../src/local/scoring.ts';
import { loadModelSlice } from '../../src/lr/model.ts';
import { partialScores } from '../../src/score/apply.ts';
import type { AgencyDrift } from '../../src/score/bank.ts';
import { agencies, bankSpec, trainFixture, type ScoringFixture } from './scoring-fixture.ts';

const PAIRS = 8;
let fixture: ScoringFixture;
/** The enterprises the bank monitors, one per run, and each one's true partial scores. */
let chain: { id: string; tax: number; social: number }[];
const guesses = new Map<boolean, Promise<boolean[]>>();

beforeAll(async () => {
  fixture = await trainFixture('attack-drift');
  const [tax, social] = await Promise.all(['tax', 'social'].map((p) => loadModelSlice(join(fixture.modelDir, `model-${p}.json`))));
  const bankIds = new Set(fixture.bank.ids);
  const socialRow = new Map(fixture.social.ids.map((id, i) => [id, i]));
  // Enterprises the bank and both agencies hold: scored, and only the agencies' sum shown.
  const held = fixture.tax.ids.flatMap((id, i) => (bankIds.has(id) && socialRow.has(id) ? [{ id, taxRow: i, socialRow: socialRow.get(id)! }] : []));
  const taxScores = partialScores(tax!, fixture.tax, Uint32Array.from(held, (h) => h.taxRow));
  const socialScores = partialScores(social!, fixture.social, Uint32Array.from(held, (h) => h.socialRow));
  const candidates = held.map((h, k) => ({ id: h.id, tax: taxScores[k]!, social: socialScores[k]! }));
  // Neighbours alternate: the tax order agrees with the sum's order, then disagrees.
  chain = [candidates[0]!];
  const used = new Set([candidates[0]!.id]);
  for (let i = 1; i <= PAIRS; i++) {
    const prev = chain[i - 1]!;
    const next = candidates.find((c) => !used.has(c.id) && c.tax !== prev.tax && (c.tax < prev.tax === c.tax + c.social < prev.tax + prev.social) === (i % 2 === 1))!;
    chain.push(next);
    used.add(next.id);
  }
}, 120_000);

/**
 * The bank's runs: one monitoring session per enterprise of the chain, each with a book of
 * that enterprise alone; `disclosing`: the tax bureau's policy lets the bank see its partial
 * scores (so it sends its drift, as every agency did before the fix).
 */
async function attack(disclosing: boolean): Promise<boolean[]> {
  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-drift-'));
  const [header, ...rows] = readFileSync(bankSpec.file, 'utf8').trimEnd().split('\n');
  const rowOf = new Map(rows.map((line) => [line.slice(0, line.indexOf(',')), line]));
  let previous: Map<string, Float64Array> | undefined;
  const drifts: AgencyDrift[] = [];
  for (const [i, e] of chain.entries()) {
    const book = join(dir, `book-${i}.csv`);
    writeFileSync(book, `${header}\n${rowOf.get(e.id)!}\n`);
    const session = await openLocalScoringSession({ modelDir: fixture.modelDir, bank: { ...bankSpec, file: book }, agencies, he: 'mock', threads: 0, previousAgencyMonitoring: previous, ...(disclosing && { disclosePartialScores: ['tax'] }) });
    const run = await session.monitor();
    expect(run.scores).toMatchObject([{ id: e.id, status: 'scored' }]);
    drifts.push(run.agencyDrift.get('tax'));
    const reports = await session.close();
    // What each agency keeps for its next drift index (its own state; the CLI keeps it in --runs).
    previous = new Map([...reports].flatMap(([name, r]) => (r.monitoring ? [[name, r.monitoring] as const] : [])));
  }
  if (disclosing) expect(drifts[0]).toBeUndefined();
  else expect(new Set(drifts)).toEqual(new Set(['withheld']));
  // The bank's guess: a large drift says this run's enterprise scored below the last one;
  // without one, what the sums say (the previous enterprise's total above this one's).
  const guessBelow = drifts.slice(1).map((psi, k) => (typeof psi === 'number' ? psi > 1 : chain[k + 1]!.tax + chain[k + 1]!.social < chain[k]!.tax + chain[k]!.social));
  return guessBelow.map((below, k) => below === chain[k + 1]!.tax < chain[k]!.tax);
}

/** Each variant's attack, run once for the cases that read it. */
const readings = (disclosing: boolean): Promise<boolean[]> => {
  if (!guesses.has(disclosing)) guesses.set(disclosing, attack(disclosing));
  return guesses.get(disclosing)!;
};
const share = (right: readonly boolean[]) => right.filter(Boolean).length / right.length;

describe("attack: the bank orders one agency's partial scores by its drift index", () => {
  it('the chain is fair: from the sums alone, the order is right for half the neighbours', () => {
    const sumRight = chain.slice(1).map((e, k) => e.tax + e.social < chain[k]!.tax + chain[k]!.social === e.tax < chain[k]!.tax);
    expect(share(sumRight)).toBe(0.5);
  });

  it("positive control (the leaky variant: the agency sends its drift, as all did before the fix and a disclosing one still does): one-enterprise books read the tax bureau's order for every neighbour", async () => {
    expect(share(await readings(true))).toBe(1);
  }, 300_000);

  it("the real protocol: the drift is withheld and the bank reads no more of the tax bureau's order than the sums give", async () => {
    expect(share(await readings(false))).toBeLessThanOrEqual(0.75);
  }, 300_000);
});
