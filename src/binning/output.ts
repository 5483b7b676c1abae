/**
 * The files a binning job leaves in its output folder:
 *
 * - `binning.json`: `{ rows, bads, parties: [ { party, features: [ { name, edges, bins:
 *   [ { count, bads, woe } ], missing: { count, bads, woe } | null, iv } ] } ] }`; `edges`
 *   has one more entry than `bins`, bin i holds edges[i] <= v < edges[i+1], and the first
 *   and last edges are null for −∞ and +∞. Features under `--min-iv` are left out.
 * - `iv.csv`: `party,feature,iv` for every feature, by IV descending.
 * - `screening.json`: the IV threshold and the features it dropped, and correlation and VIF
 *   among the bank's own features.
 * - `report.html`: the bank's report, an IV chart of every feature and a WOE chart per feature
 *   (src/report/binning.ts).
 *
 * Written into a temporary folder and moved into place only when complete, so a failure
 * leaves nothing half-written.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { errors, isJinqiaoError } from '../errors.ts';
import type { BinningResult } from './in-process.ts';
import { renderBinningReport } from '../report/binning.ts';

export interface DroppedFeature {
  readonly party: string;
  readonly feature: string;
  readonly iv: number;
}

export function droppedFeatures(result: BinningResult): DroppedFeature[] {
  return result.parties.flatMap((p) => p.features.filter((f) => f.iv < result.config.minIv).map((f) => ({ party: p.party, feature: f.name, iv: f.iv })));
}

export function binningJson(result: BinningResult) {
  const edge = (e: number) => (Number.isFinite(e) ? e : null);
  return {
    rows: result.rows,
    bads: result.bads,
    parties: result.parties.map((p) => ({
      party: p.party,
      features: p.features
        .filter((f) => f.iv >= result.config.minIv)
        .map((f) => ({
          name: f.name,
          edges: f.edges.map(edge),
          bins: f.bins.map(({ count, bads, woe }) => ({ count, bads, woe })),
          missing: f.missing && { count: f.missing.count, bads: f.missing.bads, woe: f.missing.woe },
          iv: f.iv,
        })),
    })),
  };
}

export function ivCsv(result: BinningResult): string {
  const rows = result.parties.flatMap((p) => p.features.map((f) => ({ party: p.party, feature: f.name, iv: f.iv })));
  rows.sort((a, b) => b.iv - a.iv || a.party.localeCompare(b.party) || a.feature.localeCompare(b.feature));
  return 'party,feature,iv\n' + rows.map((r) => `${csvField(r.party)},${csvField(r.feature)},${r.iv}`).join('\n') + '\n';
}

export function screeningJson(result: BinningResult) {
  const bank = result.bankScreening;
  return {
    minIv: result.config.minIv,
    dropped: droppedFeatures(result),
    bank: { party: result.parties[0]!.party, features: bank.features, correlation: bank.correlation, vif: bank.vif },
    acrossParties: 'not computed: see docs/notes-binning.md (it would give the bank a per-enterprise estimate of agency values)',
  };
}

export async function writeBinningOutputs(outDir: string, result: BinningResult): Promise<string[]> {
  const target = resolve(outDir);
  const staging = join(dirname(target), `.${randomBytes(6).toString('hex')}.jinqiao-tmp`);
  const files: [string, string][] = [
    ['binning.json', JSON.stringify(binningJson(result), null, 2) + '\n'],
    ['iv.csv', ivCsv(result)],
    ['screening.json', JSON.stringify(screeningJson(result), null, 2) + '\n'],
    ['report.html', renderBinningReport({ ...binningJson(result), jobId: result.config.jobId, minIv: result.config.minIv })],
  ];
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

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
