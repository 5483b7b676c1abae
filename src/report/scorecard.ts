/**
 * (Label) The scorecard view of a model: default probabilities mapped to points the way
 * credit teams read them, with more points meaning lower risk:
 *
 *   points = offset − factor · ln(odds of default),  odds of default = p / (1 − p)
 *   factor = PDO / ln 2,  offset = baseScore + factor · ln(1 / baseOdds)
 *
 * so a borrower at `baseOdds` good:bad scores `baseScore`, and every doubling of the
 * good:bad odds adds PDO ("points to double the odds"). The mapping is monotone: it changes
 * how scores read, never how borrowers rank, so AUC, KS and lift are the same in points.
 */
import { errors } from '../errors.ts';

export interface ScorecardOptions {
  /** Points at the base odds; default 600. */
  readonly baseScore?: number;
  /** Good:bad odds that score `baseScore` (50 means 50:1); default 50. */
  readonly baseOdds?: number;
  /** Points to double the good:bad odds; default 20. */
  readonly pdo?: number;
  /** Width of a score band in points; default: PDO, so each band is one doubling of the odds. */
  readonly bandWidth?: number;
  /** Most bands in the band table; the outermost bands are open-ended; default 12. */
  readonly maxBands?: number;
}

export interface Scorecard {
  readonly baseScore: number;
  readonly baseOdds: number;
  readonly pdo: number;
  readonly factor: number;
  readonly offset: number;
  readonly bandWidth: number;
  readonly maxBands: number;
}

export interface ScoreBand {
  /** Inclusive lower edge in points; null for the open-ended lowest band. */
  readonly lower: number | null;
  /** Exclusive upper edge in points; null for the open-ended highest band. */
  readonly upper: number | null;
  readonly rows: number;
  readonly bads: number;
  /** Observed bad rate; NaN for an empty band. */
  readonly badRate: number;
  /** Mean predicted default probability, to set against the observed bad rate. */
  readonly meanProbability: number;
}

/**
 * Probabilities are kept this far from 0 and 1: a score of exactly 0 or 1 (a rounded
 * logistic) would map to infinite points, yet it is still the best or worst borrower.
 */
const PROBABILITY_FLOOR = 1e-9;

/** Checks the options at the boundary; every message names the field. */
export function scorecard(options: ScorecardOptions = {}): Scorecard {
  const baseScore = options.baseScore ?? 600;
  const baseOdds = options.baseOdds ?? 50;
  const pdo = options.pdo ?? 20;
  const bandWidth = options.bandWidth ?? pdo;
  const maxBands = options.maxBands ?? 12;
  if (!Number.isFinite(baseScore)) throw errors.optionInvalid('scorecard.baseScore', `must be a finite number, got ${baseScore}`);
  if (!(Number.isFinite(baseOdds) && baseOdds > 0)) throw errors.optionInvalid('scorecard.baseOdds', `must be a positive number (good:bad odds), got ${baseOdds}`);
  if (!(Number.isFinite(pdo) && pdo > 0)) throw errors.optionInvalid('scorecard.pdo', `must be a positive number of points, got ${pdo}`);
  if (!(Number.isFinite(bandWidth) && bandWidth > 0)) throw errors.optionInvalid('scorecard.bandWidth', `must be a positive number of points, got ${bandWidth}`);
  if (!(Number.isInteger(maxBands) && maxBands >= 2)) throw errors.optionInvalid('scorecard.maxBands', `must be an integer >= 2, got ${maxBands}`);
  const factor = pdo / Math.LN2;
  return { baseScore, baseOdds, pdo, factor, offset: baseScore + factor * Math.log(1 / baseOdds), bandWidth, maxBands };
}

/** Points for a predicted default probability. */
export function pointsFor(card: Scorecard, probability: number): number {
  const p = Math.min(1 - PROBABILITY_FLOOR, Math.max(PROBABILITY_FLOOR, probability));
  return card.offset - card.factor * Math.log(p / (1 - p));
}

/** The default probability that scores `points`: the inverse of `pointsFor`. */
export function probabilityFor(card: Scorecard, points: number): number {
  return 1 / (1 + Math.exp((points - card.offset) / card.factor));
}

/**
 * Rows, bads and bad rates by bands of `bandWidth` points aligned on the base score, lowest
 * points (highest risk) first. When the scores spread over more than `maxBands` bands, the
 * window of bands holding the most rows is kept and its end bands absorb the tails.
 */
export function scoreBands(card: Scorecard, probabilities: ArrayLike<number>, labels: ArrayLike<number>): ScoreBand[] {
  const n = probabilities.length;
  if (n === 0) return [];
  const index = new Int32Array(n);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    // The nudge keeps a borrower exactly at a band edge (the base odds) from rounding into the band below.
    const k = Math.floor((pointsFor(card, probabilities[i]!) - card.baseScore) / card.bandWidth + 1e-9);
    index[i] = k;
    lo = Math.min(lo, k);
    hi = Math.max(hi, k);
  }
  let first = lo;
  let last = hi;
  if (hi - lo + 1 > card.maxBands) {
    const counts = new Float64Array(hi - lo + 1);
    for (const k of index) counts[k - lo]!++;
    let best = -1;
    let sum = 0;
    for (let s = 0; s < counts.length; s++) {
      sum += counts[s]!;
      if (s >= card.maxBands) sum -= counts[s - card.maxBands]!;
      if (s >= card.maxBands - 1 && sum > best) {
        best = sum;
        first = lo + s - card.maxBands + 1;
      }
    }
    last = first + card.maxBands - 1;
  }
  const bands = Array.from({ length: last - first + 1 }, () => ({ rows: 0, bads: 0, probabilitySum: 0 }));
  for (let i = 0; i < n; i++) {
    const band = bands[Math.min(last, Math.max(first, index[i]!)) - first]!;
    band.rows++;
    band.bads += labels[i] === 1 ? 1 : 0;
    band.probabilitySum += probabilities[i]!;
  }
  return bands.map((b, j) => ({
    lower: j === 0 && lo < first ? null : card.baseScore + (first + j) * card.bandWidth,
    upper: j === bands.length - 1 && hi > last ? null : card.baseScore + (first + j + 1) * card.bandWidth,
    rows: b.rows,
    bads: b.bads,
    badRate: b.rows === 0 ? NaN : b.bads / b.rows,
    meanProbability: b.rows === 0 ? NaN : b.probabilitySum / b.rows,
  }));
}
