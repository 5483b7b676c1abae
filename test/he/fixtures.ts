/** Shared setup for the HE tests: one key owner and evaluator per backend and parameter set. */
import type { HeBackend, HeEvaluator, HeKeyOwner, HeParams } from '../../src/he/backend.ts';
import { ckksBackend } from '../../src/he/ckks.ts';
import { rotationSteps } from '../../src/he/diagonals.ts';
import { mockBackend } from '../../src/he/mock.ts';

export const backends: readonly HeBackend[] = [ckksBackend, mockBackend];

export function paramsFor(backend: HeBackend, params: HeParams): HeParams {
  return { ...params, scheme: backend.name };
}

export interface Session {
  readonly owner: HeKeyOwner;
  readonly evaluator: HeEvaluator;
}

export async function openSession(backend: HeBackend, params: HeParams, featureCounts: readonly number[]): Promise<Session> {
  const slots = params.polyModulusDegree / 2;
  const steps = [...new Set(featureCounts.flatMap((F) => rotationSteps(F, slots)))];
  const owner = await backend.createKeyOwner(paramsFor(backend, params), steps);
  const evaluator = await backend.createEvaluator(owner.publicBundle());
  return { owner, evaluator };
}

export function closeSession(session: Session | undefined): void {
  session?.evaluator.dispose();
  session?.owner.dispose();
}

/** Deterministic pseudo-random values in [-1, 1) (xorshift), so failures reproduce. */
export function uniform(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

/** What a party gets back for `ct` through masked decryption. */
export function reveal(session: Session, ct: Uint8Array, count: number, valueBound: number): Float64Array {
  const request = session.evaluator.maskForDecryption(ct, count, valueBound);
  const reply = session.owner.decryptMasked(request.masked, count, request.boundBits);
  return session.evaluator.unmask(reply, request.secret);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Xᵀd in the clear. */
export function plainMatvec(X: Float64Array, d: Float64Array, rows: number, F: number): Float64Array {
  const y = new Float64Array(F);
  for (let i = 0; i < rows; i++) for (let j = 0; j < F; j++) y[j] += X[i * F + j] * d[i];
  return y;
}
