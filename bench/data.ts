/**
 * The shared data generator of the benchmarks: ID tables of any size with a known overlap,
 * written once to a cache folder and reused (generating 10M USCCs takes longer than a run).
 */
import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
