import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/transport/codec.ts';
import { message, type Message } from '../../src/protocol/messages.ts';

/** msgpackr hands bytes back as Buffers; compare as plain bytes. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

describe('OPRF and lookup messages', () => {
  it('round-trip through the wire codec', () => {
    const msgs: Message[] = [
      message('oprf.hello', { keyId: '0'.repeat(32), backend: 'x25519', domain: 'lookup:loan-verification' }),
      message('oprf.blinded', { seq: 0, points: new Uint8Array(64).fill(3), last: false }),
      message('oprf.evaluated', { seq: 7, points: new Uint8Array(0), last: true }),
      message('lookup.request', { partner: 'bank-of-example', purpose: 'loan-verification', fields: ['vat_paid_wan'], ids: ['91350100M000100Y43'] }),
      message('lookup.reply', { answered: Uint8Array.of(1, 0), exposed: Uint8Array.of(1), values: ['120', ''] }),
      message('lookup.open', { mode: 'verify', purpose: 'loan-verification', table: 'register', fields: ['vat_paid_wan', 'staff'], tolerances: [0.1, 0], idType: 'uscc', backend: 'x25519' }),
      message('lookup.ready', { keyId: '0'.repeat(32), backend: 'x25519', domain: 'verify', count: 2, labelBytes: 0 }),
      message('lookup.tags', { seq: 0, tags: new Uint8Array(24).fill(9), labels: new Uint8Array(0), last: true }),
      message('lookup.offer', { keyId: '0'.repeat(32), backend: 'x25519', domain: 'psi', idType: 'uscc', count: 2, digest: 'ab'.repeat(32) }),
      message('lookup.want', { tags: false }),
      message('lookup.close', {}),
    ];
    for (const m of msgs) expect(plain(decodeMessage(encodeMessage(m)))).toEqual(plain(m));
  });

  it('reject a reply with a field of the wrong type', () => {
    const bad = { ...message('lookup.reply', { answered: Uint8Array.of(1), exposed: Uint8Array.of(1), values: ['1'] }), values: [1] };
    expect(() => decodeMessage(encodeMessage(bad as unknown as Message))).toThrow(/"values" must be string\[\]/);
  });
});
