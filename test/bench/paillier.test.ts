import { describe, expect, it } from 'vitest';
import { paillierEpoch } from '../../bench/baselines/paillier.ts';

describe('Paillier baseline (FATE hetero LR)', () => {
  // 512-bit keys only keep the test fast; the baseline itself runs with 2048-bit keys.
  const run = () => paillierEpoch({ rows: 24_000, guestFeatures: 3, hostFeatures: 4, batchSize: 10_000, sliceRows: 12, keyBits: 512, seed: 'test' });

  it('decrypts gradients equal to the plaintext Taylor gradients and reports every figure', async () => {
    const estimate = await run();
    expect(estimate.maxGradientError).toBeLessThan(2 ** -30);
    expect(estimate.keyBits).toBe(512);
    expect(estimate.sliceRows).toBe(12);
    expect(estimate.features).toEqual({ guest: 3, host: 4 });
    expect(estimate.keygenSeconds).toBeGreaterThan(0);
    expect(estimate.measuredSeconds).toBeGreaterThan(0);
    for (const micros of Object.values(estimate.perOpMicroseconds)) expect(micros).toBeGreaterThan(0);
    expect(estimate.extrapolated.rows).toBe(24_000);
    expect(estimate.extrapolated.batches).toBe(3);
    expect(estimate.extrapolated.epochSeconds).toBeGreaterThan(estimate.measuredSeconds);
    expect(estimate.extrapolated.wireBytes).toBeGreaterThan(0);
    expect(estimate.extrapolated.note).toMatch(/EXTRAPOLATED/);
  });

  it('rejects invalid options, naming the field', async () => {
    await expect(paillierEpoch({ rows: 0, guestFeatures: 3, hostFeatures: 4, batchSize: 10 })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: /rows/ });
  });
});
