/**
 * Scorecards on binning: training on bin indicators that each party encodes itself, and
 * points per bin whose sum is exactly the model's score in points, on FATE's default_credit
 * (mock HE: the protocol is the training protocol, tested under CKKS elsewhere).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBinningInProcess } from '../../src/binning/in-process.ts';
import { writeBinningOutputs } from '../../src/binning/output.ts';
import { scorecardCsv } from '../../src/binning/scorecard.ts';
import { loadBinningFile, trainOnBins } from '../../src/binning/scorecard-training.ts';
import { runLocalTraining, type LocalTrainingOptions } from '../../src/local/training.ts';
import { scorecard } from '../../src/report/scorecard.ts';
import { readPlainCsv } from '../helpers/plaintext-binning.ts';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-scorecard-'));
const bank = join(FATE_DATA_DIR, 'default_credit_hetero_guest.csv');
const agency = join(FATE_DATA_DIR, 'default_credit_hetero_host.csv');

describe('scorecard training on bins (default_credit)', () => {
  it('scores within 0.01 AUC of the continuous-feature model, and its points add up to the model score', async () => {
    const parties = {
      label: { file: bank, idColumn: 'id', labelColumn: 'y', name: 'bank' },
      features: [{ file: agency, idColumn: 'id', name: 'agency' }],
    };
    const binned = await runBinningInProcess({ ...parties, config: { he: 'mock', threads: 0, seed: 'scorecard' } });
    await writeBinningOutputs(join(dir, 'bins'), binned);
    const binningFile = join(dir, 'bins', 'binning.json');

    const training: LocalTrainingOptions = { ...parties, config: { he: 'mock', threads: 0, seed: 'scorecard', allowPartialScoreDisclosure: true } };
    const [continuous, { result, scorecard: rows }] = await Promise.all([runLocalTraining(training), trainOnBins(training, binningFile)]);
    expect(result.models.find((m) => m.party === 'agency')!.featureNames[0]).toMatch(/^x0\[1\]$/);
    expect(result.metrics.auc).toBeGreaterThan(continuous.metrics.auc - 0.01);

    // Points of every validation enterprise, from its raw values and the scorecard alone.
    const binning = await loadBinningFile(binningFile);
    const tables = { bank: readPlainCsv(bank), agency: readPlainCsv(agency) };
    const base = rows.find((r) => r.feature === '(base)')!.points;
    const card = scorecard();
    let worst = 0;
    result.predictions.ids.forEach((id, i) => {
      let points = base;
      for (const [party, table] of Object.entries(tables)) {
        for (const feature of binning.get(party)!) {
          const v = Number(table.rows.get(id)![table.header.indexOf(feature.name)]);
          const bin = feature.edges.findIndex((lo, k) => lo <= v && v < feature.edges[k + 1]!);
          const label = `[${edge(feature.edges[bin]!)}, ${edge(feature.edges[bin + 1]!)})`;
          points += rows.find((r) => r.party === party && r.feature === feature.name && r.bin === label)!.points;
        }
      }
      const p = result.predictions.scores[i]!;
      worst = Math.max(worst, Math.abs(points - (card.offset - card.factor * Math.log(p / (1 - p)))));
    });
    // Weights and validation scores are each revealed at the arbiter's 2^-12 rounding: z can be
    // off by that much per weight (and once more for the score), times the points per unit of z.
    const weights = result.models.reduce((n, m) => n + m.weights.length + 1, 0);
    expect(worst).toBeLessThan(card.factor * (weights + 1) * 2 ** -12);
    expect(scorecardCsv(rows).split('\n')[0]).toBe('party,feature,bin,points');
    expect(readFileSync(binningFile, 'utf8')).toContain('"party": "agency"');
  }, 300_000);
});

function edge(e: number): string {
  return e === -Infinity ? '-inf' : e === Infinity ? 'inf' : String(e);
}
