import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimKeys, gridWidth, registerKeys, type FieldCheck } from '../../src/lookup/bands.ts';
import { parseFieldCheck, runVerification } from '../../src/lookup/verify.ts';
import { jinqiao } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';
import { SeededRng } from '../../src/util/rng.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-verify-'));
const tol = 0.1;

/** Register: 400 enterprises with VAT paid (wan), insured staff and a housing-fund flag; some cells empty. */
function generate(seed: number) {
  const rng = SeededRng.fromSeed(String(seed), 'verify-test');
  const uniform = () => rng.nextBelow(1_000_000) / 1_000_000;
  const register: { id: string; vat: string; staff: string }[] = [];
  for (let i = 0; i < 400; i++) {
    register.push({ id: uscc(i), vat: i % 17 === 0 ? '' : (1 + uniform() * 500).toFixed(2), staff: String(Math.floor(uniform() * 200)) });
  }
  // Claims: half about held enterprises at chosen ratios, some about unknown ones, some negative or zero.
  const ratios = [1, 1.05, 0.95, 1.0999, 1 / 1.0999, 1.15, 0.87, 1.2101, 1 / 1.2101, 2, 0.5];
  const claims: { id: string; vat: string; staff: string; ratio?: number }[] = [];
  for (let i = 0; i < 300; i++) {
    const held = i < 250;
    const source = register[(i * 7) % 400]!;
    const ratio = ratios[i % ratios.length]!;
    const vat = held && source.vat !== '' ? String(Number(source.vat) * ratio) : (10 + i).toString();
    const staff = i % 3 === 0 ? String(Number(source.staff) + 1) : i % 5 === 0 ? '' : source.staff;
    claims.push({ id: held ? source.id : uscc(10_000 + i), vat, staff, ratio: held && source.vat !== '' ? ratio : undefined });
  }
  return { register, claims };
}

function csv(header: string[], rows: readonly Record<string, unknown>[]): string {
  return [header.join(','), ...rows.map((r) => header.map((h) => r[h]).join(','))].join('\n') + '\n';
}

/** Consistent: the claim's one key is among the register value's keys. */
const meets = (claimed: number, actual: number, check: FieldCheck) => claimKeys(claimed, check).some((k) => registerKeys(actual, check).includes(k));

/** The answer on plain sets, claim by claim. */
function plainAnswer(register: ReturnType<typeof generate>['register'], claims: ReturnType<typeof generate>['claims']) {
  const held = new Map(register.map((r) => [r.id, r]));
  const out: { id: string; field: string; consistent: boolean }[] = [];
  for (const c of claims) {
    for (const [field, check] of [['vat', { field: 'vat', tolerance: tol }], ['staff', { field: 'staff', tolerance: undefined }]] as const) {
      const claimed = c[field];
      if (claimed === '') continue;
      const actual = held.get(c.id)?.[field];
      out.push({ id: c.id, field, consistent: actual !== undefined && actual !== '' && meets(Number(claimed), Number(actual), check) });
    }
  }
  return out;
}

describe('blind verification', () => {
  const { register, claims } = generate(7);
  const registerFile = join(dir, 'register.csv');
  const claimsFile = join(dir, 'claims.csv');
  writeFileSync(registerFile, csv(['id', 'vat', 'staff'], register));
  writeFileSync(claimsFile, csv(['id', 'vat', 'staff'], claims));

  it('gives exactly the plain-set answer, claim by claim, in claim order', async () => {
    const r = await runVerification({
      claims: { file: claimsFile, idColumn: 'id' },
      register: { file: registerFile, idColumn: 'id' },
      checks: [parseFieldCheck('vat:tol=0.1'), parseFieldCheck('staff')],
      backend: 'x25519',
      threads: 0,
    });
    const expected = plainAnswer(register, claims);
    expect(r.verdicts).toEqual(expected);
    // Every row (each about a distinct enterprise here) takes one key per field, tolerance or
    // not, an empty cell a padding key: the agency's count says how many rows, not which
    // fields they claim.
    expect(expected.length).toBeLessThan(claims.length * 2);
    expect(r.evaluations).toBe(claims.length * 2);
    expect(expected.filter((v) => v.consistent).length).toBeGreaterThan(100);
    expect(expected.filter((v) => !v.consistent).length).toBeGreaterThan(100);
  });

  it('always accepts a claim within a factor 1 + r and always rejects one (1 + r)^(8/3) or more away', async () => {
    const r = await runVerification({
      claims: { file: claimsFile, idColumn: 'id' },
      register: { file: registerFile, idColumn: 'id' },
      checks: [parseFieldCheck('vat:tol=0.1')],
      backend: 'x25519',
      threads: 0,
    });
    const withRatio = claims.filter((c) => c.vat !== '');
    withRatio.forEach((c, i) => {
      if (c.ratio === undefined) return;
      const d = Math.abs(Math.log(c.ratio));
      if (d < Math.log1p(tol)) expect(r.verdicts[i]!.consistent, `ratio ${c.ratio}`).toBe(true);
      if (d >= gridWidth(tol)) expect(r.verdicts[i]!.consistent, `ratio ${c.ratio}`).toBe(false);
    });
  });

  it('holds both bounds for every pair of values, at every tolerance, on one key per claim', () => {
    let seed = 7;
    const uniform = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const r of [0.01, 0.1, 0.25, 1, 10]) {
      const check = { field: 'vat', tolerance: r };
      for (let i = 0; i < 4000; i++) {
        const a = Math.exp(40 * uniform() - 20);
        const d = (2 * uniform() - 1) * 1.2 * gridWidth(r);
        const c = a * Math.exp(d);
        expect(claimKeys(c, check)).toHaveLength(1);
        if (Math.abs(d) < Math.log1p(r) * (1 - 1e-12)) expect(meets(c, a, check), `r ${r}, a ${a}, c ${c}`).toBe(true);
        if (Math.abs(d) >= gridWidth(r) * (1 + 1e-12)) expect(meets(c, a, check), `r ${r}, a ${a}, c ${c}`).toBe(false);
      }
    }
  });

  it('has a grey zone between the two bounds, where the grid decides', () => {
    const check = { field: 'vat', tolerance: tol };
    const outcomes = new Set<boolean>();
    for (let a = 1; a < 1000; a *= 1.013) outcomes.add(meets(a * 1.15, a, check));
    expect([...outcomes].sort()).toEqual([false, true]);
  });

  it('checks equality without a tolerance: the same number in any spelling, and nothing else', () => {
    const check = { field: 'staff', tolerance: undefined };
    expect(claimKeys(Number('120'), check)).toEqual(registerKeys(Number('120.0'), check));
    expect(claimKeys(Number('1.2e2'), check)).toEqual(registerKeys(120, check));
    expect(claimKeys(121, check)).not.toEqual(registerKeys(120, check));
    expect(claimKeys(-0, check)).toEqual(registerKeys(0, check));
  });

  it('tells zero, negative and positive values apart under a tolerance', () => {
    const check = { field: 'vat', tolerance: tol };
    const meet = (c: number, a: number) => meets(c, a, check);
    expect(meet(0, 0)).toBe(true);
    expect(meet(0, 1e-9)).toBe(false);
    expect(meet(-5, 5)).toBe(false);
    expect(meet(-5, -5.2)).toBe(true);
  });
});

describe('jinqiao verify (CLI contract)', () => {
  const registerFile = join(dir, 'cli-register.csv');
  writeFileSync(registerFile, `id,vat,staff\n${uscc(1)},120,35\n${uscc(2)},80,12\n`);

  it('writes id,field,consistent per claim', () => {
    const claimsFile = join(dir, 'cli-claims.csv');
    writeFileSync(claimsFile, `id,vat,staff\n${uscc(1)},125,35\n${uscc(2)},100,\n${uscc(3)},120,35\n`);
    const out = join(dir, 'verdicts.csv');
    const r = jinqiao(['verify', claimsFile, registerFile, '--id', 'id', '--field', 'vat:tol=0.1', '--field', 'staff', '--out', out, '--threads', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(
      `id,field,consistent\n${uscc(1)},vat,true\n${uscc(1)},staff,true\n${uscc(2)},vat,false\n${uscc(3)},vat,false\n${uscc(3)},staff,false\n`,
    );
  });

  it('ends an invalid USCC or a non-numeric claim with file:line:column, exit 2, and no output', () => {
    const out = join(dir, 'never.csv');
    const badId = join(dir, 'bad-id.csv');
    const wrongCheck = uscc(2).slice(0, 17) + (uscc(2)[17] === '0' ? '1' : '0');
    writeFileSync(badId, `id,vat\n${uscc(1)},1\n${wrongCheck},2\n`);
    let r = jinqiao(['verify', badId, registerFile, '--id', 'id', '--field', 'vat', '--out', out, '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${badId}:3:1`);
    expect(r.stderr).toContain('E_ID_INVALID');
    const badValue = join(dir, 'bad-value.csv');
    writeFileSync(badValue, `id,vat\n${uscc(1)},12o\n`);
    r = jinqiao(['verify', badValue, registerFile, '--id', 'id', '--field', 'vat:tol=0.1', '--out', out, '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${badValue}:2:20`);
    expect(r.stderr).toContain('E_VALUE_NOT_NUMERIC');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a tolerance that is not a positive number and a field the files lack', () => {
    const claimsFile = join(dir, 'cli-claims.csv');
    let r = jinqiao(['verify', claimsFile, registerFile, '--id', 'id', '--field', 'vat:tol=-1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--field');
    r = jinqiao(['verify', claimsFile, registerFile, '--id', 'id', '--field', 'housing_fund']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_COLUMN_MISSING');
  });

  it('reads a register as psi prepare does: a repeated ID keeps its first row, invalid IDs are skipped, both counted', () => {
    const repeated = join(dir, 'repeated-register.csv');
    // USCC 1 twice with two values: only the first (5) is the register's; line 5's ID is invalid.
    writeFileSync(repeated, `id,vat\n${uscc(1)},5\n${uscc(2)},8\n${uscc(1)},6\nnot-an-id,9\n`);
    const claimsFile = join(dir, 'repeated-claims.csv');
    writeFileSync(claimsFile, `id,vat\n${uscc(1)},6\n${uscc(1)},5\n`);
    const out = join(dir, 'repeated-verdicts.csv');
    let r = jinqiao(['verify', claimsFile, repeated, '--id', 'id', '--field', 'vat', '--id-type', 'uscc', '--out', out, '--threads', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ consistent: 1, registerRows: 4, registerInvalid: 1, registerInvalidLines: [5], registerRepeats: 1, registerRepeatLines: [4] });
    expect(readFileSync(out, 'utf8')).toBe(`id,field,consistent\n${uscc(1)},vat,false\n${uscc(1)},vat,true\n`);
    r = jinqiao(['verify', claimsFile, repeated, '--id', 'id', '--field', 'vat', '--id-type', 'uscc', '--threads', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 register rows with an invalid or empty ID');
    expect(r.stdout).toContain('1 register rows repeating an ID');
    // The prepared tags follow the same rule, and psi prepare reports it.
    const tags = join(dir, 'repeated.tags');
    r = jinqiao(['psi', 'prepare', repeated, '--id', 'id', '--id-type', 'uscc', '--key', join(dir, 'repeated-key'), '--out', tags, '--field', 'vat', '--threads', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 4, invalid: 1, repeats: 1, repeatLines: [4] });
    const strict = jinqiao(['psi', 'prepare', repeated, '--id', 'id', '--id-type', 'uscc', '--key', join(dir, 'repeated-key'), '--out', join(dir, 'strict.tags'), '--field', 'vat', '--strict', '--threads', '0']);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain(`${repeated}:5:1`);
    r = jinqiao(['verify', claimsFile, '--prepared', tags, '--key', join(dir, 'repeated-key'), '--id', 'id', '--threads', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).verdicts.map((v: { consistent: boolean }) => v.consistent)).toEqual([false, true]);
  });
});
