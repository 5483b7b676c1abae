/**
 * Ridge least squares over sparse linear equations Σ_i a_i x_i = b, the solver both
 * recovery attacks use (DESIGN.md "Attacks": stack the equations, solve, read the signs).
 */
export interface Equation {
  /** Unknowns (indices into x) and their coefficients. */
  readonly unknowns: Uint32Array;
  readonly coefficients: Float64Array;
  readonly value: number;
}

/** argmin ‖A x − b‖² + ridge·‖x‖² by the normal equations and a Cholesky solve. */
export function ridgeSolve(equations: readonly Equation[], unknowns: number, ridge: number): Float64Array {
  const m = unknowns;
  const normal = new Float64Array(m * m);
  const rhs = new Float64Array(m);
  for (const { unknowns: idx, coefficients: a, value } of equations) {
    for (let p = 0; p < idx.length; p++) {
      rhs[idx[p]!]! += a[p]! * value;
      for (let q = 0; q < idx.length; q++) normal[idx[p]! * m + idx[q]!]! += a[p]! * a[q]!;
    }
  }
  for (let i = 0; i < m; i++) normal[i * m + i]! += ridge;
  // Cholesky: normal = L Lᵀ, in place (lower triangle).
  for (let j = 0; j < m; j++) {
    let d = normal[j * m + j]!;
    for (let k = 0; k < j; k++) d -= normal[j * m + k]! ** 2;
    const root = Math.sqrt(d);
    normal[j * m + j] = root;
    for (let i = j + 1; i < m; i++) {
      let s = normal[i * m + j]!;
      for (let k = 0; k < j; k++) s -= normal[i * m + k]! * normal[j * m + k]!;
      normal[i * m + j] = s / root;
    }
  }
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = rhs[i]!;
    for (let k = 0; k < i; k++) s -= normal[i * m + k]! * z[k]!;
    z[i] = s / normal[i * m + i]!;
  }
  const x = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < m; k++) s -= normal[k * m + i]! * x[k]!;
    x[i] = s / normal[i * m + i]!;
  }
  return x;
}

/** Pearson correlation; 0 when either side is constant (an estimate that carries nothing). */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}
