/**
 * The homomorphic-encryption backend that the training protocol is written against.
 *
 * Two implementations: `ckks` (node-seal 7, CKKS, the real one) and `mock` (plaintext
 * Float64 vectors dressed as "ciphertexts", for fast protocol tests only: it hides nothing).
 * Every value that crosses a party boundary is bytes (`CiphertextBytes`, `MaskedPlainBytes`,
 * `PublicKeyBundle`); SEAL objects never leave this folder.
 *
 * Roles:
 * - (Arbiter) owns the secret key: `createKeyOwner`, `decryptMasked`.
 * - (Label, Features) evaluate on ciphertexts with the public bundle: `HeEvaluator`.
 *
 * Masked decryption: a party that wants the plaintext of a ciphertext it holds adds a
 * fresh uniform real mask r, |r| <= 2^maskBits * 2^boundBits, to every slot, sends the
 * masked ciphertext to the arbiter, who decrypts, decodes, rounds to a grid coarser than
 * the CKKS noise (Li–Micciancio mitigation) and returns the first `count` rounded values;
 * the party subtracts r. See masking.ts for the grid and what it costs in precision.
 */

/** A serialised ciphertext holding up to `slotCount` real values. */
export type CiphertextBytes = Uint8Array;
/** Rounded, still-masked decrypted values returned by the arbiter: Float64 little-endian. */
export type MaskedPlainBytes = Uint8Array;

export interface HeParams {
  readonly scheme: 'ckks' | 'mock';
  readonly polyModulusDegree: number;
  /** Bit sizes of the coefficient-modulus primes, special prime last. */
  readonly coeffModBits: readonly number[];
  readonly scaleBits: number;
  /** Statistical hiding of masks, in bits (>= 40). */
  readonly maskBits: number;
  /** Rescales a ciphertext may go through before its masked decryption. */
  readonly decryptionDepth: number;
  /** log2 of the largest |value| a party may ask to decrypt (its `valueBound`). */
  readonly maxBoundBits: number;
}

/** What the arbiter hands every party: parameters and public, relinearisation and Galois keys. */
export interface PublicKeyBundle {
  readonly params: HeParams;
  /** The rotations the Galois keys allow; only those can be evaluated. */
  readonly rotationSteps: readonly number[];
  readonly publicKey: Uint8Array;
  readonly relinKeys: Uint8Array;
  readonly galoisKeys: Uint8Array;
}

/** A party's secret record of the mask it added, kept until the arbiter answers. */
export interface MaskSecret {
  /** The masks of the first `count` slots (the only ones the arbiter returns). */
  readonly mask: Float64Array;
  readonly count: number;
  readonly boundBits: number;
}

/** What a party sends the arbiter for a masked decryption, and what it keeps. */
export interface MaskedRequest {
  readonly masked: CiphertextBytes;
  readonly count: number;
  /** log2 of the value bound; fixes the mask range and the arbiter's rounding grid. */
  readonly boundBits: number;
  readonly secret: MaskSecret;
}

/**
 * Coefficient packing (coefficients.ts): a vector of small integers encrypted as the
 * coefficients of one polynomial per `rowsPerChunk` rows, and Σ over rows per column of a
 * 0/1 matrix given by each row's column indices (binning's per-bin label sums).
 */
export interface CoefficientLayout {
  /** Rows of the encrypted vector (it fixes the scale: coefficients.ts `coefficientScaleBits`). */
  readonly rows: number;
  /** Rows per ciphertext: a power of two; each result ciphertext holds N / rowsPerChunk columns. */
  readonly rowsPerChunk: number;
}

/**
 * Which column each row adds to in each field: `index[f·rows + i]` is the column (0 ..
 * width − 1) row i adds to for field f, or NO_COLUMN. A 0/1 matrix with at most one 1 per
 * row and field, kept as indices (rows × fields 16-bit words, not rows × width floats).
 */
export interface ColumnIndex {
  readonly rows: number;
  readonly fields: number;
  readonly width: number;
  readonly index: Uint16Array;
}

/** No column: the row adds nothing for that field. */
export const NO_COLUMN = 0xffff;

/** A party's secret for a coefficient reveal: its masks at the revealed coefficients. */
export interface CoefficientSecret {
  readonly layout: CoefficientLayout;
  readonly count: number;
  /** The mask of each revealed coefficient, in the backend's own form. */
  readonly mask: readonly bigint[] | Float64Array;
}

export interface CoefficientRequest {
  readonly masked: CiphertextBytes;
  readonly count: number;
  readonly secret: CoefficientSecret;
}

/** (Arbiter) Holder of the secret key. */
export interface HeKeyOwner {
  readonly params: HeParams;
  readonly slotCount: number;
  /** The public, relinearisation and Galois keys for every party (seeded, zstd). */
  publicBundle(): PublicKeyBundle;
  /**
   * Decrypts a masked ciphertext and returns its first `count` slots rounded to the grid
   * fixed by `boundBits`. Rejects a request whose values exceed the bound it declares.
   */
  decryptMasked(masked: CiphertextBytes, count: number, boundBits: number): MaskedPlainBytes;
  /**
   * Refresh without revealing: decrypts a masked ciphertext, rounds its first `period` slots
   * to the grid of `boundBits` (same bound check), and returns a FRESH encryption, at the top
   * level, of those values replicated over every slot. No plaintext leaves the key owner.
   */
  refreshMasked(masked: CiphertextBytes, period: number, boundBits: number): CiphertextBytes;
  /**
   * Decrypts a coefficient-packed ciphertext masked uniformly over every coefficient and
   * returns the first `count` column sums of its layout (coefficient c·rowsPerChunk +
   * rowsPerChunk − 1), still masked, rounded to the backend's grid (coefficients.ts): 8
   * bytes each. Refuses a layout that is not a power of two or a count past its columns.
   */
  decryptCoefficients(masked: CiphertextBytes, rowsPerChunk: number, count: number): MaskedPlainBytes;
  /**
   * The secret key, serialised: only for the arbiter to keep a job's key when its model's
   * weights stay encrypted (`keepEncrypted`; src/lr/kept-key.ts), so that it can decrypt
   * that model's scores later. It never goes on a channel.
   */
  exportSecretKey(): Uint8Array;
  dispose(): void;
}

/** (Label, Features) Computes on ciphertexts with the public bundle only. */
export interface HeEvaluator {
  readonly params: HeParams;
  readonly slotCount: number;
  /** Encrypts `values` in chunks of `slotCount`, the last one zero-padded. */
  encrypt(values: Float64Array): CiphertextBytes[];
  add(a: readonly CiphertextBytes[], b: readonly CiphertextBytes[]): CiphertextBytes[];
  /** Adds plaintext `values` (laid out like `encrypt`'s input; missing values count as 0). */
  addPlain(chunks: readonly CiphertextBytes[], values: Float64Array): CiphertextBytes[];
  /** Multiplies every slot by `scalar`; spends one level. */
  multiplyScalar(chunks: readonly CiphertextBytes[], scalar: number): CiphertextBytes[];
  /** c0 + c1 z + c2 z^2 + c3 z^3 slot-wise; spends one level for degree 1, two otherwise. */
  polyEval(chunks: readonly CiphertextBytes[], coeffs: readonly number[]): CiphertextBytes[];
  /**
   * Xᵀd: `X` is rows × F row-major, `d` encrypts `rows` values in chunks. Returns one
   * ciphertext whose slots 0..F-1 hold Σ_i X[i,j]·d[i]; spends one level.
   */
  matvecTransposed(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, kept?: KeptDiagonals): CiphertextBytes;
  /** Slot-wise product with plaintext `values` (laid out like `encrypt`'s input); spends one level. */
  multiplyPlain(chunks: readonly CiphertextBytes[], values: Float64Array): CiphertextBytes[];
  /** Slot-wise z² (relinearised and rescaled); spends one level. */
  square(chunks: readonly CiphertextBytes[]): CiphertextBytes[];
  /**
   * Σ of every slot of every chunk, in every slot, by rotations only: spends no level, so
   * the caller must know unused slots hold zero (as `encrypt` pads them). Needs the
   * power-of-two rotations of `rotationSteps(1, slotCount)`.
   */
  sumAllSlots(chunks: readonly CiphertextBytes[]): CiphertextBytes;
  /** Σ of the first `count` values of the chunked vector, in slot 0; spends one level. */
  sumSlots(chunks: readonly CiphertextBytes[], count: number): CiphertextBytes;
  /**
   * X·w for a `w` replicated with period P (slot t holds w[t mod P], P = F rounded up to a
   * power of two): one ciphertext per `slotCount` rows, row i of the chunk in slot i, zero
   * past the last row. Rectangular diagonal product with baby-step/giant-step rotations
   * (the steps of `rotationSteps(F)`); spends one level.
   */
  matvecReplicated(w: CiphertextBytes, X: Float64Array, rows: number, F: number, keep?: KeepDiagonals): CiphertextBytes[];
  /**
   * Masks `ct` for a refresh: a fresh uniform mask of `period` values, |r| <= 2^maskBits
   * times the bound, replicated over every slot; the secret keeps those `period` values.
   */
  maskReplicated(ct: CiphertextBytes, period: number, valueBound: number): MaskedRequest;
  /** Masks every slot of `ct` for the arbiter; |value| <= valueBound is assumed for hiding. */
  maskForDecryption(ct: CiphertextBytes, count: number, valueBound: number): MaskedRequest;
  /** The arbiter's reply minus the mask: the values, within the rounding error of masking.ts. */
  unmask(reply: MaskedPlainBytes, secret: MaskSecret): Float64Array;
  /**
   * (Coefficient packing) Encrypts 0/1 `values`, `rowsPerChunk` per ciphertext as polynomial
   * coefficients scaled by Δ (fixed by the row count), at the last level.
   */
  encryptCoefficients(values: Float64Array, rowsPerChunk: number): CiphertextBytes[];
  /**
   * Σ_i d[i] per column of `columns` (coefficients.ts): one ciphertext per N / rowsPerChunk
   * columns, column c at coefficient (c mod that)·rowsPerChunk + rowsPerChunk − 1. Every
   * other coefficient is blinded with a fresh uniform value and every sum flooded with
   * noise far below one unit, so decrypting the whole result shows nothing but the sums.
   */
  columnSums(d: readonly CiphertextBytes[], rowsPerChunk: number, columns: ColumnIndex): CiphertextBytes[];
  /** Masks every coefficient of a `columnSums` result uniformly for the arbiter; the secret keeps the first `count` sums' masks. */
  maskCoefficients(ct: CiphertextBytes, layout: CoefficientLayout, count: number): CoefficientRequest;
  /** The arbiter's reply minus the masks: the `count` sums as numbers within 1/8 of integers. */
  unmaskCoefficients(reply: MaskedPlainBytes, secret: CoefficientSecret): Float64Array;
  dispose(): void;
}

/** One implementation of the layer; the test suite runs once per backend. */
export interface HeBackend {
  readonly name: 'ckks' | 'mock';
  /**
   * A key owner with a fresh key pair, or with `secretKey` (from `exportSecretKey`, same
   * params) and fresh public, relinearisation and Galois keys made from it.
   */
  createKeyOwner(params: HeParams, rotationSteps: readonly number[], secretKey?: Uint8Array): Promise<HeKeyOwner>;
  createEvaluator(bundle: PublicKeyBundle): Promise<HeEvaluator>;
}

/**
 * Asks `matvecReplicated` to keep the plaintext diagonals it encodes for one batch, so that
 * the batch's gradient product Xᵀ[[d]] reuses them instead of encoding the same rows again
 * (encoding is the larger part of either product). A backend may ignore it; the mock does.
 * The diagonals are encoded at scale 2^(scaleBits − exponent) and [[w]] is multiplied by
 * the integer 2^exponent first, so the forward product comes out exactly as without keeping.
 */
export interface KeepDiagonals {
  /** Names the kept diagonals; unique per product (a party's batch). */
  readonly handle: string;
  readonly exponent: number;
}

/**
 * Asks `matvecTransposed` to use the diagonals kept under `handle` (X scaled by `alpha`) as
 * X scaled by `factor`; when they are not there (never kept, or dropped) it encodes `X`.
 */
export interface KeptDiagonals {
  readonly handle: string;
  readonly exponent: number;
  readonly alpha: number;
  readonly factor: number;
}
