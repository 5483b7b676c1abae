/**
 * X25519 with a hashed u-coordinate, through native libsodium (sodium-native): the default.
 *
 * H(x) = the first 32 bytes of SHA-512(prefix ‖ id ‖ c), top bit cleared, read as a Montgomery
 * u-coordinate, for the first one-byte counter c that puts u on Curve25519 itself rather than
 * its twist (x25519-common.ts `hashOntoCurve`, 2 tries on average): every honest point lies
 * on the curve, so curve-or-twist says nothing about the input. X25519 clamps the scalar to
 * a multiple of the cofactor, so blinded values live in the prime-order subgroup of the
 * curve (order ≈ 2^252), which resists discrete logs at ~2^125. The ladder works on u alone,
 * so k2·(k1·u) = k1·(k2·u). A twist point from a deviating peer stays on the twist when
 * multiplied (the twist's subgroup of order ≈ 2^253 is as hard: Curve25519 is twist-secure),
 * so it can match only another twist point, never an honest one. Same encoding as
 * `x25519-noble`, byte for byte.
 */
import sodium from 'sodium-native';
import type { GroupBackend, ScalarBytes } from '../group.ts';
import { hashOntoCurve, onTwist, smallOrderResult } from './x25519-common.ts';

const sha512Into = (data: Uint8Array, digest: Uint8Array) => sodium.crypto_hash_sha512(digest, data);

export const x25519Sodium: GroupBackend = {
  name: 'x25519',
  randomScalar(): ScalarBytes {
    const s = Buffer.alloc(32);
    sodium.randombytes_buf(s);
    return new Uint8Array(s);
  },
  hashToGroup(input, out, offset) {
    hashOntoCurve(sha512Into, input, out, offset);
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
