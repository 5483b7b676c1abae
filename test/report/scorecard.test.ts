import { describe, expect, it } from 'vitest';
import { pointsFor, probabilityFor, scoreBands, scorecard } from '../../src/report/html.ts';

/** Default probability of a borrower at good:bad odds `odds` : 1. */
const pdAtOdds = (odds: number) => 1 / (1 + odds);

describe('scorecard', () => {
  it('gives the base score at the base odds (600 at 50:1 by default)', () => {
    const card = scorecard();
    expect(card).toMatchObject({ baseScore: 600, baseOdds: 50, pdo: 20 });
    expect(pointsFor(card, pdAtOdds(50))).toBeCloseTo(600, 9);
  });

  it('adds PDO points each time the good:bad odds double', () => {
    const card = scorecard();
    expect(pointsFor(card, pdAtOdds(100))).toBeCloseTo(620, 9);
    expect(pointsFor(card, pdAtOdds(200))).toBeCloseTo(640, 9);
    expect(pointsFor(card, pdAtOdds(25))).toBeCloseTo(580, 9);
    expect(card.factor).toBeCloseTo(20 / Math.LN2, 12);
  });

  it('follows custom scaling options', () => {
    const card = scorecard({ baseScore: 500, baseOdds: 20, pdo: 40 });
    expect(pointsFor(card, pdAtOdds(20))).toBeCloseTo(500, 9);
    expect(pointsFor(card, pdAtOdds(40))).toBeCloseTo(540, 9);
  });

  it('maps points back to the probability they stand for', () => {
    const card = scorecard();
    for (const p of [0.001, 0.02, 0.3, 0.9]) expect(probabilityFor(card, pointsFor(card, p))).toBeCloseTo(p, 12);
  });

  it('keeps certain scores finite: a probability of 0 or 1 is still the best or worst borrower', () => {
    const card = scorecard();
    expect(Number.isFinite(pointsFor(card, 0))).toBe(true);
    expect(Number.isFinite(pointsFor(card, 1))).toBe(true);
    expect(pointsFor(card, 0)).toBeGreaterThan(pointsFor(card, 1e-6));
  });

  it('rejects unusable scaling, naming the field', () => {
    expect(() => scorecard({ pdo: 0 })).toThrow(/scorecard\.pdo/);
    expect(() => scorecard({ baseOdds: -1 })).toThrow(/scorecard\.baseOdds/);
    expect(() => scorecard({ baseScore: Number.NaN })).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
  });
});

describe('scoreBands', () => {
  it('counts every row once, in bands of PDO points aligned on the base score, riskiest first', () => {
    const card = scorecard();
    const probabilities = [pdAtOdds(50), pdAtOdds(60), pdAtOdds(30), pdAtOdds(200), pdAtOdds(10)];
    const labels = [0, 0, 1, 0, 1];
    const bands = scoreBands(card, probabilities, labels);
    expect(bands.reduce((s, b) => s + b.rows, 0)).toBe(5);
    expect(bands.reduce((s, b) => s + b.bads, 0)).toBe(2);
    for (const b of bands) expect(Number.isInteger((b.lower! - 600) / 20)).toBe(true);
    expect(bands.map((b) => b.lower)).toEqual([...bands.map((b) => b.lower)].sort((a, b) => a! - b!));
    const base = bands.find((b) => b.lower === 600)!;
    expect(base).toMatchObject({ upper: 620, rows: 2, bads: 0, badRate: 0 });
  });

  it('folds the tails into open-ended end bands when scores spread wider than maxBands', () => {
    const card = scorecard({ maxBands: 3 });
    const probabilities = [0.9, 0.5, pdAtOdds(50), pdAtOdds(50), pdAtOdds(60), pdAtOdds(100), 1e-6];
    const bands = scoreBands(card, probabilities, [1, 1, 0, 0, 0, 0, 0]);
    expect(bands).toHaveLength(3);
    expect(bands[0]!.lower).toBeNull();
    expect(bands[2]!.upper).toBeNull();
    expect(bands.reduce((s, b) => s + b.rows, 0)).toBe(7);
  });
});
