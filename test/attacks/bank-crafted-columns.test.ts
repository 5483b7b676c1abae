/**
 * Attack: the bank crafts its own feature columns so that its final weights, which the
 * protocol reveals to it, spell out the agencies' summed partial score of rows it chose
 * (the bank's counterpart of crafted-features-weights.test.ts: an honest limitation of
 * revealing weights at all, stated in the README; not a leak of the training messages).
 *
 * The bank's view: its own table (labels, real features and the crafted columns), its own
 * revealed model slice (weights, intercept, scaler) and the public schedule (split and batches
 * from the shared seed, learning rate). Its design: one indicator column per probed
 * enterprise. After standardisation the probed row stands alone at +clip (5), every other row
 * near 0, so the column's iterate moves by −η_t·clip·d_r/|B| each time row r is in a batch,
 * d_r = ½ + z_r/4 − y_r (taylor1), z_r = u_L,r + V_r, V_r the agencies' summed partial score.
 * Tail averaging keeps the mean iterate of the second half of the epochs, so the final weight
 * is c_r ≈ −clip·K·d̄_r/|B|, K the tail mean of the learning rates summed so far (the same
 * for every row up to its place in each epoch). The attack inverts that:
 * d̄_r = −c_r·|B|/(clip·K), V̂_r = 4(d̄_r + y_r − ½) − u_L,r, u_L,r its own final partial score.
 *
 * Data: 1,200 enterprises; the default depends on one of the bank's 5 features AND on three
 * of the agencies' 10 (unlike ./data.ts, whose agencies are noise: here V carries weight). Success measure: correlation of V̂ with the true V (from the agencies' own final
 * slices) over the probed training rows, against the correlation the bank gets without
 * crafting — regressing the validation rows' V (which it does learn) on its own features and
 * predicting, its labels added (training-recovery.test.ts: at chance without them).
 * Without the crafted weight (c_r = 0) the same estimator is at that baseline (0.32 measured).
 *
 * With two or more agencies V is their sum, what the validation rows already reveal, now for
 * training rows the bank chose; with one agency it would be that agency's own partial score,
 * and such a job is refused without its consent. With `keepEncrypted` no weight is revealed.
 */
import { describe, expect, it } from 'vitest';
import type { FeatureTable } from '../../src/data/table.ts';
import { trainOnTables, type LocalTrainingResult } from '../../src/local/training.ts';
import type { ModelSlice } from '../../src/lr/model.ts';
import { StandardScaler } from '../../src/lr/scaler.ts';
import { SeededRng } from '../../src/util/rng.ts';
import { correlation } from './least-squares.ts';

const ROWS = 1200;
const PROBES = 30;
const BANK_FEATURES = 5;
const AGENCY_FEATURES = 5;
const EPOCHS = 10;
const LEARNING_RATE = 0.5;
const DECAY = 0.01;
const CLIP = 5;

function gaussian(rng: SeededRng): number {
  const u = Math.max(rng.nextFloat(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
}

function table(name: string, ids: readonly string[], featureNames: readonly string[], values: Float64Array, labels?: Uint8Array): FeatureTable {
  return { file: `${name}.csv`, idColumn: 'id', ids, lines: Uint32Array.from(ids, (_, i) => i + 2), featureNames, values, labels, rowCount: ids.length };
}

/** A bank and two agencies whose features carry the default: a logistic draw on one bank feature and three agency features. */
function parties(): { bank: FeatureTable; agencies: FeatureTable[]; ids: string[] } {
  const rng = SeededRng.fromSeed('attacks/bank-crafted', 'data');
  const ids = Array.from({ length: ROWS }, (_, i) => `E${String(i + 1).padStart(6, '0')}`);
  const draw = (F: number) => Float64Array.from({ length: ROWS * F }, () => gaussian(rng));
  const bankX = draw(BANK_FEATURES);
  const agencyX = [draw(AGENCY_FEATURES), draw(AGENCY_FEATURES)];
  const labels = Uint8Array.from(ids, (_, i) => {
    const logit = bankX[i * BANK_FEATURES]! + agencyX[0]![i * AGENCY_FEATURES]! - agencyX[1]![i * AGENCY_FEATURES]! + 0.5 * agencyX[1]![i * AGENCY_FEATURES + 1]!;
    return rng.nextFloat() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
  });
  const names = (p: string, F: number) => Array.from({ length: F }, (_, j) => `${p}_${j}`);
  return {
    ids,
    bank: table('bank', ids, names('bank', BANK_FEATURES), bankX, labels),
    agencies: agencyX.map((X, k) => table(`agency${k + 1}`, ids, names(`agency${k + 1}`, AGENCY_FEATURES), X)),
  };
}

const { bank, agencies, ids } = parties();
/** The enterprises the bank probes: spread over the table. */
const probed = Array.from({ length: PROBES }, (_, k) => ids[k * Math.floor(ROWS / PROBES)]!);

/** The bank's table with one indicator column per probed enterprise appended. */
function craftedBank(): FeatureTable {
  const F = BANK_FEATURES + PROBES;
  const values = new Float64Array(ROWS * F);
  const position = new Map(probed.map((id, j) => [id, j]));
  ids.forEach((id, i) => {
    values.set(bank.values.subarray(i * BANK_FEATURES, (i + 1) * BANK_FEATURES), i * F);
    const j = position.get(id);
    if (j !== undefined) values[i * F + BANK_FEATURES + j] = 1;
  });
  return table('bank', ids, [...bank.featureNames, ...probed.map((id) => `is_${id}`)], values, bank.labels);
}

/** A slice's partial scores of `rows` (indices into `t`), standardised with its own scaler. */
function sliceScores(slice: ModelSlice, t: FeatureTable, rows: readonly number[]): Float64Array {
  const F = t.featureNames.length;
  const values = new Float64Array(rows.length * F);
  rows.forEach((r, i) => values.set(t.values.subarray(r * F, (r + 1) * F), i * F));
  const X = StandardScaler.fromJSON(slice.scaler).transform({ values, rowCount: rows.length, featureCount: F }).values;
  return Float64Array.from(rows, (_, i) => slice.weights.reduce((s, w, j) => s + w * X[i * F + j]!, 0));
}

/**
 * K: the tail mean (epochs E/2..E−1) of the learning rates a row's column has summed so far,
 * the row counted at the middle of each epoch (inverse-sqrt: η_t = η/√(1 + decay·t)).
 */
function accumulatedRate(batchesPerEpoch: number): number {
  const rate = (epoch: number) => LEARNING_RATE / Math.sqrt(1 + DECAY * (epoch + 0.5) * batchesPerEpoch);
  const tail = Array.from({ length: EPOCHS - EPOCHS / 2 }, (_, k) => EPOCHS / 2 + k);
  const sumTo = (e: number) => Array.from({ length: e }, (_, k) => rate(k)).reduce((a, b) => a + b, 0) + 0.5 * rate(e);
  return tail.reduce((s, e) => s + sumTo(e), 0) / tail.length;
}

async function run(agencyCount = agencies.length, keepEncrypted = false): Promise<LocalTrainingResult> {
  const crafted = craftedBank();
  return trainOnTables({
    label: { table: crafted, name: 'bank', labelColumn: 'y' },
    features: agencies.slice(0, agencyCount).map((t, k) => ({ table: t, name: `agency${k + 1}` })),
    // 960 training rows in 6 batches of 160: every batch above 4 × the bank's 36 columns (with its intercept), the batch rule.
    config: { seed: 'attacks', batchSize: 160, epochs: EPOCHS, learningRate: LEARNING_RATE, schedule: { kind: 'inverse-sqrt', decay: DECAY }, clip: CLIP, he: 'mock', jobId: 'bank-crafted', threads: 0, keepEncrypted },
  });
}

describe('attack: the bank with crafted columns reads the agencies\' summed score of chosen rows from its own revealed weights', () => {
  it('estimates V on the probed training rows far better than its own features can', async () => {
    const result = await run();
    const crafted = craftedBank();
    const rowOf = new Map(ids.map((id, i) => [id, i]));
    const train = new Set(result.trainIds);
    const targets = probed.filter((id) => train.has(id));
    const rows = targets.map((id) => rowOf.get(id)!);
    const own = result.models.find((m) => m.party === 'bank')!;
    const batchSize = result.config.batchSize as number;
    const K = accumulatedRate(Math.ceil(result.trainIds.length / batchSize));

    // (Bank) The attack: its own final score of each probed row and its indicator's weight.
    const uL = sliceScores(own, crafted, rows).map((u) => u + own.intercept!);
    const estimate = Float64Array.from(targets, (id, i) => {
      const c = own.weights[BANK_FEATURES + probed.indexOf(id)]!;
      const dBar = (-c * batchSize) / (CLIP * K);
      return 4 * (dBar + bank.labels![rows[i]!]! - 0.5) - uL[i]!;
    });
    const truth = new Float64Array(rows.length);
    agencies.forEach((t, k) => sliceScores(result.models.find((m) => m.party === `agency${k + 1}`)!, t, rows).forEach((u, i) => (truth[i]! += u)));

    // (Bank) Without crafting: V of the validation rows (z − u_L) regressed on its real features and label, predicted.
    const validation = result.predictions.ids.map((id) => rowOf.get(id)!);
    const vVal = sliceScores(own, crafted, validation).map((u, i) => Math.log(result.predictions.scores[i]! / (1 - result.predictions.scores[i]!)) - u - own.intercept!);
    const baseline = predictFromOwnFeatures(validation, vVal, rows);

    const r = correlation(estimate, truth);
    const rBaseline = correlation(baseline, truth);
    const signs = estimate.filter((v, i) => Math.sign(v) === Math.sign(truth[i]!)).length / rows.length;
    // Measured: 21 of the 30 probes are training rows; r = 0.97, the sign right on 20 of 21,
    // against r = 0.33 from its own features and labels alone.
    expect(rows.length).toBeGreaterThanOrEqual(20);
    expect(r).toBeGreaterThan(0.9);
    expect(signs).toBeGreaterThanOrEqual(0.9);
    expect(rBaseline).toBeLessThan(r - 0.4);
  }, 120_000);

  it('has no weight to read with --keep-encrypted', async () => {
    const own = (await run(agencies.length, true)).models.find((m) => m.party === 'bank')!;
    expect({ weights: own.weights, intercept: own.intercept }).toEqual({ weights: [], intercept: null });
    expect(own.encryptedWeights).toBeTypeOf('string');
  }, 60_000);

  // With one agency V is that agency's own partial score, and the job needs its policy's consent.
  it('with a single agency, is refused unless that agency allows partial-score disclosure', async () => {
    await expect(run(1)).rejects.toMatchObject({ code: 'E_PARTIAL_SCORE_DISCLOSURE' });
  }, 60_000);
});

/**
 * Least squares of `target` (on `fitRows`) on what the bank knows of a row without crafting:
 * its real features, its label and a constant; evaluated on `rows`.
 */
function predictFromOwnFeatures(fitRows: readonly number[], target: Float64Array, rows: readonly number[]): Float64Array {
  const p = BANK_FEATURES + 2;
  const x = (r: number) => [...bank.values.subarray(r * BANK_FEATURES, (r + 1) * BANK_FEATURES), bank.labels![r]!, 1];
  const A = Array.from({ length: p }, () => new Float64Array(p));
  const b = new Float64Array(p);
  fitRows.forEach((r, i) => {
    const v = x(r);
    for (let j = 0; j < p; j++) {
      b[j]! += v[j]! * target[i]!;
      for (let k = 0; k < p; k++) A[j]![k]! += v[j]! * v[k]!;
    }
  });
  // Gauss–Jordan on the small system.
  for (let c = 0; c < p; c++) {
    const pivot = A[c]![c]!;
    for (let k = 0; k < p; k++) A[c]![k]! /= pivot;
    b[c]! /= pivot;
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = A[r]![c]!;
      for (let k = 0; k < p; k++) A[r]![k]! -= f * A[c]![k]!;
      b[r]! -= f * b[c]!;
    }
  }
  return Float64Array.from(rows, (r) => x(r).reduce((s, v, j) => s + v * b[j]!, 0));
}
