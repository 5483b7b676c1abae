import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isJinqiaoError } from '../../src/errors.ts';
import { DEGREE1_PARAMS, DEGREE3_PARAMS } from '../../src/he/params.ts';
import { gridFor, maskBoundFor } from '../../src/he/masking.ts';
import { backends, closeSession, maxAbsDiff, openSession, uniform, type Session } from './fixtures.ts';

const SLOTS = DEGREE1_PARAMS.polyModulusDegree / 2;

/** Two-sample Kolmogorov–Smirnov statistic. */
function ksStatistic(a: Float64Array, b: Float64Array): number {
  const x = Float64Array.from(a).sort();
  const y = Float64Array.from(b).sort();
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    if (x[i] <= y[j]) i++;
    else j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
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
  /** The arbiter's view of a vector whose every slot holds `value`. */
  const arbiterView = (value: number) => {
    const [ct] = session.evaluator.multiplyScalar(session.evaluator.encrypt(new Float64Array(SLOTS).fill(value)), 1);
    const request = session.evaluator.maskForDecryption(ct, SLOTS, bound);
    return { request, seen: readReply(session.owner.decryptMasked(request.masked, SLOTS, request.boundBits)) };
  };

  it('shows the arbiter values that do not depend on the secret', () => {
    const low = arbiterView(-bound).seen;
    const high = arbiterView(bound).seen;
    // KS at α = 0.001 for two samples of SLOTS: a real dependence (2^-40 of the range) is far below it.
    expect(ksStatistic(low, high)).toBeLessThan(1.95 * Math.sqrt(2 / SLOTS));
    const mean = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / v.length;
    const M = maskBoundFor(DEGREE1_PARAMS, boundBits);
    expect(Math.abs(mean(low) - mean(high))).toBeLessThan(0.1 * M);
  });

  it('masks with magnitude ~2^maskBits · bound', () => {
    const { seen } = arbiterView(1);
    const M = maskBoundFor(DEGREE1_PARAMS, boundBits);
    const magnitudes = seen.map(Math.abs);
    expect(Math.max(...magnitudes)).toBeGreaterThan(0.99 * M);
    expect(Math.max(...magnitudes)).toBeLessThanOrEqual(M + 2 * bound);
    expect(magnitudes.reduce((a, b) => a + b, 0) / SLOTS).toBeGreaterThan(0.45 * M);
  });

  it('returns the values within one grid step after unmasking', () => {
    const { request, seen } = arbiterView(1.5);
    expect(maxAbsDiff(seen.map((v, i) => v - request.secret.mask[i]), new Float64Array(SLOTS).fill(1.5))).toBeLessThanOrEqual(
      gridFor(DEGREE1_PARAMS, boundBits),
    );
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
