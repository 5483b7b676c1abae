/**
 * CKKS parameter sets for the training protocol, and the checks every set must pass.
 *
 * Security: SEAL must accept the set at 128-bit classical security (HomomorphicEncryption.org
 * table), and masks must give at least 40 bits of statistical hiding. The decryption level
 * (the modulus left after `decryptionDepth` rescales) must hold a masked value:
 * |g + r| <= 2^(maskBits + boundBits + 1), times the scale, below Q/2 with a margin for
 * noise. A set failing any check is refused with E_PARAMS_INSECURE naming the field.
 */
import { errors } from '../errors.ts';
import type { HeParams } from './backend.ts';

/**
 * Degree-1 sigmoid (FATE's Taylor σ(z) ≈ 0.5 + z/4): depth 1, the matvec's multiply_plain.
 * The 0.25 factor must be folded into plaintext (feature parties encrypt 0.25·u_k), because
 * the decryption level [60,40] is the only one wide enough for 40-bit masks.
 */
export const DEGREE1_PARAMS: HeParams = Object.freeze({
  scheme: 'ckks',
  polyModulusDegree: 8192,
  coeffModBits: Object.freeze([60, 40, 40, 60]),
  scaleBits: 40,
  maskBits: 40,
  decryptionDepth: 1,
  maxBoundBits: 12,
});

/**
 * Degree-3 sigmoid: z² and z³ take two levels, the matvec one more; the bottom [60,60]
 * (120 bits) leaves room for 40-bit masks on values up to 2^20.
 */
export const DEGREE3_PARAMS: HeParams = Object.freeze({
  scheme: 'ckks',
  polyModulusDegree: 16384,
  coeffModBits: Object.freeze([60, 60, 40, 40, 40, 60]),
  scaleBits: 40,
  maskBits: 40,
  decryptionDepth: 3,
  maxBoundBits: 20,
});

/**
 * Encrypted-model training (degree-1 sigmoid): per batch the weight product X·[[w]] and the
 * gradient product Xᵀ[[d]] spend one level each, so the weights come back for their masked
 * refresh two levels down. The bottom [45,45] (≈ 90 bits) holds a 40-bit mask over weights
 * up to 2^4 at scale 2^40 (85 + 4 bits); 218 bits in all, SEAL's 128-bit limit at N = 8192.
 * One level up ([45,45,40]) the loss and validation scores reveal with bounds up to 2^8.
 */
export const ENCRYPTED_MODEL_PARAMS: HeParams = Object.freeze({
  scheme: 'ckks',
  polyModulusDegree: 8192,
  coeffModBits: Object.freeze([45, 45, 40, 40, 48]),
  scaleBits: 40,
  maskBits: 40,
  decryptionDepth: 1,
  maxBoundBits: 8,
});

/**
 * Encrypted-model training with the quadratic sigmoid (lr/sigmoid.ts `poly2`): the residual
 * needs [[z]]², one ciphertext multiply between the weight product and the gradient product,
 * so the weights come back three levels down. Three 40-bit levels over a 90-bit bottom do not
 * fit N = 8192 (SEAL's 218 bits); at N = 16384 (438 bits) the bottom [60,60] (≈ 119 bits)
 * holds a 40-bit mask over weights up to 2^20, and [60,60,40] the loss one level up. This is
 * DEGREE3_PARAMS' modulus chain: three levels, used here by a degree-2 polynomial because
 * the weight product spends the first.
 */
export const ENCRYPTED_MODEL_POLY2_PARAMS: HeParams = Object.freeze({ ...DEGREE3_PARAMS });

/** Bits kept free above a masked value at decryption, against noise and encoding growth. */
export const DECRYPTION_MARGIN_BITS = 3;
export const MIN_MASK_BITS = 40;

/** Bits a masked value needs at the decryption level: |g + r|·scale < Q / 2^(1 + margin). */
export function maskedValueBits(maskBits: number, boundBits: number, scaleBits: number): number {
  return maskBits + boundBits + 1 + scaleBits + 1 + DECRYPTION_MARGIN_BITS;
}

/**
 * Checks what can be checked without SEAL: field shapes, mask strength and the width of
 * the decryption level (each prime of b bits is at least 2^(b-1), hence the `- 1`).
 * `ckks.ts` then asks SEAL whether it accepts the set at 128-bit security.
 */
export function checkParams(params: HeParams): void {
  const p = params as Partial<HeParams> | null;
  if (typeof p !== 'object' || p === null) throw errors.paramsInsecure('params', 'not an object');
  if (p.scheme !== 'ckks' && p.scheme !== 'mock') throw errors.paramsInsecure('scheme', `must be "ckks" or "mock", got ${String(p.scheme)}`);
  const n = p.polyModulusDegree;
  if (!Number.isInteger(n) || n! < 4096 || n! > 32768 || (n! & (n! - 1)) !== 0) {
    throw errors.paramsInsecure('polyModulusDegree', `must be a power of two in 4096..32768, got ${String(n)}`);
  }
  const bits = p.coeffModBits;
  if (!Array.isArray(bits) || bits.length < 3 || !bits.every((b) => Number.isInteger(b) && b >= 20 && b <= 60)) {
    throw errors.paramsInsecure('coeffModBits', 'needs at least 3 primes (data, rescale, special) of 20..60 bits');
  }
  if (!Number.isInteger(p.scaleBits) || p.scaleBits! < 20 || p.scaleBits! > 60) {
    throw errors.paramsInsecure('scaleBits', `must be an integer in 20..60, got ${String(p.scaleBits)}`);
  }
  if (!Number.isInteger(p.maskBits) || p.maskBits! < MIN_MASK_BITS) {
    throw errors.paramsInsecure('maskBits', `must be an integer >= ${MIN_MASK_BITS} for statistical hiding, got ${String(p.maskBits)}`);
  }
  const dataPrimes = bits.length - 1;
  if (!Number.isInteger(p.decryptionDepth) || p.decryptionDepth! < 1 || p.decryptionDepth! >= dataPrimes) {
    throw errors.paramsInsecure('decryptionDepth', `must be 1..${dataPrimes - 1} for ${dataPrimes} data primes, got ${String(p.decryptionDepth)}`);
  }
  if (!Number.isInteger(p.maxBoundBits) || p.maxBoundBits! < 0) {
    throw errors.paramsInsecure('maxBoundBits', `must be a non-negative integer, got ${String(p.maxBoundBits)}`);
  }
  const remaining = bits.slice(0, dataPrimes - p.decryptionDepth!);
  const available = remaining.reduce((a, b) => a + b, 0) - 1;
  const needed = maskedValueBits(p.maskBits!, p.maxBoundBits!, p.scaleBits!);
  if (available < needed) {
    throw errors.paramsInsecure(
      'coeffModBits',
      `the decryption level [${remaining.join(',')}] has ~${available} bits; masked values of 2^${p.maskBits! + p.maxBoundBits!} at scale 2^${p.scaleBits} need ${needed}`,
    );
  }
}
