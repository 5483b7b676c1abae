/**
 * Checkpoints and resume as a specification, on the plaintext mock backend: a job that
 * stops mid-training fails at once, and rerun with the same stores continues from the last
 * epoch every party completed, ending with the model an uninterrupted run gives.
 *
 * "The same model" means within 1e-3, not bit for bit: every masked decryption is rounded
 * at 2^-12 after adding a fresh random mask, so two runs of one job (interrupted or not)
 * differ in the last digits of each gradient.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpoint, fileCheckpointStore, type CheckpointStore } from '../../src/lr/checkpoint.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../../src/lr/config.ts';
import { runLocalTraining, type LocalTrainingOptions, type LocalTrainingResult } from '../../src/local/training.ts';
import type { TrainingProgress } from '../../src/lr/progress.ts';
import { PartyWeights } from '../../src/lr/weights.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const root = mkdtempSync(join(tmpdir(), 'jinqiao-resume-'));
const PARTIES = ['bank', 'tax', 'social'];
const TOLERANCE = 1e-3;

function job(checkpointDir: string | undefined, extra: Partial<TrainingConfig> = {}, onProgress?: (e: TrainingProgress) => void): LocalTrainingOptions {
  return {
    label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
    features: [
      { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax' },
      { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social' },
    ],
    config: { he: 'mock', batchSize: 1024, epochs: 6, seed: 'resume', jobId: 'resume-spec', ...extra },
    ...(checkpointDir && { checkpoints: (party: string) => fileCheckpointStore(join(checkpointDir, party)) }),
    ...(onProgress && { onProgress }),
  };
}

/** A folder of per-party checkpoint folders, copied from `from` (or empty). */
function checkpointDir(name: string, from?: string): string {
  const dir = join(root, name);
  if (from) cpSync(from, dir, { recursive: true });
  return dir;
}

/** Keeps only the epochs up to `last` in one party's store, as a crash at that point would. */
function keepUpTo(dir: string, party: string, last: number): void {
  for (const file of readdirSync(join(dir, party))) {
    if (Number(/^epoch-(\d+)\.json$/.exec(file)?.[1]) > last) rmSync(join(dir, party, file));
  }
}

function epochsTrained(events: readonly TrainingProgress[]): number[] {
  return [...new Set(events.flatMap((e) => (e.phase === 'batch' ? [e.epoch] : [])))];
}

/** The uninterrupted run's model, split and metrics, up to the masks' rounding. */
function expectSameModel(resumed: LocalTrainingResult, reference: LocalTrainingResult): void {
  expect(resumed.trainIds).toEqual(reference.trainIds);
  expect(resumed.predictions.ids).toEqual(reference.predictions.ids);
  expect(resumed.epochsRun).toBe(reference.epochsRun);
  expect(resumed.lossCurve).toHaveLength(reference.lossCurve.length);
  resumed.lossCurve.forEach((loss, e) => expect(Math.abs(loss - reference.lossCurve[e]!)).toBeLessThan(TOLERANCE));
  expect(Math.abs(resumed.metrics.auc - reference.metrics.auc)).toBeLessThan(TOLERANCE);
  for (const [k, slice] of resumed.models.entries()) {
    const expected = reference.models[k]!;
    expect(slice.party).toBe(expected.party);
    slice.weights.forEach((w, j) => expect(Math.abs(w - expected.weights[j]!)).toBeLessThan(TOLERANCE));
    if (expected.intercept !== null) expect(Math.abs(slice.intercept! - expected.intercept)).toBeLessThan(TOLERANCE);
  }
}

let uninterrupted: LocalTrainingResult;
let completedStores: string;

beforeAll(async () => {
  completedStores = checkpointDir('completed');
  uninterrupted = await runLocalTraining(job(completedStores));
});

describe('checkpoints and resume (protocol, mock HE)', () => {
  it('keeps one checkpoint per completed epoch in each party’s own store', () => {
    for (const party of PARTIES) {
      expect(readdirSync(join(completedStores, party)).sort()).toEqual([0, 1, 2, 3, 4, 5].map((e) => `epoch-00000${e}.json`));
    }
    expect(uninterrupted.epochsRun).toBe(6);
  });

  it('fails a job whose party crashes after an epoch, and resumed it ends with the uninterrupted model', async () => {
    const dir = checkpointDir('crashed');
    const bankCrashingAfterEpoch2 = (party: string): CheckpointStore => {
      const store = fileCheckpointStore(join(dir, party));
      if (party !== 'bank') return store;
      return {
        ...store,
        async save(c) {
          await store.save(c);
          if (c.epoch === 2) throw new Error('simulated crash of the bank after saving epoch 2');
        },
      };
    };
    await expect(runLocalTraining({ ...job(undefined), checkpoints: bankCrashingAfterEpoch2 })).rejects.toThrow('simulated crash');
    const held = await Promise.all(PARTIES.map((p) => fileCheckpointStore(join(dir, p)).latestEpoch()));
    expect(held[0]).toBe(2);
    // An agency saves an epoch once its last gradient is revealed, which races the bank's
    // crash: it holds epoch 1 or 2, and the job resumes after the fewest completed.
    const start = Math.min(...held) + 1;
    expect([2, 3]).toContain(start);

    const events: TrainingProgress[] = [];
    const resumed = await runLocalTraining(job(dir, {}, (e) => events.push(e)));
    expect(epochsTrained(events)).toEqual([0, 1, 2, 3, 4, 5].slice(start));
    expectSameModel(resumed, uninterrupted);
  });

  it('resumes a party whose checkpoint is an epoch ahead from the epoch all parties completed', async () => {
    const dir = checkpointDir('ahead', completedStores);
    keepUpTo(dir, 'bank', 2);
    keepUpTo(dir, 'tax', 3);
    keepUpTo(dir, 'social', 2);
    const events: TrainingProgress[] = [];
    const resumed = await runLocalTraining(job(dir, {}, (e) => events.push(e)));
    expect(epochsTrained(events)).toEqual([3, 4, 5]);
    expectSameModel(resumed, uninterrupted);
  });

  it('only evaluates again when every party had completed training', async () => {
    const events: TrainingProgress[] = [];
    const resumed = await runLocalTraining(job(checkpointDir('evaluate-only', completedStores), {}, (e) => events.push(e)));
    expect(epochsTrained(events)).toEqual([]);
    expect(resumed.lossCurve).toEqual(uninterrupted.lossCurve);
    expectSameModel(resumed, uninterrupted);
  });

  it('does not train on after early stopping ended a job that then crashed', async () => {
    const stopping: Partial<TrainingConfig> = { epochs: 40, learningRate: 0.2, earlyStopping: { patience: 2, minDelta: 0.001 }, jobId: 'resume-stopping' };
    const dir = checkpointDir('stopped');
    const first = await runLocalTraining(job(dir, stopping));
    expect(first.epochsRun).toBeLessThan(40);
    const events: TrainingProgress[] = [];
    const resumed = await runLocalTraining(job(dir, stopping, (e) => events.push(e)));
    expect(epochsTrained(events)).toEqual([]);
    expect(resumed.epochsRun).toBe(first.epochsRun);
    expectSameModel(resumed, first);
  });

  it('starts afresh when one party has no checkpoint', async () => {
    const dir = checkpointDir('one-missing', completedStores);
    rmSync(join(dir, 'social'), { recursive: true });
    const events: TrainingProgress[] = [];
    const resumed = await runLocalTraining(job(dir, {}, (e) => events.push(e)));
    expect(epochsTrained(events)).toEqual([0, 1, 2, 3, 4, 5]);
    expectSameModel(resumed, uninterrupted);
  });

  it('refuses a corrupt checkpoint with E_MODEL_INVALID naming the file', async () => {
    const dir = checkpointDir('corrupt', completedStores);
    const file = join(dir, 'tax', 'epoch-000005.json');
    writeFileSync(file, '{"kind":"jinqiao.checkpoint","version":1,"jobId":"resume-spec","par');
    await expect(runLocalTraining(job(dir))).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringContaining(file) });
  });

  it('refuses a checkpoint of another job or other hyperparameters with E_MODEL_INVALID', async () => {
    const dir = checkpointDir('other-job', completedStores);
    await expect(runLocalTraining(job(dir, { jobId: 'another-job' }))).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringContaining('belongs to job resume-spec') });
    await expect(runLocalTraining(job(dir, { learningRate: 0.01 }))).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringContaining('other settings') });
  });
});

describe('file checkpoint store', () => {
  it('holds every epoch saved, ignores unfinished writes, and forgets the epochs after a rollback', async () => {
    const dir = join(root, 'store');
    const store = fileCheckpointStore(dir);
    expect(await store.latestEpoch()).toBe(-1);
    expect(await store.load(0)).toBeUndefined();
    for (const epoch of [0, 1, 2, 3]) await store.save(featureCheckpoint(epoch));
    writeFileSync(join(dir, 'epoch-000009.json.1a2b3c.tmp'), '{');
    expect(await store.latestEpoch()).toBe(3);
    expect(await store.load(2)).toEqual(featureCheckpoint(2));
    await store.discardAfter(1);
    expect(await store.latestEpoch()).toBe(1);
    expect(await store.load(3)).toBeUndefined();
  });

  it('names what is wrong with a checkpoint that does not fit its epoch', async () => {
    const dir = join(root, 'store-invalid');
    const store = fileCheckpointStore(dir);
    await store.save({ ...featureCheckpoint(1), epochMeans: [[0, 0, 0]] });
    await expect(store.load(1)).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringContaining('epochMeans must hold 2 lists of 3 finite numbers') });
  });
});

/** A feature party's checkpoint of `epoch` over three weights, as the roles write them. */
function featureCheckpoint(epoch: number) {
  const weights = new PartyWeights(3, resolveTrainingConfig({ jobId: 'store' })).toJSON();
  const epochMeans = Array.from({ length: epoch + 1 }, () => [0, 0, 0]);
  return checkpoint({ jobId: 'store', party: 'tax', role: 'features', epoch, ...weights, epochMeans, label: null });
}

describe('PartyWeights checkpoint state', () => {
  it('restores the iterate, the optimiser and the epoch means exactly', () => {
    const config = resolveTrainingConfig({ jobId: 'weights', optimiser: 'adam', averaging: 'tail' });
    const gradients = [0.3, -0.2, 0.5, 0.1, -0.4].map((g) => Float64Array.of(g, -g, g / 2));
    const original = new PartyWeights(3, config, 2);
    for (const g of gradients.slice(0, 3)) original.step(g);
    original.endEpoch();
    const restored = PartyWeights.fromJSON(JSON.parse(JSON.stringify(original.toJSON())), 'test state', 3, config, 2);
    for (const g of gradients.slice(3)) {
      original.step(g);
      restored.step(g);
    }
    original.endEpoch();
    restored.endEpoch();
    expect(restored.current).toEqual(original.current);
    expect(restored.final()).toEqual(original.final());
    expect(restored.toJSON()).toEqual(original.toJSON());
  });
});
