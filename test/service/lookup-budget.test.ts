/**
 * A partner's daily budget at an agency (policy `evaluationsPerDay`, src/governance/budget.ts),
 * between real party services over mutual TLS: a tax bureau whose policy gives the bank 20
 * answers a day and bank-b 12, the bank spending its budget over verify, identified and
 * blind calls in several sessions. The bank gets every answer up to the budget and exactly
 * that many (the agency's audit log sums to it); the batch or request that would cross it is
 * refused with rule partner.daily-budget before it is evaluated, the refusal is in the
 * agency's audit log, and the bank's API answers it 429 with Retry-After until the next
 * 00:00 UTC. bank-b is unaffected. After a restart of the agency (and of the banks) the
 * counts are rebuilt from the audit log: the bank is still refused, and bank-b has exactly
 * its remainder left.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, loadPublicKey, saveKeyPair } from '../../src/governance/keys.ts';
import { verifyAuditLog } from '../../src/governance/audit.ts';
import { buildApi } from '../../src/service/api/server.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';
import { uscc } from '../helpers/ids.ts';
import { auditEntries, loopbackConfig } from '../helpers/loopback-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-service-budget-'));
const N = 20;
const ids = Array.from({ length: N }, (_, i) => uscc(7300 + i));
const vat = ids.map((_, i) => 1_234_567.25 + i * 1_001.5);
const staff = ids.map((_, i) => 10_000_000 + i * 7919);
const BANK_BUDGET = 14;
const BANK_B_BUDGET = 8;
const TOKEN = 'budget-test-token-0123456789';
const auditFile = join(dir, 'tax-bureau.audit.jsonl');
const common = { agency: 'tax-bureau', table: 'register', purpose: 'loan-verification' };
// Two fields, one with a tolerance: every claim takes one key, so an enterprise's two claims take 2 evaluations.
const verifyFields = [
  { field: 'vat_paid_wan', tolerance: 0.1 },
  { field: 'staff', tolerance: undefined },
];
const claimsOf = (asked: readonly number[]) => asked.flatMap((i) => [
  { id: ids[i]!, field: 'vat_paid_wan', value: vat[i]! },
  { id: ids[i]!, field: 'staff', value: staff[i]! + (i % 2) },
]);

let tax: PartyService;
const banks = new Map<string, PartyService>();

const base = (name: string, role: string, extra: Record<string, unknown>) => loopbackConfig(name, role, extra, ['bank', 'bank-b', 'tax-bureau']);

async function startAgency(): Promise<void> {
  tax = await startPartyService(await loadPartyConfig(join(dir, 'tax-bureau.json')), () => {});
}

async function startBanks(): Promise<void> {
  for (const name of ['bank', 'bank-b']) {
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(base(name, 'label', { partners: { 'tax-bureau': `127.0.0.1:${tax.tlsPort}` }, tables: {} })));
    banks.set(name, await startPartyService(await loadPartyConfig(join(dir, `${name}.json`)), () => {}));
  }
}

const bank = () => banks.get('bank')!;
const bankB = () => banks.get('bank-b')!;

const entries = () => auditEntries(auditFile);

/** Answers the agency's log records as given to `partner`: evaluations (verify, blind), enterprises queried (identified). */
const answeredTo = (partner: string) =>
  entries()
    .filter((e) => e.details.partner === partner)
    .reduce((n, e) => n + (e.type === 'verify.answered' || e.type === 'lookup.session' ? Number(e.details.evaluations) : e.type === 'lookup.answered' ? Number(e.details.queried) : 0), 0);

/** Seconds from now to the next 00:00 UTC. */
function toMidnight(): number {
  const now = new Date();
  return Math.ceil((Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime()) / 1000);
}

const budgetRefusal = { code: 'E_POLICY_REFUSED', rule: 'partner.daily-budget' };

/** `POST /v1/verify` on `service`'s real API (its error handling included), in-process. */
async function verifyOverApi(service: PartyService, asked: readonly number[]) {
  const app = await buildApi(service, { token: TOKEN });
  try {
    return await app.inject({
      method: 'POST',
      url: '/v1/verify',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { ...common, fields: [{ name: 'vat_paid_wan', tolerance: 0.1 }, { name: 'staff' }], claims: claimsOf(asked) },
    });
  } finally {
    await app.close();
  }
}

function expectTooMany(answer: Awaited<ReturnType<typeof verifyOverApi>>): void {
  expect(answer.statusCode, answer.body).toBe(429);
  expect(answer.json().error.code).toBe('E_POLICY_REFUSED');
  expect(answer.json().error.message).toContain('partner.daily-budget');
  const retry = Number(answer.headers['retry-after']);
  expect(retry).toBeGreaterThanOrEqual(toMidnight() - 30);
  expect(retry).toBeLessThanOrEqual(toMidnight() + 1);
}

beforeAll(async () => {
  for (const name of ['bank', 'bank-b', 'tax-bureau']) await writePartyIdentity(dir, await createPartyIdentity({ name }));
  await saveKeyPair(join(dir, 'bank-gov'), generateKeyPair());
  await saveKeyPair(join(dir, 'bankb-gov'), generateKeyPair());
  await saveKeyPair(join(dir, 'tax-gov'), generateKeyPair());
  writeFileSync(join(dir, 'register.csv'), 'uscc,vat_paid_wan,staff\n' + ids.map((id, i) => `${id},${vat[i]},${staff[i]}`).join('\n') + '\n');
  writeFileSync(
    join(dir, 'tax-policy.yaml'),
    `party: tax-bureau
fields: { vat_paid_wan: internal, staff: internal }
purposes:
  loan-verification:
    fields: [vat_paid_wan, staff]
    consentRequired: false
partners:
  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [loan-verification], evaluationsPerDay: ${BANK_BUDGET} }
  - { id: bank-b, publicKeyFile: bankb-gov.pub, purposes: [loan-verification], evaluationsPerDay: ${BANK_B_BUDGET} }
`,
  );
  writeFileSync(
    join(dir, 'tax-bureau.json'),
    JSON.stringify(
      base('tax-bureau', 'features', {
        tables: { register: { file: 'register.csv', id: 'uscc' } },
        governance: { institution: 'tax-bureau', policy: 'tax-policy.yaml', audit: 'tax-bureau.audit.jsonl', key: 'tax-gov.key' },
      }),
    ),
  );
  await startAgency();
  await startBanks();
}, 60_000);

afterAll(async () => {
  for (const b of banks.values()) await b.close();
  await tax?.close();
});

describe("a partner's daily budget at an agency, through the party services", () => {
  it('answers up to the budget across modes and sessions, then refuses the call that would cross it, before evaluating it; another partner is unaffected', async () => {
    const { verdicts } = await bank().verify({ ...common, fields: verifyFields, claims: claimsOf([0, 1]) });
    expect(verdicts.map((v) => v.consistent)).toEqual([true, true, true, false]);
    expect(answeredTo('bank')).toBe(4);
    const identified = await bank().lookup({ ...common, fields: ['vat_paid_wan'], ids: [ids[2]!, ids[3]!, ids[4]!] });
    expect(identified.rows.map((r) => r.values.vat_paid_wan)).toEqual([String(vat[2]), String(vat[3]), String(vat[4])]);
    const blind = await bank().lookup({ ...common, fields: ['vat_paid_wan'], ids: [ids[5]!, ids[6]!, ids[7]!], blind: true });
    expect(blind.rows.map((r) => r.values.vat_paid_wan)).toEqual([String(vat[5]), String(vat[6]), String(vat[7])]);
    await bank().verify({ ...common, fields: verifyFields, claims: claimsOf([8]) });
    expect(answeredTo('bank')).toBe(12);

    // 12 + 4 > 14: refused before the batch is evaluated (no answer, no answered entry), with the seconds to midnight.
    const refusal = await bank().verify({ ...common, fields: verifyFields, claims: claimsOf([9, 10]) }).catch((e: unknown) => e);
    expect(refusal).toMatchObject(budgetRefusal);
    const retry = (refusal as { retryAfterSeconds: number }).retryAfterSeconds;
    expect(retry).toBeGreaterThanOrEqual(toMidnight() - 30);
    expect(retry).toBeLessThanOrEqual(toMidnight() + 1);
    expect(answeredTo('bank')).toBe(12);

    // 12 + 2 = 14 is within it: the identified session answers; then nothing is left, in any mode.
    const last = await bank().lookup({ ...common, fields: ['staff'], ids: [ids[10]!, ids[11]!] });
    expect(last.rows.map((r) => r.values.staff)).toEqual([String(staff[10]), String(staff[11])]);
    expect(answeredTo('bank')).toBe(BANK_BUDGET);
    await expect(bank().lookup({ ...common, fields: ['staff'], ids: [ids[12]!] })).rejects.toMatchObject(budgetRefusal);
    await expect(bank().lookup({ ...common, fields: ['vat_paid_wan'], ids: [ids[12]!], blind: true })).rejects.toMatchObject(budgetRefusal);
    // A new session (the verify session ended with its refusal) is refused when it opens, before the agency prepares any tag.
    const prepared = entries().filter((e) => e.type === 'verify.prepared').length;
    expectTooMany(await verifyOverApi(bank(), [12]));
    expect(entries().filter((e) => e.type === 'verify.prepared').length).toBe(prepared);
    expect(answeredTo('bank')).toBe(BANK_BUDGET);

    // Every refusal is in the agency's log, with the rule; the log verifies.
    const refused = entries().filter((e) => e.type === 'lookup.refused');
    expect(refused.map((e) => [e.details.partner, e.details.rule, e.details.mode, e.details.asked])).toEqual([
      ['bank', 'partner.daily-budget', 'verify', 4],
      ['bank', 'partner.daily-budget', 'identified', 1],
      ['bank', 'partner.daily-budget', 'blind', 1],
      ['bank', 'partner.daily-budget', 'verify', 0],
    ]);
    expect((await verifyAuditLog(auditFile, (await loadPublicKey(join(dir, 'tax-gov.pub'))).publicKey)).ok).toBe(true);

    // bank-b's budget is its own.
    const b = await bankB().verify({ ...common, fields: verifyFields, claims: claimsOf([13, 14]) });
    expect(b.verdicts.map((v) => v.consistent)).toEqual([true, false, true, true]);
    expect(answeredTo('bank-b')).toBe(4);
  }, 120_000);

  it('after a restart of the agency the counts are rebuilt from its audit log: the bank is still refused, bank-b has exactly its remainder', async () => {
    for (const b of banks.values()) await b.close();
    banks.clear();
    await tax.close();
    await startAgency();
    await startBanks();

    await expect(bank().lookup({ ...common, fields: ['staff'], ids: [ids[15]!] })).rejects.toMatchObject(budgetRefusal);
    expectTooMany(await verifyOverApi(bank(), [15]));
    expect(answeredTo('bank')).toBe(BANK_BUDGET);

    // bank-b had 4 of 8: 4 more are answered, the next is refused.
    const rows = await bankB().lookup({ ...common, fields: ['vat_paid_wan'], ids: [ids[15]!, ids[16]!, ids[17]!, ids[18]!] });
    expect(rows.rows.every((r) => r.answered)).toBe(true);
    expect(answeredTo('bank-b')).toBe(BANK_B_BUDGET);
    await expect(bankB().lookup({ ...common, fields: ['vat_paid_wan'], ids: [ids[19]!] })).rejects.toMatchObject(budgetRefusal);
    expectTooMany(await verifyOverApi(bankB(), [19]));
  }, 120_000);
});
