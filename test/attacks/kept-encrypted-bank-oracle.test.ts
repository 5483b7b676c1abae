/**
 * A stated limit, measured: scoring a model kept encrypted (`--keep-encrypted`) is an oracle
 * on the bank's own part, so the bank recovers its own weights by scoring one enterprise
 * twice, once with one of its own feature values moved by one scale unit. README, *What each
 * party learns (training)*, says so: `--keep-encrypted` protects the bank's weights only for
 * a model that is never scored. This test keeps that sentence true: were the bank's part ever
 * hidden from it, the recovery would stop and this test would fail, and the README would be
 * wrong in the safe direction.
 *
 * The bank's view: its own book (which it may edit before scoring), the probabilities a
 * scoring session returns. Success measure: each own weight within 0.02 of the weight the
 * same training revealed (chance: a weight is unknown to within its prior, |w| ≈ 0.1–1).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openLocalScoringSession } from '../../src/local/scoring.ts';
import { runLocalTraining } from '../../src/local/training.ts';
import { loadModelSlice, type ModelSlice } from '../../src/lr/model.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const root = mkdtempSync(join(tmpdir(), 'jinqiao-kept-oracle-'));
const agencies = [
  { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax' },
  { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social' },
];
const bankFile = join(SME, 'bank.csv');

async function train(out: string, keepEncrypted: boolean): Promise<void> {
  await runLocalTraining({
    label: { file: bankFile, idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
    features: agencies,
    config: { he: 'mock', batchSize: 1024, epochs: 3, seed: 'kept-oracle', jobId: `kept-oracle-${keepEncrypted}`, keepEncrypted, threads: 0 },
    out,
  });
}

let revealed: ModelSlice;
beforeAll(async () => {
  await train(join(root, 'kept'), true);
  await train(join(root, 'revealed'), false);
  revealed = await loadModelSlice(join(root, 'revealed', 'model-bank.json'));
}, 300_000);

const logit = (p: number) => Math.log(p / (1 - p));

/** The bank scores `id` from a copy of its book in which `column` of that row is `value`. */
async function scoreWith(id: string, column: string, value: number | undefined): Promise<number> {
  const [header, ...rows] = readFileSync(bankFile, 'utf8').trim().split('\n');
  const k = header!.split(',').indexOf(column);
  const edited = rows.map((line) => {
    const cells = line.split(',');
    if (cells[0] === id && value !== undefined) cells[k] = String(value);
    return cells.join(',');
  });
  const file = join(root, `bank-${column}-${value ?? 'as-is'}.csv`);
  writeFileSync(file, [header, ...edited].join('\n') + '\n');
  const s = await openLocalScoringSession({ modelDir: join(root, 'kept'), bank: { file, idColumn: 'uscc', name: 'bank' }, agencies, he: 'mock', threads: 0 });
  try {
    const [score] = await s.score([id]);
    if (score?.status !== 'scored') throw new Error(`${id} was not scored: ${JSON.stringify(score)}`);
    return score.probability;
  } finally {
    await s.close();
  }
}

describe('limit: the bank recovers its own weights by scoring a kept-encrypted model', { timeout: 300_000 }, () => {
  it('reads every one of its weights within 0.02 from two scores per feature', async () => {
    const [header, ...rows] = readFileSync(bankFile, 'utf8').trim().split('\n');
    const columns = header!.split(',');
    const { means, scales } = revealed.scaler;
    // An enterprise whose own values sit near the means, so one scale unit up stays inside any clip.
    // Scored at all: held by both agencies (a single holder's enterprise is refused).
    const idsOf = (file: string) => new Set(readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!));
    const [tax, social] = agencies.map((a) => idsOf(a.file));
    const near = rows
      .map((l) => l.split(','))
      .find((cells) => tax!.has(cells[0]!) && social!.has(cells[0]!) && revealed.featureNames.every((f, j) => Math.abs((Number(cells[columns.indexOf(f)]) - means[j]!) / scales[j]!) < 1))!;
    const id = near[0]!;
    const base = logit(await scoreWith(id, revealed.featureNames[0]!, undefined));
    for (const [j, feature] of revealed.featureNames.entries()) {
      const moved = Number(near[columns.indexOf(feature)]) + scales[j]!;
      const w = logit(await scoreWith(id, feature, moved)) - base;
      expect(Math.abs(w - revealed.weights[j]!), feature).toBeLessThan(0.02);
    }
    expect(revealed.weights.some((w) => Math.abs(w) > 0.05)).toBe(true);
  });
});
