/**
 * (Host) A scorecard job: reads binning.json, has every party encode its own features as
 * bin indicators from its own part of it (scorecard.ts), runs the training job unchanged on
 * those columns (../lr/local.ts), and turns the trained slices into points per bin.
 */
import { readFile } from 'node:fs/promises';
import { loadFeatureTable } from '../data/table.ts';
import { errors } from '../errors.ts';
import { trainOnTables, type LocalTrainingOptions, type LocalTrainingResult } from '../local/training.ts';
import type { TrainingConfig } from '../lr/config.ts';
import { scorecard, type Scorecard, type ScorecardOptions } from '../report/scorecard.ts';
import { partyNames } from './in-process.ts';
import { binIndicatorTable, scorecardRows, SCORECARD_SCALE_KIND, SCORECARD_SCALE_VERSION, type BinningFile, type ScorecardRow, type ScorecardScaleJson } from './scorecard.ts';

/** Reads binning.json: party name → its features' edges. */
export async function loadBinningFile(file: string): Promise<BinningFile> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw errors.modelInvalid(file, `not a readable binning.json (${(e as Error).message})`);
  }
  const bad = (why: string) => errors.modelInvalid(file, why);
  const parties = (json as { parties?: unknown }).parties;
  if (!Array.isArray(parties)) throw bad('no "parties" list');
  return new Map(
    parties.map((p: { party?: unknown; features?: unknown }, i) => {
      if (typeof p.party !== 'string' || !Array.isArray(p.features)) throw bad(`parties[${i}] needs "party" and "features"`);
      const features = p.features.map((f: { name?: unknown; edges?: unknown; missing?: unknown }, j) => {
        const edges = f.edges;
        if (typeof f.name !== 'string' || !Array.isArray(edges) || edges.length < 3) throw bad(`parties[${i}].features[${j}] needs a name and at least 3 edges`);
        const inner = edges.slice(1, -1);
        if (edges[0] !== null || edges.at(-1) !== null || !inner.every((e, k) => typeof e === 'number' && (k === 0 || e > (inner[k - 1] as number)))) {
          throw bad(`parties[${i}].features[${j}].edges must be null, increasing numbers, null`);
        }
        return { name: f.name, edges: [-Infinity, ...(inner as number[]), Infinity], hasMissing: f.missing !== null && f.missing !== undefined };
      });
      return [p.party, features] as const;
    }),
  );
}

/**
 * A training job on bin indicators (every party encodes its own features from its own part
 * of `binningFile`), then the scorecard from the trained slices. Same options, same outputs
 * as training on raw features.
 */
export async function trainOnBins(options: LocalTrainingOptions, binningFile: string, card: ScorecardOptions = {}): Promise<{ result: LocalTrainingResult; scorecard: ScorecardRow[]; scale: Scorecard }> {
  const started = performance.now();
  refuseEncryptedScorecard(options.config);
  const scale = scorecard(card);
  const binning = await loadBinningFile(binningFile);
  const [labelTable, ...featureTables] = await Promise.all([
    loadFeatureTable(options.label.file, { idColumn: options.label.idColumn, labelColumn: options.label.labelColumn, features: options.label.features }),
    ...options.features.map((f) => loadFeatureTable(f.file, { idColumn: f.idColumn, features: f.features })),
  ]);
  const labelName = options.label.name ?? 'label';
  const featureNames = partyNames(options.features.map((f) => ({ name: f.name, file: f.file })));
  const result = await trainOnTables({
    label: { table: binIndicatorTable(labelTable, binning.get(labelName), labelName), name: labelName, labelColumn: options.label.labelColumn },
    features: featureTables.map((table, k) => ({ table: binIndicatorTable(table, binning.get(featureNames[k]!), featureNames[k]!), name: featureNames[k] })),
    config: options.config,
    onProgress: options.onProgress,
    tap: options.tap,
    started,
    governance: options.governance,
    out: options.out,
    transcript: options.transcript,
  });
  return { result, scorecard: scorecardRows(result.models, binning, card), scale };
}

/**
 * A scorecard's points per bin are computed from every party's final weights in the clear,
 * which `keepEncrypted` never decrypts: such a job is refused before any party starts.
 */
export function refuseEncryptedScorecard(config: Partial<TrainingConfig> | undefined): void {
  if (config?.keepEncrypted !== true) return;
  throw errors.optionInvalid(
    '--keep-encrypted',
    "a scorecard's points per bin are computed from every party's final weights in the clear, and --keep-encrypted never decrypts them",
    'train the scorecard without --keep-encrypted, or train on the raw features (no --binning; binning.scorecard: false in a job file) to keep the weights encrypted',
  );
}

/** (Label) Reads scorecard.json, the points scale of a scorecard model; every problem names the file. */
export async function loadScorecardScale(file: string): Promise<Scorecard> {
  let json: Partial<ScorecardScaleJson> | null;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as Partial<ScorecardScaleJson> | null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw errors.modelInvalid(file, "no such file: a scorecard model keeps its points scale (baseScore, baseOdds, pdo) there, next to scorecard.csv", 'retrain the scorecard with this version of jinqiao (train --binning), which writes it');
    }
    throw errors.modelInvalid(file, `not JSON (${(e as Error).message})`);
  }
  if (json?.kind !== SCORECARD_SCALE_KIND) throw errors.modelInvalid(file, `not a scorecard scale (kind must be "${SCORECARD_SCALE_KIND}")`);
  if (json.version !== SCORECARD_SCALE_VERSION) throw errors.modelInvalid(file, `version ${String(json.version)} is not supported (this jinqiao reads version ${SCORECARD_SCALE_VERSION})`);
  for (const field of ['baseScore', 'baseOdds', 'pdo'] as const) {
    if (typeof json[field] !== 'number') throw errors.modelInvalid(file, `${field} must be a number`);
  }
  try {
    return scorecard({ baseScore: json.baseScore, baseOdds: json.baseOdds, pdo: json.pdo });
  } catch (e) {
    throw errors.modelInvalid(file, (e as Error).message);
  }
}
