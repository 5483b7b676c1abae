/**
 * Attack: telling which enterprises an agency holds, without their consent, by asking only
 * for fields its policy withholds (the bank's view, identified and blind lookup). Consent is
 * given for fields, and a call that asks for none the policy exposes has no field for a token
 * to cover; the agency used to wave consent through for such a call and answer it anyway.
 *
 * Its view: every frame of the session. Success measures: identified, pairs of calls (an
 * enterprise held without consent, one not held) whose `lookup.reply` differ (chance: none);
 * blind, the records in the tag set (`lookup.ready` count) beyond the consenting ones, each
 * an enterprise whose membership the bank can then test with the OPRF (chance: none).
 *
 * Positive control: the agency as it was (exposures computed field by field, nothing refused
 * when none is exposed, consent skipped when no field is permitted) tells every pair and puts
 * the whole register in the tag set. Real protocol: the session is refused before any call.
 */
import { describe, expect, it, vi } from 'vitest';
import { issueConsent } from '../../src/governance/consent.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import type { LookupMode } from '../../src/jobs/lookup.ts';
import { uscc } from '../helpers/ids.ts';
import { openSession, PURPOSE, type Register } from './lookup-fixture.ts';

/** The leaky variant: the agency's exposure and consent rules before this attack. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/lookup/exposure.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/exposure.ts')>();
  return {
    ...real,
    fieldExposures: (...args: Parameters<typeof real.fieldExposures>) => {
      try {
        return real.fieldExposures(...args);
      } catch (e) {
        // Field by field, a withheld field was answered empty; a call of withheld fields only was not refused.
        if (leaky.on && (e as { rule?: string }).rule === 'field.not-exposed') return args[1].fields.map(() => 'withheld' as const);
        throw e;
      }
    },
    consented: (...args: Parameters<typeof real.consented>) => {
      const [, , permitted, ids] = args;
      if (leaky.on && permitted.length === 0) return { allowed: ids.map(() => true), excluded: 0 };
      return real.consented(...args);
    },
  };
});

const N = 12;
const ids = Array.from({ length: N }, (_, i) => uscc(131_000 + i));
const register: Register = { ids, fields: { vat_paid_wan: ids.map((_, i) => 4_000 + 17.5 * i), tax_credit_grade: ids.map((_, i) => i % 4) } };
const consenting = ids.filter((_, i) => i % 2 === 0);
const refusing = ids.filter((_, i) => i % 2 === 1);
const unheld = refusing.map((_, i) => uscc(132_000 + i));
const platform = generateKeyPair();
const tokens = consenting.map((enterprise) =>
  issueConsent(platform, { enterprise, partners: ['bank'], purposes: [PURPOSE], fields: ['vat_paid_wan'], notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') }),
);
// The tax bureau exposes vat_paid_wan for the purpose and withholds its credit grade.
const policyText = `party: tax-bureau
fields: { vat_paid_wan: internal, tax_credit_grade: internal }
purposes:
  ${PURPOSE}:
    fields: [vat_paid_wan]
    consentRequired: true
partners:
  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [${PURPOSE}] }
`;

async function policy() {
  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-withheld-'));
  await saveKeyPair(join(dir, 'bank-gov'), generateKeyPair());
  writeFileSync(join(dir, 'policy.yaml'), policyText);
  return parsePolicy(policyText, join(dir, 'policy.yaml'));
}

async function open(mode: LookupMode) {
  return openSession(register, await policy(), mode, [{ field: 'tax_credit_grade', tolerance: undefined }], { consent: { tokens, trustedIssuers: [platform], revoked: new Set() } });
}

/** Identified: pairs (held without consent, not held) whose replies differ. */
async function identified(): Promise<number> {
  const { session, served, frames } = await open('identified');
  let told = 0;
  for (let k = 0; k < refusing.length; k++) {
    await session.lookup([refusing[k]!]);
    await session.lookup([unheld[k]!]);
    const replies = frames.filter((f) => f.message.t === 'lookup.reply').slice(-2);
    if (JSON.stringify(replies[0]!.message) !== JSON.stringify(replies[1]!.message)) told++;
  }
  await session.close();
  await served;
  return told;
}

/** Blind: records in the tag set beyond the consenting enterprises. */
async function blind(): Promise<number> {
  const { session, served, frames } = await open('blind');
  const ready = frames.find((f) => f.message.t === 'lookup.ready')!.message as unknown as { count: number };
  await session.close();
  await served;
  return ready.count - consenting.length;
}

describe('attack: the bank learns whom the agency holds by asking only for withheld fields', () => {
  it('positive control: the agency as it was tells every held enterprise without consent from one not held, and lists them all in a blind tag set', async () => {
    leaky.on = true;
    try {
      expect(await identified()).toBe(refusing.length);
      expect(await blind()).toBe(refusing.length);
    } finally {
      leaky.on = false;
    }
  }, 60_000);

  it('the real agency refuses such a session before any call, in both modes, naming the rule and what to ask for', async () => {
    for (const mode of ['identified', 'blind'] as const) {
      await expect(open(mode), mode).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', rule: 'field.not-exposed', message: expect.stringMatching(/none of tax_credit_grade is exposed .*exposed: vat_paid_wan/) });
    }
  }, 60_000);
});
