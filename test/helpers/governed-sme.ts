/**
 * A governed slice of the bundled SME example for tests of jobs under governance: the
 * bank's first 1000 rows and the tax bureau's first 1200 copied into a fresh folder, keys
 * for the bank, the tax bureau and the platform (the consent issuer), the tax bureau's
 * policy for `credit-modeling`, consent tokens, and the two parties' governance with
 * their own audit logs.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AuditLog } from '../../src/governance/audit.ts';
import { issueConsent } from '../../src/governance/consent.ts';
import type { PartyGovernance } from '../../src/governance/gate.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const DAY = 86_400_000;

/** The fields the tax bureau's policy lets `credit-modeling` use. */
export const GOVERNED_FIELDS = ['vat_paid_wan', 'tax_credit_grade', 'late_filings_24m'];

export interface TaxPolicyOptions {
  /** The partner the policy names (default the bank, `bank-of-example`). */
  readonly partner?: string;
  readonly approval?: boolean;
  /** Grant the partner the sensitive `tax_credit_grade` (default true). */
  readonly grantSensitive?: boolean;
  /** `disclosePartialScores` (default true: the slice's jobs have one agency). */
  readonly disclose?: boolean;
}

/** `prefix` names the temporary folder, one per test file. */
export function governedSme(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  /** The first `lines` lines (header included) of an example file, copied into `dir`. */
  const head = (file: string, lines: number) => {
    const path = join(dir, file);
    writeFileSync(path, readFileSync(join(SME, file), 'utf8').split('\n').slice(0, lines).join('\n') + '\n');
    return path;
  };
  const bankFile = head('bank.csv', 1001);
  const taxFile = head('tax_bureau.csv', 1201);
  const taxIds = readFileSync(taxFile, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!);
  const keys = { bank: generateKeyPair(), tax: generateKeyPair(), platform: generateKeyPair() };

  async function taxPolicy(options: TaxPolicyOptions = {}) {
    const text = `party: tax-bureau
fields: { vat_paid_wan: internal, tax_credit_grade: sensitive, late_filings_24m: internal, legal_representative_id: restricted }
purposes:
  credit-modeling: { fields: [${GOVERNED_FIELDS.join(', ')}], consentRequired: true, approvalRequired: ${options.approval ?? false}, disclosePartialScores: ${options.disclose ?? true} }
partners:
  - id: ${options.partner ?? 'bank-of-example'}
    publicKey: ${Buffer.from(keys.bank.publicKey).toString('hex')}
    purposes: [credit-modeling]
    sensitiveFields: [${options.grantSensitive === false ? '' : 'tax_credit_grade'}]
`;
    return parsePolicy(text, join(dir, 'tax-policy.yaml'));
  }

  /** One token per enterprise, issued by the platform for the bank, valid from yesterday to tomorrow. */
  function consents(enterprises: readonly string[]) {
    const now = Date.now();
    return enterprises.map((enterprise) =>
      issueConsent(keys.platform, { enterprise, partners: ['bank-of-example'], purposes: ['credit-modeling'], fields: GOVERNED_FIELDS, notBefore: new Date(now - DAY), notAfter: new Date(now + DAY) }),
    );
  }

  let logNo = 0;
  /** The bank's and the tax bureau's governance, each with a new audit log; the tax bureau's policy defaults to `taxPolicy()`. */
  async function governed(tax: Partial<PartyGovernance>, tokens: readonly unknown[]) {
    const policy = tax.policy ?? (await taxPolicy());
    const taxLog = await AuditLog.open(join(dir, `tax-${logNo}.audit.jsonl`), { party: 'tax-bureau', key: keys.tax });
    const bankLog = await AuditLog.open(join(dir, `bank-${logNo++}.audit.jsonl`), { party: 'bank', key: keys.bank });
    const parties = new Map<string, PartyGovernance>([
      ['bank', { institution: 'bank-of-example', audit: bankLog }],
      ['tax', { institution: 'tax-bureau', audit: taxLog, policy, consent: { tokens, trustedIssuers: [keys.platform], revoked: new Set() }, ...tax }],
    ]);
    return { parties, taxLog, bankLog };
  }

  return { dir, head, bankFile, taxFile, taxIds, keys, taxPolicy, consents, governed };
}
