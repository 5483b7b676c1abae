/**
 * Scoring a model whose weights were kept encrypted (`--keep-encrypted`): every party's
 * partial score is computed on its [[w]], the arbiter decrypts the masked total under the
 * key it kept from training, and the bank gets the same probabilities as the training's own
 * validation scores and as the same model trained with its weights revealed.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openLocalScoringSession, type LocalScoringOptions } from '../../src/local/scoring.ts';
import { runLocalTraining } from '../../src/local/training.ts';
import { KEPT_KEY_FILE } from '../../src/lr/kept-key.ts';
import { loadModelSlice } from '../../src/lr/model.ts';
import { decodeMessage } from '../../src/transport/codec.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const root = mkdtempSync(join(tmpdir(), 'jinqiao-kept-'));
const agencies = [
  { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax' },
  { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social' },
];
const bank = { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' };

async function train(out: string, he: 'mock' | 'ckks', keepEncrypted: boolean, extra: Record<string, unknown> = {}): Promise<void> {
  await runLocalTraining({ label: bank, features: agencies, config: { he, batchSize: 1024, epochs: he === 'mock' ? 3 : 2, seed: 'kept', jobId: `kept-${he}-${keepEncrypted}`, keepEncrypted, ...extra }, out });
}

const session = (modelDir: string, he: 'mock' | 'ckks', extra: Partial<LocalScoringOptions> = {}) =>
  openLocalScoringSession({ modelDir, bank: { file: bank.file, idColumn: 'uscc', name: 'bank' }, agencies, he, ...extra });

/** Every 10th validation row of a training output and its score there. */
function validationSample(dir: string): [string, number][] {
  const rows = readFileSync(join(dir, 'predictions.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  return rows.filter((_, i) => i % 10 === 0).map(([id, p]) => [id!, Number(p)]);
}

const kept = join(root, 'kept-mock');
const revealed = join(root, 'revealed-mock');

beforeAll(async () => {
  await train(kept, 'mock', true);
  await train(revealed, 'mock', false);
}, 300_000);

describe('scoring a model kept encrypted (mock HE)', { timeout: 300_000 }, () => {
  it('keeps the arbiter\'s key beside the slices, readable by its owner only, and no key without --keep-encrypted', () => {
    const file = join(kept, KEPT_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ kind: 'jinqiao.arbiter-key', jobId: 'kept-mock-true' });
    expect(() => statSync(join(revealed, KEPT_KEY_FILE))).toThrow();
  });

  it('loads slices that hold encrypted weights and no plain ones', async () => {
    const slice = await loadModelSlice(join(kept, 'model-tax.json'));
    expect(slice.weights).toEqual([]);
    expect(slice.encryptedWeights).toBeTruthy();
  });

  it("gives the training's validation scores, and the scores of the same model trained with its weights revealed", async () => {
    const sample = validationSample(kept);
    expect(sample.length).toBeGreaterThan(50);
    const frames: Uint8Array[] = [];
    const s = await session(kept, 'mock', { tap: (_from, _to, frame) => void frames.push(frame) });
    const scores = await s.score(sample.map(([id]) => id));
    await s.close();
    const r = await session(revealed, 'mock');
    const plain = await r.score(sample.map(([id]) => id));
    await r.close();
    sample.forEach(([id, p], k) => {
      expect(scores[k]!.status, id).toBe('scored');
      // Both are masked reveals of the same z, each rounded to the arbiter's grid.
      expect(Math.abs(scores[k]!.probability! - p), id).toBeLessThan(2e-3);
      expect(Math.abs(scores[k]!.probability! - plain[k]!.probability!), id).toBeLessThan(2e-3);
    });
    // What moves: no weight, no partial score. Every agency sends ciphertexts only.
    const types = new Set(frames.map((f) => decodeMessage(f).t));
    expect(types.has('eval.forward')).toBe(true);
    expect(types.has('monitor.drift')).toBe(false);
  });

  it('monitors the book; an agency, which knows neither its weights nor its partial scores, sends no drift', async () => {
    const s = await session(kept, 'mock', { disclosePartialScores: ['tax', 'social'] });
    const m = await s.monitor();
    await s.close();
    expect(m.scores.filter((x) => x.status === 'scored').length).toBeGreaterThan(1000);
    expect(Object.fromEntries(m.agencyDrift)).toEqual({ tax: 'withheld', social: 'withheld' });
  });

  it('refuses to score without the kept key, naming the file and what to do', async () => {
    const copy = join(root, 'kept-no-key');
    await train(copy, 'mock', true, { jobId: 'kept-no-key' });
    rmSync(join(copy, KEPT_KEY_FILE));
    await expect(session(copy, 'mock').then((s) => s.score([validationSample(kept)[0]![0]]))).rejects.toMatchObject({ code: 'E_KEY_INVALID', message: expect.stringContaining(KEPT_KEY_FILE) });
  });

  it("refuses a key file of another job", async () => {
    const copy = join(root, 'kept-other-key');
    await train(copy, 'mock', true, { jobId: 'kept-other' });
    writeFileSync(join(copy, KEPT_KEY_FILE), readFileSync(join(kept, KEPT_KEY_FILE)));
    await expect(session(copy, 'mock').then((s) => s.score([validationSample(kept)[0]![0]]))).rejects.toMatchObject({ code: 'E_KEY_INVALID', message: expect.stringMatching(/key of job kept-mock-true, not of kept-other/) });
  });
});

describe('scoring a model kept encrypted (CKKS)', { timeout: 900_000 }, () => {
  it("gives the training's validation scores under the key the arbiter kept", async () => {
    const dir = join(root, 'kept-ckks');
    await train(dir, 'ckks', true);
    const sample = validationSample(dir).slice(0, 40);
    const s = await session(dir, 'ckks', { threads: 1 });
    const scores = await s.score(sample.map(([id]) => id));
    await s.close();
    sample.forEach(([id, p], k) => {
      expect(scores[k]!.status, id).toBe('scored');
      expect(Math.abs(scores[k]!.probability! - p), id).toBeLessThan(2e-3);
    });
  });
});
