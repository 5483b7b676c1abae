/**
 * The training protocol as a specification, on the plaintext mock backend (fast; it
 * follows every step of the real protocol, and accuracy.test.ts checks CKKS agrees).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLocalTraining, type LocalTrainingOptions } from '../../src/local/training.ts';
import { loadModelSlice } from '../../src/lr/model.ts';
import { Transcript } from '../../src/transport/transcript.ts';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-train-'));

function smeJob(extra: Partial<LocalTrainingOptions['config']> = {}): LocalTrainingOptions {
  return {
    label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
    features: [
      { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax' },
      { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social' },
      { file: join(SME, 'utilities.csv'), idColumn: 'uscc', name: 'utilities' },
    ],
    config: { he: 'mock', batchSize: 1024, epochs: 6, seed: 'spec', ...extra },
  };
}

describe('vertical logistic regression (protocol, mock HE)', { timeout: 300_000 }, () => {
  it('trains one model across a bank and three agencies, each keeping its own slice', async () => {
    const r = await runLocalTraining(smeJob());
    expect(r.parties.map((p) => p.name)).toEqual(['bank', 'tax', 'social', 'utilities']);
    // bank ∩ tax ∩ social ∩ utilities, as generated: 6,000 − 300 (tax) − 570 (social).
    expect(r.alignedRows).toBe(5130);
    expect(r.trainRows + r.validationRows).toBe(5130);
    expect(r.metrics.auc).toBeGreaterThan(0.78);
    const slices = new Map(r.models.map((m) => [m.party, m]));
    expect(slices.get('bank')!.featureNames).toEqual(['loan_amount_wan', 'years_as_customer', 'overdue_count_12m']);
    expect(slices.get('bank')!.intercept).not.toBeNull();
    expect(slices.get('tax')!.featureNames).toEqual(['vat_paid_wan', 'tax_credit_grade', 'late_filings_24m']);
    expect(slices.get('tax')!.intercept).toBeNull();
    // Agencies' evidence matters: a worse tax grade lowers the default score.
    expect(slices.get('tax')!.weights[1]!).toBeLessThan(0);
  });

  it('gives the same result for the same seed, and a different split for another seed', async () => {
    const [a, b, c] = await Promise.all([runLocalTraining(smeJob()), runLocalTraining(smeJob()), runLocalTraining(smeJob({ seed: 'other' }))]);
    expect(b.predictions.ids).toEqual(a.predictions.ids);
    expect(Math.abs(b.metrics.auc - a.metrics.auc)).toBeLessThan(0.002);
    expect(c.predictions.ids).not.toEqual(a.predictions.ids);
  });

  it('records a falling loss curve, one value per epoch', async () => {
    const r = await runLocalTraining(smeJob());
    expect(r.lossCurve).toHaveLength(6);
    expect(r.lossCurve[5]!).toBeLessThan(r.lossCurve[0]!);
    expect(r.lossCurve.every((l) => l > 0 && l < 1)).toBe(true);
  });

  it('stops early when the encrypted loss stops falling', async () => {
    const r = await runLocalTraining(smeJob({ epochs: 60, learningRate: 0.2, earlyStopping: { patience: 2, minDelta: 0.001 } }));
    expect(r.epochsRun).toBeLessThan(60);
    expect(r.lossCurve).toHaveLength(r.epochsRun);
  });

  it('trains with momentum, refreshing the encrypted velocity with the weights every batch', async () => {
    const transcript = new Transcript();
    const r = await runLocalTraining({ ...smeJob({ momentum: 0.8, learningRate: 0.1 }), transcript });
    expect(r.metrics.auc).toBeGreaterThan(0.78);
    // Two vectors, two passes each, per batch (6 epochs × 5 batches), then the average's two passes.
    expect(transcript.entries('tax').filter((e) => e.type === 'he.refreshed')).toHaveLength(6 * 5 * 4 + 2);
    await expect(runLocalTraining(smeJob({ momentum: 1 }))).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/momentum/) });
    await expect(runLocalTraining(smeJob({ nesterov: true }))).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/nesterov: needs a momentum above 0/) });
  });

  it('refuses Adam, RMSprop and the cubic sigmoid, which encrypted weights cannot follow', async () => {
    for (const config of [{ optimiser: 'adam' }, { optimiser: 'rmsprop' }, { sigmoid: 'poly3' }] as const) {
      await expect(runLocalTraining(smeJob(config)), JSON.stringify(config)).rejects.toMatchObject({ code: 'E_OPTION_INVALID' });
    }
  });

  it('refuses a batch too small to hide the residuals from a party with many features', async () => {
    const job = smeJob({ batchSize: 8 });
    await expect(runLocalTraining(job)).rejects.toMatchObject({ code: 'E_TOO_FEW_ROWS', message: expect.stringMatching(/below 4 × 4/) });
  });

  it('checks the batch rule on the smallest batch an epoch cuts, not on the configured size', async () => {
    // 4,104 training rows in batches of at most 2,100: two batches of 2,052 rows.
    const ok = smeJob({ batchSize: 2100 });
    await expect(runLocalTraining(ok)).resolves.toBeDefined();
    // 4,104 rows in batches of at most 16: 257 batches, the smallest of 15 rows < 4 × 4.
    await expect(runLocalTraining(smeJob({ batchSize: 16 }))).rejects.toMatchObject({ code: 'E_TOO_FEW_ROWS', message: expect.stringMatching(/batch size 16 gives batches of 15 rows/) });
  });

  it('refuses a single-agency job, whose validation totals would show the bank that agency\'s partial scores, unless allowed', async () => {
    const job = smeJob();
    const single = { ...job, features: job.features.slice(0, 1) };
    await expect(runLocalTraining(single)).rejects.toMatchObject({ code: 'E_PARTIAL_SCORE_DISCLOSURE', message: expect.stringMatching(/tax's partial scores/) });
    const allowed = await runLocalTraining({ ...single, config: { ...single.config, allowPartialScoreDisclosure: true } });
    expect(allowed.metrics.auc).toBeGreaterThan(0.6);
  });

  it('keeps every final model slice encrypted when asked, and the validation metrics still come out; the arbiter keeps its key for scoring', async () => {
    const out = join(dir, 'kept-encrypted');
    const r = await runLocalTraining({ ...smeJob({ keepEncrypted: true }), out });
    expect(r.metrics.auc).toBeGreaterThan(0.78);
    for (const slice of r.models) {
      expect(slice.weights).toEqual([]);
      expect(slice.intercept).toBeNull();
      expect(Buffer.from(slice.encryptedWeights!, 'base64').byteLength).toBeGreaterThan(0);
    }
    // Every scoring path loads slices through loadModelSlice: an encrypted one as it is (test/score/kept-encrypted.test.ts scores it).
    expect((await loadModelSlice(join(out, 'model-tax.json'))).encryptedWeights).toBe(r.models.find((m) => m.party === 'tax')!.encryptedWeights);
    expect(r.files.some((f) => f.endsWith('arbiter-key.secret'))).toBe(true);
  });

  it('refuses a batch larger than the training rows', async () => {
    await expect(runLocalTraining(smeJob({ batchSize: 100_000 }))).rejects.toMatchObject({ code: 'E_TOO_FEW_ROWS' });
  });

  it('fails with a clear error when the parties share no enterprise', async () => {
    const other = join(dir, 'nobody.csv');
    writeFileSync(other, 'uscc,x\n91110108000000001X,1\n');
    const job = smeJob();
    const single = { ...job, features: [{ file: other, idColumn: 'uscc' }], config: { ...job.config, allowPartialScoreDisclosure: true } };
    await expect(runLocalTraining(single)).rejects.toMatchObject({ code: 'E_INTERSECTION_EMPTY' });
  });

  it('reads FATE data (integer IDs) without any flag', async () => {
    const r = await runLocalTraining({
      label: { file: join(FATE_DATA_DIR, 'breast_hetero_guest.csv'), idColumn: 'id', labelColumn: 'y' },
      features: [{ file: join(FATE_DATA_DIR, 'breast_hetero_host.csv'), idColumn: 'id' }],
      config: { he: 'mock', batchSize: 128, epochs: 5, allowPartialScoreDisclosure: true },
    });
    expect(r.idType).toBe('plain');
    expect(r.alignedRows).toBe(569);
  });
});
