/**
 * Three party services in this process — the bank (label), the tax bureau (features) and
 * the platform (arbiter) — over mutual TLS on loopback with fresh certificates, the bank
 * with governance (policy, consent tokens, a signed audit log), for the console's tests.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { issueConsent, encodeConsentToken } from '../../src/governance/consent.ts';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
export const TOKEN = 'console-test-token-0123456789';
const PARTIES = ['bank', 'tax-bureau', 'arbiter'] as const;

export interface Parties {
  readonly dir: string;
  readonly bank: PartyService;
  readonly services: readonly PartyService[];
  /** The bank's TLS key and certificate (PEM), for an HTTPS server of its own. */
  readonly tls: { readonly key: string; readonly cert: string };
  close(): Promise<void>;
}

export async function startParties(): Promise<Parties> {
  const dir = await mkdtemp(join(tmpdir(), 'jinqiao-console-'));
  const identities = new Map<string, { key: string; cert: string }>();
  for (const name of PARTIES) {
    const identity = await createPartyIdentity({ name });
    await writePartyIdentity(dir, identity);
    identities.set(name, { key: identity.keyPem, cert: identity.certificatePem! });
  }
  await saveKeyPair(join(dir, 'bank-gov'), generateKeyPair());
  const platform = generateKeyPair();
  await saveKeyPair(join(dir, 'platform-gov'), platform);
  await saveKeyPair(join(dir, 'tax-gov'), generateKeyPair());
  // The bank's policy admits the tax bureau for credit modeling, and for credit review once its operator approves.
  await writeFile(
    join(dir, 'bank-policy.yaml'),
    [
      'party: bank',
      'fields: { loan_amount_wan: internal, years_as_customer: internal, overdue_count_12m: sensitive, defaulted: internal }',
      'purposes:',
      '  credit-modeling: { fields: [loan_amount_wan, years_as_customer, overdue_count_12m, defaulted], consentRequired: false }',
      '  credit-review: { fields: [loan_amount_wan, years_as_customer, overdue_count_12m, defaulted], consentRequired: false, approvalRequired: true }',
      'partners:',
      '  - { id: tax-bureau, publicKeyFile: tax-gov.pub, purposes: [credit-modeling, credit-review], sensitiveFields: [overdue_count_12m] }',
      '',
    ].join('\n'),
  );
  // Consent tokens in each standing the governance page tells apart.
  const day = 86_400_000;
  const now = Date.now();
  const ids = ['9111010800000PFCLW','9111010800000PFCM0','9111010800000PFCN3','9111010800000PFCP6'];
  const grant = (i: number, from: number, to: number, tokenId: string) =>
    issueConsent(platform, { enterprise: ids[i]!, partners: ['bank', 'tax-bureau'], purposes: ['credit-modeling'], fields: ['vat_paid_wan'], notBefore: new Date(now + from * day), notAfter: new Date(now + to * day), tokenId });
  const tokens = [grant(0, -10, 365, 'consent-valid'), grant(1, -300, 10, 'consent-expiring'), grant(2, -10, 365, 'consent-revoked'), grant(3, -400, -5, 'consent-expired')];
  await writeFile(join(dir, 'bank-consent.jsonl'), tokens.map(encodeConsentToken).join(''));
  await writeFile(join(dir, 'bank-revoked.jsonl'), JSON.stringify({ tokenId: 'consent-revoked', revokedAt: new Date(now - day).toISOString() }) + '\n');

  const services: PartyService[] = [];
  const start = async (name: string, role: string, partners: Record<string, number>, tables: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const file = join(dir, `${name}.json`);
    await writeFile(
      file,
      JSON.stringify({
        name,
        role,
        listen: '127.0.0.1:0',
        tls: { key: `${name}.key`, cert: `${name}.crt`, trust: PARTIES.map((p) => `${p}.crt`) },
        // Roles are bound: an agency or the platform takes jobs only from a partner bound as label.
        partners: { ...Object.fromEntries(Object.entries(partners).map(([p, port]) => [p, `127.0.0.1:${port}`])), ...(role === 'label' ? {} : { bank: { role: 'label' } }) },
        tables,
        store: `store-${name}`,
        timeoutSeconds: 120,
        ...extra,
      }),
    );
    const service = await startPartyService(await loadPartyConfig(file));
    services.push(service);
    return service;
  };
  const arbiter = await start('arbiter', 'arbiter', {}, {});
  const tax = await start('tax-bureau', 'features', { arbiter: arbiter.tlsPort }, { taxpayers: { file: join(SME, 'tax_bureau.csv'), id: 'uscc' } });
  const bank = await start(
    'bank',
    'label',
    { arbiter: arbiter.tlsPort, 'tax-bureau': tax.tlsPort },
    { customers: { file: join(SME, 'bank.csv'), id: 'uscc', label: 'defaulted' } },
    {
      api: { listen: '127.0.0.1:0', token: TOKEN },
      governance: { institution: 'bank', policy: 'bank-policy.yaml', audit: 'bank.audit.jsonl', key: 'bank-gov.key', consent: 'bank-consent.jsonl', trust: 'platform-gov.pub', revoked: 'bank-revoked.jsonl' },
    },
  );
  return {
    dir,
    bank,
    services,
    tls: identities.get('bank')!,
    async close() {
      for (const s of services.reverse()) await s.close().catch(() => {});
    },
  };
}

/** A training job of the bank with the tax bureau. */
export function trainingJob(id: string, epochs: number, purpose = 'credit-modeling') {
  return { job: id, purpose, label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: { epochs, batchSize: 1024, seed: `console-${id}`, allowPartialScoreDisclosure: true } };
}
