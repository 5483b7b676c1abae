/**
 * The files the label party's runner leaves for a training job: `predictions.csv`
 * (validation rows, `id,score`), `metrics.json`, `manifest.json` and the self-contained
 * `report.html` (its own weights only, as every party's view is). Every party writes its own
 * `model-<party>.json` (training.ts); the same files come out of an in-process run and of a
 * run between party services.
 */
import type { TrainingConfig } from '../lr/config.ts';
import type { ScoreReport } from '../lr/metrics.ts';
import type { ModelSlice } from '../lr/model.ts';
import type { LabelPartyResult } from '../lr/roles/label.ts';
import { renderTrainingReport, type TrainingReportInput } from '../report/html.ts';
import type { PartyView } from '../report/training.ts';

/** What the label party knows at the end of a training job. */
export interface LabelJobOutcome {
  readonly config: TrainingConfig;
  readonly idType: string;
  readonly alignedRows: number;
  readonly trainRows: number;
  readonly validationRows: number;
  readonly epochsRun: number;
  readonly lossCurve: readonly number[];
  readonly metrics: ScoreReport;
  /** Validation rows: the label table's IDs, scores and labels. */
  readonly predictions: { readonly ids: readonly string[]; readonly scores: Float64Array; readonly labels: Uint8Array };
  /** The label party's own slice. */
  readonly slice: ModelSlice;
  /** The label party in full; partners by name, role and feature count only. */
  readonly parties: readonly PartyView[];
  readonly seconds: number;
  readonly timings: LabelPartyResult['timings'];
}

export function predictionsCsv(outcome: LabelJobOutcome): string {
  const { ids, scores } = outcome.predictions;
  let out = 'id,score\n';
  for (let i = 0; i < ids.length; i++) out += `${csvField(ids[i]!)},${scores[i]!.toPrecision(8)}\n`;
  return out;
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function metricsJson(outcome: LabelJobOutcome) {
  const m = outcome.metrics;
  return {
    auc: m.auc,
    ks: m.ks.statistic,
    ksThreshold: m.ks.threshold,
    ...m.classification,
    validationRows: m.rows,
    validationPositives: m.positives,
    lossCurve: outcome.lossCurve,
    roc: m.roc,
    ksCurve: m.ksCurve,
    lift: m.lift,
  };
}

export function manifestJson(outcome: LabelJobOutcome) {
  const { config } = outcome;
  return {
    jobId: config.jobId,
    createdAt: new Date().toISOString(),
    parties: outcome.parties,
    rows: { aligned: outcome.alignedRows, train: outcome.trainRows, validation: outcome.validationRows },
    idType: outcome.idType,
    parameters: config,
    epochsRun: outcome.epochsRun,
    metrics: { auc: outcome.metrics.auc, ks: outcome.metrics.ks.statistic },
    seconds: outcome.seconds,
    timings: outcome.timings,
  };
}

/** The report as the label party sees it: the job's metrics, and of the weights only its own. */
export function trainingReportInput(outcome: LabelJobOutcome): TrainingReportInput {
  const manifest = manifestJson(outcome);
  return {
    viewer: outcome.slice.party,
    metrics: outcome.metrics,
    validation: { scores: outcome.predictions.scores, labels: outcome.predictions.labels },
    lossCurve: outcome.lossCurve,
    // Weights kept encrypted (--keep-encrypted) are not the viewer's to show.
    models: outcome.slice.encryptedWeights === undefined ? [outcome.slice] : [],
    manifest: { ...manifest, parameters: { ...manifest.parameters } },
  };
}

/** The label party's files, name → text, in the order they are written. */
export function labelOutputFiles(outcome: LabelJobOutcome): [string, string][] {
  return [
    ['predictions.csv', predictionsCsv(outcome)],
    ['metrics.json', JSON.stringify(metricsJson(outcome), null, 2) + '\n'],
    ['manifest.json', JSON.stringify(manifestJson(outcome), null, 2) + '\n'],
    ['report.html', renderTrainingReport(trainingReportInput(outcome))],
  ];
}
