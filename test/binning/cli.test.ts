/** `jinqiao bin` as a user runs it: outputs on success; on bad input one line naming the feature, exit 2, nothing written. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jinqiao } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-bin-cli-'));

function tables(agencyCell: (i: number) => string): { bank: string; agency: string } {
  const bank = ['uscc,defaulted,loan'];
  const agency = ['uscc,vat_paid,employees'];
  for (let i = 0; i < 1000; i++) {
    const id = uscc(20_000 + i);
    bank.push(`${id},${(i * 37) % 5 === 0 ? 1 : 0},${(i * 13) % 101}`);
    agency.push(`${id},${agencyCell(i)},${(i * 7) % 53}`);
  }
  const b = join(dir, 'bank.csv');
  const a = join(dir, 'tax.csv');
  writeFileSync(b, bank.join('\n') + '\n');
  writeFileSync(a, agency.join('\n') + '\n');
  return { bank: b, agency: a };
}

describe('jinqiao bin', () => {
  it('writes binning.json, iv.csv (by IV descending), screening.json and report.html, and prints a JSON summary', () => {
    const { bank, agency } = tables((i) => String((i * 7919) % 1000));
    const out = join(dir, 'out-ok');
    const r = jinqiao(['bin', '--label', bank, '--label-column', 'defaulted', '--features', agency, '--id', 'uscc', '--out', out, '--bins', '5', '--threads', '0', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ rows: 1000, bads: 200, features: 3 });
    const json = JSON.parse(readFileSync(join(out, 'binning.json'), 'utf8'));
    expect(json.parties.map((p: { party: string }) => p.party)).toEqual(['label', 'tax']);
    for (const f of json.parties.flatMap((p: { features: unknown[] }) => p.features)) {
      expect(f.edges[0]).toBeNull();
      expect(f.edges.at(-1)).toBeNull();
      expect(f.edges).toHaveLength(f.bins.length + 1);
    }
    const ivs = readFileSync(join(out, 'iv.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[2]));
    expect(ivs).toEqual([...ivs].sort((a, b) => b - a));
    expect(existsSync(join(out, 'screening.json'))).toBe(true);
    // The bank's report: the IV chart and one WOE chart per feature.
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    expect(report.match(/<svg/g)).toHaveLength(1 + 3);
    for (const f of json.parties.flatMap((p: { party: string; features: { name: string }[] }) => p.features.map((x) => `${p.party}/${x.name}`))) expect(report).toContain(`WOE of ${f}`);
  }, 120_000);

  it('refuses a feature with one distinct value, naming the file and the feature, with exit 2 and no output', () => {
    const { bank, agency } = tables(() => '42');
    const out = join(dir, 'out-constant');
    const r = jinqiao(['bin', '--label', bank, '--label-column', 'defaulted', '--features', agency, '--id', 'uscc', '--out', out, '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^jinqiao: error E_FEATURE_UNBINNABLE: .*tax\.csv: feature "vat_paid": every value is 42: one distinct value holds no information \(drop the feature\)\n$/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it('refuses a bin size that would isolate a few enterprises, naming the option', () => {
    const { bank, agency } = tables((i) => String(i));
    const out = join(dir, 'out-tiny');
    const r = jinqiao(['bin', '--label', bank, '--label-column', 'defaulted', '--features', agency, '--id', 'uscc', '--out', out, '--bins', '200', '--min-bin-share', '0.002', '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/option --min-bin-share: 0.002 of 1000 aligned rows allows bins of 2 enterprise\(s\); a bin must hold at least 10/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it('refuses a scorecard job whose --binning file is not a binning.json, before any party starts, with exit 2 and no output', () => {
    const { bank, agency } = tables((i) => String(i));
    const notBinning = join(dir, 'not-binning.json');
    writeFileSync(notBinning, JSON.stringify({ parties: [{ party: 'label', features: [{ name: 'loan', edges: [0, 1, null] }] }] }));
    const out = join(dir, 'out-scorecard');
    const r = jinqiao(['train', '--label', bank, '--label-column', 'defaulted', '--features', agency, '--id', 'uscc', '--out', out, '--binning', notBinning, '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_MODEL_INVALID: .*not-binning\.json: parties\[0\]\.features\[0\]\.edges must be null, increasing numbers, null/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('refuses a scorecard job with --keep-encrypted, whose points would need the weights in the clear, with exit 2 and no output', () => {
    const { bank, agency } = tables((i) => String(i));
    const binning = join(dir, 'binning-loan.json');
    writeFileSync(binning, JSON.stringify({ parties: [{ party: 'label', features: [{ name: 'loan', edges: [null, 50, null], missing: null }] }] }));
    const out = join(dir, 'out-encrypted-scorecard');
    const r = jinqiao(['train', '--label', bank, '--label-column', 'defaulted', '--features', agency, '--id', 'uscc', '--out', out, '--binning', binning, '--keep-encrypted', '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_OPTION_INVALID: option --keep-encrypted: a scorecard's points per bin are computed from every party's final weights in the clear/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
