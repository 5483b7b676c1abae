/**
 * X25519 with a hashed u-coordinate in pure JavaScript (@noble/curves): the same encoding
 * and results as the native `x25519` backend, for machines without sodium-native and to
 * cross-check it byte for byte. About 20× slower.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import type { GroupBackend } from '../group.ts';
import { hashOntoCurve, onTwist, smallOrderResult } from './x25519-common.ts';

const sha512Into = (data: Uint8Array, digest: Uint8Array) => digest.set(sha512(data));

export const x25519Noble: GroupBackend = {
  name: 'x25519-noble',
  randomScalar: () => randomBytes(32),
  hashToGroup(input, out, offset) {
    hashOntoCurve(sha512Into, input, out, offset);
  },
  multiply(point, scalar, out, offset) {
    let shared: Uint8Array;
    try {
      shared = x25519.scalarMult(scalar, point);
    } catch {
      throw smallOrderResult();
    }
    out.set(shared, offset);
  },
  subgroupOf: onTwist,
};
