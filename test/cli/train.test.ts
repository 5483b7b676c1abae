import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jinqiao } from '../helpers/cli.ts';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-cli-train-'));
const guest = join(FATE_DATA_DIR, 'breast_hetero_guest.csv');
const host = join(FATE_DATA_DIR, 'breast_hetero_host.csv');
const SME = resolve(import.meta.dirname, '../../examples/sme-credit');

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A copy of the breast guest table with one cell replaced. */
function guestWith(name: string, line: number, column: number, value: string): string {
  const lines = readFileSync(guest, 'utf8').trim().split('\n');
  const cells = lines[line - 1]!.split(',');
  cells[column - 1] = value;
  lines[line - 1] = cells.join(',');
  return file(name, lines.join('\n') + '\n');
}

function expectCleanFailure(args: string[], out: string, pattern: RegExp): void {
  const r = jinqiao([...args, '--quiet']);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.includes('jinqiao-tmp'))).toEqual([]);
}

describe('jinqiao train (CLI contract)', () => {
  it('writes predictions, metrics, a manifest and one model per party, and prints JSON', () => {
    const out = join(dir, 'breast-model');
    const r = jinqiao(['train', '--label', guest, '--label-column', 'y', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out, '--epochs', '3', '--batch-size', '128', '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ rows: 569, epochs: 3 });
    expect(summary.auc).toBeGreaterThan(0.9);
    expect(summary.ks).toBeGreaterThan(0.5);
    expect(summary.seconds).toBeGreaterThan(0);
    expect(readdirSync(out).sort()).toEqual(['manifest.json', 'metrics.json', 'model-breast_hetero_host.json', 'model-label.json', 'predictions.csv', 'report.html']);
    const predictions = readFileSync(join(out, 'predictions.csv'), 'utf8').trim().split('\n');
    expect(predictions[0]).toBe('id,score');
    expect(predictions).toHaveLength(1 + summary.validationRows);
    const [, score] = predictions[1]!.split(',');
    expect(Number(score)).toBeGreaterThanOrEqual(0);
    expect(Number(score)).toBeLessThanOrEqual(1);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.lossCurve).toHaveLength(3);
    expect(metrics.auc).toBe(summary.auc);
  }, 300_000);

  it('stops at a label that is not 0/1, naming file, line and column, writing nothing', () => {
    const bad = guestWith('label2.csv', 7, 2, '2');
    const out = join(dir, 'never-1');
    expectCleanFailure(['train', '--label', bad, '--label-column', 'y', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out], out, new RegExp(`${bad}:7:\\d+ \\(column "y"\\): label "2" is not 0 or 1`));
  });

  it('stops at a non-numeric feature cell with its position', () => {
    const bad = guestWith('text.csv', 12, 4, 'n/a-ish');
    const out = join(dir, 'never-2');
    expectCleanFailure(['train', '--label', bad, '--label-column', 'y', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out], out, new RegExp(`${bad}:12:\\d+ \\(column "x1"\\): "n/a-ish" is not a number`));
  });

  it('refuses ID columns of different kinds, an empty intersection and a missing column', () => {
    const out = join(dir, 'never-3');
    const usccHost = join(SME, 'tax_bureau.csv');
    const mixed = file('mixed.csv', readFileSync(usccHost, 'utf8').replace(/^uscc,/, 'id,'));
    expectCleanFailure(['train', '--label', guest, '--label-column', 'y', '--features', mixed, '--id', 'id', '--allow-partial-score-disclosure', '--out', out], out, /ID columns differ/);
    const disjoint = file('disjoint.csv', 'id,x0\n100000,1\n100001,2\n');
    expectCleanFailure(['train', '--label', guest, '--label-column', 'y', '--features', disjoint, '--id', 'id', '--allow-partial-score-disclosure', '--out', out], out, /no enterprise in common/);
    expectCleanFailure(['train', '--label', guest, '--label-column', 'default', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out], out, /no column "default"/);
  });

  it('refuses too few rows for a batch and a batch too small to hide the residuals', () => {
    const out = join(dir, 'never-4');
    expectCleanFailure(['train', '--label', guest, '--label-column', 'y', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out, '--batch-size', '5000'], out, /exceeds the 455 training rows/);
    expectCleanFailure(['train', '--label', guest, '--label-column', 'y', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out, '--batch-size', '40'], out, /below 4 × 20/);
  });

  it('rejects option values outside their range with the option named', () => {
    const out = join(dir, 'never-5');
    expectCleanFailure(['train', '--label', guest, '--label-column', 'y', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out, '--validation-fraction', '1.5'], out, /option validationFraction: must be between 0 and 1/);
    expectCleanFailure(['train', '--label', guest, '--label-column', 'y', '--features', host, '--id', 'id', '--allow-partial-score-disclosure', '--out', out, '--epochs', '0'], out, /option epochs/);
  });
});

describe('jinqiao train: what each party learns', () => {
  it('refuses a single-agency job, whose validation totals would show the bank the agency\'s partial scores, unless allowed', () => {
    const out = join(dir, 'never-single');
    expectCleanFailure(['train', '--label', guest, '--label-column', 'y', '--features', host, '--id', 'id', '--out', out], out, /E_PARTIAL_SCORE_DISCLOSURE|partial scores/);
  });

  it('--transcript: in a three-agency job each agency sees at most 2·F numbers in the clear, the bank two per batch, validation row and own weight', () => {
    const out = join(dir, 'sme-transcript');
    const transcripts = join(dir, 'sme-transcripts');
    const r = jinqiao([
      'train', '--label', join(SME, 'bank.csv'), '--label-column', 'defaulted', '--id', 'uscc', '--out', out, '--epochs', '2', '--batch-size', '1024', '--json', '--quiet', '--transcript', transcripts,
      '--features', `tax=${join(SME, 'tax_bureau.csv')}`, '--features', `social=${join(SME, 'social_insurance.csv')}`, '--features', `utilities=${join(SME, 'utilities.csv')}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { trainRows: number; validationRows: number; epochs: number };
    expect(readdirSync(transcripts).sort()).toEqual(['arbiter.jsonl', 'label.jsonl', 'social.jsonl', 'tax.jsonl', 'utilities.jsonl']);
    const clearCount = (party: string) => {
      const lines = readFileSync(join(transcripts, `${party}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { from: string; type: string; fields: Record<string, unknown> });
      for (const line of lines) expect(Object.keys(line).sort()).toEqual(['fields', 'from', 'type']);
      let count = 0;
      const walk = (v: unknown): void => {
        if (typeof v === 'number' && !Number.isInteger(v)) count++;
        else if (Array.isArray(v)) v.forEach(walk);
      };
      for (const line of lines) Object.values(line.fields).forEach(walk);
      return { count, lines };
    };
    for (const agency of ['tax', 'social', 'utilities']) {
      const F = (JSON.parse(readFileSync(join(out, `model-${agency}.json`), 'utf8')) as { featureNames: string[] }).featureNames.length;
      const { count, lines } = clearCount(agency);
      expect(count, agency).toBeLessThanOrEqual(2 * F);
      expect(count, agency).toBeGreaterThan(0);
      // Ciphertexts appear as their length only.
      expect(lines.find((l) => l.type === 'train.residual')!.fields.residual).toEqual([{ bytes: expect.any(Number) }]);
    }
    const batches = summary.epochs * Math.ceil(summary.trainRows / 1024);
    const bankWeights = (JSON.parse(readFileSync(join(out, 'model-label.json'), 'utf8')) as { featureNames: string[] }).featureNames.length + 1;
    expect(clearCount('label').count).toBeLessThanOrEqual(2 * batches + 2 * summary.validationRows + 2 * bankWeights);
    expect(clearCount('arbiter').count).toBe(0);
  }, 300_000);
});

describe('jinqiao run (job files)', () => {
  it('runs a job file with FATE role names and writes where it says', () => {
    const out = join(dir, 'from-job');
    const job = file('job.yaml', `job: breast-job\nguest:\n  file: ${guest}\n  id: id\n  label: y\nhost:\n  file: ${host}\n  id: id\ntraining:\n  epochs: 2\n  batchSize: 128\n  allowPartialScoreDisclosure: true\nout: ${out}\n`);
    const r = jinqiao(['run', job, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ jobId: 'breast-job', epochs: 2, rows: 569 });
    expect(existsSync(join(out, 'metrics.json'))).toBe(true);
  }, 300_000);

  it('names the field of an invalid job file, and the line and column of a syntax error', () => {
    const unknown = file('unknown.yaml', `label:\n  file: ${guest}\n  id: id\n  label: y\nfeatures:\n  - file: ${host}\n    id: id\ntraining:\n  epoch: 3\n`);
    const r = jinqiao(['run', unknown, '--out', join(dir, 'never-6')]);
    expect(r.code).toBe(2);
    // The key's own line and column, then the names it could be.
    expect(r.stderr).toMatch(/unknown\.yaml:9:3: field "training\.epoch": unknown parameter \(expected one of: seed, epochs, /);
    const broken = file('broken.yaml', 'label:\n  file: [unclosed\n  id: id\n');
    const s = jinqiao(['run', broken, '--out', join(dir, 'never-7')]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/broken\.yaml:\d+:\d+: not valid YAML or JSON/);
  });

  it('the bundled example job file is valid', async () => {
    const { loadTrainingJob } = await import('../../src/local/job-file.ts');
    const job = await loadTrainingJob(join(SME, 'job.yaml'));
    expect(job.training.features).toHaveLength(3);
    expect(job.training.config).toMatchObject({ epochs: 8, batchSize: 1024 });
  });
});
