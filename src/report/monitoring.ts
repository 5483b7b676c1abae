/**
 * (Label) The monitoring report of a loan book re-scored by the joint model: how the score
 * distribution moved since the last run, which enterprises crossed the watch-list threshold,
 * whether any party's inputs drifted (population stability index per party), and the trend
 * over past runs.
 *
 * Scores are predicted probabilities of default. The page lists enterprise IDs only for
 * threshold crossings, which the bank acts on; drift is reported per party as one number,
 * computed by each party on its own partial score, so no party's data reaches another.
 */
import { errors } from '../errors.ts';
import { distributionChart } from './distribution.ts';
import { formatCount, formatFixed, formatPercent, formatTimestamp } from './format.ts';
import { document, figure, note, table, tiles, type Cell, type Section } from './page.ts';
import { pointsFor, scorecard, type Scorecard, type ScorecardOptions } from './scorecard.ts';
import { STABILITY_LEVELS, stabilityStatus } from '../score/stability.ts';
import { COLORS, fixedAxis, horizontalBarChart, niceAxis, xyChart, type Point } from './svg.ts';

export interface RunScores {
  readonly runId: string;
  /** ISO 8601 date or time of the run. */
  readonly runAt: string;
  readonly scores: ArrayLike<number>;
}

export interface ThresholdCrossing {
  readonly enterpriseId: string;
  readonly previousScore: number;
  readonly currentScore: number;
}

export interface PartyStability {
  readonly party: string;
  /** Population stability index of the party's partial score, this run against the last. */
  readonly psi: number;
}

export interface RunSummary {
  readonly runId: string;
  readonly runAt: string;
  readonly rows: number;
  readonly meanScore: number;
  /** Share of the book scoring at or above the threshold. */
  readonly shareAboveThreshold: number;
}

export interface MonitoringReportInput {
  /** The loan book monitored, e.g. "SME working-capital loans". */
  readonly bookName: string;
  /** Watch-list threshold on the predicted probability of default. */
  readonly threshold: number;
  readonly current: RunScores;
  readonly previous: RunScores;
  readonly crossings: readonly ThresholdCrossing[];
  readonly stability: readonly PartyStability[];
  /** Past runs, oldest first, including the current one. */
  readonly history: readonly RunSummary[];
  readonly scorecard?: ScorecardOptions;
  /** Most crossings listed, moves onto the watch list first; default 100. */
  readonly maxCrossingsShown?: number;
  readonly title?: string;
  /** When the page was made (ISO 8601); default now. */
  readonly generatedAt?: string;
}

/** Enough for a credit officer's review list; the page stays quick to open and print. */
const DEFAULT_MAX_CROSSINGS = 100;

export interface ScoredBook {
  readonly ids: readonly string[];
  readonly scores: ArrayLike<number>;
}

/** Enterprises scored in both runs whose score moved across `threshold`, either way. */
export function thresholdCrossings(previous: ScoredBook, current: ScoredBook, threshold: number): ThresholdCrossing[] {
  const before = new Map<string, number>();
  previous.ids.forEach((id, i) => before.set(id, previous.scores[i]!));
  const out: ThresholdCrossing[] = [];
  current.ids.forEach((id, i) => {
    const previousScore = before.get(id);
    const currentScore = current.scores[i]!;
    if (previousScore !== undefined && previousScore >= threshold !== currentScore >= threshold) out.push({ enterpriseId: id, previousScore, currentScore });
  });
  return out;
}

export function summariseRun(run: RunScores, threshold: number): RunSummary {
  let sum = 0;
  let above = 0;
  for (let i = 0; i < run.scores.length; i++) {
    sum += run.scores[i]!;
    if (run.scores[i]! >= threshold) above++;
  }
  const rows = run.scores.length;
  return { runId: run.runId, runAt: run.runAt, rows, meanScore: rows === 0 ? NaN : sum / rows, shareAboveThreshold: rows === 0 ? NaN : above / rows };
}

export function renderMonitoringReport(input: MonitoringReportInput): string {
  checkInput(input);
  const card = scorecard(input.scorecard);
  const sections: Section[] = [
    { id: 'summary', heading: 'Summary', body: summary(input) },
    { id: 'distribution', heading: 'Score distribution: this run and the last', body: distribution(input), half: true },
    { id: 'history', heading: 'Run history', body: history(input), half: true },
    { id: 'stability', heading: 'Population stability by party', body: stability(input.stability) },
    // Last: the one section whose length grows with the book.
    { id: 'crossings', heading: 'Enterprises that crossed the threshold', body: crossings(input, card) },
  ];
  return document(
    {
      title: input.title ?? `Loan book monitoring — ${input.bookName}`,
      facts: [
        ['Run', `${input.current.runId} (${formatTimestamp(input.current.runAt)})`],
        ['Compared with', `${input.previous.runId} (${formatTimestamp(input.previous.runAt)})`],
        ['Threshold', formatThreshold(input.threshold)],
        ['Report generated', formatTimestamp(input.generatedAt ?? new Date().toISOString())],
      ],
    },
    sections,
  );
}

function checkInput(input: MonitoringReportInput): void {
  if (!(Number.isFinite(input.threshold) && input.threshold > 0 && input.threshold < 1)) {
    throw errors.optionInvalid('threshold', `must be a probability of default between 0 and 1, got ${input.threshold}`);
  }
  for (const [name, run] of [['current', input.current], ['previous', input.previous]] as const) {
    if (run.scores.length === 0) throw errors.valuesInvalid(`${name}.scores`, 'no scores in this run');
    for (let i = 0; i < run.scores.length; i++) {
      if (!Number.isFinite(run.scores[i])) throw errors.valuesInvalid(`${name}.scores`, `entry ${i} is ${run.scores[i]}`);
    }
  }
  input.crossings.forEach((c, i) => {
    if (!Number.isFinite(c.previousScore) || !Number.isFinite(c.currentScore)) throw errors.valuesInvalid('crossings', `entry ${i} (${c.enterpriseId}) has a score that is not a finite number`);
  });
  input.stability.forEach((s, i) => {
    if (!(Number.isFinite(s.psi) && s.psi >= 0)) throw errors.valuesInvalid('stability', `entry ${i} (${s.party}) has PSI ${s.psi}; it must be a finite number >= 0`);
  });
  input.history.forEach((r, i) => {
    if (!Number.isFinite(r.meanScore) || !Number.isFinite(r.shareAboveThreshold)) throw errors.valuesInvalid('history', `entry ${i} (${r.runId}) needs a finite mean score and share above threshold`);
  });
  const shown = input.maxCrossingsShown ?? DEFAULT_MAX_CROSSINGS;
  if (!(Number.isInteger(shown) && shown >= 1)) throw errors.optionInvalid('maxCrossingsShown', `must be an integer >= 1, got ${shown}`);
}

const pd = (v: number) => formatPercent(v, 1);
const formatThreshold = (t: number) => `probability of default ≥ ${formatPercent(t, 1)}`;

function signed(delta: number, format: (v: number) => string): string {
  return `${delta > 0 ? '+' : delta < 0 ? '−' : '±'}${format(Math.abs(delta))}`;
}

function summary(input: MonitoringReportInput): string {
  const now = summariseRun(input.current, input.threshold);
  const before = summariseRun(input.previous, input.threshold);
  const entered = input.crossings.filter((c) => c.currentScore >= input.threshold).length;
  const worst = [...input.stability].sort((a, b) => b.psi - a.psi)[0];
  return tiles([
    { label: 'Enterprises scored', value: formatCount(now.rows), note: `last run ${formatCount(before.rows)}` },
    { label: 'Mean PD', value: pd(now.meanScore), note: `${signed(now.meanScore - before.meanScore, (v) => `${formatFixed(v * 100, 2)} pp`)} since last run` },
    { label: 'Share ≥ threshold', value: pd(now.shareAboveThreshold), note: `last run ${pd(before.shareAboveThreshold)}` },
    { label: 'Crossed above', value: formatCount(entered), note: 'new on the watch list' },
    { label: 'Crossed below', value: formatCount(input.crossings.length - entered), note: 'left the watch list' },
    worst
      ? { label: 'Largest PSI', value: formatFixed(worst.psi, 3), note: `${worst.party}: ${STATUS_TEXT[stabilityStatus(worst.psi)]}` }
      : { label: 'Largest PSI', value: '–', note: 'no stability figures given' },
  ]);
}

function distribution(input: MonitoringReportInput): string {
  const chart = distributionChart({
    title: 'Score distribution of the book, this run against the last',
    xLabel: 'Predicted probability of default',
    format: (v) => formatPercent(v, 0),
    samples: [
      { name: `Last run ${input.previous.runId}`, values: input.previous.scores, color: COLORS.neutral },
      { name: `This run ${input.current.runId}`, values: input.current.scores, color: COLORS.good },
    ],
    marker: { value: input.threshold, label: `Threshold ${formatPercent(input.threshold, 1)}`, color: COLORS.bad },
  });
  return figure(chart, 'Share of the book per score bin. A shift to the right means the book as a whole looks riskier than at the last run.');
}

function crossings(input: MonitoringReportInput, card: Scorecard): string {
  const limit = input.maxCrossingsShown ?? DEFAULT_MAX_CROSSINGS;
  if (input.crossings.length === 0) return note('No enterprise crossed the threshold since the last run.');
  const ordered = [...input.crossings].sort((a, b) => {
    const up = Number(b.currentScore >= input.threshold) - Number(a.currentScore >= input.threshold);
    return up || Math.abs(b.currentScore - b.previousScore) - Math.abs(a.currentScore - a.previousScore);
  });
  const rows = ordered.slice(0, limit).map((c): Cell[] => {
    const up = c.currentScore >= input.threshold;
    return [
      c.enterpriseId,
      up ? { text: 'above ▲ (watch)', status: 'alert' } : { text: 'below ▼ (cleared)', status: 'ok' },
      pd(c.previousScore),
      pd(c.currentScore),
      signed(c.currentScore - c.previousScore, (v) => formatFixed(v * 100, 1)),
      formatFixed(pointsFor(card, c.previousScore), 0),
      formatFixed(pointsFor(card, c.currentScore), 0),
    ];
  });
  const body = table(
    [
      { header: 'Enterprise ID' },
      { header: 'Crossed' },
      { header: 'PD last run', numeric: true },
      { header: 'PD now', numeric: true },
      { header: 'Change (pp)', numeric: true },
      { header: 'Points last run', numeric: true },
      { header: 'Points now', numeric: true },
    ],
    rows,
  );
  const shown = ordered.length > limit ? `Showing the ${formatCount(limit)} of ${formatCount(ordered.length)} crossings listed first: ` : '';
  return (
    body +
    note(
      `${shown}enterprises moving above the threshold first, then by size of move. Points use the scorecard scaling of ${formatCount(card.baseScore)} points at ` +
        `good:bad odds ${formatFixed(card.baseOdds, 0)} : 1 and ${formatFixed(card.pdo, 0)} points to double the odds.`,
    )
  );
}

const STATUS_TEXT = { stable: 'stable', monitor: 'minor shift, monitor', shifted: 'significant shift, investigate' } as const;
const STATUS_CELL = { stable: 'ok', monitor: 'warn', shifted: 'alert' } as const;
const STATUS_COLOR = { stable: COLORS.accent, monitor: COLORS.warn, shifted: COLORS.bad } as const;

function stability(items: readonly PartyStability[]): string {
  if (items.length === 0) return note('No party reported a population stability index for this run.');
  const rows = items.map((s): Cell[] => {
    const status = stabilityStatus(s.psi);
    return [s.party, formatFixed(s.psi, 3), { text: STATUS_TEXT[status], status: STATUS_CELL[status] }];
  });
  const chart = horizontalBarChart({
    title: 'Population stability index by party',
    axisLabel: 'PSI, this run against the last',
    format: (v) => formatFixed(v, 2),
    bars: items.map((s) => ({ label: s.party, value: s.psi, color: STATUS_COLOR[stabilityStatus(s.psi)] })),
    rules: [
      { value: STABILITY_LEVELS.monitor, label: `${STABILITY_LEVELS.monitor}: minor shift`, color: COLORS.warn },
      { value: STABILITY_LEVELS.shifted, label: `${STABILITY_LEVELS.shifted}: significant shift`, color: COLORS.bad },
    ],
  });
  const body = table([{ header: 'Party' }, { header: 'PSI', numeric: true }, { header: 'Reading' }], rows);
  return (
    `<div class="cols">${body}${figure(chart, `Dashed lines: ${STABILITY_LEVELS.monitor} (minor shift) and ${STABILITY_LEVELS.shifted} (significant shift).`)}</div>` +
    note(
      `Each party computes the index on its own partial score, with ten bins cut at the last run's deciles: below ${STABILITY_LEVELS.monitor} stable, ` +
        `${STABILITY_LEVELS.monitor}–${STABILITY_LEVELS.shifted} worth a look, ${STABILITY_LEVELS.shifted} and above a material change in that party's inputs.`,
    )
  );
}

/** Plot width of a default-size chart and the width of one character of tick text, in pixels. */
const PLOT_WIDTH = 476;
const TICK_CHAR_WIDTH = 6.5;

function history(input: MonitoringReportInput): string {
  const runs = input.history;
  if (runs.length === 0) return note('No earlier runs are recorded.');
  const runLabel = (i: number) => {
    const run = runs[i]!;
    return /^\d{4}-\d{2}-\d{2}/.test(run.runAt) ? run.runAt.slice(0, 10) : run.runId;
  };
  // Thin the run labels so they never overlap; the newest run always keeps its label.
  const widest = Math.max(...runs.map((_, i) => runLabel(i).length)) * TICK_CHAR_WIDTH + 12;
  const every = Math.ceil(runs.length / Math.max(1, Math.floor(PLOT_WIDTH / widest)));
  const ticks = runs.map((_, i) => i).filter((i) => (runs.length - 1 - i) % every === 0);
  const top = Math.max(...runs.flatMap((r) => [r.meanScore, r.shareAboveThreshold]), 0.01);
  const chart = xyChart({
    title: 'Mean probability of default and share above threshold per run',
    x: fixedAxis('Run', -0.5, runs.length - 0.5, ticks, runLabel),
    y: niceAxis('Share of book / mean PD', 0, top, (v) => formatPercent(v, 0), 4),
    layers: [
      { kind: 'line', name: 'Mean probability of default', points: runs.map((r, i): Point => [i, r.meanScore]), color: COLORS.good, markers: true },
      { kind: 'line', name: `Share at or above ${formatPercent(input.threshold, 1)}`, points: runs.map((r, i): Point => [i, r.shareAboveThreshold]), color: COLORS.bad, markers: true },
    ],
  });
  const body = table(
    [{ header: 'Run' }, { header: 'Date' }, { header: 'Rows', numeric: true }, { header: 'Mean PD', numeric: true }, { header: 'At or above threshold', numeric: true }],
    runs.map((r): Cell[] => [r.runId, formatTimestamp(r.runAt), formatCount(r.rows), pd(r.meanScore), pd(r.shareAboveThreshold)]),
  );
  return figure(chart, 'One point per monitoring run, oldest on the left.') + body;
}
