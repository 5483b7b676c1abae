/**
 * Verification between real party services answered from a verification tag file the agency
 * prepared once per key period (`psi prepare --field`, here `prepareVerification`) and named
 * in its config (`tables.<name>.verify`), instead of tags prepared for every session: the
 * verdicts are those of the per-session path on the same register (a second table of the
 * same agency, without a file); the bank fetches the tags once and keeps them across
 * sessions; a session asking for checks the file does not hold is prepared per session, as
 * before; a config naming a PSI tag file as verification tags, or verification tags of the
 * earlier two-key protocol, is refused at start.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { prepareRegister } from '../../src/lookup/unbalanced-psi.ts';
import { prepareVerification } from '../../src/lookup/verify.ts';
import { readTagFile, writeTagFile } from '../../src/lookup/tag-file.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';
import { uscc } from '../helpers/ids.ts';
import { auditEntries, loopbackConfig } from '../helpers/loopback-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-service-verify-prepared-'));
const N = 80;
const ids = Array.from({ length: N }, (_, i) => uscc(8500 + i));
const vat = ids.map((_, i) => 1_234_567.25 + i * 1_001.5);
const staff = ids.map((_, i) => 100 + i);
const auditFile = join(dir, 'tax-bureau.audit.jsonl');
const fields = [
  { field: 'vat_paid_wan', tolerance: 0.1 },
  { field: 'staff', tolerance: undefined },
];

let tax: PartyService;
let bank: PartyService;
let tagFrames = 0;


const agencyConfig = (verify: { tags: string; key: string }) =>
  loopbackConfig('tax-bureau', 'features', {
    tables: { register: { file: 'register.csv', id: 'uscc', verify }, live: { file: 'register.csv', id: 'uscc' } },
    governance: { institution: 'tax-bureau', policy: 'tax-policy.yaml', audit: 'tax-bureau.audit.jsonl', key: 'tax-gov.key' },
    lookup: { maxSessionCalls: 1 },
  });

const entries = () => auditEntries(auditFile);

beforeAll(async () => {
  for (const name of ['bank', 'tax-bureau']) await writePartyIdentity(dir, await createPartyIdentity({ name }));
  await saveKeyPair(join(dir, 'bank-gov'), generateKeyPair());
  await saveKeyPair(join(dir, 'tax-gov'), generateKeyPair());
  writeFileSync(join(dir, 'register.csv'), 'uscc,vat_paid_wan,staff\n' + ids.map((id, i) => `${id},${vat[i]},${i % 7 === 0 ? '' : staff[i]}`).join('\n') + '\n');
  await prepareVerification({ register: { file: join(dir, 'register.csv'), idColumn: 'uscc' }, checks: fields, keyDir: join(dir, 'keys'), backend: 'x25519', out: join(dir, 'verify.tags'), threads: 0 });
  writeFileSync(
    join(dir, 'tax-policy.yaml'),
    `party: tax-bureau
fields: { vat_paid_wan: internal, staff: internal }
purposes:
  loan-verification:
    fields: [vat_paid_wan, staff]
    consentRequired: false
partners:
  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [loan-verification] }
`,
  );
  writeFileSync(join(dir, 'tax-bureau.json'), JSON.stringify(agencyConfig({ tags: 'verify.tags', key: 'keys' })));
  tax = await startPartyService(await loadPartyConfig(join(dir, 'tax-bureau.json')), () => {}, {
    tap: (_from, _to, frame) => {
      if (decodeMessage(frame).t === 'lookup.tags') tagFrames++;
    },
  });
  writeFileSync(join(dir, 'bank.json'), JSON.stringify(loopbackConfig('bank', 'label', { partners: { 'tax-bureau': `127.0.0.1:${tax.tlsPort}` }, tables: {} })));
  bank = await startPartyService(await loadPartyConfig(join(dir, 'bank.json')), () => {});
}, 60_000);

afterAll(async () => {
  await bank?.close();
  await tax?.close();
});

/** Per enterprise: a VAT within ×1.04 or ×1.5 away, staff exact or off by one; enterprises never held too. */
const claims = [...ids.slice(0, 40), uscc(9900), uscc(9901)].flatMap((id, j) => {
  const i = ids.indexOf(id);
  const v = i < 0 ? 5_000_000 : vat[i]!;
  const s = i < 0 ? 120 : staff[i]!;
  return [
    { id, field: 'vat_paid_wan', value: Math.round(v * (j % 2 === 0 ? 1.04 : 1.5) * 100) / 100 },
    { id, field: 'staff', value: s + (j % 4 < 2 ? 0 : 1) },
  ];
});

describe('verification between party services from prepared tags', () => {
  it('gives the verdicts of the per-session path, fetching the tags once across sessions', async () => {
    const common = { agency: 'tax-bureau', purpose: 'loan-verification', fields, claims };
    const live = await bank.verify({ ...common, table: 'live' });
    expect(live.verdicts.filter((v) => v.consistent).length).toBeGreaterThan(20);
    expect(entries().filter((e) => e.type === 'verify.prepared')).toHaveLength(1);
    const framesBefore = tagFrames;

    const first = await bank.verify({ ...common, table: 'register' });
    expect(first.verdicts).toEqual(live.verdicts);
    expect(tagFrames).toBeGreaterThan(framesBefore);
    const afterFirst = tagFrames;
    // A new session (one call each): the tags the bank kept, no second download, and no tags prepared by the agency.
    const second = await bank.verify({ ...common, table: 'register', claims: claims.slice(0, 10) });
    expect(second.verdicts).toEqual(live.verdicts.slice(0, 10));
    expect(tagFrames).toBe(afterFirst);
    expect(entries().filter((e) => e.type === 'verify.offered').map((e) => e.details.sent)).toEqual([true, false]);
    expect(entries().filter((e) => e.type === 'verify.prepared')).toHaveLength(1);
  }, 120_000);

  it('prepares tags for a session whose checks the file does not hold, as without a file', async () => {
    const other = [{ field: 'vat_paid_wan', tolerance: 0.2 }];
    const asked = claims.filter((c) => c.field === 'vat_paid_wan');
    const fromFileTable = await bank.verify({ agency: 'tax-bureau', table: 'register', purpose: 'loan-verification', fields: other, claims: asked });
    const live = await bank.verify({ agency: 'tax-bureau', table: 'live', purpose: 'loan-verification', fields: other, claims: asked });
    expect(fromFileTable.verdicts).toEqual(live.verdicts);
    expect(entries().filter((e) => e.type === 'verify.prepared')).toHaveLength(3);
    expect(entries().filter((e) => e.type === 'verify.offered')).toHaveLength(2);
  }, 120_000);

  it('refuses at start a PSI tag file named as verification tags', async () => {
    await prepareRegister({ file: join(dir, 'register.csv'), idColumn: 'uscc', keyDir: join(dir, 'keys'), backend: 'x25519', out: join(dir, 'psi.tags'), threads: 0 });
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(agencyConfig({ tags: 'psi.tags', key: 'keys' })));
    const refused = await loadPartyConfig(join(dir, 'bad.json')).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'E_JOB_INVALID', field: 'tables.register.verify.tags' });
    expect((refused as Error).message).toContain('is a psi tag file');
    expect((refused as Error).message).toContain('--field');
  });

  it('refuses at start a verification tag file of the earlier two-key protocol, asking for the tags to be prepared again', async () => {
    // The same tags under the header an earlier jinqiao wrote: domain verify:[fields], whose tags hold two grids per tolerance value.
    const { header, tags } = await readTagFile(join(dir, 'verify.tags'));
    await writeTagFile(join(dir, 'two-key.tags'), { ...header, domain: `verify:${JSON.stringify(header.fields)}` }, tags);
    writeFileSync(join(dir, 'old.json'), JSON.stringify(agencyConfig({ tags: 'two-key.tags', key: 'keys' })));
    const refused = await loadPartyConfig(join(dir, 'old.json')).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'E_JOB_INVALID', field: 'tables.register.verify.tags' });
    expect((refused as Error).message).toContain('earlier jinqiao, for two keys per tolerance claim');
    expect((refused as Error).message).toContain('prepare the tags again');
  });
});
