import { describe, expect, it } from 'vitest';
import { Optimiser, type OptimiserOptions } from '../../src/lr/optimiser.ts';

/** A convex quadratic ½ Σ a_j (w_j − t_j)² with minimiser t. */
const curvature = Float64Array.of(1, 4, 0.5);
const target = Float64Array.of(1, -2, 3);
const quadratic = (w: Float64Array) => w.reduce((sum, wj, j) => sum + 0.5 * curvature[j] * (wj - target[j]) ** 2, 0);
const gradientOf = (w: Float64Array) => w.map((wj, j) => curvature[j] * (wj - target[j]));

function minimise(options: OptimiserOptions, steps: number): Float64Array {
  const optimiser = Optimiser.create(3, options);
  const w = new Float64Array(3);
  for (let t = 0; t < steps; t++) optimiser.step(w, gradientOf(w));
  return w;
}

describe('Optimiser', () => {
  it.each<OptimiserOptions>([
    { method: 'sgd', learningRate: 0.2 },
    { method: 'sgd', learningRate: 0.3, schedule: { kind: 'inverse-time', decay: 0.01 } },
    { method: 'sgd', learningRate: 0.3, schedule: { kind: 'step', every: 100, factor: 0.5 } },
    { method: 'adam', learningRate: 0.05 },
    { method: 'rmsprop', learningRate: 0.01 },
  ])('$method decreases a convex loss to near its minimum', (options) => {
    const start = quadratic(new Float64Array(3));
    const w = minimise(options, 1000);
    expect(quadratic(w)).toBeLessThan(start * 1e-3);
    for (let j = 0; j < 3; j++) expect(w[j]).toBeCloseTo(target[j], 1);
  });

  it('follows the learning-rate schedules over the update count', () => {
    const rate = (schedule: OptimiserOptions['schedule'], t: number) =>
      Optimiser.create(1, { method: 'sgd', learningRate: 0.1, schedule }).learningRateAt(t);
    expect(rate({ kind: 'constant' }, 50)).toBe(0.1);
    expect(rate({ kind: 'inverse-time', decay: 0.5 }, 4)).toBeCloseTo(0.1 / 3, 15);
    expect(rate({ kind: 'inverse-sqrt', decay: 1 }, 3)).toBeCloseTo(0.05, 15);
    expect(rate({ kind: 'step', every: 10, factor: 0.5 }, 9)).toBe(0.1);
    expect(rate({ kind: 'step', every: 10, factor: 0.5 }, 25)).toBeCloseTo(0.025, 15);
  });

  it('adds alpha·w to the gradient, except at the intercept', () => {
    const optimiser = Optimiser.create(2, { method: 'sgd', learningRate: 1, l2: 0.1, interceptIndex: 1 });
    const w = Float64Array.of(2, 2);
    optimiser.step(w, Float64Array.of(0, 0));
    expect(Array.from(w)).toEqual([2 - 0.2, 2]);
  });

  it('an L2 penalty shrinks the minimiser towards zero', () => {
    const w = minimise({ method: 'sgd', learningRate: 0.2, l2: 1 }, 2000);
    // argmin of a(w − t)²/2 + w²/2 is a t / (a + 1)
    for (let j = 0; j < 3; j++) expect(w[j]).toBeCloseTo((curvature[j] * target[j]) / (curvature[j] + 1), 6);
  });

  it('resumes from JSON with exactly the updates it would have made', () => {
    for (const method of ['sgd', 'adam', 'rmsprop'] as const) {
      const options: OptimiserOptions = { method, learningRate: 0.05, l2: 0.01, interceptIndex: 2, schedule: { kind: 'inverse-time', decay: 0.1 } };
      const straight = Optimiser.create(3, options);
      const w = new Float64Array(3);
      for (let t = 0; t < 7; t++) straight.step(w, gradientOf(w));
      const resumed = Optimiser.fromJSON(JSON.parse(JSON.stringify(straight)));
      const wResumed = w.slice();
      for (let t = 0; t < 5; t++) {
        straight.step(w, gradientOf(w));
        resumed.step(wResumed, gradientOf(wResumed));
      }
      expect(resumed.updates).toBe(12);
      expect(wResumed).toEqual(w);
    }
  });

  it('rejects bad options by field name, and gradients of the wrong size or not finite', () => {
    expect(() => Optimiser.create(3, { method: 'sgd', learningRate: 0 })).toThrow(/optimiser.learningRate/);
    expect(() => Optimiser.create(3, { method: 'nesterov' as never, learningRate: 0.1 })).toThrow(/optimiser.method/);
    expect(() => Optimiser.create(3, { method: 'sgd', learningRate: 0.1, interceptIndex: 3 })).toThrow(/optimiser.interceptIndex/);
    expect(() => Optimiser.create(3, { method: 'adam', learningRate: 0.1, beta1: 1 })).toThrow(/optimiser.beta1/);
    expect(() => Optimiser.create(3, { method: 'sgd', learningRate: 0.1, schedule: { kind: 'step', every: 0, factor: 0.5 } })).toThrow(
      /optimiser.schedule.every/,
    );
    const optimiser = Optimiser.create(3, { method: 'sgd', learningRate: 0.1 });
    expect(() => optimiser.step(new Float64Array(3), new Float64Array(2))).toThrow(expect.objectContaining({ code: 'E_VALUES_INVALID' }));
    expect(() => optimiser.step(new Float64Array(3), Float64Array.of(0, NaN, 0))).toThrow(/entry 1 is NaN/);
  });

  it('rejects checkpoints that do not fit', () => {
    const json = Optimiser.create(3, { method: 'adam', learningRate: 0.1 }).toJSON();
    expect(() => Optimiser.fromJSON({ ...json, version: 2 })).toThrow(expect.objectContaining({ code: 'E_MODEL_INVALID' }));
    expect(() => Optimiser.fromJSON({ ...json, firstMoments: [0, 0] })).toThrow(/moments do not fit/);
    expect(() => Optimiser.fromJSON({ ...json, options: { ...json.options, learningRate: -1 } })).toThrow(/options are invalid/);
  });
});
