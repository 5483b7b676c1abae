import { describe, expect, it } from 'vitest';
import { auc } from '../../src/lr/metrics.ts';
import { Optimiser } from '../../src/lr/optimiser.ts';
import { fitNewton, linearScores, plaintextEpoch, predictProbabilities } from '../../src/lr/reference.ts';
import type { FeatureMatrix } from '../../src/lr/scaler.ts';
import { sigmoid } from '../../src/lr/sigmoid.ts';
import { epochBatches } from '../../src/lr/split.ts';
import { SeededRng } from '../../src/util/rng.ts';
import { loadJoinedFate, poolStandardised, type FateDataset } from '../helpers/plaintext-lr.ts';

/** Rows drawn from a known logistic model, so the fit has a right answer. */
function synthetic(rowCount: number, trueParameters: number[]): { features: FeatureMatrix; labels: Uint8Array } {
  const rng = SeededRng.fromSeed('synthetic');
  const f = trueParameters.length - 1;
  const values = new Float64Array(rowCount * f);
  const labels = new Uint8Array(rowCount);
  for (let i = 0; i < rowCount; i++) {
    let z = trueParameters[f];
    for (let j = 0; j < f; j++) {
      values[i * f + j] = 2 * rng.nextFloat() - 1;
      z += values[i * f + j] * trueParameters[j];
    }
    labels[i] = rng.nextFloat() < sigmoid(z) ? 1 : 0;
  }
  return { features: { values, rowCount, featureCount: f }, labels };
}

const allRows = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

describe('fitNewton', () => {
  it('recovers the parameters of the model that generated the labels', () => {
    const truth = [1.5, -2, 0.5, -0.7];
    const { features, labels } = synthetic(40_000, truth);
    const fit = fitNewton(features, labels, allRows(40_000));
    expect(fit.converged).toBe(true);
    expect(fit.iterations).toBeLessThan(10);
    truth.forEach((t, j) => expect(fit.parameters[j]).toBeCloseTo(t, 1));
  });

  it('stops where the penalised gradient vanishes', () => {
    const { features, labels } = synthetic(2000, [1, -1, 0.2]);
    const rows = allRows(2000);
    const ridge = 0.01;
    const fit = fitNewton(features, labels, rows, { ridge });
    const p = predictProbabilities(features, fit.parameters);
    for (let j = 0; j <= 2; j++) {
      let g = 0;
      for (let i = 0; i < 2000; i++) g += (p[i] - labels[i]) * (j < 2 ? features.values[i * 2 + j] : 1);
      expect(Math.abs(g / 2000 + (j < 2 ? ridge * fit.parameters[j] : 0))).toBeLessThan(1e-6);
    }
  });

  it('refuses training rows of one class and linearly dependent columns', () => {
    const { features } = synthetic(10, [1, 1]);
    expect(() => fitNewton(features, new Uint8Array(10), allRows(10))).toThrow(expect.objectContaining({ code: 'E_ONE_CLASS' }));
    const twin = { values: Float64Array.from({ length: 20 }, (_, i) => Math.floor(i / 2)), rowCount: 10, featureCount: 2 };
    const labels = Uint8Array.from({ length: 10 }, (_, i) => i % 2);
    expect(() => fitNewton(twin, labels, allRows(10), { ridge: 0 })).toThrow(/linearly dependent/);
  });

  it('rejects missing values, which must be imputed first', () => {
    const { features, labels } = synthetic(10, [1, 1]);
    features.values[3] = NaN;
    expect(() => fitNewton(features, labels, allRows(10))).toThrow(/row 3, column 0 is NaN/);
  });
});

describe('plaintextEpoch', () => {
  it('makes the protocol’s update w ← w − lr · Xᵀ(σ̃(z) − y) / |B|', () => {
    const features = { values: Float64Array.of(1, 2, -1, 0), rowCount: 2, featureCount: 2 };
    const labels = Uint8Array.of(1, 0);
    const parameters = Float64Array.of(0.4, 0, 0.1);
    const optimiser = Optimiser.create(3, { method: 'sgd', learningRate: 1, interceptIndex: 2 });
    plaintextEpoch({ features, labels, batches: [allRows(2)], parameters, optimiser, sigmoid: 'taylor1' });
    // z = (0.5, −0.3); σ̃ = 0.5 + z/4 = (0.625, 0.425); d = (−0.375, 0.425)
    expect(parameters[0]).toBeCloseTo(0.4 - (1 * -0.375 + -1 * 0.425) / 2, 15);
    expect(parameters[1]).toBeCloseTo(0 - (2 * -0.375) / 2, 15);
    expect(parameters[2]).toBeCloseTo(0.1 - (-0.375 + 0.425) / 2, 15);
  });

  it('lowers the loss epoch after epoch', () => {
    const { features, labels } = synthetic(4000, [1.5, -2, 0.5, -0.7]);
    const parameters = new Float64Array(4);
    const optimiser = Optimiser.create(4, { method: 'sgd', learningRate: 0.5, interceptIndex: 3 });
    const losses = [0, 1, 2, 3, 4].map(
      (epoch) => plaintextEpoch({ features, labels, batches: epochBatches(allRows(4000), 500, 'job', epoch), parameters, optimiser, sigmoid: 'exact' }).meanLoss,
    );
    for (let k = 1; k < losses.length; k++) expect(losses[k]).toBeLessThan(losses[k - 1]);
  });

  it('requires an optimiser that exempts the intercept', () => {
    const { features, labels } = synthetic(10, [1, 1]);
    const optimiser = Optimiser.create(2, { method: 'sgd', learningRate: 0.1, l2: 0.1 });
    expect(() => plaintextEpoch({ features, labels, batches: [allRows(10)], parameters: new Float64Array(2), optimiser, sigmoid: 'exact' })).toThrow(
      /interceptIndex 1/,
    );
  });
});

describe('the plaintext ceiling on FATE’s benchmark data', () => {
  /** Validation AUC of the Newton fit on each 80/20 split. */
  function ceilingAucs(name: FateDataset, splits: number): number[] {
    const joined = loadJoinedFate(name);
    return Array.from({ length: splits }, (_, s) => {
      const data = poolStandardised(joined, `split-${s}`);
      const fit = fitNewton(data.features, data.labels, data.split.train);
      expect(fit.converged).toBe(true);
      const scores = predictProbabilities(data.features, fit.parameters, data.split.validation);
      return auc(scores, Array.from(data.split.validation, (r) => data.labels[r]));
    });
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b) / xs.length;

  // One split's AUC moves by ±0.008 (default_credit) and ±0.015 (breast): compare means over splits.
  it('reaches AUC 0.714 ± 0.01 on default_credit, averaged over 20 splits', () => {
    const aucs = ceilingAucs('default_credit', 20);
    expect(Math.abs(mean(aucs) - 0.714)).toBeLessThan(0.01);
  });

  it('reaches AUC 0.976 ± 0.01 on breast, averaged over 20 splits', () => {
    const aucs = ceilingAucs('breast', 20);
    expect(Math.abs(mean(aucs) - 0.976)).toBeLessThan(0.01);
  });

  it('FATE’s default_credit configuration in plaintext (rmsprop, taylor1) comes within 0.015 of the ceiling', () => {
    const data = poolStandardised(loadJoinedFate('default_credit'), 'split-0');
    const validationLabels = Array.from(data.split.validation, (r) => data.labels[r]);
    const ceiling = auc(predictProbabilities(data.features, fitNewton(data.features, data.labels, data.split.train).parameters, data.split.validation), validationLabels);
    const f = data.features.featureCount;
    const parameters = new Float64Array(f + 1);
    // FATE decays 1/sqrt(1 + t) per epoch; three batches per epoch here.
    const optimiser = Optimiser.create(f + 1, {
      method: 'rmsprop',
      learningRate: 0.15,
      l2: 0.1,
      interceptIndex: f,
      schedule: { kind: 'inverse-sqrt', decay: 1 / 3 },
    });
    for (let epoch = 0; epoch < 16; epoch++) {
      const batches = epochBatches(data.split.train, 10_000, 'split-0', epoch);
      plaintextEpoch({ features: data.features, labels: data.labels, batches, parameters, optimiser, sigmoid: 'taylor1' });
    }
    const z = linearScores(data.features, parameters, data.split.validation);
    expect(auc(z, validationLabels)).toBeGreaterThan(ceiling - 0.015);
  });
});
