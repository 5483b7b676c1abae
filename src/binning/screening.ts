/**
 * (Label, locally) Feature screening after binning: features under an IV threshold, and
 * pairwise Pearson correlation and the variance inflation factor among the bank's own
 * features, computed in the clear on the aligned rows (missing values imputed with the
 * feature's mean).
 *
 * Correlation across parties is not computed. Under HE it would be the same product as
 * binning (an agency's standardised columns times the bank's encrypted standardised
 * columns), and the bank would learn Σ_i x_ik·z_ij for each of its features k and each
 * agency feature j: the coefficients of regressing z_j on the bank's features, hence for
 * every aligned enterprise the fitted value ẑ_ij = Σ_k β_jk·x_ik, a per-row estimate of
 * the agency's value (as good as the multiple correlation). That is a per-enterprise
 * disclosure no agency policy here allows, so it is left out.
 */
import { selectRows, type FeatureTable } from '../data/table.ts';

export interface BankScreening {
  readonly features: readonly string[];
  /** Pearson correlation, features × features. */
  readonly correlation: readonly (readonly number[])[];
  /**
   * VIF_j = 1 / (1 − R²_j) = (R⁻¹)_jj. When R is singular (some features linearly dependent,
   * or a constant column) R⁻¹ does not exist and every entry is null, not only those of the
   * dependent features.
   */
  readonly vif: readonly (number | null)[];
}

export function screenBankFeatures(table: FeatureTable, rows: Uint32Array, features: readonly string[]): BankScreening {
  const width = table.featureNames.length;
  const values = selectRows(table, rows);
  const n = rows.length;
  const columns = features.map((name) => {
    const j = table.featureNames.indexOf(name);
    const column = new Float64Array(n);
    let sum = 0;
    let present = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i * width + j]!;
      if (!Number.isNaN(v)) {
        sum += v;
        present++;
      }
    }
    const mean = present > 0 ? sum / present : 0;
    let squares = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i * width + j]!;
      column[i] = (Number.isNaN(v) ? mean : v) - mean;
      squares += column[i]! * column[i]!;
    }
    const norm = Math.sqrt(squares);
    for (let i = 0; i < n; i++) column[i] = norm > 0 ? column[i]! / norm : 0;
    return column;
  });
  const correlation = columns.map((a) =>
    columns.map((b) => {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += a[i]! * b[i]!;
      return Math.max(-1, Math.min(1, dot));
    }),
  );
  return { features: [...features], correlation, vif: inverseDiagonal(correlation) };
}

/** The diagonal of R⁻¹ by Gauss–Jordan with partial pivoting; null for every feature when R is singular. */
function inverseDiagonal(matrix: readonly (readonly number[])[]): (number | null)[] {
  const k = matrix.length;
  const a = matrix.map((row, i) => [...row, ...Array.from({ length: k }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < k; col++) {
    let pivot = col;
    for (let r = col + 1; r < k; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    if (Math.abs(a[pivot]![col]!) < 1e-10) return new Array(k).fill(null);
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const p = a[col]![col]!;
    for (let c = 0; c < 2 * k; c++) a[col]![c]! /= p;
    for (let r = 0; r < k; r++) {
      if (r === col) continue;
      const factor = a[r]![col]!;
      if (factor !== 0) for (let c = 0; c < 2 * k; c++) a[r]![c]! -= factor * a[col]![c]!;
    }
  }
  return a.map((row, i) => row[k + i]!);
}
