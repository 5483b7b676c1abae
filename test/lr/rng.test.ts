import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/util/rng.ts';

describe('SeededRng', () => {
  it('gives every party the same stream from the same seed, as string or bytes', () => {
    const a = SeededRng.fromSeed('job-42', 'split');
    const b = SeededRng.fromSeed(new TextEncoder().encode('job-42'), 'split');
    expect(Array.from({ length: 20 }, () => a.nextUint32())).toEqual(Array.from({ length: 20 }, () => b.nextUint32()));
  });

  it('separates streams by seed and by context label', () => {
    const first = (rng: SeededRng) => [rng.nextUint32(), rng.nextUint32()];
    const base = first(SeededRng.fromSeed('job-42', 'split'));
    expect(first(SeededRng.fromSeed('job-43', 'split'))).not.toEqual(base);
    expect(first(SeededRng.fromSeed('job-42', 'batches'))).not.toEqual(base);
    // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    expect(first(SeededRng.fromSeed('s', 'ab', 'c'))).not.toEqual(first(SeededRng.fromSeed('s', 'a', 'bc')));
  });

  it('draws floats in [0, 1) with mean near 1/2', () => {
    const rng = SeededRng.fromSeed('floats');
    const draws = Array.from({ length: 20_000 }, () => rng.nextFloat());
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(Math.abs(draws.reduce((a, b) => a + b) / draws.length - 0.5)).toBeLessThan(0.01);
  });

  it('draws bounded integers without bias', () => {
    const rng = SeededRng.fromSeed('below');
    const counts = new Array(3).fill(0);
    for (let i = 0; i < 30_000; i++) counts[rng.nextBelow(3)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });

  it('shuffles uniformly: each of the 6 orders of 3 items is about equally likely', () => {
    const rng = SeededRng.fromSeed('shuffle');
    const seen = new Map<string, number>();
    for (let i = 0; i < 12_000; i++) {
      const key = rng.shuffleInPlace(Uint32Array.of(0, 1, 2)).join('');
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(seen.size).toBe(6);
    for (const count of seen.values()) expect(Math.abs(count - 2000)).toBeLessThan(200);
  });

  it('makes permutations of 0..n-1', () => {
    const order = SeededRng.fromSeed('perm').permutation(1000);
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(SeededRng.fromSeed('perm').permutation(0)).toHaveLength(0);
  });

  it('rejects an empty seed and out-of-range bounds', () => {
    expect(() => SeededRng.fromSeed('')).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
    expect(() => SeededRng.fromSeed('s').nextBelow(0)).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
    expect(() => SeededRng.fromSeed('s').permutation(-1)).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
  });
});
