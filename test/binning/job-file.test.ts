/**
 * A job file's `binning:` section: `jinqiao run` bins every party's features first (outputs
 * in <out>/binning/, the same as `jinqiao bin` on the same tables) and trains the scorecard
 * on those bins; a bad parameter names its field in the job file.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTrainingJob } from '../../src/local/job-file.ts';
import { jinqiao } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-bin-job-'));
const bank = ['uscc,defaulted,loan'];
const agency = ['uscc,vat_paid,employees'];
for (let i = 0; i < 1200; i++) {
  const id = uscc(30_000 + i);
  const risk = ((i * 7919) % 1000) / 1000;
  bank.push(`${id},${risk > 0.75 ? 1 : 0},${(i * 13) % 101}`);
  agency.push(`${id},${Math.round((1 - risk) * 500 + ((i * 31) % 50))},${(i * 7) % 53}`);
}
writeFileSync(join(dir, 'bank.csv'), bank.join('\n') + '\n');
writeFileSync(join(dir, 'tax.csv'), agency.join('\n') + '\n');

const job = (binning: string) => `job: bin-job
label: { name: bank, file: bank.csv, id: uscc, label: defaulted }
features:
  - { name: tax, file: tax.csv, id: uscc }
training: { epochs: 2, batchSize: 256, seed: bin-job, allowPartialScoreDisclosure: true }
${binning}
`;

describe('binning: in a job file', () => {
  it('names a bad binning parameter by its field', async () => {
    const cases: [string, RegExp][] = [
      ['binning: { bins: 1 }', /field "binning\.bins": must be a whole number in 2\.\.1000, got 1/],
      ['binning: { method: median }', /field "binning\.method": must be quantile or equal-width/],
      ['binning: { minBinShare: 0.7 }', /field "binning\.minBinShare"/],
      ['binning: { minIv: -1 }', /field "binning\.minIv": must be a number >= 0/],
      ['binning: { scorecard: yes please }', /field "binning\.scorecard"/],
      ['binning: { buckets: 5 }', /field "binning\.buckets": unknown parameter/],
      ['binning: 5', /field "binning": must be a mapping/],
    ];
    for (const [section, message] of cases) {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, job(section));
      await expect(loadTrainingJob(file), section).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(message) });
    }
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, job('binning: { bins: 5, minBinShare: 0.1 }'));
    expect((await loadTrainingJob(file)).binning).toEqual({ rule: { bins: 5, method: 'quantile', minBinShare: 0.1 }, scorecard: true });
  });

  it('refuses a scorecard job that keeps the weights encrypted, naming the field, before binning runs', async () => {
    const encrypted = (binning: string) => job(binning).replace('allowPartialScoreDisclosure: true }', 'allowPartialScoreDisclosure: true, keepEncrypted: true }');
    const file = join(dir, 'encrypted.yaml');
    writeFileSync(file, encrypted('binning: { bins: 5 }'));
    await expect(loadTrainingJob(file)).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(/encrypted\.yaml:5:\d+: field "training\.keepEncrypted": cannot be true in a scorecard job/) });
    // Binning without a scorecard trains on the raw features: encrypted weights are fine there.
    writeFileSync(file, encrypted('binning: { bins: 5, scorecard: false }'));
    expect((await loadTrainingJob(file)).training.config?.keepEncrypted).toBe(true);
  });

  it('jinqiao run bins first, as jinqiao bin does, then trains the scorecard on those bins', () => {
    const file = join(dir, 'job.yaml');
    const out = join(dir, 'out');
    writeFileSync(file, job('binning: { bins: 5, minBinShare: 0.1 }'));
    const r = jinqiao(['run', file, '--out', out, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    for (const f of ['binning.json', 'iv.csv', 'screening.json', 'report.html']) expect(summary.files).toContain(join(out, 'binning', f));
    expect(summary.files).toContain(join(out, 'scorecard.csv'));
    // The points scale is stored with the card, for `score --points` to read back.
    expect(summary.files).toContain(join(out, 'scorecard.json'));
    expect(JSON.parse(readFileSync(join(out, 'scorecard.json'), 'utf8'))).toEqual({ kind: 'jinqiao.scorecard-scale', version: 1, baseScore: 600, baseOdds: 50, pdo: 20 });
    // The same binning as `jinqiao bin` on the same tables and seed.
    const direct = join(dir, 'direct');
    const b = jinqiao(['bin', '--label', join(dir, 'bank.csv'), '--label-column', 'defaulted', '--features', `tax=${join(dir, 'tax.csv')}`, '--id', 'uscc', '--out', direct, '--bins', '5', '--min-bin-share', '0.1', '--seed', 'bin-job', '--threads', '0']);
    expect(b.code, b.stderr).toBe(0);
    const fromJob = JSON.parse(readFileSync(join(out, 'binning', 'binning.json'), 'utf8'));
    const fromBin = JSON.parse(readFileSync(join(direct, 'binning.json'), 'utf8'));
    // Party names differ (the job names its label party "bank"; `jinqiao bin` calls it "label"): the bins may not.
    expect(fromJob.parties.map((p: { party: string }) => p.party)).toEqual(['bank', 'tax']);
    expect({ ...fromJob, parties: fromJob.parties.map((p: { features: unknown }) => p.features) }).toEqual({ ...fromBin, parties: fromBin.parties.map((p: { features: unknown }) => p.features) });
    // The scorecard has a row per bin of every feature binned (reference bins included).
    const card = readFileSync(join(out, 'scorecard.csv'), 'utf8').trim().split('\n');
    expect(card[0]).toBe('party,feature,bin,points');
    const bins = fromJob.parties.flatMap((p: { features: { bins: unknown[]; missing: unknown }[] }) => p.features.map((f) => f.bins.length + (f.missing ? 1 : 0))).reduce((a: number, n: number) => a + n, 0);
    expect(card.filter((l) => !l.includes(',base,') && !l.startsWith('base') && l !== card[0]).length).toBeGreaterThanOrEqual(bins);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 240_000);
});
