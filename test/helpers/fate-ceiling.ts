/**
 * The accuracy ceiling of a federated run: a centralised plaintext logistic regression
 * (Newton, tiny ridge) on the pooled features of exactly the run's training rows, scored
 * on exactly its validation rows. Tests may see everything; parties never do.
 */
import { auc } from '../../src/lr/metrics.ts';
import { fitNewton, predictProbabilities } from '../../src/lr/reference.ts';
import { StandardScaler } from '../../src/lr/scaler.ts';
import { loadJoinedFate, type FateDataset } from './plaintext-lr.ts';

export function ceilingAuc(dataset: FateDataset, trainIds: readonly string[], validationIds: readonly string[]): number {
  const joined = loadJoinedFate(dataset);
  const index = new Map(joined.ids.map((id, i) => [id, i]));
  const rowsOf = (ids: readonly string[]) => Uint32Array.from(ids, (id) => index.get(id)!);
  const train = rowsOf(trainIds);
  const validation = rowsOf(validationIds);
  const guest = StandardScaler.fit(joined.guest, train).transform(joined.guest);
  const host = StandardScaler.fit(joined.host, train).transform(joined.host);
  const F = guest.featureCount + host.featureCount;
  const values = new Float64Array(joined.ids.length * F);
  for (let i = 0; i < joined.ids.length; i++) {
    values.set(guest.values.subarray(i * guest.featureCount, (i + 1) * guest.featureCount), i * F);
    values.set(host.values.subarray(i * host.featureCount, (i + 1) * host.featureCount), i * F + guest.featureCount);
  }
  const pooled = { values, rowCount: joined.ids.length, featureCount: F };
  const fit = fitNewton(pooled, joined.labels, train);
  return auc(predictProbabilities(pooled, fit.parameters, validation), Uint8Array.from(validation, (r) => joined.labels[r]!));
}
