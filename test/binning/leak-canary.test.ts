/**
 * The binning leak canary: every byte on every channel of a real CKKS binning job (bank ↔
 * agency, each party ↔ arbiter) is recorded and searched for the labels in any order the
 * job or a file knows (file order, ID order, the job's aligned row order), as bytes, as
 * 64-bit floats (also scaled by 2^-s), and as the 64-bit coefficients Δ·y the bank encodes
 * before encrypting (he/coefficients.ts); for every ID; for the agency's feature values; and
 * for every feature's IV (the bank keeps them: test/attacks/binning-iv-labels.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { runBinningInProcess } from '../../src/binning/in-process.ts';
import { COEFFICIENT_GRID_BITS } from '../../src/he/ckks-coefficients.ts';
import { coefficientScaleBits } from '../../src/he/coefficients.ts';
import { message } from '../../src/protocol/messages.ts';
import { encodeMessage } from '../../src/transport/codec.ts';
import { findNeedles } from '../helpers/canary.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-binning-canary-'));
const SEED = 'canary';

/** Δ, the scale of the bank's coefficient-packed labels for the job's 1,500 rows (DEGREE1_PARAMS' 60-bit last prime). */
const DELTA = 2n ** BigInt(coefficientScaleBits(1500, 60, COEFFICIENT_GRID_BITS));

function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
}

function f64(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(value);
  return b;
}

/** The job's row order (../../src/lr/align.ts): SHA-256 of the seed and the normalised ID. */
function alignedOrder(ids: readonly string[]): string[] {
  const key = (id: string) => Buffer.from(sha256(new TextEncoder().encode(`jinqiao/align/v1/${SEED}/${id}`))).toString('hex');
  return [...ids].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

/** Runs a binning job on planted data with backend `he`: every frame, and the needles to search them for. */
async function canary(he: 'ckks' | 'mock'): Promise<{ wire: Buffer; needles: [string, Buffer][]; aligned: number[] }> {
  const rows: { id: string; y: number; vat: number }[] = [];
  for (let i = 0; i < 1500; i++) {
    const vat = Math.round(((i * 7919) % 1500) * 13.37 + 0.123) / 1000 + 1000;
    rows.push({ id: uscc(90_000 + i), y: (i * 31) % 7 < 2 ? 1 : 0, vat });
  }
  writeFileSync(join(dir, 'bank.csv'), 'uscc,defaulted,loan\n' + rows.map((r, i) => `${r.id},${r.y},${(i % 97) + 0.5}`).join('\n') + '\n');
  writeFileSync(join(dir, 'tax.csv'), 'uscc,vat_paid\n' + rows.map((r) => `${r.id},${r.vat}`).join('\n') + '\n');
  const frames: Buffer[] = [];
  const result = await runBinningInProcess({
    label: { file: join(dir, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted' },
    features: [{ file: join(dir, 'tax.csv'), idColumn: 'uscc' }],
    config: { seed: SEED, threads: 0, he },
    tap: (_from, _to, frame) => frames.push(Buffer.from(frame)),
  });
  expect(result.rows).toBe(1500);
  const wire = Buffer.concat(frames);
  const labelOf = new Map(rows.map((r) => [r.id, r.y]));
  const orders = {
    file: rows.map((r) => r.id),
    id: [...labelOf.keys()].sort(),
    aligned: alignedOrder([...labelOf.keys()]),
  };
  const needles: [string, Buffer][] = [];
  for (const [name, order] of Object.entries(orders)) {
    const labels = order.map((id) => labelOf.get(id)!);
    for (let start = 0; start + 16 <= labels.length; start += 16) {
      const window = labels.slice(start, start + 16);
      // A window with one or two bads is a run of small integers such as SEAL's own headers
      // hold (a count of 1 among zero bytes): as bytes it proves nothing, so only the others.
      if (window.filter((v) => v === 1).length >= 3) needles.push([`labels ${name} ${start} u8`, Buffer.from(window)]);
      needles.push([`labels ${name} ${start} u64 ·Δ`, Buffer.concat(window.map((v) => u64(BigInt(v) * DELTA)))]);
      for (let s = 0; s <= 4; s++) needles.push([`labels ${name} ${start} f64 /2^${s}`, Buffer.concat(window.map((v) => f64(v / 2 ** s)))]);
    }
  }
  for (const r of rows) needles.push([r.id, Buffer.from(r.id)], [`vat ${r.vat}`, f64(r.vat)]);
  // IVs as a Float64Array's bytes, and as MessagePack writes a number (big-endian float 64).
  for (const party of result.parties) {
    for (const f of party.features) {
      const be = Buffer.alloc(8);
      be.writeDoubleBE(f.iv);
      needles.push([`iv ${party.party}/${f.name}`, f64(f.iv)], [`iv ${party.party}/${f.name} msgpack`, be]);
    }
  }
  return { wire, needles, aligned: orders.aligned.map((id) => labelOf.get(id)!) };
}

describe('binning leak canary', () => {
  it('no label sequence in any order, no ID, no agency value and no IV appears in any message (CKKS)', async () => {
    const { wire, needles, aligned } = await canary('ckks');
    expect(wire.length).toBeGreaterThan(500_000);
    expect(findNeedles(wire, needles)).toEqual([]);
    // The same search finds labels in the job's order had they crossed.
    const planted = Buffer.concat([wire.subarray(0, 4096), Buffer.concat(aligned.slice(32, 48).map((v) => f64(v / 2)))]);
    expect(findNeedles(planted, needles)).toContain('labels aligned 32 f64 /2^1');
    const encoded = Buffer.concat([wire.subarray(0, 4096), Buffer.concat(aligned.slice(64, 80).map((v) => u64(BigInt(v) * DELTA)))]);
    expect(findNeedles(encoded, needles)).toContain('labels aligned 64 u64 ·Δ');
    // And an agency feature's IV, had the bank sent it back in a message's list of numbers (as bin.iv did).
    const [ivName, ivBytes] = needles.find(([name]) => name.startsWith('iv tax/'))!;
    const sentBack = encodeMessage(message('bin.layout', { bins: [2], missing: [0], counts: [ivBytes.readDoubleLE(0)] }));
    expect(findNeedles(Buffer.concat([wire.subarray(0, 4096), sentBack]), needles)).toContain(`${ivName} msgpack`);
  }, 120_000);

  it("finds the labels in the job's row order when the backend hides nothing (mock HE, positive control)", async () => {
    const { wire, needles } = await canary('mock');
    const found = findNeedles(wire, needles.filter(([name]) => name.startsWith('labels aligned') && name.endsWith('f64 /2^0')));
    // Every window of the 1,500 labels in the job's order is in the mock "ciphertexts".
    expect(found).toHaveLength(Math.floor(1500 / 16));
  }, 60_000);
});
