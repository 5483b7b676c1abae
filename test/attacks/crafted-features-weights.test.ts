/**
 * Attack: an agency crafts its own feature columns so that its final weights, which the
 * protocol reveals to it, spell out the labels of rows it chose (an honest limitation of
 * revealing weights at all, stated in the README; not a leak of the training messages).
 *
 * The agency's view: its own table and its own revealed model slice (weights and scaler);
 * the split is public (shared seed), so it knows which of its probed rows were training rows.
 * Its design: one indicator column per probed enterprise (1 on that row, 0 elsewhere). After
 * standardisation the probed row stands alone at +clip, every other row near 0, so the
 * column's weight moves by −η·clip·d_r/|B| each epoch, d_r = σ̃(z_r) − y_r: it ends positive
 * when y_r = 1 and negative when y_r = 0. The attack guesses y_r = 1 where the weight is > 0.
 * One label per crafted column per job: the batch rule (batch ≥ 4 × features) bounds the
 * columns, not the attack.
 *
 * Success measure: the share of probed training rows whose label it recovers, against the
 * majority-class rate. Against the real protocol with weights revealed it recovers nearly all
 * of them (mock HE for speed, and once under CKKS); with `keepEncrypted` the agency's slice
 * holds only a ciphertext under the arbiter's key and its transcript no clear number, so it
 * can do no better than a constant guess.
 */
import { describe, expect, it } from 'vitest';
import type { FeatureTable } from '../../src/data/table.ts';
import { trainOnTables, type LocalTrainingResult } from '../../src/local/training.ts';
import type { TrainingConfig } from '../../src/lr/config.ts';
import type { ModelSlice } from '../../src/lr/model.ts';
import { Transcript } from '../../src/transport/transcript.ts';
import { syntheticParties } from './data.ts';
import { clearNumbers } from './recovery.ts';

const ROWS = 400;
const PROBES = 20;
const { bank, agencies } = syntheticParties(ROWS, 9, [10], 'attacks/crafted-features');
const honest = agencies[0]!;
/** The enterprises the attacker probes: every 20th, spread over the table. */
const probed = Array.from({ length: PROBES }, (_, k) => bank.ids[k * Math.floor(ROWS / PROBES)]!);

/** The attacker's table: one indicator column per probed enterprise. */
function craftedTable(ids: readonly string[]): FeatureTable {
  const position = new Map(ids.map((id, j) => [id, j]));
  const values = new Float64Array(bank.ids.length * ids.length);
  bank.ids.forEach((id, i) => {
    const j = position.get(id);
    if (j !== undefined) values[i * ids.length + j] = 1;
  });
  return {
    file: 'crafted.csv',
    idColumn: 'id',
    ids: bank.ids,
    lines: Uint32Array.from(bank.ids, (_, i) => i + 2),
    featureNames: ids.map((id) => `is_${id}`),
    values,
    labels: undefined,
    rowCount: bank.ids.length,
  };
}

/** (Features) The attack: a label guess per probed enterprise from the attacker's own slice, or null without weights. */
function attack(slice: ModelSlice, ids: readonly string[]): Map<string, number> | null {
  if (slice.weights.length === 0) return null;
  return new Map(ids.map((id, j) => [id, slice.weights[j]! > 0 ? 1 : 0]));
}

const labelOf = new Map(bank.ids.map((id, i) => [id, bank.labels![i]!]));

async function run(extra: Partial<TrainingConfig>): Promise<{ result: LocalTrainingResult; transcript: Transcript }> {
  const transcript = new Transcript();
  const result = await trainOnTables({
    label: { table: bank, name: 'bank', labelColumn: 'y' },
    // A second, honest agency: a job with one agency is refused without its consent to partial-score disclosure.
    features: [
      { table: craftedTable(probed), name: 'attacker' },
      { table: honest, name: 'honest' },
    ],
    config: { seed: 'attacks', batchSize: 4 * PROBES, epochs: 10, he: 'mock', jobId: 'crafted', threads: 0, ...extra },
    transcript,
  });
  return { result, transcript };
}

/** The probed enterprises that landed among the training rows (the split is public). */
function probedTrainIds(result: LocalTrainingResult): string[] {
  const train = new Set(result.trainIds);
  return probed.filter((id) => train.has(id));
}

function measure(result: LocalTrainingResult, guesses: Map<string, number> | null): { recovered: number; majority: number; targets: number } {
  const targets = probedTrainIds(result);
  const ones = targets.filter((id) => labelOf.get(id) === 1).length;
  // Without weights the attacker can only guess one class for all: the usual majority, y = 0.
  const guess = (id: string) => guesses?.get(id) ?? 0;
  return {
    recovered: targets.filter((id) => guess(id) === labelOf.get(id)).length / targets.length,
    majority: Math.max(ones, targets.length - ones) / targets.length,
    targets: targets.length,
  };
}

const attackerSlice = (result: LocalTrainingResult) => result.models.find((m) => m.party === 'attacker')!;

describe('attack: an agency with crafted features reads labels from its own revealed weights', () => {
  it('recovers nearly every probed label when the final weights are revealed to their owner (mock HE)', async () => {
    const { result } = await run({});
    const { recovered, majority, targets } = measure(result, attack(attackerSlice(result), probed));
    // About a fifth of the probes fall in the validation set, where a column stays constant.
    expect(targets).toBeGreaterThanOrEqual(12);
    expect(majority).toBeLessThan(0.75);
    expect(recovered).toBeGreaterThanOrEqual(0.95);
  }, 120_000);

  it('recovers them under CKKS too', async () => {
    const { result } = await run({ he: 'ckks', epochs: 4 });
    const { recovered } = measure(result, attack(attackerSlice(result), probed));
    expect(recovered).toBeGreaterThanOrEqual(0.9);
  }, 180_000);

  it('stays at the majority-class rate with --keep-encrypted: no weight and no clear number reaches the agency', async () => {
    const { result, transcript } = await run({ keepEncrypted: true });
    const slice = attackerSlice(result);
    expect(slice.weights).toEqual([]);
    expect(slice.encryptedWeights).toBeTypeOf('string');
    expect(transcript.entries('attacker').flatMap(clearNumbers)).toEqual([]);
    const { recovered, majority } = measure(result, attack(slice, probed));
    expect(recovered).toBeLessThanOrEqual(majority);
  }, 120_000);
});
