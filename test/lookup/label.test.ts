import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeLabel, openLabel, sealLabel, sealedLabelBytes } from '../../src/lookup/label.ts';

describe('sealed labels', () => {
  const key = randomBytes(32);
  const short = encodeLabel(['12', null]);
  const long = encodeLabel(['1234567.25', 'C39']);
  const width = Math.max(short.length, long.length);

  it('open to the fields sealed, under the key only', () => {
    expect(openLabel(key, sealLabel(key, long, width), 2)).toEqual(['1234567.25', 'C39']);
    // Authentic, but not the number of fields the call asked for: not a label of this call.
    expect(openLabel(key, sealLabel(key, long, width), 3)).toBeUndefined();
    expect(openLabel(randomBytes(32), sealLabel(key, long, width), 2)).toBeUndefined();
  });

  it('all have one length, whatever the values', () => {
    expect(sealLabel(key, short, width).length).toBe(sealedLabelBytes(width));
    expect(sealLabel(key, long, width).length).toBe(sealedLabelBytes(width));
  });

  it('do not open once a byte is changed', () => {
    const sealed = sealLabel(key, long, width);
    for (const at of [0, 14, sealed.length - 1]) {
      const altered = Uint8Array.from(sealed);
      altered[at]! ^= 1;
      expect(openLabel(key, altered, 2)).toBeUndefined();
    }
  });
});
