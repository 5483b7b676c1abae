/**
 * Unbalanced PSI between real party services over mutual TLS (`POST /v1/psi`): a tax bureau
 * whose config names a tag file prepared of its register once per key period (`jinqiao psi
 * prepare`, here `prepareRegister`) and its key folder. The bank's answer is exactly the
 * plain-set intersection; the bank fetches the tags once per key period and keeps them (a
 * second session, a restart of the bank: no second download, as the frames the agency sends
 * and its audit log show); a new key period is fetched again. The agency's audit log counts
 * every evaluation, its daily budget refuses a bank past it, and its policy governs who may
 * ask (the purpose granted, and no purpose that needs consent). Configs naming a missing tag
 * file, one of the wrong kind, or a key folder of another key period are refused at start.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, loadPublicKey, saveKeyPair } from '../../src/governance/keys.ts';
import { verifyAuditLog } from '../../src/governance/audit.ts';
import { readTagFileHeader, writeTagFile } from '../../src/lookup/tag-file.ts';
import { TagSet } from '../../src/lookup/tag-set.ts';
import { prepareRegister } from '../../src/lookup/unbalanced-psi.ts';
import { buildApi } from '../../src/service/api/server.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';
import { findNeedles } from '../helpers/canary.ts';
import { uscc } from '../helpers/ids.ts';
import { auditEntries, loopbackConfig } from '../helpers/loopback-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-service-psi-'));
const register = Array.from({ length: 400 }, (_, i) => uscc(8000 + i));
// 70 held (every third register ID), 50 never held, and two repeats: 122 IDs, 120 distinct (each evaluated once).
const bankIds = [...Array.from({ length: 70 }, (_, i) => register[3 * i]!), ...Array.from({ length: 50 }, (_, i) => uscc(9600 + i)), register[0]!, uscc(9600)];
const DISTINCT = 120;
const BUDGET = 2 * DISTINCT + 50;
const TOKEN = 'psi-service-test-token-0123456789';
const auditFile = join(dir, 'tax-bureau.audit.jsonl');
const call = { agency: 'tax-bureau', table: 'register', purpose: 'portfolio-screening' };

let tax: PartyService;
let bank: PartyService;
/** Bytes of `lookup.tags` frames the agency sent, and all frames the bank sent. */
let tagBytesSent = 0;
const bankFrames: Buffer[] = [];


const agencyConfig = (psi: { tags: string; key: string }) =>
  loopbackConfig('tax-bureau', 'features', {
    tables: { register: { file: 'register.csv', id: 'uscc', psi } },
    governance: { institution: 'tax-bureau', policy: 'tax-policy.yaml', audit: 'tax-bureau.audit.jsonl', key: 'tax-gov.key' },
    // One call per session: every call opens a new one, which must find the tags the bank kept.
    lookup: { maxSessionCalls: 1 },
  });

async function startAgency(psi: { tags: string; key: string }): Promise<void> {
  writeFileSync(join(dir, 'tax-bureau.json'), JSON.stringify(agencyConfig(psi)));
  tax = await startPartyService(await loadPartyConfig(join(dir, 'tax-bureau.json')), () => {}, {
    tap: (_from, _to, frame) => {
      if (decodeMessage(frame).t === 'lookup.tags') tagBytesSent += frame.byteLength;
    },
  });
}

async function startBank(): Promise<void> {
  writeFileSync(join(dir, 'bank.json'), JSON.stringify(loopbackConfig('bank', 'label', { partners: { 'tax-bureau': `127.0.0.1:${tax.tlsPort}` }, tables: {} })));
  bank = await startPartyService(await loadPartyConfig(join(dir, 'bank.json')), () => {}, { tap: (_from, _to, frame) => void bankFrames.push(Buffer.from(frame)) });
}

const entries = () => auditEntries(auditFile);
const offers = () => entries().filter((e) => e.type === 'psi.offered');
const evaluated = () => entries().filter((e) => e.type === 'psi.answered').reduce((n, e) => n + Number(e.details.evaluations), 0);
const keptCopies = () => {
  const at = join(dir, 'store-bank', 'prepared-tags', 'tax-bureau', 'register', 'psi');
  return existsSync(at) ? readdirSync(at) : [];
};

beforeAll(async () => {
  for (const name of ['bank', 'tax-bureau']) await writePartyIdentity(dir, await createPartyIdentity({ name }));
  await saveKeyPair(join(dir, 'bank-gov'), generateKeyPair());
  await saveKeyPair(join(dir, 'tax-gov'), generateKeyPair());
  writeFileSync(join(dir, 'register.csv'), 'uscc,vat_paid_wan\n' + register.map((id, i) => `${id},${1000 + i}`).join('\n') + '\n');
  await prepareRegister({ file: join(dir, 'register.csv'), idColumn: 'uscc', keyDir: join(dir, 'keys-2026q4'), backend: 'x25519', out: join(dir, 'register-2026q4.tags'), threads: 0 });
  writeFileSync(
    join(dir, 'tax-policy.yaml'),
    `party: tax-bureau
fields: { vat_paid_wan: internal }
purposes:
  portfolio-screening:
    fields: [vat_paid_wan]
    consentRequired: false
  loan-verification:
    fields: [vat_paid_wan]
    consentRequired: true
  marketing:
    fields: [vat_paid_wan]
    consentRequired: false
partners:
  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [portfolio-screening, loan-verification], evaluationsPerDay: ${BUDGET} }
`,
  );
  await startAgency({ tags: 'register-2026q4.tags', key: 'keys-2026q4' });
  await startBank();
}, 60_000);

afterAll(async () => {
  await bank?.close();
  await tax?.close();
});

/** The plain-set answer: held exactly when the register lists the ID. */
const plain = (ids: readonly string[]) => {
  const held = new Set(register);
  return ids.map((id) => ({ id, held: held.has(id) }));
};

describe('unbalanced PSI between party services', () => {
  it('answers exactly the plain-set intersection; a second call, on a new session, uses the tags the bank kept', async () => {
    const first = await bank.psi({ ...call, ids: bankIds });
    expect(first.rows).toEqual(plain(bankIds));
    expect(first.rows.filter((r) => r.held)).toHaveLength(71);
    const downloaded = tagBytesSent;
    expect(downloaded).toBeGreaterThanOrEqual(register.length * 12);
    expect(keptCopies()).toHaveLength(1);

    const asked = [...bankIds].reverse();
    const second = await bank.psi({ ...call, ids: asked });
    expect(second.rows).toEqual(plain(asked));
    // A second session (the agency ends each after one call), no second download.
    expect(offers().map((e) => e.details.sent)).toEqual([true, false]);
    expect(new Set(offers().map((e) => e.details.session)).size).toBe(2);
    expect(tagBytesSent).toBe(downloaded);
    // Each call evaluated its distinct IDs once, each counted in the agency's log.
    expect(evaluated()).toBe(2 * DISTINCT);
    // The bank's IDs are hashed and blinded: none crosses the channel.
    expect(findNeedles(Buffer.concat(bankFrames), bankIds.map((id) => [id, Buffer.from(id)] as const))).toEqual([]);
  }, 120_000);

  it('refuses a partner past its daily budget, before evaluating, and what its policy does not grant', async () => {
    await expect(bank.psi({ ...call, ids: bankIds })).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', rule: 'partner.daily-budget' });
    expect(evaluated()).toBe(2 * DISTINCT);
    expect(entries().filter((e) => e.type === 'lookup.refused').map((e) => [e.details.mode, e.details.asked])).toEqual([['psi', DISTINCT]]);
    const app = await buildApi(bank, { token: TOKEN });
    try {
      const answer = await app.inject({ method: 'POST', url: '/v1/psi', headers: { authorization: `Bearer ${TOKEN}` }, payload: { ...call, ids: bankIds } });
      expect(answer.statusCode, answer.body).toBe(429);
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
      expect(evaluated()).toBe(2 * DISTINCT);
      // The policy model: a purpose not granted, and a purpose that needs consent, are refused with their rule.
      for (const [purpose, rule] of [
        ['marketing', 'purpose.not-granted'],
        ['loan-verification', 'membership.consent-required'],
      ] as const) {
        const refused = await app.inject({ method: 'POST', url: '/v1/psi', headers: { authorization: `Bearer ${TOKEN}` }, payload: { ...call, purpose, ids: [register[1]!] } });
        expect(refused.json().error.code, refused.body).toBe('E_POLICY_REFUSED');
        expect(refused.json().error.message).toContain(rule);
      }
      const unprepared = await app.inject({ method: 'POST', url: '/v1/psi', headers: { authorization: `Bearer ${TOKEN}` }, payload: { ...call, table: 'unknown', ids: [register[1]!] } });
      expect(unprepared.json().error.code, unprepared.body).toBe('E_TABLE_UNKNOWN');
    } finally {
      await app.close();
    }
    expect((await verifyAuditLog(auditFile, (await loadPublicKey(join(dir, 'tax-gov.pub'))).publicKey)).ok).toBe(true);
  }, 120_000);

  it('keeps the tags across a restart of the bank, and fetches them again for a new key period', async () => {
    // After a restart the agency counts the day's evaluations again from its log (psi.answered): still refused.
    await bank.close();
    await tax.close();
    await startAgency({ tags: 'register-2026q4.tags', key: 'keys-2026q4' });
    await startBank();
    await expect(bank.psi({ ...call, ids: bankIds })).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', rule: 'partner.daily-budget' });
    // A new day's budget is not what the rest tests: the agency restarts with a larger one.
    writeFileSync(join(dir, 'tax-policy.yaml'), readFileSync(join(dir, 'tax-policy.yaml'), 'utf8').replace(`evaluationsPerDay: ${BUDGET}`, 'evaluationsPerDay: 100000'));
    await bank.close();
    await tax.close();
    await startAgency({ tags: 'register-2026q4.tags', key: 'keys-2026q4' });
    await startBank();
    const before = tagBytesSent;
    expect((await bank.psi({ ...call, ids: bankIds })).rows).toEqual(plain(bankIds));
    expect(tagBytesSent).toBe(before);
    expect(offers().at(-1)!.details.sent).toBe(false);

    // A new key period: the agency prepares its register again under a new key.
    await prepareRegister({ file: join(dir, 'register.csv'), idColumn: 'uscc', keyDir: join(dir, 'keys-2027q1'), backend: 'x25519', out: join(dir, 'register-2027q1.tags'), threads: 0 });
    await bank.close();
    await tax.close();
    await startAgency({ tags: 'register-2027q1.tags', key: 'keys-2027q1' });
    await startBank();
    expect((await bank.psi({ ...call, ids: bankIds })).rows).toEqual(plain(bankIds));
    expect(tagBytesSent).toBeGreaterThan(before);
    expect(offers().at(-1)!.details).toMatchObject({ sent: true, keyId: (await readTagFileHeader(join(dir, 'register-2027q1.tags'))).keyId });
    // The copy of the last key period is gone.
    expect(keptCopies()).toHaveLength(1);
    expect(keptCopies()[0]).toContain((await readTagFileHeader(join(dir, 'register-2027q1.tags'))).keyId);
  }, 120_000);

  it('fetches the tags again when the kept copy was altered on disk, never answering from it', async () => {
    const at = join(dir, 'store-bank', 'prepared-tags', 'tax-bureau', 'register', 'psi', keptCopies()[0]!);
    const bytes = readFileSync(at);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(at, bytes);
    const before = tagBytesSent;
    expect((await bank.psi({ ...call, ids: bankIds })).rows).toEqual(plain(bankIds));
    expect(tagBytesSent).toBeGreaterThan(before);
    expect(offers().at(-1)!.details.sent).toBe(true);
  }, 120_000);

  it('refuses at start a config naming a missing tag file, one of the wrong kind, or a key folder of another key period', async () => {
    const refused = async (psi: { tags: string; key: string }) => {
      writeFileSync(join(dir, 'bad.json'), JSON.stringify(agencyConfig(psi)));
      return loadPartyConfig(join(dir, 'bad.json')).then(
        () => undefined,
        (e: { code: string; field: string; message: string }) => e,
      );
    };
    const missing = await refused({ tags: 'nothing.tags', key: 'keys-2026q4' });
    expect(missing).toMatchObject({ code: 'E_JOB_INVALID', field: 'tables.register.psi.tags' });
    expect(missing!.message).toContain('jinqiao psi prepare');

    const header = await readTagFileHeader(join(dir, 'register-2026q4.tags'));
    await writeTagFile(join(dir, 'verify.tags'), { ...header, kind: 'verify', count: 0 }, new TagSet(new Uint8Array(0)));
    const wrongKind = await refused({ tags: 'verify.tags', key: 'keys-2026q4' });
    expect(wrongKind).toMatchObject({ code: 'E_JOB_INVALID', field: 'tables.register.psi.tags' });
    expect(wrongKind!.message).toContain('is a verify tag file');

    const otherKey = await refused({ tags: 'register-2026q4.tags', key: 'keys-2027q1' });
    expect(otherKey).toMatchObject({ code: 'E_JOB_INVALID', field: 'tables.register.psi.key' });
    expect(otherKey!.message).toContain(`was prepared with (key id ${header.keyId})`);

    const noKey = await refused({ tags: 'register-2026q4.tags', key: 'no-such-folder' });
    expect(noKey).toMatchObject({ code: 'E_JOB_INVALID', field: 'tables.register.psi.key' });
  });
});
