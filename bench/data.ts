/**
 * The shared data generator of the benchmarks: ID tables of any size with a known overlap,
 * written once to a cache folder and reused (generating 10M USCCs takes longer than a run).
 */
import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureTable } from '../src/data/table.ts';
import { SeededRng } from '../src/util/rng.ts';
import { uscc } from '../test/helpers/ids.ts';

export const BENCH_DATA_DIR = process.env.JINQIAO_BENCH_DATA ?? join(tmpdir(), 'jinqiao-bench-data');

/**
 * A pair of USCC tables of `size` rows each, sharing `overlap` of their rows (left rows
 * 0..size-1, right rows starting at size*(1-overlap)). Returns their paths.
 */
export async function idTablePair(size: number, overlap = 0.5): Promise<{ left: string; right: string; expected: number }> {
  mkdirSync(BENCH_DATA_DIR, { recursive: true });
  const offset = Math.round(size * (1 - overlap));
  const left = join(BENCH_DATA_DIR, `ids-${size}-0.csv`);
  const right = join(BENCH_DATA_DIR, `ids-${size}-${offset}.csv`);
  await writeIdTable(left, 0, size);
  await writeIdTable(right, offset, size);
  return { left, right, expected: size - offset };
}

/** A USCC table of rows start..start+count-1 (the same generator as `idTablePair`), cached. */
export async function idTable(start: number, count: number): Promise<string> {
  mkdirSync(BENCH_DATA_DIR, { recursive: true });
  const path = join(BENCH_DATA_DIR, `ids-${count}-${start}.csv`);
  await writeIdTable(path, start, count);
  return path;
}

async function writeIdTable(path: string, start: number, count: number): Promise<void> {
  if (existsSync(path)) return;
  const tmp = `${path}.tmp`;
  const out = createWriteStream(tmp);
  const write = (s: string) => new Promise<void>((resolve) => (out.write(s) ? resolve() : out.once('drain', resolve)));
  await write('uscc,registered_capital\n');
  let chunk = '';
  for (let i = 0; i < count; i++) {
    chunk += `${uscc(start + i)},${(i * 7919) % 100000}\n`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  await new Promise<void>((resolve) => out.end(resolve));
  renameSync(tmp, path);
}

/**
 * In-memory tables for a training job of any shape: a label party with `labelFeatures`
 * columns and outcomes drawn from a logistic model over every party's columns, and one
 * feature party per entry of `featureParties`. Deterministic for a seed.
 */
export function syntheticTrainingTables(rows: number, labelFeatures: number, featureParties: readonly number[], seed = 'bench'): { label: FeatureTable; features: FeatureTable[] } {
  const rng = SeededRng.fromSeed('jinqiao/bench/training', seed);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rng.nextFloat(), 1e-12))) * Math.cos(2 * Math.PI * rng.nextFloat());
  const ids = Array.from({ length: rows }, (_, i) => uscc(1_000_000 + i));
  const lines = Uint32Array.from({ length: rows }, (_, i) => i + 2);
  const z = new Float64Array(rows).fill(-1.2);
  const block = (name: string, width: number): FeatureTable => {
    const values = new Float64Array(rows * width);
    const weights = Array.from({ length: width }, () => normal() / Math.sqrt(width));
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < width; j++) {
        const v = normal();
        values[i * width + j] = v;
        z[i]! += weights[j]! * v;
      }
    }
    return { file: `${name}.csv`, idColumn: 'uscc', ids, lines, featureNames: Array.from({ length: width }, (_, j) => `${name}_x${j}`), values, labels: undefined, rowCount: rows };
  };
  const features = featureParties.map((width, k) => block(`agency${k + 1}`, width));
  const label = block('bank', labelFeatures);
  const labels = Uint8Array.from(z, (v) => (rng.nextFloat() < 1 / (1 + Math.exp(-v)) ? 1 : 0));
  return { label: { ...label, labels }, features };
}
