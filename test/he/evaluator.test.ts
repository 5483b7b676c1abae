import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEGREE1_PARAMS, DEGREE3_PARAMS } from '../../src/he/params.ts';
import { gridFor } from '../../src/he/masking.ts';
import { backends, closeSession, maxAbsDiff, openSession, plainMatvec, reveal, uniform, type Session } from './fixtures.ts';

const SLOTS = DEGREE1_PARAMS.polyModulusDegree / 2;
/** Masked decryption returns values within one grid step (masking.ts); 2^-1 bounds give ~1e-3. */
const BOUND = 0.5;
const TOLERANCE = gridFor(DEGREE1_PARAMS, -1);

describe.each(backends)('HE evaluator ($name)', (backend) => {
  let session: Session;
  beforeAll(async () => {
    session = await openSession(backend, DEGREE1_PARAMS, [1, 13, 300]);
  }, 60_000);
  afterAll(() => closeSession(session));

  it('round-trips values through encryption and masked decryption within one grid step', () => {
    const values = uniform(SLOTS + 100, 1).map((v) => v * BOUND);
    const chunks = session.evaluator.encrypt(values);
    expect(chunks).toHaveLength(2);
    // A fresh ciphertext sits one level above the decryption level: spend it on ×1.
    const [first, second] = session.evaluator.multiplyScalar(chunks, 1);
    expect(maxAbsDiff(reveal(session, first, SLOTS, BOUND), values.subarray(0, SLOTS))).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDiff(reveal(session, second, 100, BOUND), values.subarray(SLOTS))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('adds ciphertexts and plaintexts slot-wise', () => {
    const a = uniform(300, 2).map((v) => v * 0.1);
    const b = uniform(300, 3).map((v) => v * 0.1);
    const c = uniform(300, 4).map((v) => v * 0.1);
    const sum = session.evaluator.addPlain(session.evaluator.add(session.evaluator.encrypt(a), session.evaluator.encrypt(b)), c);
    const [scaled] = session.evaluator.multiplyScalar(sum, 0.5);
    const expected = a.map((v, i) => 0.5 * (v + b[i] + c[i]));
    expect(maxAbsDiff(reveal(session, scaled, 300, BOUND), expected)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('evaluates a degree-1 sigmoid within one level', () => {
    const z = uniform(500, 5).map((v) => v * 0.8);
    const [d] = session.evaluator.polyEval(session.evaluator.encrypt(z), [0.5, 0.25]);
    expect(maxAbsDiff(reveal(session, d, 500, 1), z.map((v) => 0.5 + 0.25 * v))).toBeLessThanOrEqual(gridFor(DEGREE1_PARAMS, 0));
  });

  describe.each([1, 13, 300])('matvecTransposed with F = %i', (F) => {
    it.each([
      ['one chunk', 700],
      ['three chunks', 2 * SLOTS + 123],
    ])('equals Xᵀd in the clear (%s)', (_label, rows) => {
      const d = uniform(rows, 10 + F);
      // Entries of X are scaled like a gradient's 1/|B|, so |Xᵀd| stays within BOUND.
      const X = uniform(rows * F, 20 + F).map((v) => v / rows);
      const y = session.evaluator.matvecTransposed(session.evaluator.encrypt(d), X, rows, F);
      expect(maxAbsDiff(reveal(session, y, F, BOUND), plainMatvec(X, d, rows, F))).toBeLessThanOrEqual(TOLERANCE);
    });
  });

  it('squares slot-wise in one level, and sums every slot of every chunk by rotations alone', () => {
    const z = uniform(SLOTS + 300, 40).map((v) => v * 0.02);
    const squares = session.evaluator.square(session.evaluator.encrypt(z));
    const total = session.evaluator.sumAllSlots(squares);
    const expected = z.reduce((acc, v) => acc + v * v, 0);
    expect(Math.abs(reveal(session, total, 1, BOUND)[0]! - expected)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('multiplies by a plaintext vector slot-wise in one level', () => {
    const z = uniform(SLOTS + 10, 41).map((v) => v * 0.4);
    const w = uniform(SLOTS + 10, 42);
    const [first, second] = session.evaluator.multiplyPlain(session.evaluator.encrypt(z), w);
    expect(maxAbsDiff(reveal(session, first!, SLOTS, BOUND), z.map((v, i) => v * w[i]!).subarray(0, SLOTS))).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDiff(reveal(session, second!, 10, BOUND), z.map((v, i) => v * w[i]!).subarray(SLOTS))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('sums the first count slots across chunks', () => {
    const count = SLOTS + 77;
    const values = uniform(SLOTS + 500, 30).map((v) => v / count);
    const total = session.evaluator.sumSlots(session.evaluator.encrypt(values), count);
    const expected = values.subarray(0, count).reduce((a, b) => a + b, 0);
    expect(Math.abs(reveal(session, total, 1, BOUND)[0] - expected)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe.each(backends)('polyEval on the degree-3 parameters ($name)', (backend) => {
  let session: Session;
  beforeAll(async () => {
    session = await openSession(backend, DEGREE3_PARAMS, [13]);
  }, 60_000);
  afterAll(() => closeSession(session));

  it('matches c0 + c1 z + c2 z² + c3 z³ slot-wise, then still allows a matvec and a masked decryption', () => {
    const rows = 400;
    const z = uniform(rows, 40).map((v) => v * 4);
    const coeffs = [0.5, 0.197, 0.01, -0.004];
    const poly = (v: number) => coeffs[0] + coeffs[1] * v + coeffs[2] * v * v + coeffs[3] * v ** 3;
    const d = session.evaluator.polyEval(session.evaluator.encrypt(z), coeffs);
    const grid = gridFor(DEGREE3_PARAMS, 0);
    expect(maxAbsDiff(reveal(session, d[0], rows, 1), z.map(poly))).toBeLessThanOrEqual(grid);
    const X = uniform(rows * 13, 41).map((v) => v / rows);
    const y = session.evaluator.matvecTransposed(d, X, rows, 13);
    expect(maxAbsDiff(reveal(session, y, 13, BOUND), plainMatvec(X, z.map(poly), rows, 13))).toBeLessThanOrEqual(gridFor(DEGREE3_PARAMS, -1));
  });
});
