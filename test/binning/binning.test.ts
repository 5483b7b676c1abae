/**
 * Federated binning, as a specification: what an agency's bins look like before anything
 * leaves it, how bad input is refused, and that every bin's counts, WOE and IV equal a
 * plaintext computation on the same bins (counts exactly, WOE and IV to 1e-9), on FATE's
 * default_credit and on generated data, with the mock backend and once under CKKS.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binFeature, MIN_BIN_ENTERPRISES, type BinningRule } from '../../src/binning/bins.ts';
import { runBinningInProcess, type InProcessBinningOptions } from '../../src/binning/in-process.ts';
import { binningJson, ivCsv, screeningJson } from '../../src/binning/output.ts';
import { featureEvidence } from '../../src/binning/woe.ts';
import { columnIndexOf, productColumnsOf } from '../../src/binning/protocol.ts';
import { NO_COLUMN } from '../../src/he/backend.ts';
import { chooseRowsPerChunk, sumCiphertextsFor } from '../../src/he/coefficients.ts';
import { isJinqiaoError } from '../../src/errors.ts';
import { SeededRng } from '../../src/util/rng.ts';
import { uscc } from '../helpers/ids.ts';
import { commonIds, plainFeature, readPlainCsv } from '../helpers/plaintext-binning.ts';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-binning-'));
const QUANTILE: BinningRule = { bins: 10, method: 'quantile', minBinShare: 0.05 };
const source = { file: 'agency.csv', feature: 'vat' };

function column(values: readonly number[]): Float64Array {
  return Float64Array.from(values);
}

function caught(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isJinqiaoError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an error');
}

describe('binning a feature, inside its party', () => {
  it('puts about a tenth of the rows in each quantile bin, and every value in the bin its edges say', () => {
    const values = column(Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000));
    const bins = binFeature(values, 1, 0, QUANTILE, source);
    expect(bins.counts).toEqual(new Array(10).fill(100));
    expect(bins.edges[0]).toBe(-Infinity);
    expect(bins.edges.at(-1)).toBe(Infinity);
    for (let i = 0; i < 1000; i++) {
      const b = bins.binOf[i]!;
      expect(bins.edges[b]! <= values[i]! && values[i]! < bins.edges[b + 1]!).toBe(true);
    }
  });

  it('spaces equal-width edges evenly between the smallest and largest value', () => {
    const values = column(Array.from({ length: 500 }, (_, i) => i / 499));
    const bins = binFeature(values, 1, 0, { ...QUANTILE, method: 'equal-width', bins: 4 }, source);
    expect(bins.edges).toEqual([-Infinity, 0.25, 0.5, 0.75, Infinity]);
  });

  it('merges a bin under the minimum share with its smaller neighbour, so no bin it reveals is smaller', () => {
    // Equal-width over [0, 9.99] leaves 20 outliers alone in the last bin and empty bins
    // between them and the bulk; merged, the outliers join the bin [3, +∞).
    const bulk = Array.from({ length: 980 }, (_, i) => (i < 900 ? (i % 300) / 300 + Math.floor(i / 300) : 3 + (i - 900) / 80));
    const values = column([...bulk, ...new Array(20).fill(9.99)]);
    const bins = binFeature(values, 1, 0, { ...QUANTILE, method: 'equal-width' }, source);
    expect(bins.counts).toEqual([300, 300, 300, 100]);
    expect(bins.edges.slice(1, -1).every((e) => e < 3.5)).toBe(true);
  });

  it('keeps values that tie across a quantile in one bin', () => {
    const values = column([...new Array(600).fill(0), ...Array.from({ length: 400 }, (_, i) => 1 + i)]);
    const bins = binFeature(values, 1, 0, QUANTILE, source);
    expect(bins.counts[0]).toBe(600);
    expect(bins.edges[1]).toBeGreaterThan(0);
  });

  it('gives missing values a bin of their own', () => {
    const values = column(Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? NaN : i)));
    const bins = binFeature(values, 1, 0, QUANTILE, source);
    expect(bins.missingCount).toBe(100);
    expect(bins.binOf[0]).toBe(bins.counts.length);
    expect(bins.counts.reduce((a, c) => a + c, 0)).toBe(900);
  });

  it('refuses, naming the feature, a feature with one distinct value, all missing, or a few missing values a bin would isolate', () => {
    const one = caught(() => binFeature(column(new Array(200).fill(3)), 1, 0, QUANTILE, source));
    expect(one.code).toBe('E_FEATURE_UNBINNABLE');
    expect(one.message).toMatch(/agency\.csv: feature "vat": every value is 3/);
    const none = caught(() => binFeature(column(new Array(200).fill(NaN)), 1, 0, QUANTILE, source));
    expect(none.message).toMatch(/feature "vat": every one of the 200 aligned rows is missing/);
    const few = caught(() => binFeature(column(Array.from({ length: 1000 }, (_, i) => (i < 3 ? NaN : i))), 1, 0, QUANTILE, source));
    expect(few.message).toMatch(/feature "vat": 3 of 1000 aligned rows are missing: a bin of their own would isolate 3 enterprise/);
    const concentrated = caught(() => binFeature(column([...new Array(980).fill(0), ...Array.from({ length: 20 }, (_, i) => i + 1)]), 1, 0, QUANTILE, source));
    expect(concentrated.message).toMatch(/feature "vat": after merging bins under 50 rows, one bin is left/);
  });

  it(`refuses a minimum share that would allow bins of fewer than ${MIN_BIN_ENTERPRISES} enterprises`, () => {
    const tiny = caught(() => binFeature(column(Array.from({ length: 1000 }, (_, i) => i)), 1, 0, { ...QUANTILE, bins: 200, minBinShare: 0.001 }, source));
    expect(tiny.code).toBe('E_OPTION_INVALID');
    expect(tiny.message).toMatch(/--min-bin-share: 0.001 of 1000 aligned rows allows bins of 1 enterprise/);
  });
});

describe('weight of evidence and information value', () => {
  it('is ln of the good share over the bad share per bin, and IV sums (good share − bad share)·WOE', () => {
    const e = featureEvidence([100, 100], [20, 50], false, 200, 70);
    expect(e.bins[0]!.woe).toBeCloseTo(Math.log((80 / 130) / (20 / 70)), 12);
    expect(e.iv).toBeCloseTo((80 / 130 - 20 / 70) * Math.log((80 / 130) / (20 / 70)) + (50 / 130 - 50 / 70) * Math.log((50 / 130) / (50 / 70)), 12);
  });

  it('adds 0.5 to both counts of a bin with no bads (or no goods), leaving the totals and other bins exact', () => {
    const e = featureEvidence([100, 100, 50], [0, 50, 30], true, 250, 80);
    expect(e.bins[0]!.woe).toBeCloseTo(Math.log((100.5 / 170) / (0.5 / 80)), 12);
    expect(e.bins[1]!.woe).toBeCloseTo(Math.log((50 / 170) / (50 / 80)), 12);
    expect(e.missing).toEqual({ count: 50, bads: 30, woe: Math.log((20 / 170) / (30 / 80)) });
  });
});

describe("the agency's encrypted products", () => {
  it('cost no column for a first bin; the missing-value bin takes the last column of its feature', () => {
    expect(productColumnsOf([10, 4], [0, 1])).toEqual([9, 4]);
    const bins = (binOf: number[], counts: number[], missingCount: number) => ({ bins: { edges: [], counts, missingCount, binOf: Uint16Array.from(binOf) } });
    // Feature 0: bins 0..2; feature 1: bins 0..1 and a missing-value bin (numbered 2).
    const index = columnIndexOf([bins([0, 1, 2, 1], [1, 2, 1], 0), bins([2, 0, 1, 0], [2, 1], 1)], 4);
    expect(index.width).toBe(2 + 2);
    expect([...index.index]).toEqual([NO_COLUMN, 0, 1, 0, 3, NO_COLUMN, 2, NO_COLUMN]);
    expect(index.index.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('pack labels so that the fewest ciphertexts cross: 100k rows × 2,700 columns in 196 + 169', () => {
    const n = chooseRowsPerChunk(100_000, 2700, 8192);
    expect(n).toBe(512);
    expect(Math.ceil(100_000 / n)).toBe(196);
    expect(sumCiphertextsFor(2700, n, 8192)).toBe(169);
    // A few columns: one chunk of labels, the sums in a handful of ciphertexts.
    expect(chooseRowsPerChunk(1500, 9, 8192)).toBe(2048);
  });
});

type Json = ReturnType<typeof binningJson>;

/** Every bin of every feature in `json` against the plaintext computation on the same edges. */
function expectPlaintextEqual(json: Json, files: Map<string, string>, labelFile: string, labelColumn: string) {
  const tables = new Map([...files].map(([party, file]) => [party, readPlainCsv(file)]));
  const bank = tables.get(json.parties[0]!.party)!;
  const ids = commonIds([...tables.values()]);
  const y = bank.header.indexOf(labelColumn);
  const labelOf = (id: string) => Number(bank.rows.get(id)![y]);
  expect(json.rows).toBe(ids.length);
  expect(json.bads).toBe(ids.reduce((a, id) => a + labelOf(id), 0));
  expect(labelFile).toBe(files.get(json.parties[0]!.party));
  let compared = 0;
  for (const party of json.parties) {
    for (const feature of party.features) {
      const plain = plainFeature(tables.get(party.party)!, feature.name, ids, labelOf, feature.edges, feature.missing !== null);
      expect(feature.bins.map((b) => [b.count, b.bads])).toEqual(plain.bins.map((b) => [b.count, b.bads]));
      for (const [i, b] of feature.bins.entries()) expect(Math.abs(b.woe - plain.bins[i]!.woe)).toBeLessThan(1e-9);
      if (feature.missing) {
        expect([feature.missing.count, feature.missing.bads]).toEqual([plain.missing!.count, plain.missing!.bads]);
        expect(Math.abs(feature.missing.woe - plain.missing!.woe)).toBeLessThan(1e-9);
      }
      expect(Math.abs(feature.iv - plain.iv)).toBeLessThan(1e-9);
      expect(feature.edges).toHaveLength(feature.bins.length + 1);
      expect(Math.min(...feature.bins.map((b) => b.count), feature.missing?.count ?? Infinity)).toBeGreaterThanOrEqual(Math.ceil(0.05 * json.rows));
      compared++;
    }
  }
  return compared;
}

/** The first `rows` rows of one of FATE's default_credit files. */
function fateSlice(name: 'guest' | 'host', rows: number): string {
  const lines = readFileSync(join(FATE_DATA_DIR, `default_credit_hetero_${name}.csv`), 'utf8').split('\n');
  const path = join(dir, `default_credit_${name}_${rows}.csv`);
  writeFileSync(path, lines.slice(0, rows + 1).join('\n') + '\n');
  return path;
}

describe("federated binning on FATE's default_credit equals the plaintext computation", () => {
  // Mock HE on 17,000 rows (two row blocks of the product, summed), CKKS on 3,000.
  for (const [he, rows] of [['mock', 17_000], ['ckks', 3000]] as const) {
    it(`every bin's counts, WOE and IV (${he === 'ckks' ? 'CKKS' : 'mock HE'}, ${rows.toLocaleString('en')} rows)`, async () => {
      const bank = fateSlice('guest', rows);
      const agency = fateSlice('host', rows);
      const result = await runBinningInProcess({
        label: { file: bank, idColumn: 'id', labelColumn: 'y', name: 'bank' },
        features: [{ file: agency, idColumn: 'id', name: 'agency' }],
        config: { he, threads: 0, seed: 'fate' },
      });
      const json = binningJson(result);
      expect(json.parties.map((p) => p.features.length)).toEqual([13, 10]);
      const compared = expectPlaintextEqual(json, new Map([['bank', bank], ['agency', agency]]), bank, 'y');
      expect(compared).toBe(23);
      // The agency's pay-status columns carry the signal FATE's own results show.
      expect(Math.max(...json.parties[1]!.features.map((f) => f.iv))).toBeGreaterThan(0.3);
    }, 120_000);
  }
});

/** A bank and two agencies with overlapping registers, missing values, ties and skewed columns. */
function generatedParties(rows: number): { bank: string; tax: string; utility: string } {
  const rng = SeededRng.fromSeed('jinqiao/test/binning', 'generated');
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rng.nextFloat(), 1e-12))) * Math.cos(2 * Math.PI * rng.nextFloat());
  const bank = ['uscc,defaulted,loan_amount,tenure_months'];
  const tax = ['uscc,vat_paid,invoices,late_filings'];
  const utility = ['uscc,power_kwh,arrears'];
  for (let i = 0; i < rows; i++) {
    const id = uscc(40_000 + i);
    const vat = Math.exp(normal() + 3);
    const late = Math.floor(rng.nextFloat() * rng.nextFloat() * 6);
    const power = normal() * 100 + 500;
    const invoices = Math.floor(rng.nextFloat() * 40);
    const z = -1.3 - 0.4 * Math.log(vat) + 0.5 * late + 0.002 * (power - 500) + 0.3 * normal();
    // No enterprise with 36 invoices or more defaults: a bin with no bads, whose WOE is smoothed.
    const y = invoices < 36 && rng.nextFloat() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    const cell = (v: number, missingRate: number) => (rng.nextFloat() < missingRate ? '' : String(Math.round(v * 1000) / 1000));
    if (i % 13 !== 5) bank.push(`${id},${y},${cell(normal() * 50 + 200, 0)},${cell(Math.floor(rng.nextFloat() * 60), 0.08)}`);
    if (i % 11 !== 3) tax.push(`${id},${cell(vat, 0.12)},${invoices},${late}`);
    if (i % 7 !== 2) utility.push(`${id},${cell(power, 0)},${cell(rng.nextFloat() < 0.7 ? 0 : rng.nextFloat() * 10, 0.1)}`);
  }
  const write = (name: string, lines: string[]) => {
    const path = join(dir, `${name}.csv`);
    writeFileSync(path, lines.join('\n') + '\n');
    return path;
  };
  return { bank: write('bank', bank), tax: write('tax_bureau', tax), utility: write('utility', utility) };
}

describe('federated binning on generated SME data equals the plaintext computation', () => {
  const files = generatedParties(4000);
  const options = (method: 'quantile' | 'equal-width', minIv = 0): InProcessBinningOptions => ({
    label: { file: files.bank, idColumn: 'uscc', labelColumn: 'defaulted' },
    features: [{ file: files.tax, idColumn: 'uscc' }, { file: files.utility, idColumn: 'uscc' }],
    config: { he: 'mock', threads: 0, rule: { method }, minIv },
  });
  const byParty = new Map([['label', files.bank], ['tax_bureau', files.tax], ['utility', files.utility]]);

  for (const method of ['quantile', 'equal-width'] as const) {
    it(`every bin's counts, WOE and IV, with missing-value bins and two agencies (${method})`, async () => {
      const result = await runBinningInProcess(options(method));
      const json = binningJson(result);
      expect(json.parties.map((p) => p.party)).toEqual(['label', 'tax_bureau', 'utility']);
      expect(expectPlaintextEqual(json, byParty, files.bank, 'defaulted')).toBe(7);
      expect(json.parties.flatMap((p) => p.features).filter((f) => f.missing !== null).map((f) => f.name).sort()).toEqual(['arrears', 'tenure_months', 'vat_paid']);
      const invoices = json.parties[1]!.features.find((f) => f.name === 'invoices')!;
      expect(invoices.bins.at(-1)!.bads).toBe(0);
    }, 60_000);
  }

  it('drops features under --min-iv from binning.json and lists them; iv.csv keeps every feature, by IV descending', async () => {
    const result = await runBinningInProcess(options('quantile', 0.05));
    const csv = ivCsv(result).trim().split('\n');
    expect(csv[0]).toBe('party,feature,iv');
    const ivs = csv.slice(1).map((l) => Number(l.split(',')[2]));
    expect(ivs).toHaveLength(7);
    expect([...ivs].sort((a, b) => b - a)).toEqual(ivs);
    const screening = screeningJson(result);
    const weak = csv.slice(1).filter((l) => Number(l.split(',')[2]) < 0.05).map((l) => l.split(',').slice(0, 2).join('/'));
    expect(weak.length).toBeGreaterThan(0);
    expect(screening.dropped.map((d) => `${d.party}/${d.feature}`).sort()).toEqual(weak.sort());
    const kept = binningJson(result).parties.flatMap((p) => p.features.map((f) => `${p.party}/${f.name}`));
    expect(kept).toHaveLength(7 - weak.length);
    for (const w of weak) expect(kept).not.toContain(w);
    // Bank-side correlation and VIF, in the clear, over its own two features.
    expect(screening.bank.features).toEqual(['loan_amount', 'tenure_months']);
    expect(screening.bank.correlation[0]![0]).toBeCloseTo(1, 12);
    expect(Math.abs(screening.bank.correlation[0]![1]!)).toBeLessThan(0.1);
    const r = screening.bank.correlation[0]![1]!;
    expect(screening.bank.vif[0]).toBeCloseTo(1 / (1 - r * r), 9);
  }, 60_000);
});
