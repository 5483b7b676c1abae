/**
 * The governance commands as users call them. They are not yet registered in the
 * `jinqiao` binary, so each test parses arguments on a freshly built Command, capturing
 * stdout, stderr and the exit code as a child process would show them.
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { auditCommand } from '../../src/cli/audit.ts';
import { consentCommand } from '../../src/cli/consent.ts';
import { keysCommand } from '../../src/cli/keys.ts';
import { policyCommand } from '../../src/cli/policy.ts';
import { uscc } from '../helpers/ids.ts';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

class ExitCalled extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`process.exit(${code})`);
    this.code = code;
  }
}

async function cli(build: () => Command, args: readonly string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  vi.spyOn(process, 'exit').mockImplementation((code?: number | string | null) => {
    throw new ExitCalled(Number(code ?? 0));
  });
  process.exitCode = undefined;
  let code: number;
  try {
    await build().parseAsync([...args], { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    if (!(e instanceof ExitCalled)) throw e;
    code = e.code;
  } finally {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  }
  return { code, stdout, stderr };
}

afterEach(() => {
  vi.restoreAllMocks();
});

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-gov-cli-'));
const at = (name: string) => join(dir, name);
const enterprise = uscc(42);

beforeAll(async () => {
  for (const who of ['platform', 'bank', 'tax-bureau']) expect((await cli(keysCommand, ['generate', '--out', at(who)])).code).toBe(0);
  writeFileSync(
    at('policy.yaml'),
    [
      'party: tax-bureau',
      'fields:',
      '  vat_paid_wan: internal',
      '  tax_credit_grade: sensitive',
      '  late_filings_24m: internal',
      '  legal_rep_id_number: restricted',
      'purposes:',
      '  credit-modeling:',
      '    fields: [vat_paid_wan, tax_credit_grade, late_filings_24m]',
      'partners:',
      '  - id: bank-of-example',
      '    publicKeyFile: bank.pub',
      '    purposes: [credit-modeling]',
      '',
    ].join('\n'),
  );
});

describe('jinqiao keys generate', () => {
  it('writes a 0600 secret key and a public key, and will not overwrite them', async () => {
    if (process.platform !== 'win32') expect(statSync(at('bank.key')).mode & 0o777).toBe(0o600);
    const again = await cli(keysCommand, ['generate', '--out', at('bank')]);
    expect(again.code).toBe(2);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain(`${at('bank.key')}: cannot write`);
  });
});

describe('jinqiao consent', () => {
  const issue = (extra: string[] = []) =>
    cli(consentCommand, ['issue', '--issuer-key', at('platform.key'), '--enterprise', enterprise, '--partner', 'bank-of-example', '--purpose', 'credit-modeling', '--fields', 'vat_paid_wan,late_filings_24m', '--valid-days', '30', '--out', at('token.jsonl'), ...extra]);
  const verifyArgs = ['verify', at('token.jsonl'), '--trust', at('platform.pub'), '--partner', 'bank-of-example', '--purpose', 'credit-modeling'];

  it('issues a token that verifies (exit 0), and refuses it for another purpose (exit 1, with the reason)', async () => {
    const issued = await issue(['--token-id', 'consent-42']);
    expect(issued.code).toBe(0);
    expect(issued.stdout).toContain('consent-42');
    const valid = await cli(consentCommand, [...verifyArgs, '--fields', 'vat_paid_wan']);
    expect(valid).toMatchObject({ code: 0, stderr: '' });
    expect(valid.stdout).toMatch(/^valid: consent token consent-42/);

    const wrong = await cli(consentCommand, [...verifyArgs.slice(0, -1), 'marketing']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^jinqiao: error E_CONSENT_INVALID: consent wrong-purpose: /);
    expect((await cli(consentCommand, [...verifyArgs, '--fields', 'tax_credit_grade'])).stderr).toContain('field-outside-grant');
    expect((await cli(consentCommand, [...verifyArgs, '--now', '2000-01-01'])).stderr).toContain('not-yet-valid');
    expect((await cli(consentCommand, [...verifyArgs.slice(0, 3), at('bank.pub'), ...verifyArgs.slice(4)])).stderr).toContain('untrusted-issuer');
  });

  it('revokes a token id, after which verification against the list fails', async () => {
    await issue(['--token-id', 'consent-43']);
    const revoked = await cli(consentCommand, ['revoke', 'consent-43', '--list', at('revoked.jsonl')]);
    expect(revoked).toMatchObject({ code: 0, stdout: expect.stringContaining('revoked: consent-43') });
    const checked = await cli(consentCommand, [...verifyArgs, '--revoked', at('revoked.jsonl')]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain('consent revoked');
  });

  it('collects several enterprises\' tokens in one file with --append, and refuses to append to a file that is not a token file', async () => {
    const file = at('book.jsonl');
    const other = uscc(43);
    const issueTo = (who: string, extra: string[]) =>
      cli(consentCommand, ['issue', '--issuer-key', at('platform.key'), '--enterprise', who, '--partner', 'bank-of-example', '--purpose', 'credit-modeling', '--fields', 'vat_paid_wan', '--valid-days', '30', '--out', file, ...extra]);
    expect((await issueTo(enterprise, ['--append'])).code).toBe(0);
    expect((await issueTo(other, ['--append'])).code).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { enterprise: string });
    expect(lines.map((t) => t.enterprise)).toEqual([enterprise, other]);
    const both = await cli(consentCommand, ['verify', file, '--trust', at('platform.pub'), '--partner', 'bank-of-example', '--purpose', 'credit-modeling']);
    expect(both.code, both.stderr).toBe(0);
    // Without --append the file is replaced, as before.
    expect((await issueTo(other, [])).code).toBe(0);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
    writeFileSync(at('not-tokens.csv'), 'id,vat\n1,2\n');
    const wrong = await cli(consentCommand, ['issue', '--issuer-key', at('platform.key'), '--enterprise', other, '--partner', 'bank-of-example', '--purpose', 'credit-modeling', '--fields', 'vat_paid_wan', '--valid-days', '30', '--out', at('not-tokens.csv'), '--append']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/not-tokens\.csv:1:/);
    expect(readFileSync(at('not-tokens.csv'), 'utf8')).toBe('id,vat\n1,2\n');
  });

  it('detects a token edited after signing', async () => {
    await issue();
    writeFileSync(at('tampered.jsonl'), readFileSync(at('token.jsonl'), 'utf8').replace('late_filings_24m', 'tax_credit_grade'));
    const r = await cli(consentCommand, ['verify', at('tampered.jsonl'), ...verifyArgs.slice(2)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad-signature');
  });

  it('treats bad input as exit 2 with one line naming the option, or the file, line and column', async () => {
    const badId = await issue(['--enterprise', '91110108MA0000000X']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/^jinqiao: error E_OPTION_INVALID: option enterprise: .*check character/);
    writeFileSync(at('broken.jsonl'), '{"type":"jinqiao.consent",\n');
    const broken = await cli(consentCommand, ['verify', at('broken.jsonl'), ...verifyArgs.slice(2)]);
    expect(broken.code).toBe(2);
    expect(broken.stderr.trim().split('\n')).toHaveLength(1);
    expect(broken.stderr).toContain(`${at('broken.jsonl')}:1:`);
    const missing = await cli(consentCommand, ['issue', '--enterprise', enterprise]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--issuer-key <file>' not specified");
  });

  it('explains itself with --help', async () => {
    const help = await cli(consentCommand, ['issue', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--valid-days <n>');
  });
});

describe('jinqiao policy check', () => {
  const check = (fields: string, extra: string[] = []) =>
    cli(policyCommand, ['check', at('policy.yaml'), '--partner', 'bank-of-example', '--purpose', 'credit-modeling', '--fields', fields, ...extra]);

  it('admits a job within policy (exit 0) and refuses one outside it naming the rule (exit 1)', async () => {
    const admitted = await check('vat_paid_wan,late_filings_24m');
    expect(admitted.code).toBe(0);
    expect(admitted.stdout).toMatch(/^admitted: partner bank-of-example/);
    expect(admitted.stdout).toContain('consent:  required');
    const refused = await check('vat_paid_wan,tax_credit_grade');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^jinqiao: error E_POLICY_REFUSED: refused by policy rule field\.sensitive-not-granted: /);
    expect((await check('legal_rep_id_number')).stderr).toContain('field.restricted');
  });

  it('prints a JSON decision with --json', async () => {
    const refused = await check('tax_credit_grade', ['--json']);
    expect(JSON.parse(refused.stdout)).toMatchObject({ admitted: false, rule: 'field.sensitive-not-granted' });
  });

  it('records the decision in the audit log before reporting it', async () => {
    const log = at('tax-bureau.audit.jsonl');
    await check('vat_paid_wan', ['--audit', log, '--key', at('tax-bureau.key')]);
    await check('legal_rep_id_number', ['--audit', log, '--key', at('tax-bureau.key')]);
    const verified = await cli(auditCommand, ['verify', log, '--key', at('tax-bureau.pub')]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^intact: 3 entries written by tax-bureau/);
    const shown = await cli(auditCommand, ['show', log]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/\n1 +\S+ +job\.admitted +partner=bank-of-example/);
    expect(shown.stdout).toMatch(/\n2 +\S+ +job\.refused .*rule=field\.restricted/);
  });

  it('names file, line and column of a policy problem (exit 2)', async () => {
    writeFileSync(at('bad-policy.yaml'), readFileSync(at('policy.yaml'), 'utf8').replace('tax_credit_grade: sensitive', 'tax_credit_grade: secret'));
    const r = await cli(policyCommand, ['check', at('bad-policy.yaml'), '--partner', 'x', '--purpose', 'credit-modeling', '--fields', 'a']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${at('bad-policy.yaml')}:4:3: field "fields.tax_credit_grade": class must be one of`);
  });
});

describe('jinqiao audit verify', () => {
  it('exits non-zero naming the first bad entry of a tampered log', async () => {
    const log = at('tampered.audit.jsonl');
    await cli(policyCommand, ['check', at('policy.yaml'), '--partner', 'bank-of-example', '--purpose', 'credit-modeling', '--fields', 'vat_paid_wan', '--audit', log, '--key', at('tax-bureau.key')]);
    await cli(policyCommand, ['check', at('policy.yaml'), '--partner', 'bank-of-example', '--purpose', 'credit-modeling', '--fields', 'late_filings_24m', '--audit', log, '--key', at('tax-bureau.key')]);
    writeFileSync(log, readFileSync(log, 'utf8').replace('"fields":["late_filings_24m"]', '"fields":["vat_paid_wan"]'));
    const r = await cli(auditCommand, ['verify', log, '--key', at('tax-bureau.pub')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`E_AUDIT_BROKEN: ${log}:3: entry seq 2: the content does not match its hash`);
    expect(existsSync(`${log}.head`)).toBe(true);
  });
});
