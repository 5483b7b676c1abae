/**
 * Coefficient packing: Σ over rows of an encrypted 0/1-or-small-integer vector per column
 * of a 0/1 matrix, at one plaintext product per N (row, column) pairs and no rotation.
 *
 * The slot method (diagonals.ts) spends a product per column per S = N/2 rows, each with a
 * CKKS encode (an FFT and an NTT per prime) and, for a 0/1 plaintext at scale 2^40, a
 * rescale, so it needs three primes. Here the values and the matrix are integers, encoded
 * as polynomial coefficients rather than slots:
 *
 *   Y_k(X) = Σ_{i<n} Δ·y_{kn+i}·X^i                     (chunk k: rows kn … kn+n−1)
 *   P_k(X) = Σ_{c<m} Σ_{i<n} M[kn+i, c]·X^{c·n + n−1−i}  (m = N/n columns per product)
 *
 * The coefficient of X^{c·n + n−1} in Y_k·P_k mod X^N + 1 is Σ_i Δ·y_{kn+i}·M[kn+i, c]
 * exactly: another pair (i', c') lands there only if i' − i = (c − c')·n, impossible for
 * |i' − i| < n, and the negacyclic wrap reaches coefficients below n − 1 only. P_k has
 * integer coefficients, so it needs no scale, no rounding and no rescale: the product
 * happens at the last level, one 60-bit prime, where its NTT and multiply cost a third of
 * the slot method's three-prime ones. Summing over chunks k adds ciphertexts.
 *
 * Masking is modular: the party adds a uniform value mod q to every coefficient, so the
 * key owner decrypts uniformly random values (perfect hiding, where slot masking is
 * statistical) and rounds what it returns to a grid of 2^gridBits, above the products'
 * noise (Li–Micciancio mitigation, as masking.ts). Before the party that computed the sums
 * hands them on, it blinds every coefficient that is not a sum with a fresh uniform value
 * (they hold cross-terms Σ y_{i'}·M[i, c] of other rows) and adds to every sum a uniform
 * flood of at most Δ/16, which hides the decryption noise statistically from the party
 * that reads the sums (2^-(Δ bits − 4 − noise bits): ~2^-22 at 100k rows) and still
 * rounds to the exact integer.
 *
 * Sizes: C = ⌈rows/n⌉ ciphertexts carry the vector and ⌈width/m⌉ carry the sums; the
 * products number ⌈rows/n⌉·⌈width/m⌉ ≈ rows·width/N whatever n is, so n is chosen to send
 * the fewest ciphertexts (`chooseRowsPerChunk`).
 */
import { errors } from '../errors.ts';
import type { CoefficientLayout, ColumnIndex } from './backend.ts';
import { NO_COLUMN } from './backend.ts';

/** Fewest rows per chunk: windows of the vector stay whole within a chunk (and tiny chunks only cost ciphertexts). */
export const MIN_ROWS_PER_CHUNK = 64;

/** Columns one result ciphertext holds. */
export function columnsPerCiphertext(polyModulusDegree: number, rowsPerChunk: number): number {
  return polyModulusDegree / rowsPerChunk;
}

/** The coefficient holding column c's sum (c < columnsPerCiphertext). */
export function sumPosition(column: number, rowsPerChunk: number): number {
  return column * rowsPerChunk + rowsPerChunk - 1;
}

/** The power of two n in MIN_ROWS_PER_CHUNK..N that sends the fewest ciphertexts: ⌈rows/n⌉ + ⌈width·n/N⌉ (ties: the larger n). */
export function chooseRowsPerChunk(rows: number, width: number, polyModulusDegree: number): number {
  let best = polyModulusDegree;
  let bestCost = Infinity;
  for (let n = polyModulusDegree; n >= MIN_ROWS_PER_CHUNK; n /= 2) {
    const cost = Math.ceil(rows / n) + Math.ceil(width / columnsPerCiphertext(polyModulusDegree, n));
    if (cost < bestCost) {
      best = n;
      bestCost = cost;
    }
  }
  return best;
}

export function checkRowsPerChunk(rowsPerChunk: number, polyModulusDegree: number): void {
  if (!Number.isInteger(rowsPerChunk) || rowsPerChunk < MIN_ROWS_PER_CHUNK || rowsPerChunk > polyModulusDegree || (rowsPerChunk & (rowsPerChunk - 1)) !== 0) {
    throw errors.optionInvalid('rowsPerChunk', `must be a power of two in ${MIN_ROWS_PER_CHUNK}..${polyModulusDegree}, got ${String(rowsPerChunk)}`);
  }
}

export function checkLayout(layout: CoefficientLayout, polyModulusDegree: number): void {
  if (!Number.isInteger(layout.rows) || layout.rows < 1) throw errors.optionInvalid('rows', `must be a positive integer, got ${String(layout.rows)}`);
  checkRowsPerChunk(layout.rowsPerChunk, polyModulusDegree);
}

/** Ciphertexts that carry `rows` values, `rowsPerChunk` each. */
export function chunksFor(layout: CoefficientLayout): number {
  return Math.ceil(layout.rows / layout.rowsPerChunk);
}

/** Ciphertexts that carry `width` column sums. */
export function sumCiphertextsFor(width: number, rowsPerChunk: number, polyModulusDegree: number): number {
  return Math.ceil(width / columnsPerCiphertext(polyModulusDegree, rowsPerChunk));
}

/**
 * log2 Δ, the scale of the values: any sum of at most `rows` values ≤ 1 times Δ stays
 * below q/4 (q of `modulusBits` bits), and Δ must be 2^(gridBits + 5) or more so that the
 * grid, the flood and the noise stay below Δ/4. Refuses more rows than that allows.
 */
export function coefficientScaleBits(rows: number, modulusBits: number, gridBits: number): number {
  const bits = modulusBits - 2 - Math.ceil(Math.log2(rows + 1));
  if (bits < gridBits + 5) {
    throw errors.optionInvalid('rows', `${rows} rows are too many for exact sums under a ${modulusBits}-bit modulus (at most ${2 ** (modulusBits - gridBits - 7) - 1})`);
  }
  return bits;
}

/** Checks a column index's shape: rows × fields words, every entry a column below width or NO_COLUMN. */
export function checkColumnIndex(columns: ColumnIndex, rows: number): void {
  if (!(columns.index instanceof Uint16Array)) throw errors.optionInvalid('columns', 'index must be a Uint16Array');
  if (columns.rows !== rows) throw errors.optionInvalid('columns', `indexes ${columns.rows} rows, the vector has ${rows}`);
  if (!Number.isInteger(columns.fields) || columns.fields < 1 || columns.index.length !== columns.rows * columns.fields) {
    throw errors.optionInvalid('columns', `index holds ${columns.index.length} entries, expected rows × fields = ${columns.rows} × ${columns.fields}`);
  }
  if (!Number.isInteger(columns.width) || columns.width < 1 || columns.width >= NO_COLUMN) throw errors.optionInvalid('columns', `width must be in 1..${NO_COLUMN - 1}, got ${columns.width}`);
  for (let i = 0; i < columns.index.length; i++) {
    const c = columns.index[i]!;
    if (c !== NO_COLUMN && c >= columns.width) throw errors.optionInvalid('columns', `entry ${i} names column ${c} of ${columns.width}`);
  }
}

/**
 * Writes into `polys` (groups × N bytes, zeroed by the caller) the 0/1 coefficients of
 * P_k for chunk `chunk` and result ciphertexts [firstGroup, endGroup): for each field,
 * each row of the chunk adds X^{c·n + n−1−i} to the polynomial of its column's group.
 * `touched[g]` is set to 1 for every group that received a coefficient (the others need
 * no product).
 */
export function fillMembership(polys: Uint8Array, touched: Uint8Array, columns: ColumnIndex, layout: CoefficientLayout, polyModulusDegree: number, chunk: number, firstGroup: number, endGroup: number): void {
  const n = layout.rowsPerChunk;
  const m = columnsPerCiphertext(polyModulusDegree, n);
  const first = chunk * n;
  const end = Math.min(first + n, columns.rows);
  const firstColumn = firstGroup * m;
  const endColumn = Math.min(endGroup * m, columns.width);
  const { index, rows } = columns;
  for (let f = 0; f < columns.fields; f++) {
    const base = f * rows;
    for (let row = first; row < end; row++) {
      const c = index[base + row]!;
      if (c < firstColumn || c >= endColumn) continue; // NO_COLUMN is above every column
      const local = c - firstColumn;
      const group = (local / m) | 0;
      polys[group * polyModulusDegree + (local - group * m) * n + n - 1 - (row - first)] = 1;
      touched[group] = 1;
    }
  }
}
