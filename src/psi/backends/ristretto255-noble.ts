/**
 * ristretto255 through @noble/curves: the portable reference backend.
 *
 * A prime-order group (no cofactor) with RFC 9380 hash-to-group (two Elligator maps,
 * indistinguishable from a random oracle), so the textbook DH-PSI argument applies as is:
 * under DDH with H a random oracle, blinded values reveal nothing beyond equality. Pure
 * JavaScript and ~40× slower than native X25519: meant for small jobs, audits and
 * cross-checks, not for 10M-row matching.
 */
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { errors } from '../../errors.ts';
import type { GroupBackend } from '../group.ts';

const DST = 'jinqiao/psi/v1/ristretto255_XMD:SHA-512_R255MAP_RO_';
const ORDER = ristretto255.Point.Fn.ORDER;

function scalarFromBytes(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

export const ristretto255Noble: GroupBackend = {
  name: 'ristretto255-noble',
  randomScalar() {
    // 64 random bytes reduced mod the group order: bias below 2^-250; zero is excluded.
    for (;;) {
      const s = scalarFromBytes(randomBytes(64)) % ORDER;
      if (s !== 0n) {
        const out = new Uint8Array(32);
        let v = s;
        for (let i = 0; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn);
        return out;
      }
    }
  },
  hashToGroup(input, out, offset) {
    out.set(ristretto255_hasher.hashToCurve(input, { DST }).toBytes(), offset);
  },
  multiply(point, scalar, out, offset) {
    let p;
    try {
      p = ristretto255.Point.fromBytes(point);
    } catch {
      throw errors.protocol('a received value is not a valid ristretto255 encoding');
    }
    if (p.equals(ristretto255.Point.ZERO)) throw errors.protocol('a received point is the identity');
    out.set(p.multiply(scalarFromBytes(scalar)).toBytes(), offset);
  },
  subgroupOf: () => 0,
};
