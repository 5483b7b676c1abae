/**
 * `jinqiao monitor` end to end through the CLI, on the bundled example: a model trained by
 * `jinqiao train`, then three monitoring runs over the bank's whole book — the second with
 * the tax bureau's records changed, the third with them restored — and inputs it must refuse.
 *
 * Every figure the command prints or keeps is checked against a computation in this file
 * that shares no code with src/: each enterprise's probability by hand from the model files
 * and the raw CSV cells, the population stability index from its textbook definition, the
 * warnings from the two runs' kept scores and the README's rule (crossed the threshold
 * either way, or moved by more than --delta).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { jinqiao, type CliResult } from '../helpers/cli.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const BANK = join(SME, 'bank.csv');
const TAX = join(SME, 'tax_bureau.csv');
const SOCIAL = join(SME, 'social_insurance.csv');
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-cli-monitor-'));
const model = join(dir, 'model');
const runs = join(dir, 'runs');
// Liveness bounds for a 2-core machine under heavy load, not expectations of speed.
const CLI_TIMEOUT_MS = 300_000;

/** The tax bureau's records a quarter later: half the enterprises pay half the VAT and file late twice more, the other half pay twice the VAT and file on time. */
const changedTax = join(dir, 'tax_bureau-changed.csv');

const monitor = (taxFile: string, runsDir: string, ...extra: string[]): CliResult =>
  // The tax bureau lets the bank see its partial scores, the fund does not: the tax bureau's
  // drift reaches the bank, the fund's is withheld.
  jinqiao(['monitor', '--model', model, '--label', BANK, '--features', `tax-bureau=${taxFile}`, '--features', `social-insurance=${SOCIAL}`, '--id', 'uscc', '--runs', runsDir, '--disclose-partial-scores', 'tax-bureau', ...extra], { timeoutMs: CLI_TIMEOUT_MS });

// ---- The independent reference ------------------------------------------------------------

interface Table {
  readonly ids: string[];
  readonly rows: Map<string, Record<string, string>>;
}

/** A bundled CSV as plain cells (no quotes, no duplicates in these files). */
function readTable(file: string): Table {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.trim().split(','));
  const ids: string[] = [];
  const rows = new Map<string, Record<string, string>>();
  for (const cells of lines) {
    ids.push(cells[0]!);
    rows.set(cells[0]!, Object.fromEntries(header!.map((name, j) => [name, cells[j] ?? ''])));
  }
  return { ids, rows };
}

interface Slice {
  readonly featureNames: string[];
  readonly weights: number[];
  readonly intercept: number | null;
  readonly scaler: { readonly means: number[]; readonly scales: number[]; readonly clip: number | null };
}

const slice = (party: string): Slice => JSON.parse(readFileSync(join(model, `model-${party}.json`), 'utf8')) as Slice;

/** A party's part of the logit from its model file and one raw row: standardise, clip, weigh. */
function partial(s: Slice, row: Record<string, string>): number {
  let z = s.intercept ?? 0;
  s.featureNames.forEach((name, j) => {
    const cell = row[name]!.trim();
    if (cell === '' || cell === 'NA') return; // a missing cell is imputed with the training mean: 0 once standardised
    const clip = s.scaler.clip ?? Infinity;
    z += s.weights[j]! * Math.min(clip, Math.max(-clip, (Number(cell) - s.scaler.means[j]!) / s.scaler.scales[j]!));
  });
  return z;
}

interface HandBook {
  /** Logit of every enterprise the run scores, in the book's order. */
  readonly logits: Map<string, number>;
  readonly notScored: number;
  /** Each agency's partial scores of the records it scores (the input of its own drift index). */
  readonly agencyPartials: { readonly 'tax-bureau': number[]; readonly 'social-insurance': number[] };
}

/**
 * The book as the README says monitoring scores it: an enterprise held by both agencies gets
 * all three parts; one held by neither, the bank's part (each agency adds its training mean,
 * 0); one held by the tax bureau alone, the bank's and the tax bureau's (it allows
 * disclosure); one held by the fund alone is refused (the fund does not).
 */
function handBook(taxFile: string): HandBook {
  const [bank, tax, social] = [readTable(BANK), readTable(taxFile), readTable(SOCIAL)];
  const [bankSlice, taxSlice, socialSlice] = [slice('label'), slice('tax-bureau'), slice('social-insurance')];
  const logits = new Map<string, number>();
  const agencyPartials = { 'tax-bureau': [] as number[], 'social-insurance': [] as number[] };
  let notScored = 0;
  for (const id of bank.ids) {
    const [t, s] = [tax.rows.get(id), social.rows.get(id)];
    if (t === undefined && s !== undefined) {
      notScored++;
      continue;
    }
    let z = partial(bankSlice, bank.rows.get(id)!);
    if (t && !s) {
      const pt = partial(taxSlice, t);
      agencyPartials['tax-bureau'].push(pt);
      logits.set(id, z + pt);
      continue;
    }
    if (t && s) {
      const [pt, ps] = [partial(taxSlice, t), partial(socialSlice, s)];
      agencyPartials['tax-bureau'].push(pt);
      agencyPartials['social-insurance'].push(ps);
      z += pt + ps;
    }
    logits.set(id, z);
  }
  return { logits, notScored, agencyPartials };
}

const probability = (z: number) => 1 / (1 + Math.exp(-z));
const logit = (p: number) => Math.log(p / (1 - p));

/**
 * Population stability index by its definition (src/score/stability.ts's header): ten bins
 * cut at the reference sample's deciles, equal cuts merged, a value on a cut in the bin above
 * it, each bin's share floored at 1e-4; PSI = Σ (actual − expected) · ln(actual / expected).
 */
function psi(reference: readonly number[], actual: readonly number[]): number {
  const sorted = [...reference].sort((a, b) => a - b);
  const cuts = [...new Set([1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => sorted[Math.floor((k * sorted.length) / 10)]!))];
  const shares = (sample: readonly number[]) => {
    const counts = new Array<number>(cuts.length + 1).fill(0);
    for (const x of sample) counts[cuts.filter((c) => c <= x).length]!++;
    return counts.map((c) => Math.max(c / sample.length, 1e-4));
  };
  const [e, a] = [shares(reference), shares(actual)];
  return e.reduce((sum, ek, k) => sum + (a[k]! - ek) * Math.log(a[k]! / ek), 0);
}

interface Warning {
  readonly id: string;
  readonly previous: number;
  readonly current: number;
  readonly reason: string;
}

/** The README's warnings, in the book's order, for enterprises scored in both runs. */
function warnings(previous: Record<string, number>, current: Record<string, number>, threshold: number, delta: number): Warning[] {
  const out: Warning[] = [];
  for (const id of readTable(BANK).ids) {
    const [before, now] = [previous[id], current[id]];
    if (before === undefined || now === undefined) continue;
    const reason = before < threshold && now >= threshold ? 'crossed-up' : before >= threshold && now < threshold ? 'crossed-down' : Math.abs(now - before) > delta ? 'moved' : undefined;
    if (reason) out.push({ id, previous: before, current: now, reason });
  }
  return out;
}

interface KeptRun {
  readonly scores: Record<string, number>;
  readonly scoreDrift: number | null;
  readonly agencyDrift: Record<string, number | null>;
  readonly alerts: Warning[];
  readonly summary: { enterprises: number; meanProbability: number; aboveThreshold: number; notScored: number };
}

const runFiles = (runsDir: string) => (existsSync(runsDir) ? readdirSync(runsDir).filter((f) => /^run-.*\.json$/.test(f)).sort() : []);
const keptRun = (file: string): KeptRun => JSON.parse(readFileSync(file, 'utf8')) as KeptRun;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The run's scores are the hand logits to the arbiter's reveal: the masked total is rounded
 * to a 2^-9 grid on its second pass (src/lr/arbiter-client.ts), and under CKKS the masked
 * value (about 2^40) decodes through doubles with an error of up to about a quarter of that
 * grid. So within one grid step; measured on this book: median 2^-11 (the rounding's), max
 * 1.5 × 2^-10, about 8% of scores beyond the half step that rounding alone would give.
 */
const REVEAL_BOUND = 2 ** -9;

function expectScoresByHand(run: KeptRun, book: HandBook): void {
  expect(Object.keys(run.scores).sort()).toEqual([...book.logits.keys()].sort());
  let worst = 0;
  for (const [id, z] of book.logits) worst = Math.max(worst, Math.abs(logit(run.scores[id]!) - z));
  expect(worst).toBeLessThanOrEqual(REVEAL_BOUND);
}

/** One line on stderr naming what and what to do, exit 2, no stack trace, and nothing kept. */
function expectCleanRefusal(r: CliResult, pattern: RegExp, runsDir: string, filesBefore: readonly string[]): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^jinqiao: error E_[A-Z_]+: /);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
  expect(r.stdout).toBe('');
  expect(runFiles(runsDir)).toEqual(filesBefore);
}

// ---- The runs -----------------------------------------------------------------------------

let original: HandBook;
let changed: HandBook;

beforeAll(() => {
  const train = jinqiao(
    ['train', '--label', BANK, '--label-column', 'defaulted', '--features', `tax-bureau=${TAX}`, '--features', `social-insurance=${SOCIAL}`, '--id', 'uscc', '--out', model, '--epochs', '2', '--batch-size', '1024', '--seed', 'monitor-cli', '--job-id', 'monitor-cli', '--json', '--quiet'],
    { timeoutMs: CLI_TIMEOUT_MS },
  );
  expect(train.code, train.stderr).toBe(0);
  const [header, ...lines] = readFileSync(TAX, 'utf8').trim().split('\n');
  const columns = header!.split(',');
  const [vat, late] = [columns.indexOf('vat_paid_wan'), columns.indexOf('late_filings_24m')];
  const shifted = lines.map((line, i) => {
    const cells = line.split(',');
    if (cells[vat] !== '') cells[vat] = String(i % 2 === 0 ? Number(cells[vat]) / 2 : Number(cells[vat]) * 2);
    if (cells[late] !== '') cells[late] = String(i % 2 === 0 ? Number(cells[late]) + 2 : 0);
    return cells.join(',');
  });
  writeFileSync(changedTax, [header, ...shifted].join('\n') + '\n');
  original = handBook(TAX);
  changed = handBook(changedTax);
}, CLI_TIMEOUT_MS + 60_000);

describe('jinqiao monitor through the CLI', () => {
  it("a first run rescores the book to the model files' probabilities and says there is nothing to compare with", () => {
    const r = monitor(TAX, runs);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const files = runFiles(runs);
    expect(files).toHaveLength(1);
    const run = keptRun(join(runs, files[0]!));
    expectScoresByHand(run, original);

    const handProbabilities = [...original.logits.values()].map(probability);
    const summary = /^rescored (\d+) enterprises: mean probability (\d\.\d{4}), (\d+) at or above 0\.3; (\d+) not scored \(held by one agency whose policy does not allow disclosing its partial score\)$/.exec(lines[0]!);
    expect(summary, lines[0]).not.toBeNull();
    const [, enterprises, meanShown, above, notScored] = summary!;
    expect(Number(enterprises)).toBe(original.logits.size);
    expect(Number(notScored)).toBe(original.notScored);
    expect(Number(enterprises) + Number(notScored)).toBe(readTable(BANK).ids.length);
    // Printed to 4 decimals; each probability is within REVEAL_BOUND / 4 of the hand one (the sigmoid's slope is at most 1/4).
    const pBound = REVEAL_BOUND / 4;
    expect(Math.abs(Number(meanShown) - mean(handProbabilities))).toBeLessThanOrEqual(5e-5 + pBound);
    // Enterprises within that bound of 0.3 may fall either side; no others.
    const count = (p: (x: number) => boolean) => handProbabilities.filter(p).length;
    expect(Number(above)).toBeGreaterThanOrEqual(count((p) => p >= 0.3 + pBound));
    expect(Number(above)).toBeLessThanOrEqual(count((p) => p >= 0.3 - pBound));
    expect(run.summary).toEqual({ enterprises: original.logits.size, meanProbability: expect.closeTo(mean(Object.values(run.scores)), 12), aboveThreshold: Object.values(run.scores).filter((p) => p >= 0.3).length, notScored: original.notScored });

    expect(lines.slice(1)).toEqual([
      'first run: nothing to compare with yet',
      '  tax-bureau: drift n/a (first run)',
      "  social-insurance: drift withheld (the agency's policy does not disclose its partial scores, or the model is kept encrypted)",
      `run saved: ${join(runs, files[0]!)}`,
      `report: ${join(runs, 'report.html')}`,
    ]);
    expect(run.scoreDrift).toBeNull();
    expect(run.alerts).toEqual([]);
    expect(readFileSync(join(runs, 'report.html'), 'utf8')).toContain('<svg');
    // Each agency keeps its own partial scores for its next drift index, and nothing else.
    expect(readdirSync(join(runs, 'agencies')).sort()).toEqual(['social-insurance.json', 'tax-bureau.json']);
  }, CLI_TIMEOUT_MS);

  it("a second run on changed tax records measures the drift of the total score and of each agency's part, and warns", () => {
    const r = monitor(changedTax, runs, '--json', '--threshold', '0.3', '--delta', '0.05');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { run: string; report: string; previousRuns: number } & Omit<KeptRun, 'scores'>;
    const files = runFiles(runs);
    expect(files).toHaveLength(2);
    expect(out.run).toBe(join(runs, files[1]!));
    expect(out.previousRuns).toBe(1);
    const [first, second] = files.map((f) => keptRun(join(runs, f)));
    expectScoresByHand(second!, changed);

    // The drift of the total score, from the two runs' kept scores.
    const expectedDrift = psi(Object.values(first!.scores), Object.values(second!.scores));
    // Non-trivial: two runs on the same records differ by the reveal's rounding only, which moves the index by less than 1e-4.
    expect(expectedDrift).toBeGreaterThan(0.01);
    expect(out.scoreDrift).toBeCloseTo(expectedDrift, 12);
    // The tax bureau's drift, from its partial scores by hand (it moved); the fund's never reaches the bank.
    const taxDrift = psi(original.agencyPartials['tax-bureau'], changed.agencyPartials['tax-bureau']);
    expect(taxDrift).toBeGreaterThan(0.01);
    expect(out.agencyDrift['tax-bureau']).toBeCloseTo(taxDrift, 9);
    expect(out.agencyDrift['social-insurance']).toBe('withheld');

    const expected = warnings(first!.scores, second!.scores, 0.3, 0.05);
    expect(expected.length).toBeGreaterThan(10);
    expect(new Set(expected.map((w) => w.reason))).toEqual(new Set(['crossed-up', 'crossed-down', 'moved']));
    expect(out.alerts).toEqual(expected);
    const values = Object.values(second!.scores);
    expect(out.summary).toEqual({ enterprises: changed.logits.size, meanProbability: expect.closeTo(mean(values), 12), aboveThreshold: values.filter((p) => p >= 0.3).length, notScored: changed.notScored });
    expect(second).toMatchObject({ scoreDrift: out.scoreDrift, agencyDrift: out.agencyDrift, alerts: out.alerts, summary: out.summary });
    expect(out.report).toBe(join(runs, 'report.html'));
  }, CLI_TIMEOUT_MS);

  it('a third run, the records restored, prints the same figures it keeps', () => {
    const r = monitor(TAX, runs);
    expect(r.code, r.stderr).toBe(0);
    const files = runFiles(runs);
    expect(files).toHaveLength(3);
    const [, second, third] = files.map((f) => keptRun(join(runs, f)));
    expectScoresByHand(third!, original);
    const expected = warnings(second!.scores, third!.scores, 0.3, 0.1);
    expect(expected.length).toBeGreaterThan(20); // the listing shows the first 20
    const lines = r.stdout.trim().split('\n');
    expect(lines[1]).toBe(`score drift (PSI-index) ${psi(Object.values(second!.scores), Object.values(third!.scores)).toFixed(4)}; ${expected.length} warnings`);
    expect(lines[2]).toBe(`  tax-bureau: drift ${psi(changed.agencyPartials['tax-bureau'], original.agencyPartials['tax-bureau']).toFixed(4)}`);
    expect(lines[3]).toBe("  social-insurance: drift withheld (the agency's policy does not disclose its partial scores, or the model is kept encrypted)");
    expect(lines.slice(4, 24)).toEqual(expected.slice(0, 20).map((w) => `  ${w.reason.padEnd(12)} ${w.id}  ${w.previous.toFixed(4)} -> ${w.current.toFixed(4)}`));
    expect(lines.slice(24)).toEqual([`run saved: ${join(runs, files[2]!)}`, `report: ${join(runs, 'report.html')}`]);
  }, CLI_TIMEOUT_MS);

  describe('refuses bad input with one line, exit 2, and keeps no run', () => {
    it('a feature cell that is not a number, by file, line and column', () => {
      const lines = readFileSync(TAX, 'utf8').split('\n');
      const cells = lines[11]!.split(',');
      cells[1] = 'n/a';
      lines[11] = cells.join(',');
      const bad = join(dir, 'tax_bureau-bad-cell.csv');
      writeFileSync(bad, lines.join('\n'));
      const before = runFiles(runs);
      const agencyState = readFileSync(join(runs, 'agencies', 'tax-bureau.json'), 'utf8');
      expectCleanRefusal(monitor(bad, runs), new RegExp(`E_VALUE_NOT_NUMERIC: ${bad}:12:\\d+ \\(column "vat_paid_wan"\\): "n/a" is not a number \\(feature columns must hold decimal numbers`), runs, before);
      expect(readFileSync(join(runs, 'agencies', 'tax-bureau.json'), 'utf8')).toBe(agencyState);
    }, CLI_TIMEOUT_MS);

    it('a threshold or delta that is not a probability, naming the option, before any run is kept', () => {
      const fresh = join(dir, 'runs-options');
      expectCleanRefusal(monitor(TAX, fresh, '--threshold', '1.5'), /option --threshold: "1\.5" is not a probability between 0 and 1 \(/, fresh, []);
      expectCleanRefusal(monitor(TAX, fresh, '--delta', '2'), /option --delta: "2" is not a probability between 0 and 1 \(/, fresh, []);
      expectCleanRefusal(monitor(TAX, fresh, '--threshold', 'high'), /option --threshold: "high" is not a probability between 0 and 1 \(/, fresh, []);
      expect(existsSync(fresh)).toBe(false);
    }, 3 * CLI_TIMEOUT_MS);

    it('a kept run that is damaged, naming the file and what to do', () => {
      const damaged = join(dir, 'runs-damaged');
      mkdirSync(damaged);
      const file = join(damaged, 'run-2026-01-01T00-00-00-000Z.json');
      writeFileSync(file, '{"kind":"jinqiao.monitoring-run","version":1,"sco');
      expectCleanRefusal(monitor(TAX, damaged), new RegExp(`E_MODEL_INVALID: ${file}: not a jinqiao monitoring run \\(.*JSON.*\\) \\(move the file out of ${damaged}`), damaged, ['run-2026-01-01T00-00-00-000Z.json']);
    }, CLI_TIMEOUT_MS);

    it("an agency's kept partial scores that are damaged, naming the file and what to do", () => {
      const damaged = join(dir, 'runs-damaged-agency');
      mkdirSync(join(damaged, 'agencies'), { recursive: true });
      const file = join(damaged, 'agencies', 'tax-bureau.json');
      for (const text of ['[0.1, 0.2', '{"scores": [0.1]}', '[0.1, "x"]']) {
        writeFileSync(file, text);
        expectCleanRefusal(monitor(TAX, damaged), new RegExp(`E_MODEL_INVALID: ${file}: not the partial scores of tax-bureau's last monitoring run .*\\(delete the file`), damaged, []);
      }
    }, 3 * CLI_TIMEOUT_MS);
  });
});
