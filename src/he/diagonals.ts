/**
 * The packing of Xᵀd (Halevi–Shoup diagonal method with baby-step/giant-step).
 *
 * One chunk of d holds S = slotCount rows. With P = the next power of two >= F (P divides
 * S), diagonal i (0 <= i < P) is diag_i[t] = X[row (t+i) mod S, column t mod P] (0 for
 * padding rows and columns), and w = Σ_i diag_i ⊙ rot(d, i) gathers every product
 * X[s,j]·d[s] exactly once in a slot t ≡ j (mod P). Folding w with rotations by P, 2P, …,
 * S/2 sums those slots, so every slot t then holds y[t mod P]: slots 0..F-1 hold Xᵀd.
 *
 * Baby-step/giant-step: i = g·b + k, rot(d, i) = rot(rot(d, k), g·b), so
 * Σ_i diag_i ⊙ rot(d, i) = Σ_g rot(Σ_k rot(diag_{gb+k}, −gb) ⊙ rot(d, k), g·b).
 * The diagonals are pre-rotated in plaintext, and the inner sums of all chunks are added
 * before the giant-step rotation (rotation is linear), so a matvec over C chunks costs
 * (b−1)·C + (G−1) + log2(S/P) rotations and C·P multiply_plains.
 */
import { errors } from '../errors.ts';

export interface MatvecPlan {
  readonly slotCount: number;
  readonly features: number;
  /** P: F rounded up to a power of two. */
  readonly width: number;
  readonly baby: number;
  readonly giant: number;
}

export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function planMatvec(F: number, slotCount: number): MatvecPlan {
  if (!Number.isInteger(F) || F < 1 || F > slotCount) {
    throw errors.optionInvalid('F', `the feature count must be an integer in 1..${slotCount}, got ${String(F)}`);
  }
  const width = nextPowerOfTwo(F);
  // b = 2^floor(log2(P)/2): with many chunks the (b−1)·C baby rotations dominate, so the
  // smaller of the two balanced choices.
  const baby = 2 ** Math.floor(Math.log2(width) / 2);
  return { slotCount, features: F, width, baby, giant: width / baby };
}

/**
 * Every rotation step Xᵀd needs for F features at this slot count (F = 1 covers
 * `sumSlots`). The arbiter creates Galois keys for exactly the union of these steps.
 */
export function rotationSteps(F: number, slotCount: number): number[] {
  const plan = planMatvec(F, slotCount);
  const steps = new Set<number>();
  for (let k = 1; k < plan.baby; k++) steps.add(k);
  for (let g = 1; g < plan.giant; g++) steps.add(g * plan.baby);
  for (let step = plan.width; step < slotCount; step *= 2) steps.add(step);
  return [...steps].sort((a, b) => a - b);
}

/** The largest exponent m of KeepDiagonals: kept diagonals are encoded at scale 2^(scaleBits − m). */
export const MAX_KEEP_EXPONENT = 16;
/**
 * The integer K = round(2^m·|c|/α) by which a gradient product on kept diagonals multiplies
 * [[d]] is at least this: the rounding changes the step by at most 1/(2K) = 2^-13 of itself.
 */
export const MIN_KEPT_MULTIPLIER = 2 ** 12;

/**
 * The one step a forward product that keeps its diagonals needs beyond `rotationSteps`
 * (ckks.ts `#forwardKeeping`): −b, or none when b = 1.
 */
export function keptForwardSteps(F: number, slotCount: number): number[] {
  const { baby } = planMatvec(F, slotCount);
  return baby > 1 ? [-baby] : [];
}

/** The fold steps P, 2P, …, S/2 that sum the P-periodic partial products. */
export function foldSteps(plan: MatvecPlan): number[] {
  const steps: number[] = [];
  for (let step = plan.width; step < plan.slotCount; step *= 2) steps.push(step);
  return steps;
}

/**
 * Fills `out` with diagonal g·b + k of `chunk`, pre-rotated by −g·b:
 * out[t] = X[chunk·S + (t + k) mod S, (t − g·b) mod P]. Returns false if it is all zero
 * (SEAL refuses a product with a zero plaintext, and it is wasted work anyway).
 */
export function fillDiagonal(
  out: Float64Array,
  plan: MatvecPlan,
  X: Float64Array,
  rows: number,
  chunk: number,
  g: number,
  k: number,
): boolean {
  const S = plan.slotCount;
  const F = plan.features;
  const firstRow = chunk * S;
  const rowsInChunk = Math.min(S, rows - firstRow);
  const shift = g * plan.baby;
  const widthMask = plan.width - 1;
  const slotMask = S - 1;
  let nonZero = false;
  for (let t = 0; t < S; t++) {
    const row = (t + k) & slotMask;
    const column = (t - shift) & widthMask;
    const value = row < rowsInChunk && column < F ? X[(firstRow + row) * F + column] : 0;
    out[t] = value;
    if (value !== 0) nonZero = true;
  }
  return nonZero;
}

/**
 * The forward product X·w (w replicated with period P) uses the diagonals of the other
 * orientation: diag'_k[t] = X[t, (t+k) mod P], and u = Σ_k diag'_k ⊙ rot(w, k) puts row t's
 * score in slot t. With k = g·b + j the same baby/giant split applies; this fills diag'_{gb+j}
 * pre-rotated by −g·b: out[t] = X[chunk·S + (t − g·b) mod S, (t + j) mod P]. Returns false
 * if it is all zero.
 */
export function fillForwardDiagonal(
  out: Float64Array,
  plan: MatvecPlan,
  X: Float64Array,
  rows: number,
  chunk: number,
  g: number,
  j: number,
): boolean {
  const S = plan.slotCount;
  const F = plan.features;
  const firstRow = chunk * S;
  const rowsInChunk = Math.min(S, rows - firstRow);
  const shift = g * plan.baby;
  const widthMask = plan.width - 1;
  const slotMask = S - 1;
  let nonZero = false;
  for (let t = 0; t < S; t++) {
    const row = (t - shift) & slotMask;
    const column = (t + j) & widthMask;
    const value = row < rowsInChunk && column < F ? X[(firstRow + row) * F + column] : 0;
    out[t] = value;
    if (value !== 0) nonZero = true;
  }
  return nonZero;
}

/** Checks the shapes of a matvec's inputs at the boundary. */
export function checkMatvecShape(chunks: number, X: Float64Array, rows: number, F: number, slotCount: number): void {
  if (!(X instanceof Float64Array)) throw errors.optionInvalid('X', 'must be a Float64Array');
  if (!Number.isInteger(rows) || rows < 1) throw errors.optionInvalid('rows', `must be a positive integer, got ${String(rows)}`);
  planMatvec(F, slotCount);
  if (X.length !== rows * F) throw errors.optionInvalid('X', `holds ${X.length} values, expected rows × F = ${rows * F}`);
  const expected = Math.ceil(rows / slotCount);
  if (chunks !== expected) {
    throw errors.optionInvalid('d', `has ${chunks} ciphertext(s), ${rows} rows need ${expected}`);
  }
}
