/**
 * A query for an ID outside the bank's book (anyone who can submit queries, e.g. through
 * the bank's HTTP API): it must not fail the whole request — the other enterprises are
 * scored — and no answer or error may show the server's file paths.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uscc } from '../helpers/ids.ts';
import { SME, openSession, trainFixture, type ScoringFixture } from './scoring-fixture.ts';

let fixture: ScoringFixture;
beforeAll(async () => {
  fixture = await trainFixture('attack-unknown-id');
}, 120_000);

describe("IDs outside the bank's book", () => {
  it('are answered per ID as unknown, the rest of the request scored, and nothing names a server path', async () => {
    const s = await openSession(fixture);
    const social = new Set(fixture.social.ids);
    const tax = new Set(fixture.tax.ids);
    const known = fixture.bank.ids.filter((id) => tax.has(id) && social.has(id)).slice(0, 2);
    const outside = uscc(987_654);
    const scores = await s.score([known[0]!, outside, known[1]!]);
    const malformed = await s.score(['91350100M000100Y44']).catch((e: Error) => e);
    await s.close();
    expect(scores.map((a) => a.status)).toEqual(['scored', 'unknown', 'scored']);
    expect(scores[1]).toMatchObject({ id: outside, code: 'E_SCORE_REFUSED', rule: 'id.unknown' });
    expect(malformed).toMatchObject({ code: 'E_OPTION_INVALID' });
    for (const text of [JSON.stringify(scores), (malformed as Error).message]) {
      expect(text).not.toContain(SME);
      expect(text).not.toMatch(/\.csv|\/[a-z]+\//i);
    }
  }, 120_000);
});
