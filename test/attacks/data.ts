/**
 * Synthetic parties for the attacks: a bank whose own features carry the labels, and
 * agencies whose features are pure noise, independent of the labels. Whatever an agency
 * recovers about labels then comes from the protocol, not from its data: its own model
 * slice predicts nothing.
 */
import type { FeatureTable } from '../../src/data/table.ts';
import { SeededRng } from '../../src/util/rng.ts';

function table(name: string, ids: readonly string[], features: number, rng: SeededRng, labels?: Uint8Array, values?: Float64Array): FeatureTable {
  const n = ids.length;
  const X = values ?? Float64Array.from({ length: n * features }, () => gaussian(rng));
  return {
    file: `${name}.csv`,
    idColumn: 'id',
    ids,
    lines: Uint32Array.from(ids, (_, i) => i + 2),
    featureNames: Array.from({ length: features }, (_, j) => `${name}_${j}`),
    values: X,
    labels,
    rowCount: n,
  };
}

function gaussian(rng: SeededRng): number {
  const u = Math.max(rng.nextFloat(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
}

/** `rows` enterprises known to everyone; labels balanced (y = 1 above the median bank score). */
export function syntheticParties(rows: number, bankFeatures: number, agencyFeatures: readonly number[], seed: string): { bank: FeatureTable; agencies: FeatureTable[] } {
  const rng = SeededRng.fromSeed(seed, 'attacks/data');
  const ids = Array.from({ length: rows }, (_, i) => `E${String(i + 1).padStart(6, '0')}`);
  const bankX = Float64Array.from({ length: rows * bankFeatures }, () => gaussian(rng));
  const score = Float64Array.from({ length: rows }, (_, i) => bankX[i * bankFeatures]! + 0.5 * (bankX[i * bankFeatures + 1] ?? 0) + gaussian(rng));
  const median = [...score].sort((a, b) => a - b)[Math.floor(rows / 2)]!;
  const labels = Uint8Array.from(score, (s) => (s > median ? 1 : 0));
  return {
    bank: table('bank', ids, bankFeatures, rng, labels, bankX),
    agencies: agencyFeatures.map((F, k) => table(`agency${k + 1}`, ids, F, rng)),
  };
}
