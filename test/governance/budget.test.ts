/**
 * The agency's per-partner daily budget ledger (src/governance/budget.ts) on its own: charges
 * up to the budget and not past it, the refusal's rule, wording and retry time, the new UTC
 * day, a partner named by its key id or its explicit id, and the rebuild from a real audit
 * log (today's answers only, refusals and other partners' entries not counted).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/governance/audit.ts';
import { PartnerBudgets } from '../../src/governance/budget.ts';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-budget-'));

async function policy(budget = 'evaluationsPerDay: 10') {
  const at = mkdtempSync(join(dir, 'policy-'));
  const bank = generateKeyPair();
  await saveKeyPair(join(at, 'bank-gov'), bank);
  const text = `party: tax-bureau
fields: { staff: internal }
purposes:
  loan-verification: { fields: [staff] }
partners:
  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [loan-verification], ${budget} }
  - { keyId: ${'ab'.repeat(16)}, purposes: [loan-verification] }
`;
  const file = join(at, 'policy.yaml');
  writeFileSync(file, text);
  return { policy: await parsePolicy(text, file), bankKeyId: bank.keyId };
}

/** A clock the test moves. */
function clockAt(iso: string) {
  let now = new Date(iso);
  return { clock: () => now, set: (t: string) => (now = new Date(t)) };
}

describe('partner daily budgets', () => {
  it('charges up to the budget, refuses past it without charging, and renews at 00:00 UTC', async () => {
    const { policy: p, bankKeyId } = await policy();
    const time = clockAt('2026-03-04T23:59:00.000Z');
    const budgets = new PartnerBudgets(p, time.clock);
    expect(budgets.charge('bank', 6, 'call 1')).toEqual({ ok: true });
    // The same partner by its key id: one budget.
    expect(budgets.charge(bankKeyId, 4, 'call 2')).toEqual({ ok: true });
    expect(budgets.spent('bank')).toBe(10);
    const refused = budgets.charge('bank', 1, 'call 3');
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused).toMatchObject({ budget: 10, spent: 10 });
    expect(refused.refusal).toMatchObject({ code: 'E_POLICY_REFUSED', rule: 'partner.daily-budget', retryAfterSeconds: 60 });
    expect(refused.refusal.message).toBe('refused by policy rule partner.daily-budget (retry after 60 s): partner bank has had 10 of its 10 evaluations today (2026-03-04 UTC); call 3 would take 1 more');
    expect(refused.refusal.hint).toMatch(/retry after 60 s/);
    expect(budgets.spent('bank')).toBe(10);
    // Nothing left: even an opening (count 0) is refused; with something left it is not.
    expect(budgets.charge('bank', 0, 'a new session').ok).toBe(false);
    // A partner without a budget is never refused; an unknown name has none either.
    expect(budgets.charge('ab'.repeat(16), 1_000_000, 'call').ok).toBe(true);
    expect(budgets.charge('stranger', 5, 'call').ok).toBe(true);
    time.set('2026-03-05T00:00:00.000Z');
    expect(budgets.spent('bank')).toBe(0);
    expect(budgets.charge('bank', 0, 'a new session').ok).toBe(true);
    expect(budgets.charge('bank', 10, 'call').ok).toBe(true);
    const next = budgets.charge('bank', 1, 'call');
    expect(next.ok ? undefined : next.refusal.retryAfterSeconds).toBe(86_400);
    expect(() => budgets.charge('bank', -1, 'call')).toThrow(/whole number/);
    expect(() => budgets.charge('bank', 1.5, 'call')).toThrow(/whole number/);
  });

  it("is rebuilt from the audit log: today's answered entries count, refusals, other days and other partners do not", async () => {
    const { policy: p, bankKeyId } = await policy('evaluationsPerDay: 100');
    const time = clockAt('2026-03-04T10:00:00.000Z');
    const file = join(mkdtempSync(join(dir, 'log-')), 'agency.jsonl');
    const audit = await AuditLog.open(file, { party: 'tax-bureau', key: generateKeyPair(), clock: time.clock });
    time.set('2026-03-03T23:59:59.000Z');
    await audit.append('verify.answered', { session: 's0', partner: 'bank', purpose: 'loan-verification', call: 1, batch: 0, evaluations: 50, last: true });
    time.set('2026-03-04T08:00:00.000Z');
    await audit.append('verify.answered', { session: 's1', partner: 'bank', purpose: 'loan-verification', call: 1, batch: 0, evaluations: 30, last: true });
    await audit.append('lookup.session', { session: 's2', partner: bankKeyId, purpose: 'loan-verification', call: 1, batch: 0, evaluations: 7, last: true });
    await audit.append('lookup.answered', { partner: 'bank', purpose: 'loan-verification', fields: ['staff'], banded: [], withheld: [], queried: 5, answered: 4, consentExcluded: 1, enterprises: [] });
    await audit.append('lookup.refused', { session: 's1', partner: 'bank', purpose: 'loan-verification', mode: 'verify', rule: 'partner.daily-budget', asked: 90, spent: 42, budget: 100 });
    await audit.append('verify.answered', { session: 's3', partner: 'ab'.repeat(16), purpose: 'loan-verification', call: 1, batch: 0, evaluations: 1000, last: true });
    await audit.append('verify.prepared', { session: 's1', partner: 'bank', purpose: 'loan-verification', tags: 500 });
    time.set('2026-03-04T12:00:00.000Z');
    const rebuilt = await PartnerBudgets.fromAuditLog(p, file, time.clock);
    expect(rebuilt.spent('bank')).toBe(30 + 7 + 5);
    expect(rebuilt.charge('bank', 58, 'call').ok).toBe(true);
    expect(rebuilt.charge('bank', 1, 'call').ok).toBe(false);
    // The next day, the same log counts nothing of today's.
    time.set('2026-03-05T00:00:01.000Z');
    expect((await PartnerBudgets.fromAuditLog(p, file, time.clock)).spent('bank')).toBe(0);
  });

  it('a policy budget must be a whole number of evaluations, at least 1', async () => {
    for (const bad of ['evaluationsPerDay: 0', 'evaluationsPerDay: 2.5', 'evaluationsPerDay: many']) {
      await expect(policy(bad)).rejects.toMatchObject({ code: 'E_POLICY_INVALID', field: 'partners[0].evaluationsPerDay', message: expect.stringMatching(/whole number of evaluations, at least 1/) });
    }
    expect(PartnerBudgets.anyIn((await policy()).policy)).toBe(true);
    expect(PartnerBudgets.anyIn((await policy('sensitiveFields: []')).policy)).toBe(false);
  });
});
