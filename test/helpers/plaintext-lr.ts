/**
 * Loads FATE's vertically partitioned benchmark data (guest: id, y, x0..; host: id, x0..),
 * joins the two files on id the way PSI would, and pools the parties' standardised features
 * so tests can compute the centralised plaintext ceiling.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { StandardScaler, type FeatureMatrix } from '../../src/lr/scaler.ts';
import { splitTrainValidation, type TrainValidationSplit } from '../../src/lr/split.ts';

export const FATE_DATA_DIR = path.resolve(import.meta.dirname, '../../data/fate');

export type FateDataset = 'default_credit' | 'breast';

export interface JoinedFateData {
  /** The aligned IDs in canonical order (ascending as strings); row i of every block is ids[i]. */
  readonly ids: string[];
  readonly labels: Uint8Array;
  /** The label party's features. */
  readonly guest: FeatureMatrix;
  /** The feature party's features. */
  readonly host: FeatureMatrix;
}

export interface PooledFateData {
  /** Guest columns, then host columns, each standardised on the training rows. */
  readonly features: FeatureMatrix;
  readonly labels: Uint8Array;
  readonly split: TrainValidationSplit;
  readonly guestFeatureCount: number;
}

interface CsvTable {
  readonly header: string[];
  readonly rows: Map<string, string[]>;
}

function readCsv(file: string): CsvTable {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).filter((line) => line.length > 0);
  const header = lines[0].split(',');
  const rows = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    if (fields.length !== header.length) throw new Error(`${file}: row "${line.slice(0, 40)}" has ${fields.length} fields`);
    rows.set(fields[0], fields);
  }
  return { header, rows };
}

function block(ids: string[], table: CsvTable, firstFeature: number): FeatureMatrix {
  const featureCount = table.header.length - firstFeature;
  const values = new Float64Array(ids.length * featureCount);
  ids.forEach((id, i) => {
    const fields = table.rows.get(id)!;
    for (let j = 0; j < featureCount; j++) {
      const cell = fields[firstFeature + j];
      values[i * featureCount + j] = cell === '' ? NaN : Number(cell);
    }
  });
  return { values, rowCount: ids.length, featureCount };
}

/** Both parties' rows for the IDs they share, in canonical order. */
export function loadJoinedFate(name: FateDataset): JoinedFateData {
  const guest = readCsv(path.join(FATE_DATA_DIR, `${name}_hetero_guest.csv`));
  const host = readCsv(path.join(FATE_DATA_DIR, `${name}_hetero_host.csv`));
  if (guest.header[0] !== 'id' || guest.header[1] !== 'y' || host.header[0] !== 'id') {
    throw new Error(`${name}: expected guest columns id,y,x.. and host columns id,x..`);
  }
  const ids = [...guest.rows.keys()].filter((id) => host.rows.has(id)).sort();
  const labels = Uint8Array.from(ids, (id) => Number(guest.rows.get(id)![1]));
  return { ids, labels, guest: block(ids, guest, 2), host: block(ids, host, 1) };
}

/** Joined data split by `seed`, each party standardised on the training rows, then pooled. */
export function poolStandardised(joined: JoinedFateData, seed: string, validationFraction = 0.2): PooledFateData {
  const split = splitTrainValidation(joined.ids.length, seed, { validationFraction });
  const guest = StandardScaler.fit(joined.guest, split.train).transform(joined.guest);
  const host = StandardScaler.fit(joined.host, split.train).transform(joined.host);
  const featureCount = guest.featureCount + host.featureCount;
  const values = new Float64Array(joined.ids.length * featureCount);
  for (let i = 0; i < joined.ids.length; i++) {
    values.set(guest.values.subarray(i * guest.featureCount, (i + 1) * guest.featureCount), i * featureCount);
    values.set(host.values.subarray(i * host.featureCount, (i + 1) * host.featureCount), i * featureCount + guest.featureCount);
  }
  return {
    features: { values, rowCount: joined.ids.length, featureCount },
    labels: joined.labels,
    split,
    guestFeatureCount: guest.featureCount,
  };
}
