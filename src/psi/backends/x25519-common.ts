import { errors } from '../../errors.ts';

/** Writes the first 32 bytes of a 64-byte digest as a u-coordinate (top bit cleared, as RFC 7748 reads it). */
export function hashedU(digest: Uint8Array, out: Uint8Array, offset: number): void {
  out.set(digest.subarray(0, 32), offset);
  out[offset + 31]! &= 0x7f;
}

export function smallOrderResult(): Error {
  return errors.protocol('a received point has small order (all-zero shared value); the peer is faulty or malicious');
}

const P = 2n ** 255n - 19n;
const A = 486662n;
const U64 = 2n ** 64n;

/**
 * 1 when `point` (a u-coordinate as RFC 7748 reads it, top bit ignored) lies on the quadratic
 * twist of Curve25519, 0 when on the curve itself: whether u³ + A·u² + u is a square mod p.
 *
 * An OPRF client unblinds with the inverse of its blinding scalar in that subgroup
 * (src/lookup/oprf.ts). Euler's criterion (a 255-bit power) costs ~10 multiplies in
 * JavaScript; the Jacobi symbol by quadratic reciprocity, a Euclid-like loop, costs about half
 * of one X25519 multiply (~15 µs against ~30 µs on this machine), which is what makes one
 * unblind per input cheaper than two. Not constant-time: it runs on the client's own points,
 * and which subgroup a hashed input lies in is no secret (the peer sees it in every value).
 * A zero (u = 0 or a point of order 2) reads as the curve: multiplying it fails anyway.
 */
export function onTwist(point: Uint8Array, offset: number): 0 | 1 {
  const view = new DataView(point.buffer, point.byteOffset + offset, 32);
  let u = 0n;
  for (let i = 3; i >= 0; i--) u = u * U64 + view.getBigUint64(i * 8, true);
  u = BigInt.asUintN(255, u) % P;
  const v2 = (u * ((u * u + A * u + 1n) % P)) % P;
  return jacobi(v2, P) === -1 ? 1 : 0;
}

/** Past this both values fit a double exactly, and the loop goes on in Number arithmetic. */
const NUMBER_LIMIT = 2n ** 53n;

/**
 * The Jacobi symbol (a/n) for odd n > 0 and a ≥ 0: 1, -1, or 0 when they share a factor.
 * Each BigInt step costs one division and at most one shift: n mod 8 and a's low bits are
 * carried as numbers (the low 32 bits of a, read once, give its trailing zeros and, after the
 * shift, a mod 8, which is n mod 8 once they swap). The last ~50 bits run in doubles.
 */
export function jacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  let t: -1 | 1 = 1;
  a %= n;
  let n8 = Number(BigInt.asUintN(3, n));
  while (n > NUMBER_LIMIT) {
    if (a === 0n) return 0;
    let low = Number(BigInt.asUintN(32, a));
    if (low === 0) {
      // 32 factors 2: an even count, (2/n)^32 = 1.
      a >>= 32n;
      continue;
    }
    // Take out the factors 2: (2/n) = -1 exactly when n ≡ 3 or 5 (mod 8).
    const zeros = 31 - Math.clz32(low & -low);
    if (zeros > 0) {
      a >>= BigInt(zeros);
      if ((zeros & 1) === 1 && (n8 === 3 || n8 === 5)) t = t === 1 ? -1 : 1;
      low = zeros > 29 ? Number(BigInt.asUintN(32, a)) : low >>> zeros;
    }
    // Reciprocity: swapping odd a and n flips the sign when both are 3 (mod 4).
    if ((low & 3) === 3 && (n8 & 3) === 3) t = t === 1 ? -1 : 1;
    [a, n] = [n % a, a];
    n8 = low & 7;
  }
  // The same steps on doubles: every value is below 2^53, so %, / 2 and the residues are exact.
  let x = Number(a);
  let y = Number(n);
  while (x !== 0) {
    while (x % 2 === 0) {
      x /= 2;
      const r = y % 8;
      if (r === 3 || r === 5) t = t === 1 ? -1 : 1;
    }
    if (x % 4 === 3 && y % 4 === 3) t = t === 1 ? -1 : 1;
    [x, y] = [y % x, x];
  }
  return y === 1 ? t : 0;
}
