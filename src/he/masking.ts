/**
 * Masked decryption: the party adds a fresh uniform real mask to every slot, the arbiter
 * decrypts, rounds and returns the first `count` slots, the party removes the mask.
 *
 * Who learns what: the arbiter sees g + r with r uniform in [-M, M], M = 2^(maskBits +
 * boundBits); for |g| <= 2^boundBits the statistical distance between the views for any
 * two such g is <= |g - g'| / 2M <= 2^-maskBits. All slots are masked, not only the first
 * `count`: a matvec result repeats its values across the whole ciphertext.
 *
 * Known weaknesses:
 * - Statistical, not perfect, hiding: 2^-40 per value at the default maskBits, and only
 *   while the party's `valueBound` really bounds its values.
 * - Li–Micciancio: a CKKS decryption carries the encryption noise, a linear function of
 *   the secret key, so the arbiter never returns raw decodings. It rounds to a grid of
 *   2^(maskBits + boundBits − GRID_BITS_BELOW_MASK). SEAL decodes through doubles: with
 *   |g + r| up to 2^(maskBits+boundBits+1) the decoding error measured at N=8192 is at most
 *   2^-50.4 of M (median 2^-53), and the CKKS noise ~2^-20 absolute; a grid of M·2^-49 is
 *   above both, so the low bits that carry the noise are dropped. A value that falls
 *   within the noise of a grid boundary can still round either way (probability about
 *   noise/grid, ~2^-10 at boundBits 0): rounding mitigates, it does not prove, which is
 *   why the grid has a floor (`MIN_GRID_EXPONENT`) that a party cannot lower by declaring
 *   a tiny bound. Noise flooding would be the provable fix; at 40-bit masks it would need
 *   a far larger decryption modulus than N=8192 allows.
 * - Precision: the grid is 2^-9 of the value bound at maskBits 40, so gradients come back
 *   with an absolute error <= 2^(boundBits − 9); pass the tightest bound you can justify.
 */
import { webcrypto } from 'node:crypto';
import { errors } from '../errors.ts';
import type { HeParams, MaskedPlainBytes, MaskSecret } from './backend.ts';
import { maskedValueBits } from './params.ts';

/** The arbiter's grid sits this many bits below the mask bound (see the file comment). */
export const GRID_BITS_BELOW_MASK = 49;
/** No grid finer than 2^-12: 2^8 above the CKKS noise at scale 2^40. */
export const MIN_GRID_EXPONENT = -12;

/** Smallest boundBits whose grid is not below the floor. */
export function minBoundBits(params: HeParams): number {
  return MIN_GRID_EXPONENT + GRID_BITS_BELOW_MASK - params.maskBits;
}

/** The bound a party declares: ceil(log2 valueBound), raised to the floor. */
export function boundBitsFor(params: HeParams, valueBound: number): number {
  if (!(typeof valueBound === 'number' && Number.isFinite(valueBound) && valueBound > 0)) {
    throw errors.optionInvalid('valueBound', `must be a positive finite number, got ${String(valueBound)}`);
  }
  const boundBits = Math.max(Math.ceil(Math.log2(valueBound)), minBoundBits(params));
  checkBoundBits(params, boundBits);
  return boundBits;
}

export function checkBoundBits(params: HeParams, boundBits: number): void {
  if (!Number.isInteger(boundBits) || boundBits < minBoundBits(params) || boundBits > params.maxBoundBits) {
    throw errors.paramsInsecure(
      'valueBound',
      `log2 bound ${String(boundBits)} is outside ${minBoundBits(params)}..${params.maxBoundBits} allowed by these parameters`,
    );
  }
}

/** Absolute rounding step of the arbiter's reply: unmasked values are within one step. */
export function gridFor(params: HeParams, boundBits: number): number {
  return 2 ** Math.max(params.maskBits + boundBits - GRID_BITS_BELOW_MASK, MIN_GRID_EXPONENT);
}

export function maskBoundFor(params: HeParams, boundBits: number): number {
  return 2 ** (params.maskBits + boundBits);
}

export function checkCount(count: number, slotCount: number): void {
  if (!Number.isInteger(count) || count < 1 || count > slotCount) {
    throw errors.optionInvalid('count', `must be an integer in 1..${slotCount}, got ${String(count)}`);
  }
}

/** `n` values uniform in [-bound, bound], 53 random bits each from the OS CSPRNG. */
export function sampleMask(n: number, bound: number): Float64Array {
  const words = new Uint32Array(2 * n);
  for (let i = 0; i < words.length; i += 16384) webcrypto.getRandomValues(words.subarray(i, i + 16384));
  const mask = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const unit = ((words[2 * i] >>> 11) * 2 ** 32 + words[2 * i + 1]) / 2 ** 53;
    mask[i] = (2 * unit - 1) * bound;
  }
  return mask;
}

/**
 * (Arbiter) Rounds decoded masked values to the grid and encodes the reply, refusing
 * values larger than the declared bound allows (a party lying about its bound to get a
 * finer grid, or a value that overflowed its bound).
 */
export function roundMaskedReply(params: HeParams, decoded: ArrayLike<number>, count: number, boundBits: number): MaskedPlainBytes {
  const rounded = roundMasked(params, decoded, count, boundBits);
  const reply = new Uint8Array(8 * count);
  const view = new DataView(reply.buffer);
  for (let i = 0; i < count; i++) view.setFloat64(8 * i, rounded[i]!, true);
  return reply;
}

/** (Arbiter) The first `count` decoded masked values rounded to the grid, with the same bound check. */
export function roundMasked(params: HeParams, decoded: ArrayLike<number>, count: number, boundBits: number): Float64Array {
  const grid = gridFor(params, boundBits);
  const limit = maskBoundFor(params, boundBits) + 2 ** (boundBits + 1);
  const rounded = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const value = decoded[i];
    if (!(Math.abs(value) <= limit)) {
      throw errors.protocol(`a masked value exceeds the declared bound 2^${boundBits} plus its mask`);
    }
    rounded[i] = Math.round(value / grid) * grid;
  }
  return rounded;
}

/**
 * The replicated layout of a refreshed vector: `values` (a power-of-two `period` of them)
 * repeated over all `slotCount` slots, slot t holding values[t mod period], which is the
 * layout both X·[[w]] and Xᵀ[[d]] use (diagonals.ts).
 */
export function replicate(values: ArrayLike<number>, slotCount: number): Float64Array {
  const period = values.length;
  checkPeriod(period, slotCount);
  const out = new Float64Array(slotCount);
  for (let t = 0; t < slotCount; t++) out[t] = values[t & (period - 1)]!;
  return out;
}

export function checkPeriod(period: number, slotCount: number): void {
  if (!Number.isInteger(period) || period < 1 || period > slotCount || (period & (period - 1)) !== 0) {
    throw errors.optionInvalid('period', `must be a power of two in 1..${slotCount}, got ${String(period)}`);
  }
}

/** (Label, Features) The arbiter's reply minus the mask. */
export function unmaskReply(reply: MaskedPlainBytes, secret: MaskSecret): Float64Array {
  if (!(reply instanceof Uint8Array) || reply.byteLength !== 8 * secret.count) {
    throw errors.messageMalformed(`a masked reply must hold ${secret.count} Float64 values`);
  }
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  const values = new Float64Array(secret.count);
  for (let i = 0; i < secret.count; i++) {
    const masked = view.getFloat64(8 * i, true);
    if (!Number.isFinite(masked)) throw errors.messageMalformed('a masked reply holds a non-finite value');
    values[i] = masked - secret.mask[i];
  }
  return values;
}

/**
 * Refuses (E_PARAMS_INSECURE) a masked decryption at a level too narrow for it: the
 * masked value times the scale must stay below Q/2 with DECRYPTION_MARGIN_BITS to spare,
 * or the decryption wraps around and the reply is garbage.
 */
export function checkDecryptionRoom(params: HeParams, modulusBits: number, scale: number, boundBits: number): void {
  const needed = maskedValueBits(params.maskBits, boundBits, Math.log2(scale));
  if (modulusBits < needed) {
    throw errors.paramsInsecure(
      'valueBound',
      `the ciphertext's level has ${modulusBits.toFixed(1)} modulus bits, a value bound of 2^${boundBits} with ${params.maskBits}-bit masks needs ${needed.toFixed(1)}`,
    );
  }
}
