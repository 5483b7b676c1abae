/**
 * (Label) Loan-book monitoring: rescore every enterprise of the bank's book with the
 * agencies' current data, compare with the last run, and raise the enterprises whose
 * probability of default crossed the warning threshold or moved by more than `delta`.
 * Runs are kept (one JSON file per run, and each agency's own last partial scores in its
 * own file) so that trends can be shown and drift measured.
 */
import { mkdir, readdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import type { MonitoringScores, ScoredEnterprise } from './bank.ts';
import { renderMonitoringReport, summariseRun } from '../report/html.ts';
import { populationStabilityIndex } from './stability.ts';

export interface MonitoringRun {
  readonly kind: 'jinqiao.monitoring-run';
  readonly version: 1;
  readonly at: string;
  readonly modelJobId: string;
  readonly threshold: number;
  readonly scores: Record<string, number>;
  /** PSI-index of the bank's score distribution against the previous run. */
  readonly scoreDrift: number | null;
  /** Per agency: its drift, null on its first run, 'withheld' where its policy does not disclose partial scores. */
  readonly agencyDrift: Record<string, number | null | 'withheld'>;
  readonly alerts: readonly MonitoringAlert[];
  /** `notScored`: enterprises of the book left unscored (e.g. held by one non-disclosing agency only). */
  readonly summary: { readonly enterprises: number; readonly meanProbability: number; readonly aboveThreshold: number; readonly notScored: number };
}

export interface MonitoringAlert {
  readonly id: string;
  readonly previous: number;
  readonly current: number;
  readonly reason: 'crossed-up' | 'crossed-down' | 'moved';
}

export interface MonitoringOptions {
  readonly threshold: number;
  readonly delta: number;
  readonly modelJobId: string;
}

export function compareRuns(current: MonitoringScores, previous: MonitoringRun | undefined, options: MonitoringOptions): MonitoringRun {
  const scored = current.scores.filter((s): s is ScoredEnterprise => s.status === 'scored');
  const scores: Record<string, number> = {};
  for (const s of scored) scores[s.id] = s.probability;
  const alerts: MonitoringAlert[] = [];
  if (previous) {
    for (const s of scored) {
      const before = previous.scores[s.id];
      if (before === undefined) continue;
      const reason = alertReason(before, s.probability, options);
      if (reason) alerts.push({ id: s.id, previous: before, current: s.probability, reason });
    }
  }
  const values = scored.map((s) => s.probability);
  return {
    kind: 'jinqiao.monitoring-run',
    version: 1,
    at: new Date().toISOString(),
    modelJobId: options.modelJobId,
    threshold: options.threshold,
    scores,
    scoreDrift: previous && values.length > 0 && Object.keys(previous.scores).length > 0 ? populationStabilityIndex(Object.values(previous.scores), values) : null,
    agencyDrift: Object.fromEntries([...current.agencyDrift].map(([name, v]) => [name, v ?? null])),
    alerts,
    summary: {
      enterprises: values.length,
      meanProbability: values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1),
      aboveThreshold: values.filter((v) => v >= options.threshold).length,
      notScored: current.scores.length - scored.length,
    },
  };
}

function alertReason(before: number, now: number, { threshold, delta }: MonitoringOptions): MonitoringAlert['reason'] | undefined {
  if (before < threshold && now >= threshold) return 'crossed-up';
  if (before >= threshold && now < threshold) return 'crossed-down';
  if (Math.abs(now - before) > delta) return 'moved';
  return undefined;
}

/**
 * The runs kept in `dir`, oldest first. A damaged run (a disk that filled up, a hand edit)
 * is an input error naming the file, not a crash: the next run is compared with the last
 * one, so the operator decides what to do with it.
 */
export async function loadRuns(dir: string): Promise<MonitoringRun[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => /^run-.*\.json$/.test(f)).sort();
  } catch {
    return [];
  }
  const hint = `move the file out of ${dir} (or restore it from a backup): the runs kept there are read to compare the next one with the last`;
  return Promise.all(
    files.map(async (f) => {
      const file = join(dir, f);
      let run: MonitoringRun;
      try {
        run = JSON.parse(await readFile(file, 'utf8')) as MonitoringRun;
      } catch (e) {
        throw errors.modelInvalid(file, `not a jinqiao monitoring run (${(e as Error).message})`, hint);
      }
      if (run?.kind !== 'jinqiao.monitoring-run' || run.version !== 1) throw errors.modelInvalid(file, 'not a jinqiao monitoring run of version 1', hint);
      return run;
    }),
  );
}

/**
 * An agency's partial scores of its last monitoring run (its own state, for its next drift
 * index), or undefined before its first run. A damaged file names itself and what to do.
 */
export async function loadAgencyPartials(file: string, agency: string): Promise<Float64Array | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.fileUnreadable(file, (e as Error).message);
  }
  const damaged = (why: string) =>
    errors.modelInvalid(file, `not the partial scores of ${agency}'s last monitoring run (${why})`, `delete the file: ${agency}'s drift is then measured again from the next run on`);
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (e) {
    throw damaged((e as Error).message);
  }
  if (!Array.isArray(values)) throw damaged('not a JSON array of numbers');
  const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) throw damaged(`entry ${bad} is not a finite number`);
  return Float64Array.from(values as number[]);
}

export async function saveRun(dir: string, run: MonitoringRun): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `run-${run.at.replace(/[:.]/g, '-')}.json`);
  await writeFile(`${file}.tmp`, JSON.stringify(run) + '\n');
  await rename(`${file}.tmp`, file);
  return file;
}

/** The monitoring report of the latest run against the one before, with the history of every run. */
export function monitoringReport(runs: readonly MonitoringRun[], bookName: string): string {
  const current = runs.at(-1)!;
  const previous = runs.at(-2) ?? current;
  const asScores = (run: MonitoringRun) => ({ runId: run.at, runAt: run.at, scores: Object.values(run.scores) });
  const stability = [
    ...(current.scoreDrift === null ? [] : [{ party: 'total score', psi: current.scoreDrift }]),
    ...Object.entries(current.agencyDrift).flatMap(([party, psi]) => (typeof psi === 'number' ? [{ party, psi }] : [])),
  ];
  return renderMonitoringReport({
    bookName,
    threshold: current.threshold,
    current: asScores(current),
    previous: asScores(previous),
    crossings: current.alerts.filter((a) => a.reason !== 'moved').map((a) => ({ enterpriseId: a.id, previousScore: a.previous, currentScore: a.current })),
    stability,
    history: runs.map((run) => summariseRun(asScores(run), run.threshold)),
  });
}
