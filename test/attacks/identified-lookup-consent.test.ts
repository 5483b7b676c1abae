/**
 * Attack: reading an enterprise that gave no consent, or telling it from one the agency
 * does not hold (the bank's view, identified lookup). The bank names enterprises in
 * `lookup.request`; the tax bureau answers only those whose consent token covers this bank,
 * purpose and fields. The bank asks about enterprises it knows the agency holds but that
 * never consented, and about enterprises the agency does not hold, one per call, and
 * compares the replies.
 *
 * Its view: every `lookup.reply`. Success measures: values read for enterprises without
 * consent; pairs of calls (no consent, not held) whose replies differ, which would tell the
 * bank who refused it (chance: none differ).
 *
 * Positive control: an agency that skips the consent check answers every held enterprise,
 * and each such reply stands out from the empty one for an enterprise it does not hold.
 * Real protocol: no value of an enterprise without consent, and its reply is the very
 * message an unheld enterprise gets.
 */
import { describe, expect, it, vi } from 'vitest';
import { issueConsent } from '../../src/governance/consent.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { uscc } from '../helpers/ids.ts';
import { openSession, PURPOSE, taxPolicy, type Register } from './lookup-fixture.ts';

/** The leaky variant: the agency counts every enterprise as consenting. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/governance/consent.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/governance/consent.ts')>();
  return {
    ...real,
    filterByConsent: (...args: Parameters<typeof real.filterByConsent>) => {
      const filter = real.filterByConsent(...args);
      return leaky.on ? { ...filter, included: args[0].map((_, i) => i), excluded: 0, excludedByReason: {} } : filter;
    },
  };
});

const N = 12;
const ids = Array.from({ length: N }, (_, i) => uscc(128_000 + i));
const vat = ids.map((_, i) => 4_000 + 17.5 * i);
const staff = ids.map((_, i) => 40 + i);
const register: Register = { ids, fields: { vat_paid_wan: vat, staff, registered_capital_wan: vat } };
// Even enterprises consented to this bank for this purpose; odd ones never did.
const consenting = ids.filter((_, i) => i % 2 === 0);
const refusing = ids.filter((_, i) => i % 2 === 1);
const unheld = refusing.map((_, i) => uscc(129_000 + i));
const platform = generateKeyPair();
const tokens = consenting.map((enterprise) =>
  issueConsent(platform, { enterprise, partners: ['bank'], purposes: [PURPOSE], fields: ['vat_paid_wan', 'staff'], notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') }),
);

async function attack(): Promise<{ valuesRead: number; pairsTold: number; consentedAnswered: number }> {
  const { session, served, frames } = await openSession(
    register,
    await taxPolicy(0.25),
    'identified',
    [
      { field: 'vat_paid_wan', tolerance: undefined },
      { field: 'staff', tolerance: undefined },
    ],
    { consent: { tokens, trustedIssuers: [platform], revoked: new Set() } },
  );
  let valuesRead = 0;
  let pairsTold = 0;
  for (let k = 0; k < refusing.length; k++) {
    const [refused] = await session.lookup([refusing[k]!]);
    valuesRead += refused!.filter((v) => v !== null).length;
    await session.lookup([unheld[k]!]);
    const replies = frames.filter((f) => f.message.t === 'lookup.reply').slice(-2);
    if (JSON.stringify(replies[0]!.message) !== JSON.stringify(replies[1]!.message)) pairsTold++;
  }
  const answered = await session.lookup(consenting);
  await session.close();
  await served;
  return { valuesRead, pairsTold, consentedAnswered: answered.filter((r) => r.every((v) => v !== null)).length };
}

describe('attack: the bank reads an enterprise without consent, or tells it from one not held', () => {
  it('positive control: an agency that skips consent answers every held enterprise, and its reply stands out', async () => {
    leaky.on = true;
    try {
      const r = await attack();
      expect(r.valuesRead).toBe(refusing.length * 2);
      expect(r.pairsTold).toBe(refusing.length);
    } finally {
      leaky.on = false;
    }
  }, 60_000);

  it('the real agency answers consenting enterprises only, with the same reply for no consent as for no record', async () => {
    const r = await attack();
    expect(r.consentedAnswered).toBe(consenting.length);
    expect(r.valuesRead).toBe(0);
    expect(r.pairsTold).toBe(0);
  }, 60_000);
});
