/** What `jinqiao train` checks in its inputs before and while training (issue 10's fixes). */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jinqiao } from '../helpers/cli.ts';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-cli-train-input-'));
const guest = join(FATE_DATA_DIR, 'breast_hetero_guest.csv');
const host = join(FATE_DATA_DIR, 'breast_hetero_host.csv');
const guestLines = readFileSync(guest, 'utf8').trim().split('\n');

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The guest table with the ID cell of some lines (1-based, header = 1) replaced. */
function guestWithIds(name: string, ids: Record<number, string>): string {
  const lines = guestLines.map((l, i) => (ids[i + 1] === undefined ? l : [ids[i + 1], ...l.split(',').slice(1)].join(',')));
  return file(name, lines.join('\n') + '\n');
}

const idOf = (line: number) => guestLines[line - 1]!.split(',')[0]!;
const train = (label: string, out: string, ...more: string[]) =>
  jinqiao(['train', '--label', label, '--label-column', 'y', '--features', host, '--id', 'id', '--out', out, '--epochs', '1', '--batch-size', '128', '--quiet', '--allow-partial-score-disclosure', ...more]);

describe('jinqiao train reports the IDs alignment skips', () => {
  // Two empty IDs (lines 3 and 9) and two repeats of line 2's ID (lines 5 and 6).
  const messy = guestWithIds('messy.csv', { 3: '', 5: idOf(2), 6: ` ${idOf(2)}`, 9: '  ' });

  it('counts invalid and repeated IDs with their first lines in --json', () => {
    const r = train(messy, join(dir, 'messy-json'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.invalid).toEqual({ label: { count: 2, lines: [3, 9] }, breast_hetero_host: { count: 0, lines: [] } });
    expect(summary.duplicates).toEqual({ label: { count: 2, lines: [5, 6] }, breast_hetero_host: { count: 0, lines: [] } });
    expect(summary.rows).toBe(569 - 4);
  }, 120_000);

  it('warns on stderr without --json', () => {
    const r = train(messy, join(dir, 'messy-text'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`jinqiao: warning: skipped 2 invalid or empty IDs in ${messy} (lines 3, 9)`);
    expect(r.stderr).toContain(`jinqiao: warning: skipped 2 repeated IDs in ${messy}, keeping each first row (lines 5, 6)`);
  }, 120_000);

  it('makes the first invalid or repeated ID an error under --strict, with file, line and column', () => {
    const out = join(dir, 'never-strict');
    const invalid = train(messy, out, '--strict');
    expect(invalid.code).toBe(2);
    expect(invalid.stderr.trim().split('\n')).toEqual([expect.stringContaining(`error E_ID_INVALID: ${messy}:3:1 (column "id"): invalid ID ""`)]);
    const repeated = guestWithIds('repeated.csv', { 5: idOf(2) });
    const duplicate = train(repeated, out, '--strict');
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr.trim()).toContain(`error E_ID_DUPLICATE: ${repeated}:5:1 (column "id"): duplicate ID (first seen on line 2)`);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});

describe('jinqiao train checks what it can before training starts', () => {
  it('refuses an --out that is an existing file, leaving it as it was', () => {
    const out = file('taken.txt', 'keep me\n');
    const r = train(guest, out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`jinqiao: error E_OPTION_INVALID: option --out: ${out} is an existing file, not a folder (name a folder for the outputs (it is created if missing))`);
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
  });

  it('refuses a label column with one outcome only, naming the file and the column', () => {
    const allRepaid = file('all-repaid.csv', guestLines.map((l, i) => (i === 0 ? l : l.replace(/^([^,]*),[01],/, '$1,0,'))).join('\n') + '\n');
    const out = join(dir, 'never-one-class');
    const r = train(allRepaid, out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`error E_ONE_CLASS: ${allRepaid} (column "y"): every label is 0`)]);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses an agency table that holds the label column as a feature, naming the table and the column", () => {
    const hostLines = readFileSync(host, 'utf8').trim().split('\n');
    const leaky = file('leaky-host.csv', hostLines.map((l, i) => `${l},${i === 0 ? 'y' : i % 2}`).join('\n') + '\n');
    const out = join(dir, 'never-leaky');
    const r = jinqiao(['train', '--label', guest, '--label-column', 'y', '--features', leaky, '--id', 'id', '--out', out, '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`error E_LABEL_AMONG_FEATURES: ${leaky}: column "y" has the name of the label column`)]);
    expect(existsSync(out)).toBe(false);
  });
});

describe('jinqiao train: batch size and label column hints', () => {
  it('adapts the default batch size to small data (455 training rows) instead of failing', () => {
    const r = jinqiao(['train', '--label', guest, '--label-column', 'y', '--features', host, '--id', 'id', '--out', join(dir, 'small-default'), '--epochs', '1', '--quiet', '--json', '--allow-partial-score-disclosure']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ trainRows: 455, epochs: 1 });
  }, 120_000);

  it('says to raise a batch size too small for the feature count', () => {
    const r = train(guest, join(dir, 'never-small-batch'), '--batch-size', '40');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('batch size 40 gives batches of 37 rows, below 4 × 20');
    expect(r.stderr).toContain('(raise the batch size (--batch-size, batchSize in a job file) to at least 91');
  });

  it("names --label-column, not --id, when the label column is missing", () => {
    const r = jinqiao(['train', '--label', guest, '--label-column', 'default', '--features', host, '--id', 'id', '--out', join(dir, 'never-label'), '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no column "default" in the header');
    expect(r.stderr).toContain('(name the 0/1 outcome column with --label-column (label: in a job file))');
    expect(r.stderr).not.toContain('--id');
  });
});
