/**
 * The agency's oblivious PRF, F_k(x) = H2(k·H1(x)), in the blinded (2HashDH) form of
 * RFC 9497 (OPRF mode, §3.3.1), over the PSI group backends (RFC 7748 §5 X25519 by default).
 *
 * What it achieves: the agency, holding k, evaluates F_k over its own register offline and
 * publishes truncated outputs (tags); a bank learns F_k(x) for its own x only, through one
 * online exchange in which the agency sees a uniformly random group element per input.
 *
 *   bank             B = c·H1(x)                       (c fresh per session)
 *   bank → agency    B                                  oprf.blinded
 *   agency → bank    E = k·B                            oprf.evaluated   (one multiply per input)
 *   bank             k·H1(x) = c⁻¹·E, tag = H2(k·H1(x))
 *
 * Who learns what (honest-but-curious, DDH hard in the group, H1 and H2 random oracles):
 * the agency learns how many inputs were evaluated, nothing about which; the bank learns
 * F_k at its own inputs, and from the published tags only which of its inputs the agency
 * holds. Without k, a tag is a pseudo-random string: the tag file alone says nothing about
 * any enterprise, but whoever queries can test any ID it can name, so the agency rate-limits
 * and audits evaluations (one multiply each; nothing else in the exchange does that).
 *
 * Weaknesses: not verifiable (RFC 9497's VOPRF proof is absent), so a malicious agency could
 * evaluate under another key for one session; the bank would then find nothing in common,
 * not wrong data. H1 maps onto the group itself (on X25519 the curve, never its twist:
 * backends/x25519-common.ts `hashOntoCurve`), so a blinded value shows nothing of x, not even
 * a bit. One c per session: repeated inputs in one session show up to the
 * agency as equal blinded values (the bank de-duplicates first).
 *
 * Unblinding on X25519. X25519 clamps every scalar (RFC 7748 §5: a multiple of 8 in
 * [2^254, 2^255)), so c⁻¹ must itself be a clamped scalar inverting c modulo the order ℓ of
 * the curve's prime subgroup, where H1(x) and so every multiple of it, E included, lies. The
 * bank draws c until c⁻¹ mod ℓ has a clamped representative, and unblinds with it: 2
 * multiplies per input on the bank (blind, unblind), 1 on the agency. An E on the twist can
 * only come from an agency that deviates (it cannot be k·B for the bank's B): the bank checks
 * each E by a Jacobi symbol (whether u³ + A·u² + u is a square; about a ninth of a multiply,
 * backends/x25519-common.ts) and refuses the session with a protocol error instead of
 * unblinding a value that would mean nothing.
 */
import { hash } from 'node:crypto';
import type { BackendName, ScalarBytes } from '../psi/group.ts';
import { loadBackend } from '../psi/backends/index.ts';

/** A truncated OPRF output: what the tag file holds per record. */
export type TagBytes = Uint8Array;
/** 96 bits: collisions between 10k queries and a 13.8M register stay below 2^-50. */
export const TAG_BYTES = 12;
/** Key of the AEAD that protects one record's fields in a labeled tag file. */
export const LABEL_KEY_BYTES = 32;

/** Order of the prime subgroup of Curve25519 (RFC 7748 §4.1). */
const CURVE_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;
/** Order of ristretto255 (the same ℓ). */
const RISTRETTO_ORDER = CURVE_ORDER;

const TAG_DOMAIN = Buffer.from('jinqiao/oprf/v1/tag');
const LABEL_DOMAIN = Buffer.from('jinqiao/oprf/v1/label-key');

/** What the bank keeps for one session: the blinding scalar and its inverse. */
export interface BlindingScalars {
  readonly blind: ScalarBytes;
  /** c⁻¹ in the prime-order group H1 maps into (on X25519 the curve's subgroup, as a clamped scalar). */
  readonly unblind: ScalarBytes;
}

/** (Bank) A fresh blinding scalar and its inverses for `backend`. */
export async function blindingScalars(backend: BackendName): Promise<BlindingScalars> {
  const group = await loadBackend(backend);
  if (backend === 'ristretto255-noble') {
    const blind = group.randomScalar();
    return { blind, unblind: leBytes(modInverse(leNumber(blind), RISTRETTO_ORDER)) };
  }
  for (;;) {
    const blind = group.randomScalar();
    const inverse = clampedInverse(leNumber(clamp(blind)), CURVE_ORDER);
    if (inverse !== undefined) return { blind, unblind: leBytes(inverse) };
  }
}

/** H2: the tag of an unblinded evaluation k·H1(x). */
export function tagOf(evaluation: Uint8Array, out: Uint8Array, offset: number): void {
  const digest = hash('sha512', Buffer.concat([TAG_DOMAIN, evaluation]), 'buffer');
  out.set(digest.subarray(0, TAG_BYTES), offset);
}

/** The AEAD key of a record's fields in a labeled tag file: independent of its tag (another domain). */
export function labelKeyOf(evaluation: Uint8Array): Uint8Array {
  return hash('sha512', Buffer.concat([LABEL_DOMAIN, evaluation]), 'buffer').subarray(0, LABEL_KEY_BYTES);
}

/** A clamped scalar d ≡ s⁻¹ (mod order) with d a multiple of 8 in [2^254, 2^255), if there is one. */
function clampedInverse(s: bigint, order: bigint): bigint | undefined {
  // d = 8t with 8t·s ≡ 1, so t ≡ (8s)⁻¹; any t + j·order is as good.
  const t0 = modInverse((8n * s) % order, order);
  for (let t = t0; 8n * t < 2n ** 255n; t += order) if (8n * t >= 2n ** 254n) return 8n * t;
  return undefined;
}

function clamp(scalar: ScalarBytes): Uint8Array {
  const c = Uint8Array.from(scalar);
  c[0]! &= 248;
  c[31]! &= 127;
  c[31]! |= 64;
  return c;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

function leNumber(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function leBytes(n: bigint): ScalarBytes {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}
