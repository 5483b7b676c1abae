/**
 * The canonical order of an intersection: by doubly-blinded value (its 16-byte prefix),
 * which both parties know for every common row and nobody can choose. Radix sort on the
 * first 32-bit word, then the rare ties settled on the remaining words.
 */

/**
 * Sorts `indices` (positions into `keys`, 16 bytes per position) by key and returns them.
 */
export function canonicalOrder(keys: Uint8Array, indices: Uint32Array): Uint32Array {
  const view = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  const word = (i: number, w: number) => view.getUint32(i * 16 + w * 4);
  const n = indices.length;
  let src = Uint32Array.from(indices);
  let dst = new Uint32Array(n);
  for (const shift of [0, 16]) {
    const counts = new Uint32Array(65537);
    for (let i = 0; i < n; i++) counts[((word(src[i]!, 0) >>> shift) & 0xffff) + 1]!++;
    for (let b = 1; b < counts.length; b++) counts[b]! += counts[b - 1]!;
    for (let i = 0; i < n; i++) dst[counts[(word(src[i]!, 0) >>> shift) & 0xffff]!++] = src[i]!;
    [src, dst] = [dst, src];
  }
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && word(src[end]!, 0) === word(src[start]!, 0)) end++;
    if (end - start > 1) {
      const run = Array.from(src.subarray(start, end)).sort((a, b) => {
        for (let w = 1; w < 4; w++) {
          const d = word(a, w) - word(b, w);
          if (d !== 0) return d;
        }
        return 0;
      });
      src.set(run, start);
    }
    start = end;
  }
  return src;
}
