/**
 * Attack: consent for another partner (data holder's view).
 *
 * An enterprise authorised the tax bureau only. The bank runs a job with the tax bureau
 * and the social insurance fund, so the enterprise's row would be aligned and modelled
 * with social-insurance data it never agreed to share. Success measure: the row is
 * admitted into the job.
 *
 * Positive control: a leaky gate, kept only here, that accepts a token naming any one of
 * the job's institutions (the rule jinqiao applied before) admits the row. The real gate
 * must not, on the bank's side (whose partners are both agencies) nor on an agency's side
 * (whose only message partner is the bank, but whose row joins an alignment with the
 * other agency).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFeatureTable } from '../../src/data/table.ts';
import { issueConsent, verifyConsent } from '../../src/governance/consent.ts';
import { admitJob, type PartyGovernance } from '../../src/governance/gate.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import { normaliseId } from '../../src/ids/normalise.ts';
import { uscc } from '../helpers/ids.ts';

const platform = generateKeyPair();
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-consent-'));
const DAY = 86_400_000;
const FIELDS = ['loan_amount'];
const enterprise = uscc(7001);
const everyone = uscc(7002);

function token(id: string, partners: string[]) {
  const now = Date.now();
  return issueConsent(platform, { enterprise: id, partners, purposes: ['credit-modeling'], fields: FIELDS, notBefore: new Date(now - DAY), notAfter: new Date(now + DAY) });
}
const tokens = [token(enterprise, ['tax-bureau']), token(everyone, ['tax-bureau', 'social-insurance', 'bank-of-example'])];
const consent = { tokens, trustedIssuers: [platform], revoked: new Set<string>() };

/** A policy that admits the named partners for credit-modeling, with consent required. */
function policy(party: string, partners: readonly string[]) {
  const entries = partners.map((id) => `  - { id: ${id}, publicKey: ${Buffer.from(generateKeyPair().publicKey).toString('hex')}, purposes: [credit-modeling] }`);
  return parsePolicy(`party: ${party}\nfields: { loan_amount: internal }\npurposes:\n  credit-modeling: { fields: [loan_amount], consentRequired: true }\npartners:\n${entries.join('\n')}\n`, join(dir, `${party}.yaml`));
}

async function table() {
  const file = join(dir, 'book.csv');
  writeFileSync(file, `uscc,loan_amount\n${enterprise},120\n${everyone},80\n`);
  return loadFeatureTable(file, { idColumn: 'uscc' });
}

/** The leaky rule, kept only in this test: a token naming any institution of the job admits the row. */
function leakyAdmits(id: string, institutions: readonly string[]): boolean {
  const target = normaliseId(id, 'uscc');
  return tokens.some((t) => t.enterprise === (target.ok ? target.id : '') && institutions.some((p) => verifyConsent(t, { ...consent, now: new Date(), partners: [p], purpose: 'credit-modeling', fields: FIELDS }).valid));
}

describe('attack: consent for another partner', () => {
  it('positive control: a gate accepting a token for any partner admits the row', () => {
    expect(leakyAdmits(enterprise, ['tax-bureau', 'social-insurance'])).toBe(true);
  });

  it("the bank's gate does not admit a row whose token names only one of the job's agencies", async () => {
    const bank: PartyGovernance = { institution: 'bank-of-example', consent, policy: await policy('bank-of-example', ['tax-bureau', 'social-insurance']) };
    const gated = await admitJob(bank, await table(), { jobId: 'attack-consent', purpose: 'credit-modeling', partners: ['tax-bureau', 'social-insurance'], fields: FIELDS });
    expect(gated.table.ids).toEqual([everyone]);
    expect(gated.excluded).toBe(1);
  });

  it("an agency's gate counts the other agencies of the job, not only the bank it talks to", async () => {
    const tax: PartyGovernance = { institution: 'tax-bureau', consent: { ...consent, tokens: [token(enterprise, ['bank-of-example']), tokens[1]!] }, policy: await policy('tax-bureau', ['bank-of-example']) };
    const alone = await admitJob(tax, await table(), { jobId: 'attack-consent-1', purpose: 'credit-modeling', partners: ['bank-of-example'], fields: FIELDS });
    expect(alone.table.ids).toEqual([enterprise, everyone]);
    const withSocial = await admitJob(tax, await table(), { jobId: 'attack-consent-2', purpose: 'credit-modeling', partners: ['bank-of-example'], participants: ['bank-of-example', 'social-insurance'], fields: FIELDS });
    expect(withSocial.table.ids).toEqual([everyone]);
  });
});
