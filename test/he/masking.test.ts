import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isJinqiaoError } from '../../src/errors.ts';
import { DEGREE1_PARAMS, DEGREE3_PARAMS } from '../../src/he/params.ts';
import type { MaskedRequest } from '../../src/he/backend.ts';
import { backends, closeSession, maxAbsDiff, openSession, uniform, type Session } from './fixtures.ts';

const SLOTS = DEGREE1_PARAMS.polyModulusDegree / 2;
/**
 * The documented bounds, written out rather than taken from masking.ts (a test comparing
 * with the source's own function passes whatever that function returns): 40-bit masks,
 * a mask bound M = 2^(40 + boundBits), a reply grid of 2^(40 + boundBits − 49).
 */
const MASK_BITS = 40;

/**
 * Runs `fn` with the masks drawn from a seeded stream instead of the OS CSPRNG, so that
 * the statistical checks below give the same answer on every run (no 1-in-1000 failures).
 * Only the mask sampling sees it: encryption happens outside `fn`.
 */
function withSeededMasks<T>(seed: number, fn: () => T): T {
  let s = BigInt(seed) | 1n;
  const spy = vi.spyOn(webcrypto, 'getRandomValues').mockImplementation(<A extends ArrayBufferView | null>(array: A): A => {
    const words = array as unknown as Uint32Array;
    for (let i = 0; i < words.length; i++) {
      // splitmix64, high 32 bits.
      s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
      let z = s;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
      words[i] = Number((z ^ (z >> 31n)) >> 32n);
    }
    return array;
  });
  try {
    return fn();
  } finally {
    spy.mockRestore();
  }
}

/** One-sample Kolmogorov–Smirnov statistic against the uniform distribution on [low, high]. */
function ksUniform(sample: Float64Array, low: number, high: number): number {
  const x = Float64Array.from(sample).sort();
  let d = 0;
  for (let i = 0; i < x.length; i++) {
    const cdf = (x[i]! - low) / (high - low);
    d = Math.max(d, Math.abs(cdf - i / x.length), Math.abs(cdf - (i + 1) / x.length));
  }
  return d;
}

function readReply(reply: Uint8Array): Float64Array {
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  return Float64Array.from({ length: reply.byteLength / 8 }, (_, i) => view.getFloat64(8 * i, true));
}

function expectCode(fn: () => unknown, code: string, field?: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isJinqiaoError(thrown), String(thrown)).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  if (field !== undefined) expect((thrown as Error).message).toContain(field);
}

describe.each(backends)('masked decryption ($name)', (backend) => {
  let session: Session;
  beforeAll(async () => {
    session = await openSession(backend, DEGREE1_PARAMS, [1]);
  }, 60_000);
  afterAll(() => closeSession(session));

  const bound = 4;
  const boundBits = 2;
  const M = 2 ** (MASK_BITS + 2);
  const GRID = 2 ** (MASK_BITS + 2 - 49);
  /** The arbiter's view of a vector whose every slot holds `value`, with the masks of `seed`. */
  const arbiterView = (value: number, seed: number) => {
    const [ct] = session.evaluator.multiplyScalar(session.evaluator.encrypt(new Float64Array(SLOTS).fill(value)), 1);
    const request = withSeededMasks(seed, () => session.evaluator.maskForDecryption(ct!, SLOTS, bound));
    return { request, seen: readReply(session.owner.decryptMasked(request.masked, SLOTS, request.boundBits)) };
  };

  it('declares the documented parameters', () => {
    expect(DEGREE1_PARAMS.maskBits).toBe(MASK_BITS);
    expect(arbiterView(1, 1).request.boundBits).toBe(boundBits);
  });

  it('shows the arbiter the value plus a mask that does not depend on it', () => {
    // Same masks, two secrets at the ends of the bound: the views differ by exactly the
    // secrets' difference in every slot (within the grid and the CKKS noise), so the view is
    // value + mask with the mask drawn independently of the value; the distance between the
    // views for any two secrets is then |v − v'| / 2M <= 2^-40 (next test: M is 2^42).
    const low = arbiterView(-bound, 7);
    const high = arbiterView(bound, 7);
    expect(low.request.secret.mask).toEqual(high.request.secret.mask);
    for (let i = 0; i < SLOTS; i++) expect(Math.abs(high.seen[i]! - low.seen[i]! - 2 * bound)).toBeLessThanOrEqual(2 * GRID);
    // Every slot is masked, not only some: none is within the bound the value respects.
    for (const v of [...low.seen, ...high.seen]) expect(Math.abs(v)).toBeGreaterThan(bound);
  });

  it('masks with a uniform mask over [-2^42, 2^42] for a bound of 2^2', () => {
    const { request, seen } = arbiterView(1, 11);
    const magnitudes = seen.map(Math.abs);
    expect(Math.max(...magnitudes)).toBeGreaterThan(0.99 * M);
    expect(Math.max(...magnitudes)).toBeLessThanOrEqual(M + 2 * bound);
    const meanMagnitude = magnitudes.reduce((a, b) => a + b, 0) / SLOTS;
    expect(meanMagnitude).toBeGreaterThan(0.48 * M);
    expect(meanMagnitude).toBeLessThan(0.52 * M);
    // KS against the ideal uniform distribution (critical value at α = 0.001: 1.95/√n):
    // deterministic here, since the masks are seeded.
    expect(ksUniform(Float64Array.from(request.secret.mask), -M, M)).toBeLessThan(1.95 / Math.sqrt(SLOTS));
  });

  it('masks every slot of a refreshed vector, with the mask of its period repeated', () => {
    const period = 8;
    const values = Float64Array.from({ length: SLOTS }, (_, t) => (t % period) - 3.5);
    const [ct] = session.evaluator.multiplyScalar(session.evaluator.encrypt(values), 1);
    const request: MaskedRequest = withSeededMasks(13, () => session.evaluator.maskReplicated(ct!, period, 16));
    expect(request.boundBits).toBe(4);
    const M16 = 2 ** (MASK_BITS + 4);
    expect(request.secret.mask).toHaveLength(period);
    for (const r of request.secret.mask) expect(Math.abs(r)).toBeLessThanOrEqual(M16);
    expect(Math.max(...request.secret.mask.map(Math.abs))).toBeGreaterThan(M16 / 8);
    const seen = readReply(session.owner.decryptMasked(request.masked, SLOTS, request.boundBits));
    const grid = 2 ** (MASK_BITS + 4 - 49);
    for (let t = 0; t < SLOTS; t++) {
      expect(Math.abs(seen[t]!)).toBeGreaterThan(16);
      expect(Math.abs(seen[t]! - request.secret.mask[t % period]! - values[t]!)).toBeLessThanOrEqual(2 * grid);
    }
  });

  it('returns the values within one grid step after unmasking', () => {
    const { request, seen } = arbiterView(1.5, 17);
    expect(maxAbsDiff(seen.map((v, i) => v - request.secret.mask[i]!), new Float64Array(SLOTS).fill(1.5))).toBeLessThanOrEqual(GRID);
  });

  it('uses a fresh mask every time', () => {
    const [ct] = session.evaluator.encrypt(new Float64Array(4));
    const a = session.evaluator.maskForDecryption(ct, 4, 1).secret.mask;
    const b = session.evaluator.maskForDecryption(ct, 4, 1).secret.mask;
    expect(a).not.toEqual(b);
  });

  it('refuses a request whose values exceed the bound it declares', () => {
    const [ct] = session.evaluator.multiplyScalar(session.evaluator.encrypt(new Float64Array(4).fill(1)), 1);
    const request = session.evaluator.maskForDecryption(ct, 4, 1024);
    expectCode(() => session.owner.decryptMasked(request.masked, 4, 0), 'E_PROTOCOL');
  });

  it('refuses a value bound the decryption level cannot hold', () => {
    const [ct] = session.evaluator.encrypt(new Float64Array(4));
    expectCode(() => session.evaluator.maskForDecryption(ct, 4, 2 ** 30), 'E_PARAMS_INSECURE', 'valueBound');
  });

  it('rejects malformed ciphertext bytes with E_MESSAGE_MALFORMED', () => {
    const [ct] = session.evaluator.encrypt(new Float64Array(4));
    const garbage = Uint8Array.from(uniform(2000, 50), (v) => (v + 1) * 127);
    expectCode(() => session.evaluator.add([garbage], [ct]), 'E_MESSAGE_MALFORMED');
    expectCode(() => session.evaluator.add([ct.subarray(0, ct.length - 9)], [ct]), 'E_MESSAGE_MALFORMED');
    expectCode(() => session.owner.decryptMasked(new Uint8Array(0), 1, 0), 'E_MESSAGE_MALFORMED');
    expectCode(() => session.evaluator.unmask(new Uint8Array(7), { mask: new Float64Array(1), count: 1, boundBits: 0 }), 'E_MESSAGE_MALFORMED');
  });
});

describe('ciphertexts of other parameters', () => {
  it('are rejected with E_MESSAGE_MALFORMED', async () => {
    const [ckks] = backends;
    const small = await openSession(ckks, DEGREE1_PARAMS, []);
    const large = await openSession(ckks, DEGREE3_PARAMS, []);
    try {
      const [foreign] = large.evaluator.encrypt(new Float64Array(4));
      expectCode(() => small.evaluator.multiplyScalar([foreign], 2), 'E_MESSAGE_MALFORMED');
      const [otherKeys] = small.evaluator.encrypt(new Float64Array(4));
      expectCode(() => large.owner.decryptMasked(otherKeys, 4, 0), 'E_MESSAGE_MALFORMED');
    } finally {
      closeSession(small);
      closeSession(large);
    }
  }, 30_000);
});

describe.each(backends)('parameter validation ($name)', (backend) => {
  const base = { ...DEGREE1_PARAMS, scheme: backend.name };
  it.each([
    ['maskBits below 40', { maskBits: 32 }, 'maskBits'],
    ['a decryption level too small for masked values', { decryptionDepth: 2 }, 'coeffModBits'],
    ['a value bound the decryption level cannot hold', { maxBoundBits: 30 }, 'coeffModBits'],
    ['a non-power-of-two degree', { polyModulusDegree: 6000 }, 'polyModulusDegree'],
  ])('refuses %s', async (_label, change, field) => {
    await expect(backend.createKeyOwner({ ...base, ...change }, [])).rejects.toMatchObject({ code: 'E_PARAMS_INSECURE', message: expect.stringContaining(field) });
  });
});

describe('parameter validation (ckks only)', () => {
  it('refuses a modulus SEAL does not accept at 128-bit security', async () => {
    const [ckks] = backends;
    const tooWide = { ...DEGREE1_PARAMS, coeffModBits: [60, 60, 60, 60], maxBoundBits: 4 };
    await expect(ckks.createKeyOwner(tooWide, [])).rejects.toMatchObject({ code: 'E_PARAMS_INSECURE', message: expect.stringContaining('coeffModBits') });
  });
});
