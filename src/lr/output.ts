/**
 * The files a training job leaves in its output folder: `predictions.csv` (validation rows,
 * `id,score`), `metrics.json`, `manifest.json`, one `model-<party>.json` per party, and the
 * bank's self-contained `report.html` (its own weights only, as every party's view is).
 *
 * In production each party writes only its own model slice; in an in-process run the one
 * process holds them all. Everything is written into a temporary folder first and moved
 * into place only when complete, so a failure leaves no partial model.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { errors, isJinqiaoError } from '../errors.ts';
import type { AuditLog } from '../governance/audit.ts';
import { renderTrainingReport, type TrainingReportInput } from '../report/html.ts';
import type { LocalTrainingResult } from './local.ts';

/** Checked before training starts, so that a long job does not end on an output it cannot write. */
export async function checkOutputFolder(outDir: string, field: string): Promise<void> {
  const found = await stat(outDir).catch(() => undefined);
  if (found && !found.isDirectory()) {
    throw errors.optionInvalid(field, `${outDir} is an existing file, not a folder`, 'name a folder for the outputs (it is created if missing)');
  }
}

/**
 * Writes the outputs; with `audits` (party name → its audit log), each governed party
 * records the export of its model slice (and the slice's SHA-256) before it is written.
 */
export async function writeTrainingOutputs(outDir: string, result: LocalTrainingResult, audits?: ReadonlyMap<string, AuditLog>): Promise<string[]> {
  const target = resolve(outDir);
  const staging = join(dirname(target), `.${randomBytes(6).toString('hex')}.jinqiao-tmp`);
  const files: [string, string][] = [
    ['predictions.csv', predictionsCsv(result)],
    ['metrics.json', JSON.stringify(metricsJson(result), null, 2) + '\n'],
    ['manifest.json', JSON.stringify(manifestJson(result), null, 2) + '\n'],
    ...result.models.map((m): [string, string] => [`model-${safeName(m.party)}.json`, JSON.stringify(m, null, 2) + '\n']),
    ['report.html', renderTrainingReport(trainingReportInput(result, result.models.find((m) => m.role === 'label')!.party))],
  ];
  for (const model of result.models) {
    const text = files.find(([name]) => name === `model-${safeName(model.party)}.json`)![1];
    await audits?.get(model.party)?.append('model.export', { job: model.jobId, file: join(target, `model-${safeName(model.party)}.json`), sha256: createHash('sha256').update(text).digest('hex') });
  }
  try {
    await mkdir(staging, { recursive: true });
    for (const [name, text] of files) await writeFile(join(staging, name), text, { flag: 'wx' });
    await mkdir(target, { recursive: true });
    for (const [name] of files) await rename(join(staging, name), join(target, name));
  } catch (e) {
    throw isJinqiaoError(e) ? e : errors.outputUnwritable(target, (e as Error).message);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return files.map(([name]) => join(target, name));
}

function safeName(party: string): string {
  return party.replace(/[^A-Za-z0-9._-]/g, '_');
}

function predictionsCsv(result: LocalTrainingResult): string {
  const { ids, scores } = result.predictions;
  let out = 'id,score\n';
  for (let i = 0; i < ids.length; i++) out += `${csvField(ids[i]!)},${scores[i]!.toPrecision(8)}\n`;
  return out;
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function metricsJson(result: LocalTrainingResult) {
  const m = result.metrics;
  return {
    auc: m.auc,
    ks: m.ks.statistic,
    ksThreshold: m.ks.threshold,
    ...m.classification,
    validationRows: m.rows,
    validationPositives: m.positives,
    lossCurve: result.lossCurve,
    roc: m.roc,
    ksCurve: m.ksCurve,
    lift: m.lift,
  };
}

export function manifestJson(result: LocalTrainingResult) {
  const { config } = result;
  return {
    jobId: config.jobId,
    createdAt: new Date().toISOString(),
    parties: result.parties,
    rows: { aligned: result.alignedRows, train: result.trainRows, validation: result.validationRows },
    idType: result.idType,
    parameters: config,
    epochsRun: result.epochsRun,
    metrics: { auc: result.metrics.auc, ks: result.metrics.ks.statistic },
    seconds: result.seconds,
    timings: result.timings,
  };
}

/** The report as `viewer` sees it: the job's metrics, and of the weights only its own. */
export function trainingReportInput(result: LocalTrainingResult, viewer: string): TrainingReportInput {
  const manifest = manifestJson(result);
  return {
    viewer,
    metrics: result.metrics,
    validation: { scores: result.predictions.scores, labels: result.predictions.labels },
    lossCurve: result.lossCurve,
    models: result.models.filter((m) => m.party === viewer),
    manifest: { ...manifest, parameters: { ...manifest.parameters } },
  };
}
