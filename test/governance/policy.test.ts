import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { isJinqiaoError } from '../../src/errors.ts';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { checkJob, checkMembership, loadPolicy, parsePolicy, type JobDecision } from '../../src/governance/policy.ts';

const bank = generateKeyPair();
const insurer = generateKeyPair();
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-policy-'));

const POLICY = `
party: tax-bureau
fields:
  vat_paid_wan: internal
  tax_credit_grade: sensitive
  late_filings_24m: internal
  industry_code: public
  legal_rep_id_number: restricted
purposes:
  credit-modeling:
    fields: [vat_paid_wan, tax_credit_grade, late_filings_24m, industry_code]
    approvalRequired: true
  loan-verification:
    fields: [vat_paid_wan]
    consentRequired: false
partners:
  - id: bank-of-example
    publicKey: ${bytesToHex(bank.publicKey)}
    purposes: [credit-modeling]
    sensitiveFields: [tax_credit_grade]
  - keyId: ${insurer.keyId}
    purposes: [credit-modeling, loan-verification]
`;
const policy = await parsePolicy(POLICY, 'tax-policy.yaml');

function refusedBy(decision: JobDecision): string {
  if (decision.admitted) throw new Error('expected a refusal, the job was admitted');
  expect(decision.refusal.code).toBe('E_POLICY_REFUSED');
  return decision.refusal.rule;
}

describe('checkJob: admission of a job at a data holder', () => {
  it('admits a listed partner, for a granted purpose, on exposed fields, and says what the job still needs', () => {
    const decision = checkJob(policy, { partner: 'bank-of-example', purpose: 'credit-modeling', fields: ['vat_paid_wan', 'tax_credit_grade'] });
    expect(decision).toMatchObject({
      admitted: true,
      party: 'tax-bureau',
      partner: 'bank-of-example',
      partnerKeyId: bank.keyId,
      fields: [
        { name: 'vat_paid_wan', class: 'internal' },
        { name: 'tax_credit_grade', class: 'sensitive' },
      ],
      consentRequired: true,
      approvalRequired: true,
    });
  });

  it('knows a partner by its key id as well as by its explicit id', () => {
    expect(checkJob(policy, { partner: bank.keyId, purpose: 'credit-modeling', fields: ['vat_paid_wan'] }).admitted).toBe(true);
    expect(checkJob(policy, { partner: insurer.keyId, purpose: 'loan-verification', fields: ['vat_paid_wan'] })).toMatchObject({ admitted: true, consentRequired: false, approvalRequired: false });
  });

  it('refuses an unknown partner', () => {
    expect(refusedBy(checkJob(policy, { partner: 'shadow-lender', purpose: 'credit-modeling', fields: ['vat_paid_wan'] }))).toBe('partner.unknown');
  });

  it('refuses an undeclared purpose', () => {
    const decision = checkJob(policy, { partner: 'bank-of-example', purpose: 'marketing', fields: ['vat_paid_wan'] });
    expect(refusedBy(decision)).toBe('purpose.undeclared');
    expect(!decision.admitted && decision.refusal.message).toContain('marketing');
  });

  it('refuses a declared purpose the partner is not granted', () => {
    expect(refusedBy(checkJob(policy, { partner: 'bank-of-example', purpose: 'loan-verification', fields: ['vat_paid_wan'] }))).toBe('purpose.not-granted');
  });

  it('refuses a field outside what the purpose exposes, naming it', () => {
    const decision = checkJob(policy, { partner: insurer.keyId, purpose: 'loan-verification', fields: ['vat_paid_wan', 'late_filings_24m'] });
    expect(refusedBy(decision)).toBe('field.not-exposed');
    expect(!decision.admitted && decision.refusal.message).toContain('"late_filings_24m"');
    expect(refusedBy(checkJob(policy, { partner: 'bank-of-example', purpose: 'credit-modeling', fields: ['no_such_field'] }))).toBe('field.not-exposed');
  });

  it('never admits a restricted field', () => {
    expect(refusedBy(checkJob(policy, { partner: 'bank-of-example', purpose: 'credit-modeling', fields: ['vat_paid_wan', 'legal_rep_id_number'] }))).toBe('field.restricted');
  });

  it('refuses a sensitive field to a partner without an explicit grant', () => {
    expect(refusedBy(checkJob(policy, { partner: insurer.keyId, purpose: 'credit-modeling', fields: ['tax_credit_grade'] }))).toBe('field.sensitive-not-granted');
  });

  it('rejects a malformed request by the field at fault', () => {
    expect(() => checkJob(policy, { partner: 'bank-of-example', purpose: 'credit-modeling', fields: [] })).toThrow(/request\.fields/);
  });
});

describe('loading a policy file', () => {
  async function loadError(text: string): Promise<string> {
    try {
      await parsePolicy(text, 'p.yaml');
    } catch (e) {
      expect(isJinqiaoError(e) && e.code).toBe('E_POLICY_INVALID');
      return (e as Error).message;
    }
    throw new Error('the policy loaded');
  }

  it('loads a file from disk, resolving publicKeyFile next to it', async () => {
    await saveKeyPair(join(dir, 'bank'), bank);
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, POLICY.replace(/publicKey: [0-9a-f]+/, 'publicKeyFile: bank.pub'));
    const loaded = await loadPolicy(file);
    expect(loaded.partners[0]).toMatchObject({ id: 'bank-of-example', keyId: bank.keyId });
  });

  it('reads JSON as well as YAML', async () => {
    const json = JSON.stringify({ party: 'utility', fields: { kwh: 'internal' }, purposes: { 'risk-monitoring': { fields: ['kwh'] } }, partners: [{ keyId: bank.keyId, purposes: ['risk-monitoring'] }] });
    expect((await parsePolicy(json, 'p.json')).party).toBe('utility');
  });

  it('names file, line, column and field of a problem', async () => {
    const message = await loadError(POLICY.replace('sensitiveFields: [tax_credit_grade]', 'sensitiveFields: [vat_paid_wan]'));
    expect(message).toMatch(/^p\.yaml:\d+:\d+: field "partners\[0\]\.sensitiveFields\[0\]": .*classified internal/);
    const line = POLICY.split('\n').findIndex((l) => l.includes('sensitiveFields')) + 1;
    expect(message).toContain(`p.yaml:${line}:`);
  });

  it('refuses a policy that exposes a restricted field', async () => {
    expect(await loadError(POLICY.replace('industry_code]', 'industry_code, legal_rep_id_number]'))).toMatch(/purposes\.credit-modeling\.fields\[4\].*restricted/);
  });

  it('refuses unknown keys, so that a typo cannot silently change what is allowed', async () => {
    expect(await loadError(POLICY.replace('sensitiveFields:', 'sensitveFields:'))).toMatch(/partners\[0\]\.sensitveFields.*unknown field/);
  });

  it('refuses an explicit partner id not bound to a key, and a key id that does not match the key', async () => {
    expect(await loadError(POLICY.replace(/    publicKey: [0-9a-f]+\n/, ''))).toMatch(/partners\[0\].*publicKey/);
    expect(await loadError(POLICY.replace('    purposes: [credit-modeling]\n    sensitive', `    keyId: ${insurer.keyId}\n    purposes: [credit-modeling]\n    sensitive`))).toMatch(/partners\[0\]\.keyId.*does not match/);
  });

  it('reports YAML syntax errors with line and column', async () => {
    expect(await loadError('party: x\nfields: [a\n')).toMatch(/^p\.yaml:\d+:\d+: field "\(syntax\)"/);
  });
});

describe('a membership test (unbalanced PSI against prepared tags)', () => {
  const ruleOf = (request: { partner: string; purpose: string }) => {
    try {
      checkMembership(policy, request);
      return 'admitted';
    } catch (e) {
      return (e as { rule?: string }).rule;
    }
  };

  it('is admitted for a partner granted a purpose that needs no consent, whatever fields the purpose exposes', () => {
    expect(ruleOf({ partner: insurer.keyId, purpose: 'loan-verification' })).toBe('admitted');
  });

  it('is refused for an unknown partner, an undeclared or ungranted purpose, and a purpose that needs consent (the tags cover the whole register)', () => {
    expect(ruleOf({ partner: 'someone-else', purpose: 'loan-verification' })).toBe('partner.unknown');
    expect(ruleOf({ partner: insurer.keyId, purpose: 'marketing' })).toBe('purpose.undeclared');
    expect(ruleOf({ partner: 'bank-of-example', purpose: 'loan-verification' })).toBe('purpose.not-granted');
    expect(ruleOf({ partner: insurer.keyId, purpose: 'credit-modeling' })).toBe('membership.consent-required');
  });
});
