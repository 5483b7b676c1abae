import { describe, expect, it } from 'vitest';
import { blindingScalars, TAG_BYTES, tagOf } from '../../src/lookup/oprf.ts';
import { sortTags, TagSet } from '../../src/lookup/tag-set.ts';
import { BACKEND_NAMES, loadBackend } from '../../src/psi/backends/index.ts';

const encoder = new TextEncoder();

describe.each(BACKEND_NAMES)('OPRF on %s', (backend) => {
  it("gives the bank exactly k·H(x) after the agency's single multiply, for inputs on the curve and on the twist", async () => {
    const group = await loadBackend(backend);
    const k = group.randomScalar();
    const blinding = await blindingScalars(backend);
    for (let i = 0; i < 24; i++) {
      const h = new Uint8Array(32);
      group.hashToGroup(encoder.encode(`enterprise-${i}`), h, 0);
      const direct = new Uint8Array(32);
      group.multiply(h, k, direct, 0);
      const blinded = new Uint8Array(32);
      group.multiply(h, blinding.blind, blinded, 0);
      const evaluated = new Uint8Array(32);
      group.multiply(blinded, k, evaluated, 0);
      const unblinded = blinding.unblind.map((d) => {
        const out = new Uint8Array(32);
        group.multiply(evaluated, d, out, 0);
        return Buffer.from(out);
      });
      // Exactly one candidate is the evaluation; the other (X25519's other subgroup) is unrelated.
      expect(unblinded.filter((u) => u.equals(Buffer.from(direct)))).toHaveLength(1);
      expect(Buffer.from(blinded).equals(Buffer.from(direct))).toBe(false);
    }
  });
});

describe('tag set', () => {
  it('sorts tags, drops repeats keeping the first, and finds every tag and nothing else', () => {
    const n = 5000;
    const tags = new Uint8Array(n * TAG_BYTES);
    for (let i = 0; i < n; i++) tagOf(encoder.encode(`point-${i % 4000}`.padEnd(32, '.')), tags, i * TAG_BYTES);
    const { sorted, origin } = sortTags(tags);
    expect(origin.length).toBe(4000);
    expect([...origin].every((o) => o < 4000)).toBe(true);
    for (let i = 1; i < origin.length; i++) expect(Buffer.compare(Buffer.from(sorted.subarray((i - 1) * TAG_BYTES, i * TAG_BYTES)), Buffer.from(sorted.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES)))).toBe(-1);
    const set = new TagSet(sorted);
    for (let i = 0; i < 4000; i++) expect(origin[set.indexOf(tags, i * TAG_BYTES)]).toBe(i);
    const absent = new Uint8Array(TAG_BYTES);
    tagOf(encoder.encode('never-published'.padEnd(32, '.')), absent, 0);
    expect(set.indexOf(absent, 0)).toBe(-1);
  });
});
