/**
 * The training leak canary: every byte on every channel (bank ↔ agency, each party ↔
 * arbiter) is recorded during a real CKKS job and searched for planted plaintext: IDs,
 * feature values (as text and as 64-bit and 32-bit floats) and the label sequence.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLocalTraining } from '../../src/local/training.ts';
import { findNeedles } from '../helpers/canary.ts';
import { uscc } from '../helpers/ids.ts';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-train-canary-'));
const CANARY_GUEST = '31415.926535';
const CANARY_HOST = '-27182.818284';

/** FATE's breast data with USCC IDs and two planted, unmistakable feature values. */
function plant(file: string, canary: string, row: number, column: number): { path: string; rows: string[][] } {
  const lines = readFileSync(join(FATE_DATA_DIR, file), 'utf8').trim().split('\n');
  const rows = lines.slice(1).map((l) => l.split(','));
  for (const r of rows) r[0] = uscc(5000 + Number(r[0]));
  rows[row]![column] = canary;
  const path = join(dir, file);
  writeFileSync(path, [lines[0], ...rows.map((r) => r.join(','))].join('\n') + '\n');
  return { path, rows };
}

function f64(value: number, littleEndian: boolean): Buffer {
  const b = Buffer.alloc(8);
  if (littleEndian) b.writeDoubleLE(value);
  else b.writeDoubleBE(value);
  return b;
}

describe('training leak canary (CKKS)', () => {
  it('no ID, feature value or label sequence of any party appears in any message', async () => {
    const guest = plant('breast_hetero_guest.csv', CANARY_GUEST, 10, 5);
    const host = plant('breast_hetero_host.csv', CANARY_HOST, 20, 7);
    const frames: Buffer[] = [];
    const r = await runLocalTraining({
      label: { file: guest.path, idColumn: 'id', labelColumn: 'y' },
      features: [{ file: host.path, idColumn: 'id' }],
      config: { batchSize: 128, epochs: 2, seed: 'canary', allowPartialScoreDisclosure: true },
      tap: (_from, _to, frame) => frames.push(Buffer.from(frame)),
    });
    expect(r.metrics.auc).toBeGreaterThan(0.9);
    const wire = Buffer.concat(frames);
    expect(wire.length).toBeGreaterThan(1_000_000);

    const needles: [string, Buffer][] = [];
    for (const [canary, value] of [[CANARY_GUEST, 31415.926535], [CANARY_HOST, -27182.818284]] as const) {
      needles.push([canary, Buffer.from(canary)], [`${canary} f64le`, f64(value, true)], [`${canary} f64be`, f64(value, false)]);
    }
    for (const row of [...guest.rows, ...host.rows]) {
      needles.push([row[0]!, Buffer.from(row[0]!)], [`${row[0]} utf16`, Buffer.from(row[0]!, 'utf16le')]);
      for (const cell of row.slice(1)) {
        const v = Number(cell);
        // 0 and 1 (labels, dummies) are everywhere in any encoding; every other value is not.
        if (v !== 0 && v !== 1 && Number.isFinite(v)) needles.push([`${cell} f64le`, f64(v, true)]);
      }
    }
    // The labels in file order, as bytes and as 64-bit floats, 16 rows at a time.
    const labels = guest.rows.map((row) => Number(row[1]));
    for (let start = 0; start + 16 <= labels.length; start += 16) {
      const window = labels.slice(start, start + 16);
      needles.push([`labels ${start} u8`, Buffer.from(window)], [`labels ${start} f64`, Buffer.concat(window.map((v) => f64(v, true)))]);
    }
    expect(findNeedles(wire, needles)).toEqual([]);
    // Positive control: the same search finds a value that did cross.
    const planted = Buffer.concat([wire.subarray(0, 4096), f64(31415.926535, true), Buffer.from(guest.rows[3]![0]!)]);
    expect(findNeedles(planted, needles).sort()).toEqual([`${CANARY_GUEST} f64le`, guest.rows[3]![0]!].sort());
  }, 180_000);
});
