import { describe, expect, it } from 'vitest';
import {
  auc,
  classificationAt,
  confusionAt,
  evaluateScores,
  ks,
  ksCurve,
  liftTable,
  logLoss,
  rocCurve,
} from '../../src/lr/metrics.ts';
import { SeededRng } from '../../src/util/rng.ts';

/** O(n²) Mann–Whitney: the definition AUC must match. */
function pairwiseAuc(scores: number[], labels: number[]): number {
  let wins = 0;
  let pairs = 0;
  scores.forEach((p, i) => {
    if (labels[i] !== 1) return;
    scores.forEach((q, j) => {
      if (labels[j] !== 0) return;
      pairs++;
      wins += p > q ? 1 : p === q ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('auc', () => {
  it('is 1 for a perfect ranking and 0 for an inverted one', () => {
    expect(auc([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])).toBe(1);
    expect(auc([0.9, 0.8, 0.3, 0.1], [0, 0, 1, 1])).toBe(0);
  });

  it('counts a tied positive–negative pair as ½', () => {
    expect(auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])).toBe(0.5);
    // pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (½), 0.5>0.1 → 3.5 / 4
    expect(auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])).toBe(0.875);
  });

  it('matches a hand count on unsorted input', () => {
    // positives 0.8 (beats 0.6, 0.2, 0.7) and 0.4 (beats 0.2): 4 of 6 pairs
    expect(auc([0.8, 0.6, 0.4, 0.2, 0.7], [1, 0, 1, 0, 0])).toBeCloseTo(4 / 6, 15);
  });

  it('equals the pairwise definition on random scores with many ties', () => {
    const rng = SeededRng.fromSeed('auc');
    const scores = Array.from({ length: 600 }, () => rng.nextBelow(40) / 40);
    const labels = scores.map((s) => (rng.nextFloat() < 0.3 + 0.4 * s ? 1 : 0));
    expect(auc(scores, labels)).toBeCloseTo(pairwiseAuc(scores, labels), 14);
    expect(auc(Float64Array.from(scores), Uint8Array.from(labels))).toBe(auc(scores, labels));
  });
});

describe('ks', () => {
  it('is max |TPR − FPR| with the first threshold that reaches it', () => {
    // TPR−FPR after each threshold: 1/3, 2/3, 1/3, 2/3, 1/3, 0
    const result = ks([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 0, 1, 0, 0]);
    expect(result.statistic).toBeCloseTo(2 / 3, 15);
    expect(result.threshold).toBe(0.8);
  });

  it('is 1 for perfect separation, either way round', () => {
    expect(ks([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]).statistic).toBe(1);
    expect(ks([0.9, 0.8, 0.3, 0.1], [0, 0, 1, 1]).statistic).toBe(1);
  });
});

describe('curves', () => {
  const rng = SeededRng.fromSeed('curves');
  const scores = Array.from({ length: 10_000 }, () => rng.nextFloat());
  const labels = scores.map((s) => (rng.nextFloat() < s ? 1 : 0));

  it('gives every ROC point of a small input, from (0, 0) to (1, 1)', () => {
    expect(rocCurve([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])).toEqual([
      { threshold: Infinity, falsePositiveRate: 0, truePositiveRate: 0 },
      { threshold: 0.9, falsePositiveRate: 0, truePositiveRate: 0.5 },
      { threshold: 0.5, falsePositiveRate: 0.5, truePositiveRate: 1 },
      { threshold: 0.1, falsePositiveRate: 1, truePositiveRate: 1 },
    ]);
  });

  it('downsamples a long ROC curve to at most 200 monotone points with both ends kept', () => {
    const roc = rocCurve(scores, labels);
    expect(roc.length).toBeLessThanOrEqual(200);
    expect(roc.length).toBeGreaterThan(150);
    expect(roc[0]).toMatchObject({ falsePositiveRate: 0, truePositiveRate: 0 });
    expect(roc.at(-1)).toMatchObject({ falsePositiveRate: 1, truePositiveRate: 1 });
    for (let k = 1; k < roc.length; k++) {
      expect(roc[k].falsePositiveRate).toBeGreaterThanOrEqual(roc[k - 1].falsePositiveRate);
      expect(roc[k].truePositiveRate).toBeGreaterThanOrEqual(roc[k - 1].truePositiveRate);
    }
    expect(rocCurve(scores, labels, 20).length).toBeLessThanOrEqual(20);
  });

  it('gives a KS curve over depth whose largest gap is the KS statistic', () => {
    const curve = ksCurve(scores, labels, 10_001);
    expect(curve[0].depth).toBe(0);
    expect(curve.at(-1)!.depth).toBe(1);
    expect(Math.max(...curve.map((p) => Math.abs(p.gap)))).toBe(ks(scores, labels).statistic);
    expect(ksCurve(scores, labels).length).toBeLessThanOrEqual(200);
  });
});

describe('threshold metrics', () => {
  const scores = [0.9, 0.6, 0.5, 0.4, 0.2];
  const labels = [1, 0, 1, 1, 0];

  it('predicts positive at score >= threshold (default 0.5)', () => {
    expect(confusionAt(scores, labels)).toEqual({ truePositives: 2, falsePositives: 1, trueNegatives: 1, falseNegatives: 1 });
    expect(confusionAt(scores, labels, 0.95)).toEqual({ truePositives: 0, falsePositives: 0, trueNegatives: 2, falseNegatives: 3 });
  });

  it('computes accuracy, precision, recall and F1', () => {
    const m = classificationAt(scores, labels);
    expect(m.accuracy).toBeCloseTo(3 / 5, 15);
    expect(m.precision).toBeCloseTo(2 / 3, 15);
    expect(m.recall).toBeCloseTo(2 / 3, 15);
    expect(m.f1).toBeCloseTo(2 / 3, 15);
  });

  it('reports 0 for precision and F1 when nothing is predicted positive', () => {
    const m = classificationAt(scores, labels, 0.95);
    expect([m.precision, m.recall, m.f1]).toEqual([0, 0, 0]);
  });

  it('works with a single class, where ranking metrics do not', () => {
    expect(classificationAt([0.2, 0.7], [0, 0]).accuracy).toBe(0.5);
  });
});

describe('logLoss', () => {
  it('is the mean cross-entropy', () => {
    expect(logLoss([0.8, 0.3], [1, 0])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.7)) / 2, 15);
  });

  it('stays finite for a confident mistake', () => {
    expect(logLoss([0], [1])).toBeCloseTo(-Math.log(1e-15), 6);
  });

  it('rejects values that are not probabilities', () => {
    expect(() => logLoss([1.5], [1])).toThrow(expect.objectContaining({ code: 'E_VALUES_INVALID' }));
  });
});

describe('liftTable', () => {
  it('bins rows by descending score and reports gain and lift', () => {
    // 20 rows; the 4 highest scores are the positives; overall rate 0.2.
    const scores = Array.from({ length: 20 }, (_, i) => i);
    const labels = scores.map((s) => (s >= 16 ? 1 : 0));
    const table = liftTable(scores, labels);
    expect(table).toHaveLength(10);
    expect(table[0]).toMatchObject({ bin: 1, rows: 2, positives: 2, gain: 0.5, lift: 5, cumulativeLift: 5, minScore: 18, maxScore: 19 });
    expect(table[1]).toMatchObject({ gain: 1, cumulativeLift: 5, cumulativeRows: 4 });
    expect(table[9]).toMatchObject({ positives: 0, gain: 1, lift: 0, cumulativeLift: 1, cumulativeRows: 20 });
  });

  it('keeps bin sizes within one row of each other', () => {
    const sizes = liftTable(Array.from({ length: 23 }, (_, i) => i % 3), Array.from({ length: 23 }, (_, i) => i % 2)).map((r) => r.rows);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });
});

describe('evaluateScores', () => {
  it('agrees with the single-metric functions', () => {
    const rng = SeededRng.fromSeed('report');
    const scores = Array.from({ length: 500 }, () => rng.nextFloat());
    const labels = scores.map((s) => (rng.nextFloat() < s ? 1 : 0));
    const report = evaluateScores(scores, labels, { threshold: 0.4 });
    expect(report.auc).toBe(auc(scores, labels));
    expect(report.ks).toEqual(ks(scores, labels));
    expect(report.roc).toEqual(rocCurve(scores, labels));
    expect(report.classification).toEqual(classificationAt(scores, labels, 0.4));
    expect(report.lift).toEqual(liftTable(scores, labels));
    expect(report.rows).toBe(500);
  });
});

describe('input validation', () => {
  it('refuses ranking metrics when every label is one class, naming the metric', () => {
    expect(() => auc([0.1, 0.2], [1, 1])).toThrow(expect.objectContaining({ code: 'E_ONE_CLASS', message: 'AUC is undefined: every label is 1' }));
    expect(() => ks([0.1, 0.2], [0, 0])).toThrow(expect.objectContaining({ code: 'E_ONE_CLASS' }));
    expect(() => rocCurve([0.1, 0.2], [0, 0])).toThrow(expect.objectContaining({ code: 'E_ONE_CLASS' }));
    expect(() => liftTable([0.1, 0.2], [0, 0], 2)).toThrow(expect.objectContaining({ code: 'E_ONE_CLASS' }));
    expect(() => evaluateScores([0.1, 0.2], [1, 1], { liftBins: 2 })).toThrow(expect.objectContaining({ code: 'E_ONE_CLASS' }));
  });

  it('rejects mismatched lengths, empty input, non-finite scores and non-binary labels', () => {
    expect(() => auc([0.1, 0.2], [1])).toThrow(expect.objectContaining({ code: 'E_VALUES_INVALID' }));
    expect(() => auc([], [])).toThrow(expect.objectContaining({ code: 'E_VALUES_INVALID' }));
    expect(() => auc([0.1, NaN], [0, 1])).toThrow(/scores: entry 1 is NaN/);
    expect(() => auc([0.1, 0.2], [0, 2])).toThrow(expect.objectContaining({ code: 'E_LABEL_NOT_BINARY', message: 'labels[1] is 2, not 0 or 1' }));
  });

  it('rejects bad options by name', () => {
    expect(() => rocCurve([0.1, 0.2], [0, 1], 1)).toThrow(/maxCurvePoints/);
    expect(() => liftTable([0.1, 0.2], [0, 1], 3)).toThrow(/liftBins/);
    expect(() => classificationAt([0.1], [0], NaN)).toThrow(/threshold/);
  });
});
