import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, verifyAuditLog } from '../../src/governance/audit.ts';
import { encodeConsentToken, issueConsent } from '../../src/governance/consent.ts';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import { runLookup, type AgencyGovernance } from '../../src/lookup/lookup.ts';
import { jinqiao } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-lookup-'));
const platform = generateKeyPair();
const bankKey = generateKeyPair();
const now = new Date('2026-06-01T00:00:00Z');

const policyYaml = `party: tax-bureau
fields:
  vat_paid_wan: internal
  industry_code: public
  tax_credit_grade: sensitive
  registered_capital_wan: internal
  legal_representative_id: restricted
purposes:
  loan-verification:
    fields: [vat_paid_wan, industry_code, registered_capital_wan]
    consentRequired: true
    banded: { registered_capital_wan: 0.25 }
partners:
  - id: bank-of-example
    publicKey: ${Buffer.from(bankKey.publicKey).toString('hex')}
    purposes: [loan-verification]
`;

const fields = ['vat_paid_wan', 'industry_code', 'tax_credit_grade', 'registered_capital_wan'];
const granted = ['vat_paid_wan', 'industry_code', 'registered_capital_wan'];
const register = Array.from({ length: 120 }, (_, i) => ({ id: uscc(i), vat: (i * 13.5).toFixed(1), industry: `C${30 + (i % 9)}`, grade: 'ABCD'[i % 4]!, capital: String(50 + i * 37), rep: `rep-${i}` }));
const registerFile = join(dir, 'register.csv');
writeFileSync(
  registerFile,
  'uscc,vat_paid_wan,industry_code,tax_credit_grade,registered_capital_wan,legal_representative_id\n' + register.map((r) => `${r.id},${r.vat},${r.industry},${r.grade},${r.capital},${r.rep}`).join('\n') + '\n',
);
// Queries: held and consented, held without consent, not held, one asked twice.
const consentedIds = register.filter((_, i) => i % 3 !== 0).map((r) => r.id);
const queries = [uscc(1), uscc(3), uscc(500), uscc(2), uscc(4), uscc(1), uscc(6), uscc(7), uscc(501)];
const queriesFile = join(dir, 'queries.csv');
writeFileSync(queriesFile, 'uscc\n' + queries.join('\n') + '\n');
const tokens = consentedIds.map((enterprise) =>
  issueConsent(platform, {
    enterprise,
    partners: ['bank-of-example'],
    purposes: ['loan-verification'],
    fields: granted,
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2027-01-01T00:00:00Z'),
  }),
);

/** The interval of ×1.25 bands that holds x, computed independently of the code under test. */
function band(x: number): [number, number] {
  let lo = 1;
  while (lo * 1.25 <= x) lo *= 1.25;
  return [lo, lo * 1.25];
}

/** The answer on plain data: the exposed fields of held, consented enterprises (capital as a band); null elsewhere. */
function plainAnswer(): (string | null)[][] {
  const byId = new Map(register.map((r) => [r.id, r]));
  const consented = new Set(consentedIds);
  return queries.map((id) => {
    const r = byId.get(id);
    if (!r || !consented.has(id)) return [null, null, null, null];
    return [r.vat, r.industry, null, r.capital];
  });
}

/** Rows with the banded cell checked against its interval and then replaced by the plain value. */
function checkBands(rows: readonly (readonly (string | null)[])[]): (string | null)[][] {
  return rows.map((row, i) => {
    const cell = row[3];
    if (cell === null || cell === undefined) return [...row];
    const m = /^\[([\d.]+), ([\d.]+)\)$/.exec(cell);
    expect(m, cell).not.toBeNull();
    const capital = Number(register.find((r) => r.id === queries[i])!.capital);
    const [lo, hi] = band(capital);
    expect(Number(m![1])).toBeCloseTo(lo, 2);
    expect(Number(m![2])).toBeCloseTo(hi, 2);
    return [...row.slice(0, 3), String(capital)];
  });
}

async function governance(): Promise<AgencyGovernance> {
  return { policy: await parsePolicy(policyYaml, 'policy.yaml'), consent: { tokens, trustedIssuers: [platform] }, now: () => now };
}

describe.each([false, true])('lookup (blind: %s)', (blind) => {
  it('returns exactly the fields the policy exposes, of enterprises that consented, in query order', async () => {
    const r = await runLookup({
      queries: { file: queriesFile, idColumn: 'uscc' },
      register: { file: registerFile, idColumn: 'uscc' },
      request: { partner: 'bank-of-example', purpose: 'loan-verification', fields },
      blind,
      agency: await governance(),
      backend: 'x25519',
      threads: 0,
    });
    expect(r.ids).toEqual(queries);
    expect(checkBands(r.rows)).toEqual(plainAnswer());
    expect(r.answered).toBe(plainAnswer().filter((row) => row[0] !== null).length);
    if (blind) expect(r.evaluations).toBe(new Set(queries).size);
  });

  it('refuses a partner the policy does not know, naming the rule', async () => {
    await expect(
      runLookup({
        queries: { file: queriesFile, idColumn: 'uscc' },
        register: { file: registerFile, idColumn: 'uscc' },
        request: { partner: 'bank-of-elsewhere', purpose: 'loan-verification', fields },
        blind,
        agency: await governance(),
        backend: 'x25519',
        threads: 0,
      }),
    ).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', rule: 'partner.unknown' });
  });

  it('is audited on both sides, with enterprises only as salted hashes', async () => {
    const [agencyKey, bankAuditKey] = [generateKeyPair(), generateKeyPair()];
    const agencyLog = join(dir, `agency-${blind}.jsonl`);
    const bankLog = join(dir, `bank-${blind}.jsonl`);
    const agencyAudit = await AuditLog.open(agencyLog, { party: 'tax-bureau', key: agencyKey });
    const bankAudit = await AuditLog.open(bankLog, { party: 'bank-of-example', key: bankAuditKey });
    await runLookup({
      queries: { file: queriesFile, idColumn: 'uscc' },
      register: { file: registerFile, idColumn: 'uscc' },
      request: { partner: 'bank-of-example', purpose: 'loan-verification', fields },
      blind,
      agency: { ...(await governance()), audit: agencyAudit },
      bankAudit,
      backend: 'x25519',
      threads: 0,
    });
    expect(await verifyAuditLog(agencyLog, agencyKey.publicKey)).toMatchObject({ ok: true });
    expect(await verifyAuditLog(bankLog, bankAuditKey.publicKey)).toMatchObject({ ok: true });
    const [agencyText, bankText] = [readFileSync(agencyLog, 'utf8'), readFileSync(bankLog, 'utf8')];
    expect(bankText).toContain('"lookup.requested"');
    expect(bankText).toContain(bankAudit.hashId(uscc(3)));
    expect(agencyText).toContain(blind ? '"lookup.session"' : '"lookup.answered"');
    for (const id of queries) {
      expect(agencyText).not.toContain(id);
      expect(bankText).not.toContain(id);
    }
    // Blind: the agency never saw which enterprises were asked about, so its log cannot name them.
    if (blind) expect(agencyText).not.toContain(agencyAudit.hashId(uscc(3)));
  });
});

describe('banded exposure in a policy', () => {
  it('refuses a band on a field the purpose does not expose, or a width that is not positive, with its line', async () => {
    await expect(parsePolicy(policyYaml.replace('banded: { registered_capital_wan: 0.25 }', 'banded: { tax_credit_grade: 0.25 }'), 'p.yaml')).rejects.toMatchObject({
      code: 'E_POLICY_INVALID',
      message: expect.stringMatching(/^p\.yaml:12:\d+: field "purposes\.loan-verification\.banded\.tax_credit_grade": .*not exposed/),
    });
    await expect(parsePolicy(policyYaml.replace('registered_capital_wan: 0.25 }', 'registered_capital_wan: 0 }'), 'p.yaml')).rejects.toMatchObject({ code: 'E_POLICY_INVALID' });
  });
});

describe('jinqiao lookup (CLI contract)', () => {
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policyYaml);

  it.each([[[]], [['--blind']]])('writes id,<field>,… in query order with empty cells (%s)', async (mode) => {
    const prefix = join(dir, `platform-${mode.length}`);
    await saveKeyPair(prefix, platform);
    const out = join(dir, `answers-${mode.length}.csv`);
    // The CLI runs at today's date: issue tokens valid now.
    const fresh = join(dir, `tokens-now-${mode.length}.jsonl`);
    const today = Date.now();
    writeFileSync(
      fresh,
      consentedIds
        .map((enterprise) =>
          encodeConsentToken(
            issueConsent(platform, { enterprise, partners: ['bank-of-example'], purposes: ['loan-verification'], fields: granted, notBefore: new Date(today - 86_400_000), notAfter: new Date(today + 86_400_000) }),
          ),
        )
        .join('\n') + '\n',
    );
    const r = jinqiao(['lookup', queriesFile, registerFile, '--id', 'uscc', '--fields', 'vat_paid_wan,industry_code,tax_credit_grade,registered_capital_wan', '--purpose', 'loan-verification', '--partner', 'bank-of-example', '--consent', fresh, '--trust', `${prefix}.pub`, '--policy', policyFile, '--out', out, '--threads', '0', ...mode]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('id,vat_paid_wan,industry_code,tax_credit_grade,registered_capital_wan');
    // A band holds a comma, so the CSV quotes it.
    const rows = lines.slice(1).map((line) => {
      const m = /^([^,]*),([^,]*),([^,]*),([^,]*),(.*)$/.exec(line)!;
      const band = m[5]!.replace(/^"(.*)"$/, '$1');
      return [m[1], m[2] || null, m[3] || null, m[4] || null, band || null];
    });
    expect(rows.map((r) => r[0])).toEqual(queries);
    expect(checkBands(rows.map((r) => r.slice(1)))).toEqual(plainAnswer());
  });

  it('ends an invalid query ID with file:line:column, exit 2, and no output', () => {
    const bad = join(dir, 'bad-queries.csv');
    writeFileSync(bad, `uscc\n${uscc(1)}\nnot-a-code-at-all-x\n`);
    const out = join(dir, 'never.csv');
    const r = jinqiao(['lookup', bad, registerFile, '--id', 'uscc', '--fields', 'vat_paid_wan', '--purpose', 'loan-verification', '--id-type', 'uscc', '--out', out, '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:3:1`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('reads a register as psi prepare does: a repeated ID keeps its first row, invalid IDs are skipped, both counted', () => {
    const repeated = join(dir, 'repeated-register.csv');
    writeFileSync(repeated, `uscc,vat_paid_wan\n${uscc(1)},5\nnot-an-id,9\n${uscc(1)},6\n`);
    const queriesFile = join(dir, 'repeated-queries.csv');
    writeFileSync(queriesFile, `uscc\n${uscc(1)}\n`);
    for (const mode of [[], ['--blind']]) {
      const r = jinqiao(['lookup', queriesFile, repeated, '--id', 'uscc', '--id-type', 'uscc', '--fields', 'vat_paid_wan', '--purpose', 'p', '--threads', '0', '--json', ...mode]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ rows: [{ id: uscc(1), values: ['5'] }], registerRows: 3, registerInvalid: 1, registerInvalidLines: [3], registerRepeats: 1, registerRepeatLines: [4] });
    }
    const r = jinqiao(['lookup', queriesFile, repeated, '--id', 'uscc', '--id-type', 'uscc', '--fields', 'vat_paid_wan', '--purpose', 'p', '--threads', '0']);
    expect(r.stdout).toMatch(/skipped: +1 register rows with an invalid or empty ID .*\(lines 3\)/);
    expect(r.stdout).toMatch(/skipped: +1 register rows repeating an ID .*first row of each kept \(lines 4\)/);
  });
});
