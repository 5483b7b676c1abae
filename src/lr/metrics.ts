/**
 * (Label) How well scores rank and classify held-out loans: the label party computes these
 * from the validation scores that reach it and its own 0/1 labels (1 = defaulted). Nothing
 * here crosses a party boundary.
 *
 * Conventions: a row is predicted positive when its score is >= the threshold; thresholds
 * sweep the distinct scores from high to low. Tied scores move together, which makes AUC the
 * Mann–Whitney statistic with average ranks (a tied positive–negative pair counts ½). Every
 * ranking metric sorts once, O(n log n). AUC, KS, the curves and the lift table need both
 * classes and say so with E_ONE_CLASS otherwise.
 */
import { errors } from '../errors.ts';

/** 0/1 outcomes, one per scored row. */
export type BinaryLabels = ArrayLike<number>;

export interface RocPoint {
  /** Rows scoring >= threshold are predicted positive; the first point's threshold is +Infinity. */
  readonly threshold: number;
  readonly falsePositiveRate: number;
  readonly truePositiveRate: number;
}

export interface KsResult {
  /** max |TPR − FPR| over all thresholds. */
  readonly statistic: number;
  /** The threshold at which the maximum is first reached. */
  readonly threshold: number;
}

export interface KsPoint {
  /** Share of all rows scoring >= threshold. */
  readonly depth: number;
  readonly threshold: number;
  readonly truePositiveRate: number;
  readonly falsePositiveRate: number;
  /** TPR − FPR. */
  readonly gap: number;
}

export interface ConfusionCounts {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly trueNegatives: number;
  readonly falseNegatives: number;
}

export interface ThresholdMetrics {
  readonly threshold: number;
  readonly confusion: ConfusionCounts;
  readonly accuracy: number;
  /** 0 when no row is predicted positive (scikit-learn's zero_division=0). */
  readonly precision: number;
  /** 0 when there is no positive row. */
  readonly recall: number;
  /** 0 when precision and recall are both 0. */
  readonly f1: number;
}

/** One row of a lift/gain table; bin 1 holds the highest scores. */
export interface LiftRow {
  readonly bin: number;
  readonly rows: number;
  readonly positives: number;
  readonly positiveRate: number;
  readonly cumulativeRows: number;
  readonly cumulativePositives: number;
  /** Share of all positives captured by bins 1..bin. */
  readonly gain: number;
  /** This bin's positive rate over the overall positive rate. */
  readonly lift: number;
  /** The positive rate of bins 1..bin over the overall positive rate. */
  readonly cumulativeLift: number;
  readonly minScore: number;
  readonly maxScore: number;
}

export interface EvaluationOptions {
  /** Classification threshold; default 0.5. */
  readonly threshold?: number;
  /** Most points kept in each curve; default 200. */
  readonly maxCurvePoints?: number;
  /** Lift table bins; default 10 (deciles). */
  readonly liftBins?: number;
}

/** Everything a validation report shows, from one sort. */
export interface ScoreReport {
  readonly rows: number;
  readonly positives: number;
  readonly auc: number;
  readonly ks: KsResult;
  readonly roc: RocPoint[];
  readonly ksCurve: KsPoint[];
  readonly classification: ThresholdMetrics;
  readonly lift: LiftRow[];
}

const DEFAULT_THRESHOLD = 0.5;
const DEFAULT_CURVE_POINTS = 200;
const DEFAULT_LIFT_BINS = 10;
/** Probabilities are clipped this far from 0 and 1 so one confident mistake costs a finite loss. */
const LOG_LOSS_EPSILON = 1e-15;

/** Area under the ROC curve; ties counted as ½. */
export function auc(scores: ArrayLike<number>, labels: BinaryLabels): number {
  return areaUnderCurve(sweep(checked(scores, labels), 'AUC'));
}

/** Kolmogorov–Smirnov statistic max |TPR − FPR| and where it is reached. */
export function ks(scores: ArrayLike<number>, labels: BinaryLabels): KsResult {
  return ksOf(sweep(checked(scores, labels), 'KS'));
}

/** ROC points from (0, 0) to (1, 1), at most `maxPoints` of them, spread evenly along the curve. */
export function rocCurve(scores: ArrayLike<number>, labels: BinaryLabels, maxPoints = DEFAULT_CURVE_POINTS): RocPoint[] {
  checkCurvePoints(maxPoints);
  return rocOf(sweep(checked(scores, labels), 'the ROC curve'), maxPoints);
}

/** TPR, FPR and their gap against depth, at most `maxPoints` points spread evenly in depth. */
export function ksCurve(scores: ArrayLike<number>, labels: BinaryLabels, maxPoints = DEFAULT_CURVE_POINTS): KsPoint[] {
  checkCurvePoints(maxPoints);
  return ksCurveOf(sweep(checked(scores, labels), 'the KS curve'), maxPoints);
}

export function confusionAt(scores: ArrayLike<number>, labels: BinaryLabels, threshold = DEFAULT_THRESHOLD): ConfusionCounts {
  checkThreshold(threshold);
  return confusionOf(checked(scores, labels), threshold);
}

/** Accuracy, precision, recall and F1 with rows scoring >= `threshold` predicted positive. */
export function classificationAt(scores: ArrayLike<number>, labels: BinaryLabels, threshold = DEFAULT_THRESHOLD): ThresholdMetrics {
  checkThreshold(threshold);
  return classificationOf(confusionOf(checked(scores, labels), threshold), threshold);
}

/** Mean cross-entropy of predicted default probabilities. */
export function logLoss(probabilities: ArrayLike<number>, labels: BinaryLabels): number {
  const { scores, labels: y } = checked(probabilities, labels);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = scores[i];
    if (p < 0 || p > 1) throw errors.valuesInvalid('probabilities', `entry ${i} is ${p}, outside [0, 1]`);
    const clipped = Math.min(1 - LOG_LOSS_EPSILON, Math.max(LOG_LOSS_EPSILON, p));
    sum -= y[i] === 1 ? Math.log(clipped) : Math.log1p(-clipped);
  }
  return sum / scores.length;
}

/**
 * Lift and gain by score bins of near-equal size (deciles by default), highest scores first.
 * Rows with tied scores at a bin boundary are split by row order, so bins keep their sizes.
 */
export function liftTable(scores: ArrayLike<number>, labels: BinaryLabels, bins = DEFAULT_LIFT_BINS): LiftRow[] {
  const input = checked(scores, labels);
  checkLiftBins(bins, input.scores.length);
  return liftOf(sweep(input, 'the lift table'), bins);
}

/** (Label) The full validation report: AUC, KS, curves, threshold metrics and lift table. */
export function evaluateScores(scores: ArrayLike<number>, labels: BinaryLabels, options: EvaluationOptions = {}): ScoreReport {
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  const maxCurvePoints = options.maxCurvePoints ?? DEFAULT_CURVE_POINTS;
  const liftBins = options.liftBins ?? DEFAULT_LIFT_BINS;
  checkThreshold(threshold);
  checkCurvePoints(maxCurvePoints);
  const input = checked(scores, labels);
  checkLiftBins(liftBins, input.scores.length);
  const ranked = sweep(input, 'the validation report');
  return {
    rows: input.scores.length,
    positives: input.positives,
    auc: areaUnderCurve(ranked),
    ks: ksOf(ranked),
    roc: rocOf(ranked, maxCurvePoints),
    ksCurve: ksCurveOf(ranked, maxCurvePoints),
    classification: classificationOf(confusionOf(input, threshold), threshold),
    lift: liftOf(ranked, liftBins),
  };
}

interface CheckedInput {
  readonly scores: Float64Array;
  readonly labels: Uint8Array;
  readonly positives: number;
}

/**
 * Scores sorted high to low, and the cumulative counts after each group of tied scores:
 * operating point k (k >= 1) predicts positive every row scoring >= thresholds[k]; point 0 is
 * the empty prediction at +Infinity.
 */
interface Sweep extends CheckedInput {
  readonly negatives: number;
  readonly order: Uint32Array;
  readonly thresholds: Float64Array;
  readonly truePositives: Float64Array;
  readonly falsePositives: Float64Array;
}

function checked(scores: ArrayLike<number>, labels: BinaryLabels): CheckedInput {
  if (scores === null || typeof scores !== 'object' || typeof scores.length !== 'number') {
    throw errors.valuesInvalid('scores', 'must be an array of numbers');
  }
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    throw errors.valuesInvalid('labels', 'must be an array of 0/1 values');
  }
  if (scores.length !== labels.length) {
    throw errors.valuesInvalid('labels', `holds ${labels.length} values for ${scores.length} scores`);
  }
  if (scores.length === 0) throw errors.valuesInvalid('scores', 'no rows to evaluate');
  const s = Float64Array.from(scores);
  const y = new Uint8Array(labels.length);
  let positives = 0;
  for (let i = 0; i < s.length; i++) {
    if (!Number.isFinite(s[i])) throw errors.valuesInvalid('scores', `entry ${i} is ${scores[i]}`);
    const label = labels[i];
    if (label !== 0 && label !== 1) throw errors.labelValueNotBinary('labels', i, label);
    y[i] = label;
    positives += label;
  }
  return { scores: s, labels: y, positives };
}

function sweep(input: CheckedInput, metric: string): Sweep {
  const n = input.scores.length;
  const negatives = n - input.positives;
  if (input.positives === 0) throw errors.oneClass(metric, 0);
  if (negatives === 0) throw errors.oneClass(metric, 1);
  const { scores, labels } = input;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Ties broken by row index so the order, and every bin built from it, is reproducible.
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const thresholds = [Infinity];
  const truePositives = [0];
  const falsePositives = [0];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; ) {
    const score = scores[order[k]];
    for (; k < n && scores[order[k]] === score; k++) {
      if (labels[order[k]] === 1) tp++;
      else fp++;
    }
    thresholds.push(score);
    truePositives.push(tp);
    falsePositives.push(fp);
  }
  return {
    ...input,
    negatives,
    order,
    thresholds: Float64Array.from(thresholds),
    truePositives: Float64Array.from(truePositives),
    falsePositives: Float64Array.from(falsePositives),
  };
}

function areaUnderCurve(ranked: Sweep): number {
  const { truePositives: tp, falsePositives: fp } = ranked;
  // Trapezoids in counts stay exact integers (halves) until the final division.
  let twiceArea = 0;
  for (let k = 1; k < tp.length; k++) twiceArea += (fp[k] - fp[k - 1]) * (tp[k] + tp[k - 1]);
  return twiceArea / (2 * ranked.positives * ranked.negatives);
}

function ksOf(ranked: Sweep): KsResult {
  const { positives, negatives } = ranked;
  // Compare |TP·N − FP·P| in exact integers: rounded rates would make equal gaps differ.
  let best = 0;
  let threshold = ranked.thresholds[0];
  for (let k = 1; k < ranked.thresholds.length; k++) {
    const gap = Math.abs(ranked.truePositives[k] * negatives - ranked.falsePositives[k] * positives);
    if (gap > best) {
      best = gap;
      threshold = ranked.thresholds[k];
    }
  }
  return { statistic: best / (positives * negatives), threshold };
}

function rocOf(ranked: Sweep, maxPoints: number): RocPoint[] {
  const { thresholds, truePositives: tp, falsePositives: fp, positives, negatives } = ranked;
  // FPR + TPR rises from 0 to 2 along the staircase: even steps in it spread points along the curve.
  const arc = new Float64Array(thresholds.length);
  for (let k = 0; k < arc.length; k++) arc[k] = fp[k] / negatives + tp[k] / positives;
  return evenlyAlong(arc, maxPoints).map((k) => ({
    threshold: thresholds[k],
    falsePositiveRate: fp[k] / negatives,
    truePositiveRate: tp[k] / positives,
  }));
}

function ksCurveOf(ranked: Sweep, maxPoints: number): KsPoint[] {
  const { thresholds, truePositives: tp, falsePositives: fp, positives, negatives } = ranked;
  const n = positives + negatives;
  const depth = new Float64Array(thresholds.length);
  for (let k = 0; k < depth.length; k++) depth[k] = (tp[k] + fp[k]) / n;
  return evenlyAlong(depth, maxPoints).map((k) => {
    const truePositiveRate = tp[k] / positives;
    const falsePositiveRate = fp[k] / negatives;
    return { depth: depth[k], threshold: thresholds[k], truePositiveRate, falsePositiveRate, gap: truePositiveRate - falsePositiveRate };
  });
}

/**
 * Indices of at most `maxPoints` entries of the non-decreasing `key`, the first at or after
 * each of `maxPoints` evenly spaced targets; always the first and last entries.
 */
function evenlyAlong(key: Float64Array, maxPoints: number): number[] {
  const last = key.length - 1;
  if (key.length <= maxPoints) return Array.from(key.keys());
  const picked: number[] = [0];
  let k = 0;
  for (let step = 1; step < maxPoints - 1; step++) {
    const target = key[0] + ((key[last] - key[0]) * step) / (maxPoints - 1);
    while (k < last && key[k] < target) k++;
    if (k !== picked[picked.length - 1]) picked.push(k);
  }
  if (picked[picked.length - 1] !== last) picked.push(last);
  return picked;
}

function confusionOf(input: CheckedInput, threshold: number): ConfusionCounts {
  let truePositives = 0;
  let falsePositives = 0;
  for (let i = 0; i < input.scores.length; i++) {
    if (input.scores[i] >= threshold) {
      if (input.labels[i] === 1) truePositives++;
      else falsePositives++;
    }
  }
  const negatives = input.scores.length - input.positives;
  return {
    truePositives,
    falsePositives,
    trueNegatives: negatives - falsePositives,
    falseNegatives: input.positives - truePositives,
  };
}

function classificationOf(confusion: ConfusionCounts, threshold: number): ThresholdMetrics {
  const { truePositives: tp, falsePositives: fp, trueNegatives: tn, falseNegatives: fn } = confusion;
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { threshold, confusion, accuracy: (tp + tn) / (tp + fp + tn + fn), precision, recall, f1 };
}

function liftOf(ranked: Sweep, bins: number): LiftRow[] {
  const { order, scores, labels, positives } = ranked;
  const n = order.length;
  const overallRate = positives / n;
  const rows: LiftRow[] = [];
  let cumulativePositives = 0;
  for (let b = 0; b < bins; b++) {
    const start = Math.floor((b * n) / bins);
    const end = Math.floor(((b + 1) * n) / bins);
    let binPositives = 0;
    for (let k = start; k < end; k++) binPositives += labels[order[k]];
    cumulativePositives += binPositives;
    const positiveRate = binPositives / (end - start);
    rows.push({
      bin: b + 1,
      rows: end - start,
      positives: binPositives,
      positiveRate,
      cumulativeRows: end,
      cumulativePositives,
      gain: cumulativePositives / positives,
      lift: positiveRate / overallRate,
      cumulativeLift: cumulativePositives / end / overallRate,
      minScore: scores[order[end - 1]],
      maxScore: scores[order[start]],
    });
  }
  return rows;
}

function checkThreshold(threshold: number): void {
  if (!Number.isFinite(threshold)) throw errors.optionInvalid('threshold', `must be a finite number, got ${threshold}`);
}

function checkCurvePoints(maxPoints: number): void {
  if (!Number.isInteger(maxPoints) || maxPoints < 2) {
    throw errors.optionInvalid('maxCurvePoints', `must be an integer >= 2, got ${maxPoints}`);
  }
}

function checkLiftBins(bins: number, rows: number): void {
  if (!Number.isInteger(bins) || bins < 1) throw errors.optionInvalid('liftBins', `must be an integer >= 1, got ${bins}`);
  if (bins > rows) throw errors.optionInvalid('liftBins', `${bins} bins exceed the ${rows} scored rows`);
}
