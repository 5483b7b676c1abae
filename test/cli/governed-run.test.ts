/**
 * The governance section of a job file, end to end through the CLI: keys, policy, consent
 * tokens and audit logs made with `jinqiao` itself, a governed training run, an audit log
 * that verifies, and a refused job that names its rule.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeConsentToken, issueConsent } from '../../src/governance/consent.ts';
import { loadSecretKey } from '../../src/governance/keys.ts';
import { jinqiao } from '../helpers/cli.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-governed-cli-'));
const cut = (file: string, lines: number) => {
  const path = join(dir, file);
  writeFileSync(path, readFileSync(join(SME, file), 'utf8').split('\n').slice(0, lines).join('\n') + '\n');
  return path;
};
const bank = cut('bank.csv', 801);
const tax = cut('tax_bureau.csv', 1001);
const taxIds = readFileSync(tax, 'utf8').trim().split('\n').slice(1, 81).map((l) => l.split(',')[0]!);

function ok(args: string[]): string {
  const r = jinqiao(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function jobFile(name: string, partner: string): string {
  const policy = join(dir, `${name}-policy.yaml`);
  writeFileSync(
    policy,
    `party: tax-bureau\nfields: { vat_paid_wan: internal, tax_credit_grade: internal, late_filings_24m: internal }\npurposes:\n  credit-modeling: { fields: [vat_paid_wan, tax_credit_grade, late_filings_24m], consentRequired: true, disclosePartialScores: true }\npartners:\n  - id: ${partner}\n    publicKeyFile: bank.pub\n    purposes: [credit-modeling]\n`,
  );
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    `job: ${name}
purpose: credit-modeling
label: { name: bank, file: ${bank}, id: uscc, label: defaulted }
features:
  - { name: tax, file: ${tax}, id: uscc }
training: { epochs: 2, batchSize: 64, allowPartialScoreDisclosure: true }
governance:
  bank: { institution: bank-of-example, key: bank.key, audit: ${name}-bank.audit.jsonl }
  tax:
    institution: tax-bureau
    key: tax.key
    audit: ${name}-tax.audit.jsonl
    policy: ${name}-policy.yaml
    consent: consents.jsonl
    trust: platform.pub
out: ${name}-model
`,
  );
  return path;
}

describe('governed job files (CLI)', () => {
  it('runs a governed job: only consenting enterprises, every step in a verifiable audit log', async () => {
    for (const party of ['bank', 'tax', 'platform']) ok(['keys', 'generate', '--out', join(dir, party)]);
    // One token through the CLI, the rest through the library (80 processes would be slow).
    ok(['consent', 'issue', '--issuer-key', join(dir, 'platform.key'), '--enterprise', taxIds[0]!, '--partner', 'bank-of-example', '--purpose', 'credit-modeling', '--fields', 'vat_paid_wan,tax_credit_grade,late_filings_24m', '--valid-days', '30', '--out', join(dir, 'consent-0.jsonl')]);
    const platform = await loadSecretKey(join(dir, 'platform.key'));
    const now = Date.now();
    const rest = taxIds.slice(1).map((enterprise) =>
      encodeConsentToken(issueConsent(platform, { enterprise, partners: ['bank-of-example'], purposes: ['credit-modeling'], fields: ['vat_paid_wan', 'tax_credit_grade', 'late_filings_24m'], notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 86_400_000) })),
    );
    writeFileSync(join(dir, 'consents.jsonl'), readFileSync(join(dir, 'consent-0.jsonl'), 'utf8') + rest.join(''));
    const summary = JSON.parse(ok(['run', jobFile('governed', 'bank-of-example'), '--json', '--quiet']));
    expect(summary.rows).toBeLessThanOrEqual(80);
    expect(summary.rows).toBeGreaterThan(40);
    expect(ok(['audit', 'verify', join(dir, 'governed-tax.audit.jsonl'), '--key', join(dir, 'tax.pub')])).toMatch(/intact/i);
    // At the job's end each party kept the other's signed head: the bank's copy checks the tax bureau's log.
    expect(ok(['audit', 'verify', join(dir, 'governed-tax.audit.jsonl'), '--key', join(dir, 'tax.pub'), '--anchors', join(dir, 'governed-bank.audit.jsonl.anchors')])).toMatch(/anchors: 1 kept by the partner match/);
    const shown = ok(['audit', 'show', join(dir, 'governed-tax.audit.jsonl')]);
    for (const type of ['job.admitted', 'consent.filtered', 'training.start', 'training.run', 'model.export']) expect(shown).toContain(type);
  });

  it('refuses a job the data holder policy does not admit, naming the rule', () => {
    const r = jinqiao(['run', jobFile('refused', 'some-other-bank'), '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_POLICY_REFUSED: refused by policy rule partner\.unknown/);
  });
});
