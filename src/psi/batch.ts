/**
 * The hot loop of ECDH-PSI on one batch: hash every ID into the group and blind it, or
 * re-blind a peer's points. Runs in pool workers (workers/psi.ts) or inline; pure
 * functions over flat buffers so batches cross threads as transferable memory.
 */
import { errors } from '../errors.ts';
import { POINT_BYTES, type GroupBackend, type ScalarBytes } from './group.ts';

/** UTF-8 IDs concatenated, with `offsets[i]..offsets[i+1]` the bytes of ID i. */
export interface IdBatch {
  readonly bytes: Uint8Array;
  readonly offsets: Uint32Array;
}

export function batchSize(batch: IdBatch): number {
  return batch.offsets.length - 1;
}

/** k·H(prefix ‖ id) for every ID of the batch, 32 bytes each, in batch order. */
export function hashAndBlind(backend: GroupBackend, prefix: Uint8Array, batch: IdBatch, scalar: ScalarBytes): Uint8Array {
  const n = batchSize(batch);
  const out = new Uint8Array(n * POINT_BYTES);
  const hashed = new Uint8Array(POINT_BYTES);
  let input = new Uint8Array(prefix.length + 64);
  input.set(prefix, 0);
  for (let i = 0; i < n; i++) {
    const start = batch.offsets[i]!;
    const len = batch.offsets[i + 1]! - start;
    if (prefix.length + len > input.length) {
      const grown = new Uint8Array(prefix.length + len * 2);
      grown.set(prefix, 0);
      input = grown;
    }
    input.set(batch.bytes.subarray(start, start + len), prefix.length);
    backend.hashToGroup(input.subarray(0, prefix.length + len), hashed, 0);
    backend.multiply(hashed, scalar, out, i * POINT_BYTES);
  }
  return out;
}

/** k·P for every 32-byte point of `points`, in order. */
export function reblind(backend: GroupBackend, points: Uint8Array, scalar: ScalarBytes): Uint8Array {
  const out = new Uint8Array(points.length);
  for (let off = 0; off < points.length; off += POINT_BYTES) {
    backend.multiply(points.subarray(off, off + POINT_BYTES), scalar, out, off);
  }
  return out;
}

/**
 * d·P for every 32-byte point P of `points`: an OPRF client's unblinding, one multiply per
 * point (src/lookup/oprf.ts). Every honest evaluation lies where the hashes lie (subgroup 0);
 * one that does not (on X25519, a twist point) is refused as a protocol error rather than
 * unblinded: d inverts the blinding scalar in that subgroup only, so the result would be a
 * meaningless value, and the agency would have shown itself faulty or deviating.
 */
export function unblind(backend: GroupBackend, points: Uint8Array, scalar: ScalarBytes): Uint8Array {
  const out = new Uint8Array(points.length);
  for (let off = 0; off < points.length; off += POINT_BYTES) {
    if (backend.subgroupOf(points, off) !== 0) {
      throw errors.protocol(`evaluated point ${off / POINT_BYTES} lies on the twist of Curve25519, where no honest evaluation lies; the agency is faulty or deviates from the protocol`);
    }
    backend.multiply(points.subarray(off, off + POINT_BYTES), scalar, out, off);
  }
  return out;
}
