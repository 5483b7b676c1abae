/**
 * Joint scoring as a specification (mock HE for speed; the protocol steps are the real
 * ones): the bank gets the same probabilities the parties' model slices give in the
 * clear, flags agencies that hold no record, and agencies never see IDs they do not hold.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFeatureTable } from '../../src/data/table.ts';
import { runLocalTraining } from '../../src/local/training.ts';
import { sigmoid } from '../../src/lr/sigmoid.ts';
import { populationStabilityIndex } from '../../src/score/stability.ts';
import { openLocalScoringSession, type LocalScoringOptions } from '../../src/local/scoring.ts';
import { roleThreads } from '../../src/jobs/role-threads.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { uscc } from '../helpers/ids.ts';
import { REVEALED_Z_ERROR, SAME_ENTERPRISE_PROBABILITY } from '../helpers/score-precision.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const modelDir = join(mkdtempSync(join(tmpdir(), 'jinqiao-score-')), 'model');
const agencies = [
  { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax' },
  { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social' },
];
const decoyKey = randomBytes(32);
const session = (extra: Partial<LocalScoringOptions> = {}) =>
  openLocalScoringSession({ modelDir, bank: { file: join(SME, 'bank.csv'), idColumn: 'uscc', name: 'bank' }, agencies, he: 'mock', decoyKey, ...extra });

beforeAll(async () => {
  await runLocalTraining({
    label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
    features: agencies,
    config: { he: 'mock', batchSize: 1024, epochs: 3, jobId: 'score-spec' },
    out: modelDir,
  });
});

describe('joint scoring', () => {
  it("gives the probability the parties' slices give in the clear, and flags fallbacks", async () => {
    // Row 0 is held by one agency only: its score may be given only where that agency allows it.
    const s = await session({ disclosePartialScores: ['social'] });
    // 9111…: bank rows 0 and 200; row 0 is unknown to the tax bureau (it holds rows 300+).
    const bank = await loadFeatureTable(join(SME, 'bank.csv'), { idColumn: 'uscc', labelColumn: 'defaulted' });
    const ids = [bank.ids[0]!, bank.ids[400]!];
    const scores = await s.score(ids);
    await s.close();
    // The expected value by hand, independent of src/score: the raw CSV cells, the model
    // files' scaler, weights and intercept (a record an agency does not hold adds nothing).
    for (const [k, id] of ids.entries()) {
      let z = 0;
      for (const party of ['bank', 'tax', 'social']) z += handPartialScore(party, id) ?? 0;
      expect(handPartialScore('tax', id) === undefined).toBe(k === 0);
      // The bank learns z through the arbiter's two-pass masked reveal: within REVEALED_Z_ERROR
      // (half of its 2^-9 grid and SEAL's decoding error). (arbiter-client.ts says 2^-12
      // "whatever the first bound": not for SCORE_BOUND 256.)
      const p = scores[k]!.probability!;
      expect(Math.abs(Math.log(p / (1 - p)) - z)).toBeLessThanOrEqual(REVEALED_Z_ERROR);
    }
    expect(scores.map((s) => s.status)).toEqual(['scored', 'scored']);
    expect(scores[0]!.fallbacks).toEqual(['tax']);
    expect(scores[1]!.fallbacks).toEqual([]);
  });

  it("scores the training's validation rows as the training itself did (predictions.csv)", async () => {
    const predictions = readFileSync(join(modelDir, 'predictions.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(predictions.length).toBeGreaterThan(100);
    const sample = predictions.filter((_, i) => i % 10 === 0);
    const s = await session();
    const scores = await s.score(sample.map(([id]) => id!));
    await s.close();
    // The training's scores come from the masked validation decryption (each value to the
    // arbiter's grid), scoring's from the revealed weights: they agree to that rounding.
    sample.forEach(([id, score], k) => {
      expect(scores[k]!.status, id).toBe('scored');
      expect(Math.abs(scores[k]!.probability! - Number(score)), id).toBeLessThan(2e-3);
    });
  });

  it('hides the real query among decoys and still answers it', async () => {
    const s = await session();
    const bank = await loadFeatureTable(join(SME, 'bank.csv'), { idColumn: 'uscc' });
    const [plain] = await s.score([bank.ids[500]!]);
    const [hidden] = await s.score([bank.ids[500]!], { decoys: 9 });
    await s.close();
    expect(hidden!.status).toBe('scored');
    expect(Math.abs(hidden!.probability! - plain!.probability!)).toBeLessThan(SAME_ENTERPRISE_PROBABILITY);
  });

  it('asks an agency to score the same records whenever the same enterprise is queried, so decoys cannot be peeled off', async () => {
    const asked: string[][] = [];
    const s = await session({
      tap: (from, to, frame) => {
        const m = decodeMessage(frame);
        if (from === 'bank' && to === 'tax' && m.t === 'score.layout') {
          const view = new DataView(m.positions.buffer, m.positions.byteOffset, m.positions.byteLength);
          const held = Array.from({ length: m.positions.byteLength / 4 }, (_, i) => view.getUint32(i * 4, true)).filter((p) => p !== 0xffffffff);
          asked.push(held.map(String).sort());
        }
      },
    });
    const bank = await loadFeatureTable(join(SME, 'bank.csv'), { idColumn: 'uscc' });
    await s.score([bank.ids[900]!], { decoys: 5 });
    await s.score([bank.ids[900]!], { decoys: 5 });
    await s.score([bank.ids[901]!], { decoys: 5 });
    await s.close();
    expect(asked[0]!.length).toBeGreaterThan(3);
    expect(asked[1]).toEqual(asked[0]);
    expect(asked[2]).not.toEqual(asked[0]);
  });

  it('rescores the loan book and reports the drift of each agency that discloses partial scores, withholding the others’', async () => {
    const s = await session({ disclosePartialScores: ['social'] });
    const first = await s.monitor();
    const second = await s.monitor();
    const reports = await s.close();
    expect(first.scores).toHaveLength(6000);
    expect(Object.fromEntries(first.agencyDrift)).toEqual({ tax: 'withheld', social: undefined });
    expect(Object.fromEntries(second.agencyDrift)).toEqual({ tax: 'withheld', social: 0 });
    // The tax bureau measured its drift all the same; it stays with it.
    expect(reports.get('tax')!.drift).toBe(0);
    expect(reports.get('tax')!.requests).toBe(2);
  });

  it('refuses IDs of the wrong format, unknown to the bank, and a slice of another job', async () => {
    const s = await session();
    await expect(s.score(['91350100M000100Y44'])).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/check character/) });
    await expect(openLocalScoringSession({ modelDir: join(modelDir, 'nope'), bank: { file: join(SME, 'bank.csv'), idColumn: 'uscc' }, agencies, he: 'mock' })).rejects.toMatchObject({ code: 'E_MODEL_INVALID' });
    const mixed = join(mkdtempSync(join(tmpdir(), 'jinqiao-mixed-')), 'model');
    cpSync(modelDir, mixed, { recursive: true });
    const tax = JSON.parse(readFileSync(join(mixed, 'model-tax.json'), 'utf8'));
    writeFileSync(join(mixed, 'model-tax.json'), JSON.stringify({ ...tax, jobId: 'another-job' }));
    await expect(session({ modelDir: mixed })).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringMatching(/another-job/) });
    const future = join(mkdtempSync(join(tmpdir(), 'jinqiao-future-')), 'model');
    cpSync(modelDir, future, { recursive: true });
    writeFileSync(join(future, 'model-social.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(future, 'model-social.json'), 'utf8')), version: 2 }));
    await expect(session({ modelDir: future })).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringMatching(/model version 2 is not supported/) });
    expect(await s.score([uscc(123)])).toMatchObject([{ status: 'unknown', code: 'E_SCORE_REFUSED', rule: 'id.unknown' }]);
    await expect(s.score([uscc(123)], { decoys: 2 })).resolves.toHaveLength(1);
    const keyless = await session({ decoyKey: undefined });
    await expect(keyless.score([uscc(123)], { decoys: 2 })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/decoy key/) });
    await keyless.close();
    // Refused requests leave the session usable.
    const bank = await loadFeatureTable(join(SME, 'bank.csv'), { idColumn: 'uscc' });
    expect(await s.score([bank.ids[7]!])).toHaveLength(1);
    await s.close();
  });

  it('refuses to score without every agency of the training job, naming the missing ones', async () => {
    await expect(session({ agencies: [agencies[0]!] })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/missing: social/) });
    const legacy = join(mkdtempSync(join(tmpdir(), 'jinqiao-legacy-')), 'model');
    cpSync(modelDir, legacy, { recursive: true });
    const { partners, ...bankSlice } = JSON.parse(readFileSync(join(legacy, 'model-bank.json'), 'utf8'));
    expect(partners).toEqual(['tax', 'social']);
    // A slice written before slices named their partners: every agency slice in the folder counts.
    writeFileSync(join(legacy, 'model-bank.json'), JSON.stringify(bankSlice));
    await expect(session({ modelDir: legacy, agencies: [agencies[1]!] })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/missing: tax/) });
  });

  it('computes the population stability index credit teams use', () => {
    const base = Float64Array.from({ length: 1000 }, (_, i) => i / 1000);
    expect(populationStabilityIndex(base, base)).toBe(0);
    expect(populationStabilityIndex(base, base.map((v) => v * 0.5))).toBeGreaterThan(0.25);
  });
});

describe('audit anchors during a long scoring session', () => {
  const anchorFrames = () => {
    const frames: { from: string; to: string }[] = [];
    const tap = (from: string, to: string, frame: Uint8Array) => void (decodeMessage(frame).t === 'audit.anchor' && frames.push({ from, to }));
    const count = (from: string, to: string) => frames.filter((f) => f.from === from && f.to === to).length;
    return { tap, count };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it.each([
    ['on this thread', false],
    ['in role threads', true],
  ])('are exchanged with every agency every N requests and at the close, and with the platform at the close (%s)', async (_, threaded) => {
    const threads = threaded ? roleThreads() : undefined;
    try {
      const bank = await loadFeatureTable(join(SME, 'bank.csv'), { idColumn: 'uscc', labelColumn: 'defaulted' });
      const { tap, count } = anchorFrames();
      const s = await session({ tap, anchorEvery: { requests: 2, minutes: 60 }, ...(threads && { roles: threads }) });
      const perRequest: number[] = [];
      for (let i = 0; i < 5; i++) {
        await s.score([bank.ids[400 + i]!]);
        perRequest.push(count('bank', 'tax'));
      }
      expect(perRequest).toEqual([0, 1, 1, 2, 2]);
      // Each agency answers each anchor with its own (empty here: the session is not governed).
      expect([count('bank', 'social'), count('tax', 'bank'), count('social', 'bank'), count('bank', 'arbiter')]).toEqual([2, 2, 2, 0]);
      await s.close();
      expect([count('bank', 'tax'), count('bank', 'social'), count('tax', 'bank'), count('bank', 'arbiter'), count('arbiter', 'bank')]).toEqual([3, 3, 3, 1, 1]);
    } finally {
      await threads?.close();
    }
  });

  it('are exchanged once M minutes passed with requests served, idle or not, and not again while no request comes', async () => {
    const bank = await loadFeatureTable(join(SME, 'bank.csv'), { idColumn: 'uscc', labelColumn: 'defaulted' });
    const { tap, count } = anchorFrames();
    // 0.01 minutes: 600 ms.
    const s = await session({ tap, anchorEvery: { requests: 1000, minutes: 0.01 } });
    await s.score([bank.ids[400]!]);
    await sleep(1500);
    expect(count('bank', 'tax')).toBe(1);
    expect(count('tax', 'bank')).toBe(1);
    await sleep(1500);
    expect(count('bank', 'tax')).toBe(1);
    await s.score([bank.ids[401]!]);
    await sleep(1500);
    expect(count('bank', 'tax')).toBe(2);
    await s.close();
    expect(count('bank', 'tax')).toBe(3);
  });
});


/** Σ w_j·clip((x_j − mean_j)/scale_j) (+ the intercept) from model-<party>.json and the raw CSV, by hand; undefined when the party holds no record of `id`. */
function handPartialScore(party: string, id: string): number | undefined {
  const model = JSON.parse(readFileSync(join(modelDir, `model-${party}.json`), 'utf8')) as {
    featureNames: string[];
    weights: number[];
    intercept: number | null;
    scaler: { means: number[]; scales: number[]; clip: number | null };
  };
  const file = party === 'bank' ? join(SME, 'bank.csv') : agencies.find((a) => a.name === party)!.file;
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.trim().split(','));
  const row = lines.find((cells) => cells[0] === id);
  if (!row) return undefined;
  let z = model.intercept ?? 0;
  model.featureNames.forEach((name, j) => {
    const cell = row[header!.indexOf(name)]!;
    if (cell === '' || cell === 'NA') return; // imputed with the mean: 0 after standardising
    const clip = model.scaler.clip ?? Infinity;
    const standardised = Math.min(clip, Math.max(-clip, (Number(cell) - model.scaler.means[j]!) / model.scaler.scales[j]!));
    z += model.weights[j]! * standardised;
  });
  return z;
}
