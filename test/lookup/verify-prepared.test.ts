/**
 * Verification at loan-book scale: the agency prepares its verification tags once per key
 * period (`psi prepare --field`), the bank verifies against them (`verify --prepared`), and
 * the answer is exactly the plain-set answer, the same as the in-process run's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimKeys, GRIDS, registerKeys } from '../../src/lookup/bands.ts';
import { readTagFile, writeTagFile } from '../../src/lookup/tag-file.ts';
import { parseFieldCheck, prepareVerification, runPreparedVerification, runVerification } from '../../src/lookup/verify.ts';
import { SeededRng } from '../../src/util/rng.ts';
import { jinqiao } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-verify-prepared-'));
const rng = SeededRng.fromSeed('prepared', 'verify-prepared-test');
const uniform = () => rng.nextBelow(1_000_000) / 1_000_000;
const register = Array.from({ length: 600 }, (_, i) => ({ id: uscc(i), vat: i % 13 === 0 ? '' : (1 + uniform() * 900).toFixed(2), staff: String(Math.floor(uniform() * 300)) }));
const ratios = [1, 1.04, 0.96, 1.12, 0.9, 1.3, 0.5, 2];
const claims = Array.from({ length: 400 }, (_, i) => {
  const held = i < 320;
  const source = register[(i * 11) % 600]!;
  return {
    id: held ? source.id : uscc(50_000 + i),
    vat: held && source.vat !== '' ? String(Number(source.vat) * ratios[i % ratios.length]!) : String(7 + i),
    staff: i % 4 === 0 ? String(Number(source.staff) + 2) : source.staff,
  };
});
const csv = (rows: readonly Record<string, string>[]) => 'id,vat,staff\n' + rows.map((r) => `${r.id},${r.vat},${r.staff}`).join('\n') + '\n';
const registerFile = join(dir, 'register.csv');
const claimsFile = join(dir, 'claims.csv');
writeFileSync(registerFile, csv(register));
writeFileSync(claimsFile, csv(claims));
const checks = [parseFieldCheck('vat:tol=0.1'), parseFieldCheck('staff')];

/** The answer on plain sets: a claim is consistent when its one key is among the register value's keys. */
function plainAnswer(fields: readonly ('vat' | 'staff')[]) {
  const held = new Map(register.map((r) => [r.id, r]));
  return claims.flatMap((c) =>
    fields.flatMap((field) => {
      const check = field === 'vat' ? { field, tolerance: 0.1 } : { field, tolerance: undefined };
      const actual = held.get(c.id)?.[field];
      return [{ id: c.id, field, consistent: actual !== undefined && actual !== '' && claimKeys(Number(c[field]), check).some((k) => registerKeys(Number(actual), check).includes(k)) }];
    }),
  );
}

describe('verification against prepared tags', () => {
  const tags = join(dir, 'verify.tags');
  const keyDir = join(dir, 'key');

  it('gives exactly the plain-set answer, as the in-process run does, with one agency evaluation per claim key', async () => {
    const prepared = await prepareVerification({ register: { file: registerFile, idColumn: 'id' }, checks, keyDir, backend: 'x25519', out: tags, threads: 0 });
    expect(prepared.register.rows).toBe(600);
    const r = await runPreparedVerification({ claims: { file: claimsFile, idColumn: 'id' }, prepared: tags, keyDir, threads: 0 });
    const expected = plainAnswer(['vat', 'staff']);
    expect(r.verdicts).toEqual(expected);
    expect(expected.filter((v) => v.consistent).length).toBeGreaterThan(200);
    expect(expected.filter((v) => !v.consistent).length).toBeGreaterThan(200);
    const inProcess = await runVerification({ claims: { file: claimsFile, idColumn: 'id' }, register: { file: registerFile, idColumn: 'id' }, checks, backend: 'x25519', threads: 0 });
    expect(r.verdicts).toEqual(inProcess.verdicts);
    // The tags hold every value once per grid: vat in each of the GRIDS grids, staff once;
    // the agency evaluates one key per row and field (claim or padding).
    expect(prepared.tags).toBe(register.filter((x) => x.vat !== '').length * GRIDS + register.length);
    expect(r.evaluations).toBe(claims.length * 2);
    expect(r.offlineSeconds).toBeGreaterThan(0);
  }, 120_000);

  it('checks a subset of the tag file’s fields, and refuses a field or a tolerance it was not prepared for', async () => {
    const r = await runPreparedVerification({ claims: { file: claimsFile, idColumn: 'id' }, prepared: tags, keyDir, checks: [parseFieldCheck('staff')], threads: 0 });
    expect(r.verdicts).toEqual(plainAnswer(['staff']));
    await expect(runPreparedVerification({ claims: { file: claimsFile, idColumn: 'id' }, prepared: tags, keyDir, checks: [parseFieldCheck('vat:tol=0.2')], threads: 0 })).rejects.toMatchObject({
      code: 'E_OPTION_INVALID',
      message: expect.stringContaining('vat:tol=0.1'),
    });
    await expect(runPreparedVerification({ claims: { file: claimsFile, idColumn: 'id' }, prepared: tags, keyDir, checks: [parseFieldCheck('capital')], threads: 0 })).rejects.toMatchObject({ code: 'E_OPTION_INVALID' });
  }, 60_000);

  it('refuses a verification tag file of the earlier two-key protocol, asking for the tags to be prepared again', async () => {
    // The same tags under the header an earlier jinqiao wrote: domain verify:[fields], whose tags hold two grids per tolerance value.
    const { header, tags: set } = await readTagFile(tags);
    const old = join(dir, 'two-key.tags');
    await writeTagFile(old, { ...header, domain: `verify:${JSON.stringify(header.fields)}` }, set);
    await expect(runPreparedVerification({ claims: { file: claimsFile, idColumn: 'id' }, prepared: old, keyDir, threads: 0 })).rejects.toMatchObject({
      code: 'E_OPTION_INVALID',
      message: expect.stringContaining('earlier jinqiao, for two keys per tolerance claim'),
      hint: expect.stringContaining('prepare the tags again'),
    });
  }, 60_000);

  it('CLI: psi prepare --field, then verify --prepared writes the same verdicts', () => {
    const cliTags = join(dir, 'cli.tags');
    const cliKey = join(dir, 'cli-key');
    let r = jinqiao(['psi', 'prepare', registerFile, '--id', 'id', '--key', cliKey, '--out', cliTags, '--field', 'vat:tol=0.1', '--field', 'staff', '--threads', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 600, fields: ['vat:tol=0.1', 'staff'] });
    const out = join(dir, 'verdicts.csv');
    r = jinqiao(['verify', claimsFile, '--prepared', cliTags, '--key', cliKey, '--id', 'id', '--out', out, '--threads', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.onlineSeconds).toBeGreaterThan(0);
    expect(summary.offlineSeconds).toBeGreaterThan(0);
    const expected = plainAnswer(['vat', 'staff']);
    expect(readFileSync(out, 'utf8')).toBe('id,field,consistent\n' + expected.map((v) => `${v.id},${v.field},${v.consistent}`).join('\n') + '\n');
    r = jinqiao(['verify', claimsFile, registerFile, '--prepared', cliTags, '--key', cliKey, '--id', 'id']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('either <register.csv> or --prepared');
    // --audit: both sides log the session; the bank's claims as salted hashes, never a value or an ID in clear.
    const audit = join(dir, 'audit');
    r = jinqiao(['verify', claimsFile, '--prepared', cliTags, '--key', cliKey, '--id', 'id', '--audit', audit, '--threads', '0']);
    expect(r.code, r.stderr).toBe(0);
    const entries = (file: string) => readFileSync(join(audit, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, unknown> });
    const bank = entries('bank.jsonl');
    expect(bank.map((e) => e.type)).toEqual(['log.opened', 'verify.start', 'verify.run']);
    expect(bank[1]!.details).toMatchObject({ mode: 'prepared', fields: ['vat:tol=0.1', 'staff'], claims: expected.length });
    expect(bank[2]!.details).toMatchObject({ claims: expected.length, consistent: expected.filter((v) => v.consistent).length });
    expect((bank[2]!.details.enterprises as string[]).length).toBe(new Set(claims.map((c) => c.id)).size);
    const bankText = readFileSync(join(audit, 'bank.jsonl'), 'utf8');
    for (const c of claims.slice(0, 50)) expect(bankText).not.toContain(c.id);
    expect(entries('agency.jsonl').some((e) => e.type === 'verify.answered')).toBe(true);
  }, 120_000);
});
