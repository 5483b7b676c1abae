/**
 * The CLI contract of `psi prepare`, `psi --prepared`, `verify` and `lookup` around their
 * files and options: an output never replaces an input (a table, a tag file, the OPRF key);
 * an option that would be ignored is refused; each refusal names its cause and what to do.
 */
import { mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jinqiao, type CliResult } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-prepared-guards-'));
const register = join(dir, 'register.csv');
const claims = join(dir, 'claims.csv');
const keyDir = join(dir, 'keys');
const tags = join(dir, 'register.tags');
const verifyTags = join(dir, 'verify.tags');
writeFileSync(register, `id,vat\n${uscc(1)},120\n${uscc(2)},80\n${uscc(3)},45\n`);
writeFileSync(claims, `id,vat\n${uscc(1)},120\n${uscc(2)},81\n${uscc(9)},7\n`);

function prepared(): void {
  for (const args of [['--out', tags], ['--out', verifyTags, '--field', 'vat']]) {
    const r = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', keyDir, '--threads', '0', ...args]);
    expect(r.code, r.stderr).toBe(0);
  }
}

/** Refused with one line, exit 2, naming `option` and `words`. */
function expectRefused(r: CliResult, option: string, words: RegExp): void {
  expect(r.code, r.stdout).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(`option ${option}:`);
  expect(r.stderr).toMatch(words);
}

describe('--out never replaces an input', () => {
  it('psi prepare refuses the OPRF key, a file in the key folder (also through a link) and the register, before writing anything', () => {
    const fresh = join(dir, 'fresh-keys');
    // A new key folder: the key would be made, then replaced by the tag file.
    let r = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', fresh, '--out', join(fresh, 'oprf.key'), '--threads', '0']);
    expectRefused(r, '--out', /in the folder .*fresh-keys of --key/);
    expect(() => statSync(fresh)).toThrow();
    prepared();
    const key = readFileSync(join(keyDir, 'oprf.key'));
    r = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', keyDir, '--out', join(keyDir, 'oprf.key'), '--threads', '0']);
    expectRefused(r, '--out', /name a file outside/);
    expect(readFileSync(join(keyDir, 'oprf.key'))).toEqual(key);
    symlinkSync(keyDir, join(dir, 'key-link'));
    r = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', keyDir, '--out', join(dir, 'key-link', 'oprf.key'), '--field', 'vat', '--threads', '0']);
    expectRefused(r, '--out', /of --key/);
    expect(readFileSync(join(keyDir, 'oprf.key'))).toEqual(key);
    const before = readFileSync(register, 'utf8');
    r = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', keyDir, '--out', register, '--threads', '0'], { cwd: dir });
    expectRefused(r, '--out', /is the input file/);
    expect(readFileSync(register, 'utf8')).toBe(before);
  });

  it('psi --prepared, verify and lookup refuse their inputs under any spelling', () => {
    prepared();
    const tagBytes = readFileSync(tags);
    const cases: [string[], string][] = [
      [['psi', claims, '--prepared', tags, '--key', keyDir, '--id', 'id', '--out', tags], tags],
      [['psi', 'claims.csv', '--prepared', tags, '--key', keyDir, '--id', 'id', '--out', './claims.csv'], claims],
      [['psi', claims, '--prepared', tags, '--key', keyDir, '--id', 'id', '--audit', join(dir, 'audit'), '--out', join(dir, 'audit', 'agency.jsonl')], ''],
      [['verify', claims, register, '--id', 'id', '--field', 'vat', '--out', claims], claims],
      [['verify', claims, register, '--id', 'id', '--field', 'vat', '--out', register], register],
      [['verify', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--out', verifyTags], verifyTags],
      [['verify', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--out', join(keyDir, 'oprf.key')], ''],
      [['verify', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--out', join(keyDir, 'new', 'verdicts.csv')], ''],
      [['lookup', claims, register, '--id', 'id', '--fields', 'vat', '--purpose', 'p', '--out', claims], claims],
      [['lookup', claims, register, '--id', 'id', '--fields', 'vat', '--purpose', 'p', '--out', register], register],
    ];
    for (const [args, input] of cases) {
      const contents = input === '' ? undefined : readFileSync(input);
      const r = jinqiao([...args, '--threads', '0'], { cwd: dir });
      expectRefused(r, '--out', /replace/);
      if (contents) expect(readFileSync(input)).toEqual(contents);
    }
    expect(readFileSync(tags)).toEqual(tagBytes);
    // Refused before the audit folder was made.
    expect(() => statSync(join(dir, 'audit'))).toThrow();
  });
});

describe('options that would be ignored are refused', () => {
  it('--key, --max-evaluations and --audit apply only with --prepared', () => {
    prepared();
    const audit = join(dir, 'unused-audit');
    let r = jinqiao(['verify', claims, register, '--id', 'id', '--field', 'vat', '--audit', audit, '--max-evaluations', '5', '--threads', '0']);
    expectRefused(r, '--max-evaluations', /only with --prepared/);
    r = jinqiao(['verify', claims, register, '--id', 'id', '--field', 'vat', '--audit', audit, '--threads', '0']);
    expectRefused(r, '--audit', /only with --prepared/);
    r = jinqiao(['psi', claims, register, '--id', 'id', '--key', keyDir, '--audit', audit, '--threads', '0']);
    expectRefused(r, '--key', /only with --prepared/);
    // A bad limit with --prepared is refused before the audit folder is made.
    r = jinqiao(['psi', claims, '--prepared', tags, '--key', keyDir, '--id', 'id', '--audit', audit, '--max-evaluations', 'ten', '--threads', '0']);
    expectRefused(r, '--max-evaluations', /not a whole number/);
    r = jinqiao(['verify', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--audit', audit, '--max-evaluations', 'ten', '--threads', '0']);
    expectRefused(r, '--max-evaluations', /not a whole number/);
    expect(() => statSync(audit)).toThrow();
  });

  it('psi --prepared refuses --job-id, and a --backend or --id-type other than the tag file names', () => {
    prepared();
    const base = ['psi', claims, '--prepared', tags, '--key', keyDir, '--id', 'id', '--threads', '0'];
    expectRefused(jinqiao([...base, '--job-id', 'j1']), '--job-id', /leave out --job-id/);
    expectRefused(jinqiao([...base, '--backend', 'ristretto255-noble']), '--backend', /prepared with backend x25519, not ristretto255-noble/);
    expectRefused(jinqiao([...base, '--id-type', 'plain']), '--id-type', /holds uscc IDs, not plain/);
    expectRefused(jinqiao(['verify', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--backend', 'ristretto255-noble']), '--backend', /not ristretto255-noble/);
    const same = jinqiao([...base, '--backend', 'x25519', '--json']);
    expect(same.code, same.stderr).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ intersection: 2 });
  });
});

describe('refusals say their cause and what to do', () => {
  it('a tag file of another key names --key and how to prepare it, not a protocol version', () => {
    prepared();
    const otherKey = join(dir, 'other-keys');
    expect(jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', otherKey, '--out', join(dir, 'other.tags'), '--threads', '0']).code).toBe(0);
    for (const args of [
      ['psi', claims, '--prepared', tags, '--key', otherKey, '--id', 'id'],
      ['verify', claims, '--prepared', verifyTags, '--key', otherKey, '--id', 'id'],
    ]) {
      const r = jinqiao([...args, '--threads', '0']);
      expectRefused(r, '--key', /was prepared under key [0-9a-f]{32}; the key in .*other-keys is/);
      expect(r.stderr).toContain('prepare the tags again with this key');
      expect(r.stderr).not.toContain('same jinqiao version');
    }
  });

  it('a session over --max-evaluations says to raise the limit', () => {
    prepared();
    for (const args of [
      ['psi', claims, '--prepared', tags, '--key', keyDir, '--id', 'id', '--max-evaluations', '1'],
      ['verify', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--max-evaluations', '1'],
    ]) {
      const r = jinqiao([...args, '--threads', '0']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('more than the 1 evaluations this agency grants');
      expect(r.stderr).toContain('--max-evaluations');
      expect(r.stderr).not.toContain('same jinqiao version');
    }
  });

  it('psi --prepared given verification tags points to verify --prepared', () => {
    prepared();
    const r = jinqiao(['psi', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--threads', '0']);
    expectRefused(r, '--prepared', /holds verification tags.*jinqiao verify <claims.csv> --prepared/);
  });

  it('a bad ID in verify or lookup does not send the user to --strict, which they lack', () => {
    const bad = join(dir, 'bad-claims.csv');
    writeFileSync(bad, `id,vat\n${uscc(1)},1\n${uscc(2).slice(0, 17)}X,2\n`);
    for (const args of [
      ['verify', bad, register, '--id', 'id', '--field', 'vat', '--id-type', 'uscc'],
      ['lookup', bad, register, '--id', 'id', '--fields', 'vat', '--purpose', 'p', '--id-type', 'uscc'],
    ]) {
      const r = jinqiao([...args, '--threads', '0']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('E_ID_INVALID');
      expect(r.stderr).not.toContain('--strict');
      expect(r.stderr).toContain('--id-type plain');
    }
  });

  it('a missing field names --field / --fields and lists the columns; the ID column as a field is named as such', () => {
    let r = jinqiao(['verify', claims, register, '--id', 'id', '--field', 'nosuch', '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no column "nosuch" in the header \(columns: id, vat\) \(name an existing column with --field/);
    r = jinqiao(['lookup', claims, register, '--id', 'id', '--fields', 'vat,nosuch', '--purpose', 'p', '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/columns: id, vat\) \(name existing columns of the register with --fields\)/);
    r = jinqiao(['verify', claims, register, '--id', 'id', '--field', 'id', '--threads', '0']);
    expectRefused(r, '--field', /"id" is the ID column \(--id\)/);
    r = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', join(dir, 'id-field-keys'), '--out', join(dir, 'id-field.tags'), '--field', 'id', '--threads', '0']);
    expectRefused(r, '--field', /is the ID column/);
  });

  it('a truncated tag file, or one whose header was altered, is to be prepared again', () => {
    prepared();
    const bytes = readFileSync(verifyTags);
    const cut = join(dir, 'cut.tags');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    let r = jinqiao(['verify', claims, '--prepared', cut, '--key', keyDir, '--id', 'id', '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/truncated or altered.*prepare it again/);
    expect(r.stderr).not.toContain('file permissions');
    const headerLength = bytes.readUInt32LE(8);
    const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8'));
    const altered = Buffer.from(JSON.stringify({ ...header, offlineSeconds: 'soon' }));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(altered.length);
    const alteredFile = join(dir, 'altered.tags');
    writeFileSync(alteredFile, Buffer.concat([bytes.subarray(0, 8), length, altered, bytes.subarray(12 + headerLength)]));
    r = jinqiao(['verify', claims, '--prepared', alteredFile, '--key', keyDir, '--id', 'id', '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/offlineSeconds "soon" is not a number of seconds.*prepare it again/);
  });
});

describe('reports', () => {
  it('tagFileBytes is the size of the file written; verify --prepared reports no register counts it does not know', () => {
    mkdirSync(join(dir, 'sizes'), { recursive: true });
    for (const extra of [[], ['--field', 'vat']]) {
      const out = join(dir, 'sizes', `t${extra.length}.tags`);
      const r = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', keyDir, '--out', out, '--threads', '0', '--json', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).tagFileBytes).toBe(statSync(out).size);
    }
    const r = jinqiao(['verify', claims, '--prepared', verifyTags, '--key', keyDir, '--id', 'id', '--threads', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ registerRows: null, registerInvalid: null, registerRepeats: null, consistent: 1 });
  });
});
