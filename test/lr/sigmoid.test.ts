import { describe, expect, it } from 'vitest';
import {
  evaluateCubic,
  logisticLoss,
  POLY2,
  POLY3,
  sigmoid,
  sigmoidFunction,
  TAYLOR1,
  taylor1Loss,
  type SigmoidApproximation,
} from '../../src/lr/sigmoid.ts';

function maxErrorOn(approximation: SigmoidApproximation): number {
  const [lo, hi] = approximation.interval;
  let worst = 0;
  for (let i = 0; i <= 100_000; i++) {
    const z = lo + ((hi - lo) * i) / 100_000;
    worst = Math.max(worst, Math.abs(evaluateCubic(approximation.coefficients, z) - sigmoid(z)));
  }
  return worst;
}

describe('sigmoid', () => {
  it('is the logistic function, stable at large |z|', () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(2)).toBeCloseTo(1 / (1 + Math.exp(-2)), 15);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
  });

  it('taylor1 is FATE’s 0.5 + z/4, within its stated error on [-2, 2]', () => {
    expect(TAYLOR1.coefficients).toEqual([0.5, 0.25, 0, 0]);
    const error = maxErrorOn(TAYLOR1);
    expect(error).toBeLessThanOrEqual(TAYLOR1.maxError);
    expect(error).toBeGreaterThan(TAYLOR1.maxError - 1e-3);
  });

  it('poly3 is within its stated error on [-8, 8]', () => {
    const error = maxErrorOn(POLY3);
    expect(error).toBeLessThanOrEqual(POLY3.maxError);
    expect(error).toBeGreaterThan(POLY3.maxError - 1e-3);
  });

  it('poly3 is the least-squares cubic of the sigmoid on [-8, 8]', () => {
    // Normal equations with trapezoid-rule inner products approximate the continuous fit.
    const n = 20_001;
    const gram = [0, 0, 0, 0, 0, 0, 0];
    const moments = [0, 0];
    for (let i = 0; i < n; i++) {
      const z = -8 + (16 * i) / (n - 1);
      const weight = i === 0 || i === n - 1 ? 0.5 : 1;
      const odd = sigmoid(z) - 0.5;
      for (let p = 0; p < 7; p++) gram[p] += weight * z ** p;
      moments[0] += weight * z * odd;
      moments[1] += weight * z ** 3 * odd;
    }
    const det = gram[2] * gram[6] - gram[4] * gram[4];
    const c1 = (moments[0] * gram[6] - moments[1] * gram[4]) / det;
    const c3 = (gram[2] * moments[1] - gram[4] * moments[0]) / det;
    expect(POLY3.coefficients[0]).toBe(0.5);
    expect(POLY3.coefficients[2]).toBe(0);
    expect(POLY3.coefficients[1]).toBeCloseTo(c1, 5);
    expect(POLY3.coefficients[3]).toBeCloseTo(c3, 7);
  });

  it('poly2 is within its stated error on [-6, 2] and is the least-squares quadratic there', () => {
    const error = maxErrorOn(POLY2);
    expect(error).toBeLessThanOrEqual(POLY2.maxError);
    expect(error).toBeGreaterThan(POLY2.maxError - 1e-3);
    // Normal equations (trapezoid-rule inner products) for c0 + c1 z + c2 z² on [-6, 2].
    const n = 20_001;
    const gram = Array.from({ length: 3 }, () => [0, 0, 0, 0]);
    for (let i = 0; i < n; i++) {
      const z = -6 + (8 * i) / (n - 1);
      const weight = i === 0 || i === n - 1 ? 0.5 : 1;
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) gram[a]![b]! += weight * z ** (a + b);
        gram[a]![3]! += weight * z ** a * sigmoid(z);
      }
    }
    for (let p = 0; p < 3; p++) {
      for (let q = 0; q < 3; q++) {
        if (q === p) continue;
        const f = gram[q]![p]! / gram[p]![p]!;
        for (let k = p; k < 4; k++) gram[q]![k]! -= f * gram[p]![k]!;
      }
    }
    const fitted = gram.map((row, i) => row[3]! / row[i]!);
    fitted.forEach((c, i) => expect(POLY2.coefficients[i]).toBeCloseTo(c, 6));
    expect(POLY2.coefficients[3]).toBe(0);
  });

  it('names each variant', () => {
    expect(sigmoidFunction('exact')(1)).toBe(sigmoid(1));
    expect(sigmoidFunction('taylor1')(1)).toBe(0.75);
    expect(sigmoidFunction('poly3')(0)).toBe(0.5);
    expect(sigmoidFunction('poly2')(0)).toBe(POLY2.coefficients[0]);
    expect(() => sigmoidFunction('poly5' as never)).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
  });
});

describe('loss', () => {
  it('logisticLoss is log(1 + e^z) − y z without overflow', () => {
    expect(logisticLoss(0, 1)).toBeCloseTo(Math.LN2, 15);
    expect(logisticLoss(2, 0)).toBeCloseTo(Math.log1p(Math.exp(2)), 14);
    expect(logisticLoss(800, 1)).toBeCloseTo(0, 12);
    expect(logisticLoss(-800, 1)).toBeCloseTo(800, 9);
  });

  it('taylor1Loss is log 2 − ½ y′z + ⅛ z² averaged, with y′ = 2y − 1', () => {
    const z = [0.4, -1.2];
    const y = [1, 0];
    const expected = (Math.LN2 - 0.2 + 0.02 + (Math.LN2 - 0.6 + 0.18)) / 2;
    expect(taylor1Loss(z, y)).toBeCloseTo(expected, 14);
  });

  it('taylor1Loss agrees with the exact loss near z = 0', () => {
    for (const z of [-0.3, 0, 0.2]) for (const y of [0, 1]) expect(taylor1Loss([z], [y])).toBeCloseTo(logisticLoss(z, y), 3);
  });
});
