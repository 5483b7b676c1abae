/**
 * (Host) A scorecard job: reads binning.json, has every party encode its own features as
 * bin indicators from its own part of it (scorecard.ts), runs the training job unchanged on
 * those columns (../lr/local.ts), and turns the trained slices into points per bin.
 */
import { readFile } from 'node:fs/promises';
import { loadFeatureTable } from '../data/table.ts';
import { errors } from '../errors.ts';
import { trainOnTables, type LocalTrainingOptions, type LocalTrainingResult } from '../local/training.ts';
import type { ScorecardOptions } from '../report/scorecard.ts';
import { partyNames } from './in-process.ts';
import { binIndicatorTable, scorecardRows, type BinningFile, type ScorecardRow } from './scorecard.ts';

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
export async function trainOnBins(options: LocalTrainingOptions, binningFile: string, card: ScorecardOptions = {}): Promise<{ result: LocalTrainingResult; scorecard: ScorecardRow[] }> {
  const started = performance.now();
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
  return { result, scorecard: scorecardRows(result.models, binning, card) };
}
