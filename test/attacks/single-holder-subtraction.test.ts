/**
 * Attack: single-holder subtraction in scoring (the bank's view). The bank learns each
 * scored enterprise's total z and which agencies hold it, and knows its own part u_bank.
 * For an enterprise only the tax bureau holds, z − u_bank is the tax bureau's partial
 * score. Success measure: the recovered value equals the tax bureau's secret partial score
 * (computed here in the clear from its own slice and records).
 *
 * Positive control: where the tax bureau's policy allows partial-score disclosure, the
 * attack recovers it exactly — the protocol is the same, only the permission differs.
 * Without it, the enterprise is refused by name, the tax bureau is not even asked to
 * score it, and enterprises two agencies hold are still scored.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../src/governance/audit.ts';
import type { PartyGovernance } from '../../src/governance/gate.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import { loadModelSlice } from '../../src/lr/model.ts';
import { partialScores } from '../../src/score/apply.ts';
import type { EnterpriseScore } from '../../src/score/bank.ts';
import { openSession, trainFixture, type ScoringFixture } from './scoring-fixture.ts';

const taxScored = vi.hoisted(() => new Set<string>());
vi.mock('../../src/score/apply.ts', async (importOriginal) => (await import('./agency-view.ts')).recordingPartialScores(importOriginal, 'tax', (ids) => ids.forEach((id) => taxScored.add(id))));

let fixture: ScoringFixture;
let taxOnly: string[];
let both: string;
const secret = new Map<string, number>();
const own = new Map<string, number>();

beforeAll(async () => {
  fixture = await trainFixture('attack-single-holder');
  const social = new Set(fixture.social.ids);
  const tax = new Set(fixture.tax.ids);
  taxOnly = fixture.bank.ids.filter((id) => tax.has(id) && !social.has(id)).slice(0, 5);
  both = fixture.bank.ids.find((id) => tax.has(id) && social.has(id))!;
  const [bankSlice, taxSlice] = await Promise.all(['bank', 'tax'].map((p) => loadModelSlice(join(fixture.modelDir, `model-${p}.json`))));
  for (const id of taxOnly) {
    secret.set(id, partialScores(taxSlice!, fixture.tax, Uint32Array.of(fixture.tax.ids.indexOf(id)))[0]!);
    own.set(id, partialScores(bankSlice!, fixture.bank, Uint32Array.of(fixture.bank.ids.indexOf(id)))[0]!);
  }
}, 120_000);

/** The bank's attack: z minus its own part, for each enterprise it got a z for. */
function subtract(scores: readonly EnterpriseScore[]): Map<string, number> {
  return new Map(scores.flatMap((s) => (s.z === undefined ? [] : [[s.id, s.z - own.get(s.id)!] as const])));
}

describe('attack: single-holder subtraction', () => {
  it("positive control: where the tax bureau allows disclosure, total − own part is its partial score", async () => {
    const s = await openSession(fixture, { disclosePartialScores: ['tax'] });
    const recovered = subtract(await s.score(taxOnly));
    await s.close();
    expect(recovered.size).toBe(taxOnly.length);
    // Exact up to the arbiter's rounding of masked decryptions.
    for (const id of taxOnly) expect(recovered.get(id)).toBeCloseTo(secret.get(id)!, 2);
  }, 120_000);

  it('refuses an enterprise only one non-disclosing agency holds, without asking it, and scores the rest', async () => {
    taxScored.clear();
    const s = await openSession(fixture);
    const scores = await s.score([...taxOnly, both]);
    await s.close();
    expect(subtract(scores).size).toBe(1);
    for (const [i, id] of taxOnly.entries()) {
      expect(scores[i]).toMatchObject({ id, status: 'refused', code: 'E_SCORE_REFUSED', rule: 'partial-score.single-holder', reason: expect.stringMatching(/held by tax alone/) });
      expect(scores[i]!.probability).toBeUndefined();
      expect(taxScored.has(id)).toBe(false);
    }
    expect(scores.at(-1)).toMatchObject({ id: both, status: 'scored', fallbacks: [] });
  }, 120_000);

  it("follows the holder's policy: disclosePartialScores for the purpose admits the score, its absence refuses it", async () => {
    const keys = { bank: generateKeyPair(), tax: generateKeyPair() };
    const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-policy-'));
    const policy = (disclose: string) =>
      parsePolicy(
        `party: tax-bureau\nfields: { vat_paid_wan: internal, tax_credit_grade: internal, late_filings_24m: internal }\npurposes:\n  loan-verification: { fields: [vat_paid_wan, tax_credit_grade, late_filings_24m], consentRequired: false${disclose} }\npartners:\n  - { id: bank-of-example, publicKey: ${Buffer.from(keys.bank.publicKey).toString('hex')}, purposes: [loan-verification] }\n`,
        join(dir, 'tax.yaml'),
      );
    const governed = async (disclose: string) => {
      const parties = new Map<string, PartyGovernance>([
        ['bank', { institution: 'bank-of-example' }],
        ['tax', { institution: 'tax-bureau', policy: await policy(disclose), audit: await AuditLog.open(join(dir, `tax-${disclose.length}.jsonl`), { party: 'tax-bureau', key: keys.tax }) }],
      ]);
      const s = await openSession(fixture, { governance: { purpose: 'loan-verification', parties } });
      const [answer] = await s.score([taxOnly[0]!]);
      await s.close();
      return answer!;
    };
    expect(await governed(', disclosePartialScores: true')).toMatchObject({ status: 'scored' });
    expect(await governed('')).toMatchObject({ status: 'refused', rule: 'partial-score.single-holder' });
    await expect(policy(', disclosePartialScores: yes')).rejects.toMatchObject({ code: 'E_POLICY_INVALID', message: expect.stringMatching(/disclosePartialScores.*true or false/) });
  }, 120_000);
});
