/**
 * Uniform random permutations from the operating system's CSPRNG, for shuffling what a
 * party sends: the receiver must not learn anything from the order of blinded values.
 */
import { getRandomValues } from 'node:crypto';

class RandomWords {
  private readonly buf = new Uint32Array(16384);
  private pos = this.buf.length;

  next(): number {
    if (this.pos === this.buf.length) {
      getRandomValues(this.buf);
      this.pos = 0;
    }
    return this.buf[this.pos++]!;
  }

  /** Uniform integer in [0, bound), bound <= 2^32, by rejection (no modulo bias). */
  below(bound: number): number {
    const limit = 0x100000000 - (0x100000000 % bound);
    for (;;) {
      const r = this.next();
      if (r < limit) return r % bound;
    }
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
export function securePermutation(n: number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  secureShuffle(perm);
  return perm;
}

export function secureShuffle(values: Uint32Array): void {
  const random = new RandomWords();
  for (let i = values.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    const t = values[i]!;
    values[i] = values[j]!;
    values[j] = t;
  }
}
