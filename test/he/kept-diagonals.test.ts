/**
 * A batch's forward product keeps its plaintext diagonals and its gradient product reuses
 * them (backend.ts KeepDiagonals): both must give what the products give without keeping,
 * and the gradient must come from the kept diagonals, not from the X it is handed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ckksBackend } from '../../src/he/ckks.ts';
import { createParallelEvaluator } from '../../src/he/pool.ts';
import { nextPowerOfTwo } from '../../src/he/diagonals.ts';
import { replicate } from '../../src/he/masking.ts';
import { ENCRYPTED_MODEL_PARAMS } from '../../src/he/params.ts';
import { keepExponent } from '../../src/lr/encrypted-model.ts';
import { rotationStepsFor } from '../../src/lr/protocol.ts';
import { closeSession, maxAbsDiff, plainMatvec, reveal, uniform, type Session } from './fixtures.ts';

const S = ENCRYPTED_MODEL_PARAMS.polyModulusDegree / 2;
/** The power of two just above the largest |value|: the tightest bound a reveal accepts, so the finest grid. */
const bound = (values: Float64Array) => 2 ** Math.max(-3, Math.ceil(Math.log2(Math.max(...values.map(Math.abs)))));

describe.each([300, 5])('kept diagonals, CKKS, F = %i', (F) => {
  let session: Session;
  beforeAll(async () => {
    const owner = await ckksBackend.createKeyOwner(ENCRYPTED_MODEL_PARAMS, rotationStepsFor(F, S, false));
    session = { owner, evaluator: await ckksBackend.createEvaluator(owner.publicBundle()) };
  });
  afterAll(() => closeSession(session));

  const rows = S + 1000;
  const alpha = 0.25 / Math.sqrt(rows);
  const factor = -0.5 / Math.sqrt(rows);
  const X = uniform(rows * F, 7);
  const w = uniform(F, 11).map((v) => v / 4);
  const scaled = (c: number) => X.map((v) => v * c);
  const scores = (): Float64Array => {
    const u = new Float64Array(rows);
    for (let i = 0; i < rows; i++) for (let j = 0; j < F; j++) u[i]! += alpha * X[i * F + j]! * w[j]!;
    return u;
  };

  it('gives the forward and gradient products of the plain path, from the kept diagonals', () => {
    const ev = session.evaluator;
    const exponent = keepExponent(alpha, factor)!;
    expect(exponent).toBeGreaterThan(0);
    const [ctW] = ev.encrypt(replicate(Float64Array.from({ length: nextPowerOfTwo(F) }, (_, j) => w[j] ?? 0), S));
    const plain = ev.matvecReplicated(ctW!, scaled(alpha), rows, F);
    const kept = ev.matvecReplicated(ctW!, scaled(alpha), rows, F, { handle: 'batch', exponent });
    const u = scores();
    const uBound = bound(u);
    const revealAll = (chunks: Uint8Array[]) => Float64Array.from(chunks.flatMap((c, i) => Array.from(reveal(session, c, Math.min(S, rows - i * S), uBound))));
    const plainError = maxAbsDiff(revealAll(plain), u);
    expect(plainError).toBeLessThan(uBound / 100);
    // The same bound as the plain path, not a multiple of its error: two CKKS computations'
    // noise varies independently, and "≤ 2× the other's" failed 1 of 3 full runs. A wrong or
    // misaligned kept diagonal is off by the order of uBound itself.
    expect(maxAbsDiff(revealAll(kept), u)).toBeLessThan(uBound / 100);

    // d/√n as the label forms it; the gradient product gets X zeroed: only kept diagonals can give the answer.
    const labels = uniform(rows, 3).map((v) => (v > 0 ? 1 : 0));
    const d = ev.addPlain(kept, labels.map((y) => (0.5 - y) / Math.sqrt(rows)));
    const dPlain = Float64Array.from(u, (v, i) => v + (0.5 - labels[i]!) / Math.sqrt(rows));
    const expected = plainMatvec(scaled(factor), dPlain, rows, F);
    const fromKept = ev.matvecTransposed(d, new Float64Array(rows * F), rows, F, { handle: 'batch', exponent, alpha, factor });
    const fromX = ev.matvecTransposed(d, scaled(factor), rows, F);
    const stepBound = bound(expected);
    const stepError = maxAbsDiff(reveal(session, fromX, F, stepBound), expected);
    expect(stepError).toBeLessThan(stepBound / 100);
    expect(maxAbsDiff(reveal(session, fromKept, F, stepBound), expected)).toBeLessThan(stepBound / 100);
    // The step lands at the weights' scale: it adds to [[w]] as the plain path's does.
    expect(() => ev.add([ctW!], [fromKept])).not.toThrow();
    // Used once: a second gradient product with the same handle encodes the X it is given.
    const again = ev.matvecTransposed(d, new Float64Array(rows * F), rows, F, { handle: 'batch', exponent, alpha, factor });
    expect(maxAbsDiff(reveal(session, again, F, stepBound), new Float64Array(F))).toBeLessThan(stepBound / 100);
  });

  it('keeps them in the pool worker that runs the same share of the gradient product', async () => {
    const ev = session.evaluator;
    const exponent = keepExponent(alpha, factor)!;
    const pool = await createParallelEvaluator(session.owner.publicBundle(), { threads: 2 });
    try {
      const [ctW] = ev.encrypt(replicate(Float64Array.from({ length: nextPowerOfTwo(F) }, (_, j) => w[j] ?? 0), S));
      const kept = await pool.matvecReplicated(ctW!, scaled(alpha), rows, F, { handle: 'pooled', exponent });
      const u = scores();
      const uBound = bound(u);
      const revealed = Float64Array.from(kept.flatMap((c, i) => Array.from(reveal(session, c, Math.min(S, rows - i * S), uBound))));
      expect(maxAbsDiff(revealed, u)).toBeLessThan(uBound / 100);
      const d = ev.addPlain(kept, new Float64Array(rows).fill(0.01));
      const expected = plainMatvec(scaled(factor), Float64Array.from(u, (v) => v + 0.01), rows, F);
      const stepBound = bound(expected);
      const step = await pool.matvecTransposed(d, new Float64Array(rows * F), rows, F, { handle: 'pooled', exponent, alpha, factor });
      expect(maxAbsDiff(reveal(session, step, F, stepBound), expected)).toBeLessThan(stepBound / 100);
    } finally {
      await pool.destroy();
    }
  });
});
