import { errors } from '../../errors.ts';

/** Writes the first 32 bytes of a 64-byte digest as a u-coordinate (top bit cleared, as RFC 7748 reads it). */
export function hashedU(digest: Uint8Array, out: Uint8Array, offset: number): void {
  out.set(digest.subarray(0, 32), offset);
  out[offset + 31]! &= 0x7f;
}

export function smallOrderResult(): Error {
  return errors.protocol('a received point has small order (all-zero shared value); the peer is faulty or malicious');
}
