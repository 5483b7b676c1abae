/**
 * X25519 with a hashed u-coordinate, through native libsodium (sodium-native): the default.
 *
 * H(x) = the first 32 bytes of SHA-512(prefix ‖ id), top bit cleared, read as a Montgomery
 * u-coordinate. Such a u lies on Curve25519 or on its quadratic twist; X25519 clamps the
 * scalar to a multiple of the cofactor, so blinded values live in the prime-order subgroup
 * of the curve (order ≈ 2^252) or of the twist (order ≈ 2^253), both of which resist
 * discrete logs at ~2^125 (Curve25519 is twist-secure by design). The ladder works on u
 * alone, so k2·(k1·u) = k1·(k2·u) on either. Same encoding as `x25519-noble`, byte for byte.
 */
import sodium from 'sodium-native';
import type { GroupBackend, ScalarBytes } from '../group.ts';
import { hashedU, onTwist, smallOrderResult } from './x25519-common.ts';

const hashScratch = Buffer.alloc(64);

export const x25519Sodium: GroupBackend = {
  name: 'x25519',
  randomScalar(): ScalarBytes {
    const s = Buffer.alloc(32);
    sodium.randombytes_buf(s);
    return new Uint8Array(s);
  },
  hashToGroup(input, out, offset) {
    sodium.crypto_hash_sha512(hashScratch, input);
    hashedU(hashScratch, out, offset);
  },
  multiply(point, scalar, out, offset) {
    const target = out.subarray(offset, offset + 32);
    try {
      sodium.crypto_scalarmult(target, scalar, point);
    } catch {
      throw smallOrderResult();
    }
  },
  subgroupOf: onTwist,
};
