/**
 * An agency ends the lookup sessions banks open at its limits (config `lookup.maxSessionSeconds`,
 * `lookup.maxSessionCalls`), between real party services over mutual TLS: the agency logs
 * each end with its reason, and the bank's next call, sent on the session the agency ended,
 * succeeds on a new one, which sees the register as it is then (what the limit is for:
 * register updates, consent and policy reach a long-lived bank only through new sessions).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, loadPublicKey, saveKeyPair } from '../../src/governance/keys.ts';
import { verifyAuditLog } from '../../src/governance/audit.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';
import { uscc } from '../helpers/ids.ts';
import { auditEntries, loopbackConfig } from '../helpers/loopback-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-service-expiry-'));
const ids = Array.from({ length: 12 }, (_, i) => uscc(7600 + i));
const MAX_SECONDS = 2;
const MAX_CALLS = 3;
const auditFile = join(dir, 'tax-bureau.audit.jsonl');
const common = { agency: 'tax-bureau', table: 'register', purpose: 'loan-verification' };

let tax: PartyService;
let bank: PartyService;
const agencyLog: string[] = [];

const writeRegister = (vat: (i: number) => number) => writeFileSync(join(dir, 'register.csv'), 'uscc,vat_paid_wan\n' + ids.map((id, i) => `${id},${vat(i)}`).join('\n') + '\n');

const entries = () => auditEntries(auditFile);

/** The sessions the agency served, by the first audit entry naming each. */
const sessionsSeen = () => [...new Set(entries().flatMap((e) => (typeof e.details.session === 'string' && (e.type === 'lookup.session' || e.type === 'lookup.expired') ? [e.details.session] : [])))];


beforeAll(async () => {
  for (const name of ['bank', 'tax-bureau']) await writePartyIdentity(dir, await createPartyIdentity({ name }));
  await saveKeyPair(join(dir, 'bank-gov'), generateKeyPair());
  await saveKeyPair(join(dir, 'tax-gov'), generateKeyPair());
  writeRegister((i) => 1000 + i);
  writeFileSync(
    join(dir, 'tax-policy.yaml'),
    `party: tax-bureau
fields: { vat_paid_wan: internal }
purposes:
  loan-verification:
    fields: [vat_paid_wan]
    consentRequired: false
partners:
  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [loan-verification] }
`,
  );
  writeFileSync(
    join(dir, 'tax-bureau.json'),
    JSON.stringify(
      loopbackConfig('tax-bureau', 'features', {
        tables: { register: { file: 'register.csv', id: 'uscc' } },
        governance: { institution: 'tax-bureau', policy: 'tax-policy.yaml', audit: 'tax-bureau.audit.jsonl', key: 'tax-gov.key' },
        lookup: { maxSessionSeconds: MAX_SECONDS, maxSessionCalls: MAX_CALLS },
      }),
    ),
  );
  tax = await startPartyService(await loadPartyConfig(join(dir, 'tax-bureau.json')), (line) => agencyLog.push(line));
  writeFileSync(join(dir, 'bank.json'), JSON.stringify(loopbackConfig('bank', 'label', { partners: { 'tax-bureau': `127.0.0.1:${tax.tlsPort}` }, tables: {} })));
  bank = await startPartyService(await loadPartyConfig(join(dir, 'bank.json')), () => {});
}, 60_000);

afterAll(async () => {
  await bank?.close();
  await tax?.close();
});

const blindLookup = (asked: readonly number[]) => bank.lookup({ ...common, fields: ['vat_paid_wan'], ids: asked.map((i) => ids[i]!), blind: true });

describe('lookup sessions end at the agency’s limits, and the bank reopens them', () => {
  it('ends a session after maxSessionCalls calls: the next call succeeds on a new session, and the end is in the agency’s log with its reason', async () => {
    for (let call = 0; call < MAX_CALLS; call++) {
      const { rows } = await blindLookup([call]);
      expect(rows[0]!.values.vat_paid_wan).toBe(String(1000 + call));
    }
    expect(sessionsSeen()).toHaveLength(1);
    // The agency ends the session once its third call is answered; the bank learns it when it sends the fourth.
    const { rows } = await blindLookup([3, 4]);
    expect(rows.map((r) => r.values.vat_paid_wan)).toEqual(['1003', '1004']);
    const expired = entries().filter((e) => e.type === 'lookup.expired');
    expect(expired).toHaveLength(1);
    expect(expired[0]!.details).toMatchObject({ partner: 'bank', mode: 'blind', calls: MAX_CALLS, session: sessionsSeen()[0] });
    expect(String(expired[0]!.details.reason)).toContain('lookup.maxSessionCalls');
    expect(sessionsSeen()).toHaveLength(2);
  }, 60_000);

  it('ends an idle session at maxSessionSeconds: a call after that succeeds on a new session that reads the register as it is now', async () => {
    const before = entries().filter((e) => e.type === 'lookup.expired').length;
    // The register changes while the bank's session is open: the open session still answers from the tags it was given.
    writeRegister((i) => 2000 + i);
    const stale = await blindLookup([5]);
    expect(stale.rows[0]!.values.vat_paid_wan).toBe('1005');
    await sleep(MAX_SECONDS * 1000 + 500);
    const ended = entries().filter((e) => e.type === 'lookup.expired').slice(before);
    expect(ended).toHaveLength(1);
    expect(String(ended[0]!.details.reason)).toContain(`maximum session age of ${MAX_SECONDS} s (lookup.maxSessionSeconds)`);
    expect(agencyLog.some((l) => l.includes(`lookup session ${String(ended[0]!.details.session)}`) && l.includes('lookup.maxSessionSeconds'))).toBe(true);

    const fresh = await blindLookup([5, 6]);
    expect(fresh.rows.map((r) => r.values.vat_paid_wan)).toEqual(['2005', '2006']);
    expect(sessionsSeen()).toHaveLength(3);
    expect((await verifyAuditLog(auditFile, (await loadPublicKey(join(dir, 'tax-gov.pub'))).publicKey)).ok).toBe(true);
  }, 60_000);

  it('refuses a limit that is not a positive number, naming the config key', async () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(loopbackConfig('tax-bureau', 'features', { tables: {}, lookup: { maxSessionSeconds: 0 } })));
    await expect(loadPartyConfig(join(dir, 'bad.json'))).rejects.toMatchObject({ code: 'E_JOB_INVALID', field: 'lookup.maxSessionSeconds' });
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(loopbackConfig('tax-bureau', 'features', { tables: {}, lookup: { maxSessionCalls: 1.5 } })));
    await expect(loadPartyConfig(join(dir, 'bad.json'))).rejects.toMatchObject({ code: 'E_JOB_INVALID', field: 'lookup.maxSessionCalls' });
  });
});
