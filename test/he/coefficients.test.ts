/**
 * Coefficient packing (src/he/coefficients.ts): Σ over rows of an encrypted 0/1 vector per
 * column of a one-hot matrix, revealed through masks that cover every coefficient, equals
 * the plaintext sums exactly after rounding; only the sums are readable, every other
 * coefficient is blinded; untrusted shapes are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_COLUMN, type ColumnIndex, type HeEvaluator } from '../../src/he/backend.ts';
import { chooseRowsPerChunk, columnsPerCiphertext, sumCiphertextsFor } from '../../src/he/coefficients.ts';
import { DEGREE1_PARAMS } from '../../src/he/params.ts';
import { mockBackend } from '../../src/he/mock.ts';
import { createParallelEvaluator } from '../../src/he/pool.ts';
import { ArbiterClient } from '../../src/lr/arbiter-client.ts';
import { runArbiter } from '../../src/lr/roles/arbiter.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';
import { liveSealObjects } from '../../src/he/seal.ts';
import { backends, closeSession, openSession, type Session } from './fixtures.ts';

/** A one-hot column index: `fields` fields of `bins` bins each, bin 0 counting in no column (as binning's first bin). */
function oneHot(rows: number, fields: number, bins: number, seed: number): { columns: ColumnIndex; y: Float64Array } {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0), s / 2 ** 32);
  const index = new Uint16Array(rows * fields);
  for (let f = 0; f < fields; f++) {
    for (let i = 0; i < rows; i++) {
      const bin = Math.floor(next() * bins);
      index[f * rows + i] = bin === 0 ? NO_COLUMN : f * (bins - 1) + bin - 1;
    }
  }
  const y = Float64Array.from({ length: rows }, () => (next() < 0.3 ? 1 : 0));
  return { columns: { rows, fields, width: fields * (bins - 1), index }, y };
}

function plainSums(columns: ColumnIndex, y: Float64Array): number[] {
  const sums = new Array<number>(columns.width).fill(0);
  for (let f = 0; f < columns.fields; f++) {
    for (let i = 0; i < columns.rows; i++) {
      const c = columns.index[f * columns.rows + i]!;
      if (c !== NO_COLUMN) sums[c]! += y[i]!;
    }
  }
  return sums;
}

/** Every sum of `columnSums`, revealed through masked decryption, unrounded. */
function revealAll(session: Session, sums: readonly Uint8Array[], rows: number, rowsPerChunk: number, width: number): number[] {
  const m = columnsPerCiphertext(DEGREE1_PARAMS.polyModulusDegree, rowsPerChunk);
  return sums.flatMap((ct, g) => {
    const count = Math.min(m, width - g * m);
    const request = session.evaluator.maskCoefficients(ct, { rows, rowsPerChunk }, count);
    return [...session.evaluator.unmaskCoefficients(session.owner.decryptCoefficients(request.masked, rowsPerChunk, count), request.secret)];
  });
}

describe.each(backends)('coefficient packing ($name)', (backend) => {
  let session: Session;
  let evaluator: HeEvaluator;
  beforeAll(async () => {
    session = await openSession(backend, DEGREE1_PARAMS, []);
    evaluator = session.evaluator;
  }, 60_000);
  afterAll(() => closeSession(session));

  it.each([
    [3000, 7, 10],
    [20_000, 30, 10],
  ])('sums %i rows × %i fields × %i bins exactly, every sum within 1/8 before rounding', (rows, fields, bins) => {
    const { columns, y } = oneHot(rows, fields, bins, rows + fields);
    const rowsPerChunk = chooseRowsPerChunk(rows, columns.width, DEGREE1_PARAMS.polyModulusDegree);
    const labels = evaluator.encryptCoefficients(y, rowsPerChunk);
    expect(labels).toHaveLength(Math.ceil(rows / rowsPerChunk));
    const sums = evaluator.columnSums(labels, rowsPerChunk, columns);
    expect(sums).toHaveLength(sumCiphertextsFor(columns.width, rowsPerChunk, DEGREE1_PARAMS.polyModulusDegree));
    const revealed = revealAll(session, sums, rows, rowsPerChunk, columns.width);
    const expected = plainSums(columns, y);
    expect(revealed.map(Math.round)).toEqual(expected);
    const worst = Math.max(...revealed.map((v, c) => Math.abs(v - expected[c]!)));
    expect(worst).toBeLessThanOrEqual(1 / 8);
    // The flood hides the decryption noise: sums do not come back as exact integers.
    expect(worst).toBeGreaterThan(1 / 64);
  }, 120_000);

  it('blinds every coefficient but the sums: read at other positions, a result shows no integer', () => {
    const rows = 4000;
    const { columns, y } = oneHot(rows, 5, 10, 7);
    const rowsPerChunk = 512;
    const sums = evaluator.columnSums(evaluator.encryptCoefficients(y, rowsPerChunk), rowsPerChunk, columns);
    // A curious bank reads the first result with half the chunk size: every other position is
    // then a cross-term Σ y_i'·M[i, c] of other rows, an integer (to the noise, ~2^-28) unless blinded.
    const half = rowsPerChunk / 2;
    const count = columnsPerCiphertext(DEGREE1_PARAMS.polyModulusDegree, half);
    const request = evaluator.maskCoefficients(sums[0]!, { rows, rowsPerChunk: half }, count);
    const read = evaluator.unmaskCoefficients(session.owner.decryptCoefficients(request.masked, half, count), request.secret);
    const crossTerms = [...read].filter((_, c) => c % 2 === 0);
    expect(crossTerms).toHaveLength(16);
    expect(crossTerms.filter((v) => Math.abs(v - Math.round(v)) < 1e-3).length).toBeLessThanOrEqual(2);
    // The sums themselves sit at the odd positions of that reading.
    const expected = plainSums(columns, y);
    expect([...read].filter((_, c) => c % 2 === 1).map(Math.round)).toEqual(expected.slice(0, count / 2));
  }, 60_000);

  it('refuses shapes that do not fit: chunk size, chunk count, column index, reply size', () => {
    const { columns, y } = oneHot(1000, 2, 5, 3);
    expect(() => evaluator.encryptCoefficients(y, 100)).toThrow(/power of two/);
    expect(() => evaluator.encryptCoefficients(Float64Array.of(0, 2), 64)).toThrow(/not 0 or 1/);
    const labels = evaluator.encryptCoefficients(y, 256);
    expect(() => evaluator.columnSums(labels.slice(1), 256, columns)).toThrow(/label ciphertext/);
    expect(() => evaluator.columnSums(labels, 256, { ...columns, width: 3 })).toThrow(/names column/);
    const [sum] = evaluator.columnSums(labels, 256, columns);
    expect(() => evaluator.maskCoefficients(sum!, { rows: 1000, rowsPerChunk: 256 }, 33)).toThrow(/count/);
    const request = evaluator.maskCoefficients(sum!, { rows: 1000, rowsPerChunk: 256 }, 8);
    expect(() => session.owner.decryptCoefficients(request.masked, 256, 33)).toThrow(/count/);
    expect(() => evaluator.unmaskCoefficients(new Uint8Array(7), request.secret)).toThrow(/hold 8/);
  }, 60_000);
});

describe('coefficient packing across worker threads (ckks)', () => {
  let session: Session;
  beforeAll(async () => {
    session = await openSession(backends[0]!, DEGREE1_PARAMS, []);
  }, 60_000);
  afterAll(() => closeSession(session));

  it('gives every worker whole result ciphertexts, with the same sums as inline, and leaks no SEAL object', async () => {
    const rows = 6000;
    const { columns, y } = oneHot(rows, 40, 10, 11);
    const rowsPerChunk = chooseRowsPerChunk(rows, columns.width, DEGREE1_PARAMS.polyModulusDegree);
    const labels = session.evaluator.encryptCoefficients(y, rowsPerChunk);
    const parallel = await createParallelEvaluator(session.owner.publicBundle(), { threads: 2 });
    try {
      const sums = await parallel.columnSums(labels, rowsPerChunk, columns);
      expect(sums.length).toBeGreaterThan(2);
      expect(revealAll(session, sums, rows, rowsPerChunk, columns.width).map(Math.round)).toEqual(plainSums(columns, y));
    } finally {
      await parallel.destroy();
    }
    session.evaluator.columnSums(labels, rowsPerChunk, columns);
    const live = liveSealObjects();
    for (let i = 0; i < 3; i++) session.evaluator.columnSums(labels, rowsPerChunk, columns);
    expect(liveSealObjects()).toBe(live);
  }, 120_000);
});

describe('the arbiter and coefficient reveals', () => {
  it('serves them where the job says so (binning), and refuses them in any other job', async () => {
    const rows = 500;
    const { columns, y } = oneHot(rows, 3, 5, 5);
    for (const coefficients of [true, false]) {
      const [party, arbiterSide] = memoryChannelPair('bank', 'arbiter');
      const arbiter = runArbiter({ backend: mockBackend, params: { ...DEGREE1_PARAMS, scheme: 'mock' }, parties: [arbiterSide], coefficients });
      const client = new ArbiterClient(party);
      const evaluator = await mockBackend.createEvaluator(await client.requestKeys([]));
      client.use(evaluator);
      const [sums] = evaluator.columnSums(evaluator.encryptCoefficients(y, 64), 64, columns);
      const reveal = client.revealCoefficients(sums!, { rows, rowsPerChunk: 64 }, columns.width);
      if (coefficients) {
        expect([...(await reveal)].map(Math.round)).toEqual(plainSums(columns, y));
        await client.done();
        await expect(arbiter).resolves.toEqual({ decryptions: 1 });
      } else {
        await expect(reveal).rejects.toThrow();
        await expect(arbiter).rejects.toMatchObject({ message: expect.stringMatching(/does not serve he\.decryptCoefficients/) });
      }
    }
  }, 30_000);
});
