import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jinqiao } from '../helpers/cli.ts';
import { idCsv, uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-cli-'));
const left = join(dir, 'left.csv');
const right = join(dir, 'right.csv');
writeFileSync(left, idCsv([uscc(1), ` ${uscc(2).toLowerCase()} `, uscc(3), uscc(4)]));
writeFileSync(right, idCsv([uscc(4), uscc(2), uscc(9)]));

describe('jinqiao psi (CLI contract)', () => {
  it('prints one JSON object with the counts and timings', () => {
    const r = jinqiao(['psi', left, right, '--id', 'id', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ intersection: 2, left: 4, right: 3 });
    expect(out.seconds).toBeGreaterThan(0);
    expect(out.idsPerSecond).toBeGreaterThan(0);
  });

  it('writes the intersection one ID per line in the left file spelling', () => {
    const out = join(dir, 'common.txt');
    const r = jinqiao(['psi', left, right, '--id', 'id', '--out', out]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(`${uscc(2).toLowerCase()}\n${uscc(4)}\n`);
  });

  it('ends a bad row with one line naming file, line and column, exit 2, and no partial output', () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `id,amount\n${uscc(1)},1\n${uscc(2)},2,3\n`);
    const out = join(dir, 'never.txt');
    const r = jinqiao(['psi', bad, right, '--id', 'id', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${bad}:3:`);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('names a missing column and a missing file with exit code 2', () => {
    const col = jinqiao(['psi', left, right, '--id', 'uscc']);
    expect(col.code).toBe(2);
    expect(col.stderr).toMatch(/no column "uscc".*columns: id, amount/);
    const file = jinqiao(['psi', join(dir, 'nope.csv'), right, '--id', 'id']);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/nope\.csv: cannot read the file \(no such file\)/);
  });

  it('makes invalid IDs an error under --strict, with their position', () => {
    const typo = join(dir, 'typo.csv');
    writeFileSync(typo, idCsv([uscc(1), '91350100M000100Y44']));
    const r = jinqiao(['psi', typo, right, '--id', 'id', '--strict']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${typo}:3:1 (column "id"): invalid ID "91350100M000100Y44": check character is 4, expected 3`);
  });

  it('ends --strict on an invalid ID among 20k rows with exit 2 and one line, every time, whichever side holds it', () => {
    // The other party's in-flight worker tasks are refused once the pool is torn down;
    // that used to surface as an unhandled piscina AbortError (exit 1) about half the time.
    const ids = (from: number) => Array.from({ length: 20_000 }, (_, i) => uscc(from + i));
    const good = join(dir, 'big-good.csv');
    const bad = join(dir, 'big-bad.csv');
    writeFileSync(good, idCsv(ids(0)));
    const badIds = ids(5_000);
    badIds[10_000] = '91350100M000100Y44';
    writeFileSync(bad, idCsv(badIds));
    for (const [l, r] of [[good, bad], [bad, good], [good, bad], [bad, good], [good, bad], [bad, good]] as const) {
      const run = jinqiao(['psi', l, r, '--id', 'id', '--strict']);
      expect(run.stderr.trim().split('\n')).toEqual([expect.stringContaining(`error E_ID_INVALID: ${bad}:10002:1`)]);
      expect(run.code).toBe(2);
    }
  }, 120_000);

  it('refuses an --out that is one of the input files, however it is spelled', () => {
    const before = readFileSync(right, 'utf8');
    const link = join(dir, 'right-link.csv');
    symlinkSync(right, link);
    for (const out of [right, link, join(dir, '.', 'right.csv')]) {
      const r = jinqiao(['psi', left, right, '--id', 'id', '--out', out]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`jinqiao: error E_OPTION_INVALID: option --out: ${out} is the input file ${right}; writing there would replace it (name a new file for --out)`);
      expect(readFileSync(right, 'utf8')).toBe(before);
    }
  });

  it('pads both sets with --pad-to, and says what to do when a set is larger', () => {
    const padded = jinqiao(['psi', left, right, '--id', 'id', '--json', '--pad-to', '50', '--threads', '0']);
    expect(padded.code, padded.stderr).toBe(0);
    const out = JSON.parse(padded.stdout);
    expect(out).toMatchObject({ intersection: 2, left: 4, right: 3 });
    // 50 values of 32 bytes each way, besides the hello: the sizes 4 and 3 do not show.
    expect(out.bytesSent.left).toBeGreaterThan(2 * 50 * 32);
    const plain = JSON.parse(jinqiao(['psi', left, right, '--id', 'id', '--json', '--threads', '0']).stdout);
    expect(plain.bytesSent.left).toBeLessThan(2 * 5 * 32 + 400);

    const small = jinqiao(['psi', left, right, '--id', 'id', '--pad-to', '3']);
    expect(small.code).toBe(2);
    expect(small.stderr.trim().split('\n')).toEqual([expect.stringContaining('option --pad-to: 3 is smaller than the 4 distinct IDs of the left side')]);
    expect(small.stderr).toContain('--pad-to 4 or more');
    for (const bad of ['abc', '0']) {
      const r = jinqiao(['psi', left, right, '--id', 'id', '--pad-to', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toContain('--pad-to');
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    }
  });

  it('rejects unknown options and values with exit code 2', () => {
    expect(jinqiao(['psi', left, right, '--id', 'id', '--reveal', 'everyone']).code).toBe(2);
    expect(jinqiao(['psi', left, right, '--id', 'id', '--threads', 'many']).code).toBe(2);
    expect(jinqiao(['psi', left]).code).toBe(2);
  });

  it('has --help on every command', () => {
    for (const args of [['--help'], ['psi', '--help'], ['train', '--help'], ['run', '--help']]) {
      const r = jinqiao(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: jinqiao/);
    }
  });
});
