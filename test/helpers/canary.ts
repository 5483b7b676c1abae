/**
 * Searches recorded traffic for many planted values at once: every needle is indexed by
 * its first 8 bytes and the haystack is scanned once, so tens of thousands of needles over
 * tens of megabytes of ciphertext take seconds, not minutes. Needles shorter than 8 bytes
 * are refused: in random-looking bytes they would match by chance.
 */
export function findNeedles(haystack: Uint8Array, needles: readonly (readonly [string, Uint8Array])[]): string[] {
  const byPrefix = new Map<bigint, (readonly [string, Uint8Array])[]>();
  for (const needle of needles) {
    if (needle[1].length < 8) throw new Error(`needle ${needle[0]} is shorter than 8 bytes`);
    const key = new DataView(needle[1].buffer, needle[1].byteOffset, 8).getBigUint64(0);
    byPrefix.set(key, [...(byPrefix.get(key) ?? []), needle]);
  }
  const view = new DataView(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  const found = new Set<string>();
  for (let i = 0; i + 8 <= haystack.length; i++) {
    const candidates = byPrefix.get(view.getBigUint64(i));
    if (!candidates) continue;
    for (const [name, bytes] of candidates) {
      if (i + bytes.length <= haystack.length && bytes.every((b, k) => haystack[i + k] === b)) found.add(name);
    }
  }
  return [...found];
}
