/**
 * The HE pieces of encrypted-model training: the forward product X·[[w]] on a replicated
 * weight vector, and the arbiter's refresh that returns a fresh ciphertext, never a value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextPowerOfTwo } from '../../src/he/diagonals.ts';
import { replicate } from '../../src/he/masking.ts';
import { ENCRYPTED_MODEL_PARAMS } from '../../src/he/params.ts';
import { backends, closeSession, maxAbsDiff, openSession, reveal, uniform, type Session } from './fixtures.ts';

function plainForward(X: Float64Array, w: Float64Array, rows: number, F: number): Float64Array {
  const u = new Float64Array(rows);
  for (let i = 0; i < rows; i++) for (let j = 0; j < F; j++) u[i] += X[i * F + j] * w[j];
  return u;
}

describe.each(backends)('encrypted-model HE pieces ($name)', (backend) => {
  let session: Session;
  beforeAll(async () => {
    session = await openSession(backend, ENCRYPTED_MODEL_PARAMS, [1, 13, 300]);
  }, 60_000);
  afterAll(() => closeSession(session));

  describe.each([1, 13, 300])('X·[[w]] with F = %i', (F) => {
    it('puts row i of each chunk in slot i, across chunks, in one level', () => {
      const S = session.evaluator.slotCount;
      const rows = S + 37;
      const X = uniform(rows * F, F + 1).map((v) => 0.3 * v);
      const w = uniform(F, F + 7);
      const P = nextPowerOfTwo(F);
      const padded = new Float64Array(P);
      padded.set(w);
      const [ct] = session.evaluator.encrypt(replicate(padded, S));
      const chunks = session.evaluator.matvecReplicated(ct!, X, rows, F);
      expect(chunks).toHaveLength(2);
      const expected = plainForward(X, w, rows, F);
      const first = reveal(session, chunks[0]!, S, 8);
      const second = reveal(session, chunks[1]!, 37, 8);
      expect(maxAbsDiff(first, expected.subarray(0, S))).toBeLessThan(2 ** -5);
      expect(maxAbsDiff(second, expected.subarray(S))).toBeLessThan(2 ** -5);
      // Slots past the last row hold zero, so sums over slots stay exact.
      const tail = reveal(session, chunks[1]!, 64, 8);
      expect(Math.max(...tail.subarray(37).map(Math.abs))).toBeLessThan(2 ** -5);
    });
  });

  it('refreshes a twice-rescaled vector into a fresh replicated ciphertext that computes again', () => {
    const S = session.evaluator.slotCount;
    const F = 13;
    const P = nextPowerOfTwo(F);
    const w = new Float64Array(P);
    w.set(uniform(F, 99).map((v) => 4 * v));
    const [fresh] = session.evaluator.encrypt(replicate(w, S));
    // Two levels down, as after X·[[w]] then Xᵀ[[d]].
    const low = session.evaluator.multiplyScalar(session.evaluator.multiplyScalar([fresh!], 1), 1)[0]!;
    const request = session.evaluator.maskReplicated(low, P, 16);
    const refreshed = session.owner.refreshMasked(request.masked, P, request.boundBits);
    const [unmasked] = session.evaluator.addPlain([refreshed], replicate(request.secret.mask.map((r) => -r), S));
    // A fresh ciphertext has every level again: two more products fit.
    const again = session.evaluator.multiplyScalar(session.evaluator.multiplyScalar([unmasked!], 1), 1)[0]!;
    const back = reveal(session, again, S, 16);
    for (let t = 0; t < S; t += 97) expect(Math.abs(back[t]! - w[t % P]!)).toBeLessThan(2 ** -4);
  });

  it('refuses a refresh whose value lies beyond the declared bound plus the mask', () => {
    const S = session.evaluator.slotCount;
    const [ct] = session.evaluator.encrypt(new Float64Array(S).fill(2 ** 42));
    const request = session.evaluator.maskReplicated(ct!, 16, 1);
    expect(() => session.owner.refreshMasked(request.masked, 16, request.boundBits)).toThrow(expect.objectContaining({ code: 'E_PROTOCOL' }));
  });
});
