/**
 * (Any party) The training report: one self-contained HTML page per party, showing how well
 * the joint model ranks and classifies held-out loans, how training converged, the scorecard
 * view, the job manifest — and the viewing party's own feature weights, never another's.
 *
 * Who learns what: metrics, curves and score distributions are aggregates over the label
 * party's validation rows; no row-level score or ID appears on the page. Weights are shown
 * only for slices whose party is the viewer; a slice of any other party is refused, so an
 * integrator cannot publish an agency's weights by passing the wrong array.
 */
import { errors } from '../errors.ts';
import { distributionChart } from './distribution.ts';
import { formatBytes, formatCount, formatFixed, formatPercent, formatSeconds, formatTimestamp } from './format.ts';
import { document, figure, note, table, tiles, type Cell, type Section } from './page.ts';
import { pointsFor, probabilityFor, scoreBands, scorecard, type Scorecard, type ScorecardOptions } from './scorecard.ts';
import { COLORS, fixedAxis, horizontalBarChart, niceAxis, xyChart, type Axis, type Point } from './svg.ts';
import type { LiftRow } from '../lr/metrics.ts';

/** What the report needs of a ScoreReport; a ScoreReport, or metrics.json read back, fits. */
export interface MetricsView {
  readonly rows: number;
  readonly positives: number;
  readonly auc: number;
  readonly ks: { readonly statistic: number; readonly threshold: number };
  readonly roc: readonly { readonly falsePositiveRate: number; readonly truePositiveRate: number }[];
  /** Thresholds may be +Infinity (or null once through JSON) at the empty-prediction end. */
  readonly ksCurve: readonly { readonly threshold: number | null; readonly truePositiveRate: number; readonly falsePositiveRate: number }[];
  readonly classification: {
    readonly threshold: number;
    readonly confusion: { readonly truePositives: number; readonly falsePositives: number; readonly trueNegatives: number; readonly falseNegatives: number };
    readonly accuracy: number;
    readonly precision: number;
    readonly recall: number;
    readonly f1: number;
  };
  /** Bin 1 holds the highest scores. */
  readonly lift: readonly Omit<LiftRow, 'cumulativeRows'>[];
}

/** A party's model slice as the report shows it; a ModelSlice fits. */
export interface ModelSliceView {
  readonly party: string;
  readonly role: 'label' | 'features';
  readonly featureNames: readonly string[];
  readonly weights: readonly number[];
  readonly intercept: number | null;
}

export interface PartyView {
  readonly name: string;
  readonly role: 'label' | 'features';
  /** Rows and bytes are known to the viewer for its own party only. */
  readonly rowsRead?: number;
  readonly features: number;
  readonly bytesSent?: number;
  /** The viewer's own IDs that alignment skipped. */
  readonly ids?: { readonly invalid: number; readonly duplicates: number };
}

export type ParameterValue = string | number | boolean | null | undefined | { readonly [key: string]: ParameterValue };

/** The job manifest; `manifestJson(result)` fits once its parameters are spread into a plain object. */
export interface ManifestView {
  readonly jobId: string;
  readonly createdAt: string;
  readonly idType: string;
  readonly parties: readonly PartyView[];
  readonly rows: { readonly aligned: number; readonly train: number; readonly validation: number };
  readonly parameters: { readonly [name: string]: ParameterValue };
  readonly epochsRun: number;
  readonly seconds: number;
  readonly timings: { readonly [phase: string]: number };
}

export interface TrainingReportInput {
  /** The party the page is for; only its own model slices may be passed. */
  readonly viewer: string;
  readonly metrics: MetricsView;
  /** Validation scores (predicted default probabilities) and 0/1 labels (1 = defaulted). */
  readonly validation: { readonly scores: ArrayLike<number>; readonly labels: ArrayLike<number> };
  readonly lossCurve: readonly number[];
  readonly models: readonly ModelSliceView[];
  readonly manifest: ManifestView;
  readonly scorecard?: ScorecardOptions;
  readonly title?: string;
  /** When the page was made (ISO 8601); default now. Fixed in tests for reproducible pages. */
  readonly generatedAt?: string;
}

export function renderTrainingReport(input: TrainingReportInput): string {
  checkInput(input);
  const card = scorecard(input.scorecard);
  const sections: Section[] = [
    { id: 'summary', heading: 'Summary', body: summary(input) },
    { id: 'roc', heading: 'ROC curve', body: roc(input.metrics), half: true },
    { id: 'ks', heading: 'KS curve', body: ks(input), half: true },
    { id: 'distribution', heading: 'Score distribution: goods and bads', body: distribution(input), half: true },
    { id: 'loss', heading: 'Training loss per epoch', body: loss(input.lossCurve), half: true },
    { id: 'lift', heading: 'Lift and gain by decile', body: lift(input.metrics) },
    { id: 'scorecard', heading: 'Scorecard view', body: scorecardView(card, input) },
    { id: 'weights', heading: `Feature weights of ${input.viewer}`, body: weights(input) },
    { id: 'manifest', heading: 'Job manifest', body: manifest(input.manifest) },
  ];
  return document(
    {
      title: input.title ?? 'Joint credit model — training report',
      facts: [
        ['Job', input.manifest.jobId],
        ['Prepared for', input.viewer],
        ['Model trained', formatTimestamp(input.manifest.createdAt)],
        ['Report generated', formatTimestamp(input.generatedAt ?? new Date().toISOString())],
      ],
    },
    sections,
  );
}

function checkInput(input: TrainingReportInput): void {
  if (typeof input.viewer !== 'string' || input.viewer.length === 0) throw errors.optionInvalid('viewer', 'must name the party the report is for');
  for (const slice of input.models) {
    if (slice.party !== input.viewer) {
      throw errors.optionInvalid(
        'models',
        `holds the model slice of "${slice.party}", but the report is for "${input.viewer}"`,
        "pass only the viewer's own slices: each party sees its own weights and no one else's",
      );
    }
    if (slice.weights.length !== slice.featureNames.length || !slice.weights.every(Number.isFinite)) {
      throw errors.valuesInvalid(`models (${slice.party}).weights`, 'must be one finite number per feature name');
    }
  }
  const { scores, labels } = input.validation;
  if (scores.length === 0 || scores.length !== labels.length) {
    throw errors.valuesInvalid('validation', `needs one label per score, got ${scores.length} scores and ${labels.length} labels`);
  }
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw errors.valuesInvalid('validation.scores', `entry ${i} is ${scores[i]}`);
    if (labels[i] !== 0 && labels[i] !== 1) throw errors.valuesInvalid('validation.labels', `entry ${i} is ${labels[i]}, not 0 or 1`);
  }
  if (!input.lossCurve.every(Number.isFinite)) throw errors.valuesInvalid('lossCurve', 'must hold finite numbers');
  if (input.metrics.roc.length < 2) throw errors.valuesInvalid('metrics.roc', 'needs at least two points');
}

const rate = (v: number) => formatPercent(v, 0);
const score = (v: number) => formatFixed(v, 3);
const RATE_TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1];

function summary(input: TrainingReportInput): string {
  const { metrics: m, manifest } = input;
  const c = m.classification.confusion;
  const finalLoss = input.lossCurve[input.lossCurve.length - 1];
  const figures = tiles([
    { label: 'AUC', value: formatFixed(m.auc, 3), note: 'ranking power; 0.5 is random' },
    { label: 'KS', value: formatFixed(m.ks.statistic, 3), note: `largest TPR − FPR gap, at score ${score(m.ks.threshold)}` },
    { label: 'Validation rows', value: formatCount(m.rows), note: `${formatCount(m.positives)} bads · bad rate ${formatPercent(m.positives / m.rows)}` },
    { label: 'Aligned rows', value: formatCount(manifest.rows.aligned), note: `train ${formatCount(manifest.rows.train)} · validation ${formatCount(manifest.rows.validation)}` },
    { label: 'Epochs', value: formatCount(manifest.epochsRun), note: finalLoss === undefined ? 'no loss recorded' : `final loss ${formatFixed(finalLoss, 4)}` },
    { label: 'Run time', value: formatSeconds(manifest.seconds), note: `${manifest.parties.length} parties` },
  ]);
  const t = score(m.classification.threshold);
  const confusion = table(
    [{ header: '' }, { header: `Flagged (≥ ${t})`, numeric: true }, { header: `Not flagged (< ${t})`, numeric: true }, { header: 'Total', numeric: true }],
    [
      ['Bad (defaulted)', formatCount(c.truePositives), formatCount(c.falseNegatives), formatCount(c.truePositives + c.falseNegatives)],
      ['Good', formatCount(c.falsePositives), formatCount(c.trueNegatives), formatCount(c.falsePositives + c.trueNegatives)],
    ],
    { caption: `Confusion matrix at threshold ${t}` },
  );
  const rates = table(
    [{ header: 'Measure' }, { header: 'Value', numeric: true }, { header: 'Meaning' }],
    [
      ['Accuracy', formatPercent(m.classification.accuracy), 'rows classified correctly'],
      ['Precision', formatPercent(m.classification.precision), 'flagged rows that defaulted'],
      ['Recall (TPR)', formatPercent(m.classification.recall), 'defaults that were flagged'],
      ['F1', formatFixed(m.classification.f1, 3), 'harmonic mean of precision and recall'],
    ],
    { caption: `Classification at threshold ${t}` },
  );
  return `${figures}<div class="cols">${confusion}${rates}</div>`;
}

function roc(m: MetricsView): string {
  const x = fixedAxis('False positive rate (share of goods flagged)', 0, 1, RATE_TICKS, rate);
  const y = fixedAxis('True positive rate (share of bads flagged)', 0, 1, RATE_TICKS, rate);
  const chart = xyChart({
    title: `ROC curve, AUC ${formatFixed(m.auc, 3)}`,
    x,
    y,
    height: 400,
    layers: [
      { kind: 'rule', name: 'Random ranking (AUC 0.5)', from: [0, 0], to: [1, 1], color: COLORS.reference, dashed: true },
      { kind: 'line', name: `Model (AUC ${formatFixed(m.auc, 3)})`, points: m.roc.map((p): Point => [p.falsePositiveRate, p.truePositiveRate]), color: COLORS.good },
    ],
  });
  return figure(chart, 'Each point is one score threshold: the share of bads against the share of goods scoring at or above it. The further above the diagonal, the better the model separates.');
}

function ks(input: TrainingReportInput): string {
  const m = input.metrics;
  const curve = m.ksCurve.filter((p): p is typeof p & { threshold: number } => p.threshold !== null && Number.isFinite(p.threshold));
  const thresholds = curve.map((p) => p.threshold);
  const x = niceAxis('Score threshold (predicted probability of default)', Math.min(...thresholds, m.ks.threshold), Math.max(...thresholds, m.ks.threshold), score);
  const y = fixedAxis('Share scoring at or above threshold', 0, 1, RATE_TICKS, rate);
  const at = ratesAt(input.validation.scores, input.validation.labels, m.ks.threshold);
  const chart = xyChart({
    title: `KS curve, KS ${formatFixed(m.ks.statistic, 3)} at score ${score(m.ks.threshold)}`,
    x,
    y,
    height: 400,
    layers: [
      { kind: 'line', name: 'Bads (TPR)', points: curve.map((p): Point => [p.threshold, p.truePositiveRate]), color: COLORS.bad },
      { kind: 'line', name: 'Goods (FPR)', points: curve.map((p): Point => [p.threshold, p.falsePositiveRate]), color: COLORS.good },
      {
        kind: 'rule',
        name: `KS gap ${formatFixed(m.ks.statistic, 3)}`,
        from: [m.ks.threshold, at.falsePositiveRate],
        to: [m.ks.threshold, at.truePositiveRate],
        color: '#111827',
        width: 2.5,
        label: `KS ${formatFixed(m.ks.statistic, 3)} at ${score(m.ks.threshold)}`,
      },
    ],
  });
  return figure(chart, 'Cumulative share of bads and of goods scoring at or above each threshold. KS is the largest vertical gap between the two curves.');
}

function ratesAt(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): { truePositiveRate: number; falsePositiveRate: number } {
  let tp = 0;
  let fp = 0;
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    positives += labels[i]!;
    if (scores[i]! >= threshold) {
      if (labels[i] === 1) tp++;
      else fp++;
    }
  }
  return { truePositiveRate: tp / positives, falsePositiveRate: fp / (scores.length - positives) };
}

function distribution(input: TrainingReportInput): string {
  const { scores, labels } = input.validation;
  const goods: number[] = [];
  const bads: number[] = [];
  for (let i = 0; i < scores.length; i++) (labels[i] === 1 ? bads : goods).push(scores[i]!);
  const t = input.metrics.classification.threshold;
  const chart = distributionChart({
    title: 'Validation score distribution of goods and bads',
    xLabel: 'Score (predicted probability of default)',
    format: score,
    samples: [
      { name: 'Goods', values: goods, color: COLORS.good },
      { name: 'Bads', values: bads, color: COLORS.bad },
    ],
    marker: { value: t, label: `Threshold ${score(t)}`, color: '#111827' },
  });
  return figure(chart, 'Share of each group per score bin on the validation rows. The less the two histograms overlap, the better the model separates defaulters.');
}

function loss(curve: readonly number[]): string {
  if (curve.length === 0) return note('No loss was recorded for this job.');
  const epochs = curve.length;
  const x: Axis =
    epochs <= 12
      ? fixedAxis('Epoch', 0.5, epochs + 0.5, Array.from({ length: epochs }, (_, i) => i + 1), formatCount)
      : niceAxis('Epoch', 1, epochs, formatCount);
  const y = niceAxis('Mean training loss', Math.min(...curve), Math.max(...curve), (v) => formatFixed(v, 3), 4);
  const chart = xyChart({
    title: 'Training loss per epoch',
    x,
    y,
    layers: [{ kind: 'line', name: 'Loss on training rows', points: curve.map((v, i): Point => [i + 1, v]), color: COLORS.accent, markers: true }],
  });
  return figure(chart, 'Cross-entropy computed under encryption with the approximate sigmoid; a flattening curve means training has converged.');
}

function lift(m: MetricsView): string {
  const rows = m.lift.map((r): Cell[] => [
    String(r.bin),
    `${score(r.minScore)} – ${score(r.maxScore)}`,
    formatCount(r.rows),
    formatCount(r.positives),
    formatPercent(r.positiveRate),
    formatCount(r.cumulativePositives),
    formatPercent(r.gain),
    formatFixed(r.lift, 2),
    formatFixed(r.cumulativeLift, 2),
  ]);
  const last = m.lift[m.lift.length - 1];
  const footer: Cell[] = ['All', last ? `${score(last.minScore)} – ${score(m.lift[0]!.maxScore)}` : '', formatCount(m.rows), formatCount(m.positives), formatPercent(m.positives / m.rows), formatCount(m.positives), formatPercent(1), formatFixed(1, 2), formatFixed(1, 2)];
  const body = table(
    [
      { header: 'Decile' },
      { header: 'Score range' },
      { header: 'Rows', numeric: true },
      { header: 'Bads', numeric: true },
      { header: 'Bad rate', numeric: true },
      { header: 'Cumulative bads', numeric: true },
      { header: 'Gain (bads captured)', numeric: true },
      { header: 'Lift', numeric: true },
      { header: 'Cumulative lift', numeric: true },
    ],
    rows,
    { footer },
  );
  return body + note('Validation rows sorted by score, riskiest first, in bins of equal size. Gain is the share of all bads found in the bins so far; lift is a bin\'s bad rate over the overall bad rate.');
}

function scorecardView(card: Scorecard, input: TrainingReportInput): string {
  const { scores, labels } = input.validation;
  const bands = scoreBands(card, scores, labels);
  const label = (b: (typeof bands)[number]) =>
    b.lower === null ? `< ${formatCount(b.upper!)}` : b.upper === null ? `≥ ${formatCount(b.lower)}` : `${formatCount(b.lower)} – ${formatCount(b.upper)}`;
  const rows = bands.map((b): Cell[] => [
    label(b),
    formatCount(b.rows),
    formatPercent(b.rows / scores.length),
    formatCount(b.bads),
    formatPercent(b.badRate),
    formatPercent(b.meanProbability),
    b.bads === 0 || b.rows === b.bads ? '–' : `${formatFixed((b.rows - b.bads) / b.bads, 1)} : 1`,
  ]);
  const bandTable = table(
    [
      { header: 'Points' },
      { header: 'Rows', numeric: true },
      { header: 'Share of rows', numeric: true },
      { header: 'Bads', numeric: true },
      { header: 'Bad rate', numeric: true },
      { header: 'Predicted PD (mean)', numeric: true },
      { header: 'Observed good : bad', numeric: true },
    ],
    rows,
    { caption: 'Validation rows by score band, lowest points (highest risk) first' },
  );
  const positions = bands.map((_, i) => i);
  const top = Math.max(...bands.map((b) => (Number.isFinite(b.badRate) ? b.badRate : 0)), ...bands.map((b) => (Number.isFinite(b.meanProbability) ? b.meanProbability : 0)), 0.01);
  const chart = xyChart({
    title: 'Observed bad rate and predicted probability of default by score band',
    x: fixedAxis('Score band (points)', -0.5, bands.length - 0.5, positions, (i) => label(bands[i]!)),
    y: niceAxis('Rate', 0, top, rate, 4),
    layers: [
      {
        kind: 'bars',
        name: 'Observed bad rate',
        color: COLORS.bad,
        opacity: 0.75,
        bars: bands.map((b, i) => ({ x0: i - 0.38, x1: i + 0.38, y: Number.isFinite(b.badRate) ? b.badRate : 0, tooltip: `${label(b)}: ${formatPercent(b.badRate)} bad rate, ${formatCount(b.rows)} rows` })),
      },
      {
        kind: 'line',
        name: 'Predicted PD (mean)',
        color: '#111827',
        markers: true,
        points: bands.flatMap((b, i): Point[] => (Number.isFinite(b.meanProbability) ? [[i, b.meanProbability]] : [])),
      },
    ],
    width: 760,
    height: 300,
  });
  const pdAtBase = probabilityFor(card, card.baseScore);
  const scaling = note(
    `Points = offset − factor × ln(odds of default), with ${formatCount(card.baseScore)} points at good:bad odds of ${formatFixed(card.baseOdds, card.baseOdds % 1 === 0 ? 0 : 2)} : 1 ` +
      `(probability of default ${formatPercent(pdAtBase, 2)}) and ${formatFixed(card.pdo, card.pdo % 1 === 0 ? 0 : 2)} points to double the odds (PDO); ` +
      `factor = PDO / ln 2 = ${formatFixed(card.factor, 2)}, offset = ${formatFixed(card.offset, 2)}. More points mean lower risk. ` +
      `Bands are ${formatFixed(card.bandWidth, card.bandWidth % 1 === 0 ? 0 : 2)} points wide; the classification threshold ${score(input.metrics.classification.threshold)} is ${formatFixed(pointsFor(card, input.metrics.classification.threshold), 0)} points.`,
  );
  return scaling + bandTable + figure(chart, 'Bars: observed bad rate per band. Line: mean predicted probability of default. Close agreement means the model is well calibrated.');
}

function weights(input: TrainingReportInput): string {
  const privacy = note(`Only ${input.viewer}'s own weights are shown. Each party keeps its model slice; other parties' weights are never shared with it, and never appear in its report.`);
  if (input.models.length === 0) return note(`No model slice of ${input.viewer} was given to this report.`) + privacy;
  const parts = input.models.map((slice) => {
    const order = slice.weights.map((_, i) => i).sort((a, b) => Math.abs(slice.weights[b]!) - Math.abs(slice.weights[a]!));
    const chart = horizontalBarChart({
      title: `Feature weights of ${slice.party}`,
      axisLabel: 'Weight (change in log-odds of default per standard deviation)',
      format: (v) => formatFixed(v, 3),
      bars: order.map((i) => ({ label: slice.featureNames[i]!, value: slice.weights[i]!, color: slice.weights[i]! > 0 ? COLORS.bad : COLORS.good })),
      width: 760,
    });
    const intercept = slice.intercept === null ? '' : ` Intercept (held by the label party): ${formatFixed(slice.intercept, 4)}.`;
    return figure(
      chart,
      `${slice.featureNames.length} features of ${slice.party} (${slice.role === 'label' ? 'label party' : 'feature party'}), largest effect first. ` +
        `Red raises the predicted risk of default, blue lowers it. Weights apply to features standardised on the party's own training rows.${intercept}`,
    );
  });
  return parts.join('') + privacy;
}

function manifest(m: ManifestView): string {
  const job = table(
    [{ header: 'Field' }, { header: 'Value' }],
    [
      ['Job ID', m.jobId],
      ['Model created', formatTimestamp(m.createdAt)],
      ['ID type', m.idType],
      ['Aligned rows (intersection)', formatCount(m.rows.aligned)],
      ['Training rows', formatCount(m.rows.train)],
      ['Validation rows', formatCount(m.rows.validation)],
      ['Epochs run', formatCount(m.epochsRun)],
    ],
    { caption: 'Job' },
  );
  const timings = table(
    [{ header: 'Phase' }, { header: 'Time', numeric: true }],
    [...Object.entries(m.timings).map(([phase, seconds]): Cell[] => [phaseName(phase), formatSeconds(seconds)])],
    { caption: 'Timings', footer: ['Total', formatSeconds(m.seconds)] },
  );
  const parties = table(
    [{ header: 'Party' }, { header: 'Role' }, { header: 'Rows read', numeric: true }, { header: 'Features', numeric: true }, { header: 'Data sent', numeric: true }],
    m.parties.map((p): Cell[] => [p.name, p.role === 'label' ? 'label (bank)' : 'features', p.rowsRead === undefined ? '—' : formatCount(p.rowsRead), formatCount(p.features), p.bytesSent === undefined ? '—' : formatBytes(p.bytesSent)]),
    { caption: 'Parties' },
  );
  const parameters = table(
    [{ header: 'Parameter' }, { header: 'Value' }],
    flatten(m.parameters).map(([k, v]): Cell[] => [k, v]),
    { caption: 'Training parameters' },
  );
  return `<div class="cols"><div>${job}${timings}</div><div>${parties}${parameters}</div></div>`;
}

/** "trainSeconds" → "Train": the manifest's keys read as phases. */
function phaseName(key: string): string {
  const words = key.replace(/Seconds$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function flatten(values: { readonly [name: string]: ParameterValue }, prefix = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(values)) {
    const name = prefix + key;
    if (value === undefined) continue;
    if (value !== null && typeof value === 'object') out.push(...flatten(value, `${name}.`));
    else out.push([name, value === null ? 'none' : String(value)]);
  }
  return out;
}
