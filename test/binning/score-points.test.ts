/**
 * Scoring with a scorecard model returns points: each party encodes its current records as
 * the bins it was trained on, the joint score comes back as a probability, and its points
 * equal the hand sum of the base and each enterprise's bin points in scorecard.csv (within
 * the arbiter's rounding, as in training). The card here is on a scale other than the
 * defaults, which `score --points` must read from the model's scorecard.json.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBinningInProcess } from '../../src/binning/in-process.ts';
import { writeBinningOutputs } from '../../src/binning/output.ts';
import { scorecardFiles } from '../../src/binning/scorecard.ts';
import { loadBinningFile, trainOnBins } from '../../src/binning/scorecard-training.ts';
import { openLocalScoringSession } from '../../src/local/scoring.ts';
import { pointsFor } from '../../src/report/scorecard.ts';
import { jinqiao } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-score-points-'));
/** Not the defaults (600 points at 50:1, PDO 20). */
const SCALE = { baseScore: 500, baseOdds: 20, pdo: 40 };
const N = 1500;
const rows = Array.from({ length: N }, (_, i) => {
  const risk = ((i * 7919) % 1000) / 1000;
  return { id: uscc(40_000 + i), y: risk > 0.7 ? 1 : 0, loan: (i * 13) % 101, vat: Math.round((1 - risk) * 500 + ((i * 31) % 90)), staff: (i * 7) % 53 };
});
const bankFile = join(dir, 'bank.csv');
const taxFile = join(dir, 'tax.csv');
writeFileSync(bankFile, 'uscc,defaulted,loan\n' + rows.map((r) => `${r.id},${r.y},${r.loan}`).join('\n') + '\n');
writeFileSync(taxFile, 'uscc,vat_paid,employees\n' + rows.map((r) => `${r.id},${r.vat},${r.staff}`).join('\n') + '\n');

describe('scoring a scorecard model', () => {
  it('returns probabilities whose points are the hand sum of scorecard.csv over each enterprise’s bins', async () => {
    const parties = { label: { file: bankFile, idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' }, features: [{ file: taxFile, idColumn: 'uscc', name: 'tax' }] };
    const binned = await runBinningInProcess({ ...parties, config: { he: 'mock', threads: 0, seed: 'points', rule: { bins: 5, minBinShare: 0.1 } } });
    await writeBinningOutputs(join(dir, 'bins'), binned);
    const binningFile = join(dir, 'bins', 'binning.json');
    const modelDir = join(dir, 'model');
    const { scorecard: card, scale: sc } = await trainOnBins({ ...parties, config: { he: 'mock', threads: 0, seed: 'points', epochs: 3, batchSize: 256, allowPartialScoreDisclosure: true }, out: modelDir }, binningFile, SCALE);
    for (const [name, text] of scorecardFiles(card, sc)) writeFileSync(join(modelDir, name), text);
    expect(JSON.parse(readFileSync(join(modelDir, 'scorecard.json'), 'utf8'))).toMatchObject(SCALE);

    const binning = await loadBinningFile(binningFile);
    const session = await openLocalScoringSession({ modelDir, bank: { file: bankFile, idColumn: 'uscc', name: 'bank' }, agencies: [{ file: taxFile, idColumn: 'uscc', name: 'tax' }], he: 'mock', threads: 0, disclosePartialScores: ['tax'], binning });
    const asked = rows.filter((_, i) => i % 97 === 0);
    let scores;
    try {
      scores = await session.score(asked.map((r) => r.id));
    } finally {
      await session.close();
    }
    // The hand sum, from the CSV's text: base plus the points of the bin each raw value falls in.
    const csv = readFileSync(join(modelDir, 'scorecard.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => /^([^,]*),([^,]*),("[^"]*"|[^,]*),(.*)$/.exec(l)!.slice(1).map((c) => c.replace(/^"|"$/g, '')));
    const pointsOf = (party: string, feature: string, v: number) => {
      const lines = csv.filter((c) => c[0] === party && c[1] === feature);
      const hit = lines.find((c) => {
        const [lo, hi] = c[2]!.slice(1, -1).split(', ').map((e) => (e === '-inf' ? -Infinity : e === 'inf' ? Infinity : Number(e)));
        return lo! <= v && v < hi!;
      });
      return Number(hit![3]);
    };
    const base = Number(csv.find((c) => c[1] === '(base)')![3]);
    const weights = 1 + [...binning.values()].flat().reduce((n, f) => n + f.edges.length - 2 + (f.hasMissing ? 1 : 0), 0);
    expect(scores.length).toBe(asked.length);
    scores.forEach((s, k) => {
      expect(s.status).toBe('scored');
      if (s.status !== 'scored') return;
      const r = asked[k]!;
      const hand = base + pointsOf('bank', 'loan', r.loan) + pointsOf('tax', 'vat_paid', r.vat) + pointsOf('tax', 'employees', r.staff);
      expect(Math.abs(pointsFor(sc, s.probability) - hand), r.id).toBeLessThan(sc.factor * (weights + 1) * 2 ** -12);
    });
    // Points spread: the scorecard tells enterprises apart.
    const points = scores.map((s) => (s.status === 'scored' ? pointsFor(sc, s.probability) : 0));
    expect(Math.max(...points) - Math.min(...points)).toBeGreaterThan(20);

    // The CLI's --points gives the same numbers (rounded to 0.01).
    const r = jinqiao(['score', '--model', modelDir, '--label', bankFile, '--features', `tax=${taxFile}`, '--id', 'uscc', '--ids', asked.slice(0, 3).map((x) => x.id).join(','), '--binning', binningFile, '--points', '--disclose-partial-scores', 'tax', '--json', '--threads', '0']);
    expect(r.code, r.stderr).toBe(0);
    const cli = JSON.parse(r.stdout).scores as { points: number; probability: number }[];
    // Each run is within the rounding bound of the hand sum, so the two within twice that, plus the CLI's rounding to 0.01.
    cli.forEach((c, k) => expect(Math.abs(c.points - points[k]!)).toBeLessThan(0.005 + 2 * sc.factor * (weights + 1) * 2 ** -12));
    const bad = jinqiao(['score', '--model', modelDir, '--label', bankFile, '--features', `tax=${taxFile}`, '--id', 'uscc', '--ids', asked[0]!.id, '--points']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--binning');
    // Without its scale the card's points cannot be given: refused, naming the file, rather than read on the defaults.
    rmSync(join(modelDir, 'scorecard.json'));
    const unscaled = jinqiao(['score', '--model', modelDir, '--label', bankFile, '--features', `tax=${taxFile}`, '--id', 'uscc', '--ids', asked[0]!.id, '--binning', binningFile, '--points', '--disclose-partial-scores', 'tax', '--threads', '0']);
    expect(unscaled.code).toBe(2);
    expect(unscaled.stderr).toMatch(/E_MODEL_INVALID: .*scorecard\.json: no such file/);
  }, 300_000);
});
