/**
 * A deterministic random stream that every party of a job derives identically from a shared
 * seed, so that all of them agree on which aligned rows are held out and which rows form each
 * mini-batch without sending a single row index over the network.
 *
 * Construction: SHA-256 in counter mode. The key is SHA-256 over the length-prefixed domain
 * tag, seed and context labels; block i is SHA-256(key || i as a 64-bit big-endian integer),
 * read as eight big-endian 32-bit words. Labels separate independent streams drawn from one
 * seed (the split, each epoch's batches), so a resumed job can rebuild epoch k's stream
 * without replaying epochs 0..k-1.
 *
 * Not for secrets: the stream is known to every party holding the seed. Masks and keys come
 * from the platform CSPRNG, never from here.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { errors } from '../errors.ts';

/** The job's shared seed: a string (UTF-8) or raw bytes. */
export type Seed = string | Uint8Array;

const DOMAIN = 'jinqiao/rng/v1';
const utf8 = new TextEncoder();
const WORDS_PER_BLOCK = 8;
const TWO_POW_32 = 2 ** 32;

export class SeededRng {
  readonly #blockInput = new Uint8Array(32 + 8);
  readonly #blockView = new DataView(this.#blockInput.buffer);
  readonly #words = new Uint32Array(WORDS_PER_BLOCK);
  #counter = 0;
  #nextWord = WORDS_PER_BLOCK;

  private constructor(key: Uint8Array) {
    this.#blockInput.set(key, 0);
  }

  /** A stream keyed by `seed` and separated from every other stream by `context` labels. */
  static fromSeed(seed: Seed, ...context: string[]): SeededRng {
    const seedBytes = typeof seed === 'string' ? utf8.encode(seed) : seed;
    if (!(seedBytes instanceof Uint8Array)) throw errors.optionInvalid('seed', 'must be a string or a Uint8Array');
    if (seedBytes.length === 0) {
      throw errors.optionInvalid('seed', 'must not be empty', "use the job's shared seed, the same on every party");
    }
    return new SeededRng(sha256(lengthPrefixed([utf8.encode(DOMAIN), seedBytes, ...context.map((label) => utf8.encode(label))])));
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    if (this.#nextWord === WORDS_PER_BLOCK) this.#refill();
    return this.#words[this.#nextWord++];
  }

  /** A uniform float in [0, 1) with 53 random bits, every representable multiple of 2^-53 equally likely. */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 2 ** 26 + low) / 2 ** 53;
  }

  /** A uniform integer in [0, bound), 1 <= bound <= 2^32, without modulo bias. */
  nextBelow(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > TWO_POW_32) {
      throw errors.optionInvalid('bound', `must be an integer in [1, 2^32], got ${bound}`);
    }
    // Reject the top partial copy of [0, bound) so every residue has the same number of preimages.
    const limit = TWO_POW_32 - (TWO_POW_32 % bound);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % bound;
  }

  /** Shuffles `values` uniformly (Fisher–Yates) and returns it. */
  shuffleInPlace(values: Uint32Array): Uint32Array {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.nextBelow(i + 1);
      const held = values[i];
      values[i] = values[j];
      values[j] = held;
    }
    return values;
  }

  /** A uniform random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    if (!Number.isInteger(n) || n < 0 || n > TWO_POW_32 - 1) {
      throw errors.optionInvalid('n', `must be an integer in [0, 2^32 - 1], got ${n}`);
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return this.shuffleInPlace(order);
  }

  #refill(): void {
    // 2^53 blocks is far beyond any job; the high word keeps the counter exact up to there.
    this.#blockView.setUint32(32, Math.floor(this.#counter / TWO_POW_32));
    this.#blockView.setUint32(36, this.#counter >>> 0);
    this.#counter++;
    const block = sha256(this.#blockInput);
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    for (let w = 0; w < WORDS_PER_BLOCK; w++) this.#words[w] = view.getUint32(4 * w);
    this.#nextWord = 0;
  }
}

/** Each part prefixed by its 4-byte big-endian length, so no two part lists encode alike. */
function lengthPrefixed(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const part of parts) {
    view.setUint32(offset, part.length);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}
