/**
 * The group a PSI runs in, as a small interface so that the protocol and its tests run
 * once per backend (`describe.each(backends)`).
 *
 * A backend maps a domain-separated input into the group (`hashToGroup`) and raises group
 * elements to a secret scalar (`multiply`). Both must commute: k2·(k1·H(x)) = k1·(k2·H(x)).
 * Elements on the wire are 32 bytes (`PointBytes`); scalars never leave the party.
 */

/** A 32-byte encoded group element. */
export type PointBytes = Uint8Array;
/** A 32-byte secret scalar, fresh per job and party. */
export type ScalarBytes = Uint8Array;

export const POINT_BYTES = 32;

export type BackendName = 'x25519' | 'x25519-noble' | 'ristretto255-noble';

export interface GroupBackend {
  readonly name: BackendName;
  randomScalar(): ScalarBytes;
  /** Writes H(input) into out[offset..offset+32). */
  hashToGroup(input: Uint8Array, out: Uint8Array, offset: number): void;
  /**
   * Writes scalar·point into out[offset..offset+32). Throws on an encoding that is not a
   * group element, or on a result of small order (a malicious or corrupted point).
   */
  multiply(point: Uint8Array, scalar: ScalarBytes, out: Uint8Array, offset: number): void;
  /**
   * Which prime-order subgroup the point at point[offset..offset+32) lies in: 0 where every
   * honest hash and its multiples lie (always 0 in a prime-order group); on X25519, 1 on the
   * twist of Curve25519, which only a faulty or deviating peer sends (`hashToGroup` maps onto
   * the curve only). An OPRF client refuses evaluations that are not 0 (batch.ts `unblind`).
   */
  subgroupOf(point: Uint8Array, offset: number): number;
}

const encoder = new TextEncoder();

/**
 * The per-job prefix of every hash input: protocol tag, then the length-prefixed job id, so
 * that the same enterprise hashes to unrelated points in two jobs (values cannot be linked).
 */
export function jobHashPrefix(jobId: string): Uint8Array {
  const tag = encoder.encode('jinqiao/psi/v1');
  const job = encoder.encode(jobId);
  const out = new Uint8Array(tag.length + 4 + job.length);
  out.set(tag, 0);
  new DataView(out.buffer).setUint32(tag.length, job.length);
  out.set(job, tag.length + 4);
  return out;
}
