import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEGREE1_PARAMS } from '../../src/he/params.ts';
import { createParallelEvaluator } from '../../src/he/pool.ts';
import { liveSealObjects } from '../../src/he/seal.ts';
import { backends, closeSession, maxAbsDiff, openSession, plainMatvec, reveal, uniform, type Session } from './fixtures.ts';

const SLOTS = DEGREE1_PARAMS.polyModulusDegree / 2;
const [ckks] = backends;

describe('SEAL resources (ckks)', () => {
  let session: Session;
  let baseline: number;
  beforeAll(async () => {
    baseline = liveSealObjects();
    session = await openSession(ckks, DEGREE1_PARAMS, [13]);
  }, 60_000);
  afterAll(() => closeSession(session));

  it('leaves no SEAL object behind over 50 matvecs', () => {
    const rows = 64;
    const d = session.evaluator.encrypt(uniform(rows, 60));
    const X = uniform(rows * 13, 61);
    session.evaluator.matvecTransposed(d, X, rows, 13);
    const live = liveSealObjects();
    for (let i = 0; i < 50; i++) session.evaluator.matvecTransposed(d, X, rows, 13);
    expect(liveSealObjects()).toBe(live);
  }, 30_000);

  it('leaves no SEAL object behind after a rejected input', () => {
    const live = liveSealObjects();
    expect(() => session.evaluator.add([new Uint8Array(100)], session.evaluator.encrypt(new Float64Array(1)))).toThrow();
    expect(liveSealObjects()).toBe(live);
  });

  it('frees everything on dispose', async () => {
    const before = liveSealObjects();
    const other = await openSession(ckks, DEGREE1_PARAMS, [1]);
    expect(liveSealObjects()).toBeGreaterThan(before);
    closeSession(other);
    expect(liveSealObjects()).toBe(before);
    closeSession(session);
    expect(liveSealObjects()).toBe(baseline);
    session = await openSession(ckks, DEGREE1_PARAMS, [13]);
  }, 30_000);
});

describe('parallel matvec (ckks, piscina)', () => {
  let session: Session;
  beforeAll(async () => {
    session = await openSession(ckks, DEGREE1_PARAMS, [13]);
  }, 60_000);
  afterAll(() => closeSession(session));

  it('equals the single-thread result when the chunks are split across workers', async () => {
    const rows = 2 * SLOTS + 321;
    const F = 13;
    const d = uniform(rows, 70);
    const X = uniform(rows * F, 71).map((v) => v / rows);
    const chunks = session.evaluator.encrypt(d);
    const parallel = await createParallelEvaluator(session.owner.publicBundle(), { threads: 2 });
    try {
      const y = await parallel.matvecTransposed(chunks, X, rows, F);
      expect(maxAbsDiff(reveal(session, y, F, 0.5), plainMatvec(X, d, rows, F))).toBeLessThanOrEqual(2 ** -10);
      // X·[[w]] (w replicated): whole chunks of rows per worker, the same chunks as inline.
      const w = new Float64Array(SLOTS).map((_, t) => (t % 16 < F ? d[t % 16]! : 0));
      const [wCt] = session.evaluator.encrypt(w);
      const X2 = uniform(rows * F, 72);
      const forward = await parallel.matvecReplicated(wCt!, X2, rows, F);
      expect(forward).toHaveLength(3);
      const expected = Float64Array.from({ length: rows }, (_, i) => X2.subarray(i * F, (i + 1) * F).reduce((s, x, j) => s + x * d[j]!, 0));
      forward.forEach((chunk, c) => {
        const count = Math.min(SLOTS, rows - c * SLOTS);
        expect(maxAbsDiff(reveal(session, chunk, count, 16), expected.subarray(c * SLOTS, c * SLOTS + count))).toBeLessThanOrEqual(2 ** -4);
      });
    } finally {
      await parallel.destroy();
    }
  }, 120_000);
});
