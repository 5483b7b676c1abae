/**
 * A hash set of 32-byte group elements keyed by their first 16 bytes, in flat typed arrays:
 * ten million points cost ~270 MB and no per-point object.
 *
 * Blinded points are uniformly distributed, so the first word is already a good hash and
 * 128 bits make accidental collisions negligible (n·m / 2^128). Each key carries a 32-bit
 * value (a row number), so the same structure serves duplicate detection.
 */
const WORDS = 4;
const EMPTY = 0xffffffff;

export class PointSet {
  private keys: Uint32Array;
  private values: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1024) {
    const capacity = capacityFor(expected);
    this.keys = new Uint32Array(capacity * WORDS);
    this.values = new Uint32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Adds the key taken from `bytes[offset..offset+16)` with `value`, unless present.
   * Returns the value already stored for the key, or -1 when it was added.
   */
  addOrGet(bytes: Uint8Array, offset: number, value: number): number {
    if ((this.count + 1) * 10 > (this.mask + 1) * 7) this.grow();
    const view = wordsOf(bytes, offset);
    let slot = view[0]! & this.mask;
    for (;;) {
      const stored = this.values[slot]!;
      if (stored === EMPTY) {
        this.keys.set(view, slot * WORDS);
        this.values[slot] = value;
        this.count++;
        return -1;
      }
      if (this.matches(slot, view)) return stored;
      slot = (slot + 1) & this.mask;
    }
  }

  /** The value stored for the key at `bytes[offset..offset+16)`, or -1. */
  get(bytes: Uint8Array, offset: number): number {
    const view = wordsOf(bytes, offset);
    let slot = view[0]! & this.mask;
    for (;;) {
      const stored = this.values[slot]!;
      if (stored === EMPTY) return -1;
      if (this.matches(slot, view)) return stored;
      slot = (slot + 1) & this.mask;
    }
  }

  has(bytes: Uint8Array, offset: number): boolean {
    return this.get(bytes, offset) >= 0;
  }

  private matches(slot: number, key: Uint32Array): boolean {
    const base = slot * WORDS;
    const k = this.keys;
    return k[base] === key[0] && k[base + 1] === key[1] && k[base + 2] === key[2] && k[base + 3] === key[3];
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const capacity = (this.mask + 1) * 2;
    this.keys = new Uint32Array(capacity * WORDS);
    this.values = new Uint32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
    for (let s = 0; s < oldValues.length; s++) {
      const v = oldValues[s]!;
      if (v === EMPTY) continue;
      let slot = oldKeys[s * WORDS]! & this.mask;
      while (this.values[slot] !== EMPTY) slot = (slot + 1) & this.mask;
      this.keys.set(oldKeys.subarray(s * WORDS, s * WORDS + WORDS), slot * WORDS);
      this.values[slot] = v;
    }
  }
}

const scratch = new Uint32Array(WORDS);
const scratchBytes = new Uint8Array(scratch.buffer);

function wordsOf(bytes: Uint8Array, offset: number): Uint32Array {
  scratchBytes.set(bytes.subarray(offset, offset + 16));
  return scratch;
}

function capacityFor(expected: number): number {
  let c = 1024;
  while (c * 7 < expected * 10) c *= 2;
  return c;
}
