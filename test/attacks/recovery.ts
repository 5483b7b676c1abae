/**
 * The two recovery attacks of DESIGN.md "Attacks", as programs over one party's view.
 *
 * A view is what the party holds: its own standardised rows, the batch schedule (public,
 * from the shared seed) and, per batch, whatever per-row-free numbers it saw in the clear:
 * its own partial scores and its revealed gradient under the leaky protocol; under the
 * encrypted model, nothing during training (`batchesFromTranscript` finds what there is).
 */
import type { TranscriptEntry } from '../../src/transport/transcript.ts';
import { ridgeSolve, type Equation } from './least-squares.ts';

export interface ViewBatch {
  readonly epoch: number;
  readonly rows: Uint32Array;
  /** The party's own X_p[B]·w_p, when it knows it (leaky: yes; encrypted model: no). */
  readonly ownScores: Float64Array | null;
  readonly gradient: Float64Array;
}

export interface PartyView {
  /** Standardised rows in the aligned order, `width` columns. */
  readonly X: Float64Array;
  readonly width: number;
  readonly trainRows: Uint32Array;
  readonly batches: readonly ViewBatch[];
}

const SLOPE = 0.25;
const RIDGE = 1e-3;

/**
 * (Agency) Label recovery: with d_i = ½ + (u_i + v_i)/4 − y_i, each batch and feature j
 * gives Σ_{i∈B} X_ij c_i = |B|·g_j − Σ_{i∈B} X_ij u_i/4 in c_i = ½ − y_i + v_i/4; solve by
 * ridge least squares and guess y_i = 1 where c_i < 0. Returns a guess per train row, or
 * null when the view holds no equation.
 */
export function recoverLabels(view: PartyView): Uint8Array | null {
  const unknown = indexOf(view.trainRows);
  const equations = view.batches.flatMap((b) =>
    Array.from({ length: view.width }, (_, j): Equation => {
      let value = b.rows.length * b.gradient[j]!;
      const coefficients = Float64Array.from(b.rows, (r, i) => {
        const x = view.X[r * view.width + j]!;
        value -= (x * (b.ownScores?.[i] ?? 0)) * SLOPE;
        return x;
      });
      return { unknowns: Uint32Array.from(b.rows, (r) => unknown.get(r)!), coefficients, value };
    }),
  );
  if (equations.length === 0) return null;
  const c = ridgeSolve(equations, view.trainRows.length, RIDGE);
  return Uint8Array.from(c, (v) => (v < 0 ? 1 : 0));
}

/**
 * (Bank) Partial-score recovery: the bank knows y, its own u_L and X_L, so its gradient gives
 * Σ_{i∈B} X_ij e_i = |B|·g_j − Σ_{i∈B} X_ij (½ + u_L,i/4 − y_i) in e_i = V_i/4, V the agencies'
 * summed partial score; solved over the second half of the epochs (V drifts less there).
 * Returns V per train row, or null when the view holds no equation.
 */
export function recoverAgencyScores(view: PartyView, labels: Uint8Array): Float64Array | null {
  const unknown = indexOf(view.trainRows);
  const lastEpoch = Math.max(-1, ...view.batches.map((b) => b.epoch));
  const late = view.batches.filter((b) => b.epoch >= Math.ceil(lastEpoch / 2));
  const equations = late.flatMap((b) =>
    Array.from({ length: view.width }, (_, j): Equation => {
      let value = b.rows.length * b.gradient[j]!;
      const coefficients = Float64Array.from(b.rows, (r, i) => {
        const x = view.X[r * view.width + j]!;
        value -= x * (0.5 + SLOPE * (b.ownScores?.[i] ?? 0) - labels[r]!);
        return x;
      });
      return { unknowns: Uint32Array.from(b.rows, (r) => unknown.get(r)!), coefficients, value };
    }),
  );
  if (equations.length === 0) return null;
  return ridgeSolve(equations, view.trainRows.length, RIDGE).map((e) => e / SLOPE);
}

function indexOf(rows: Uint32Array): Map<number, number> {
  return new Map(Array.from(rows, (r, i) => [r, i]));
}

/** Non-integer numbers anywhere in a transcript entry's fields. */
export function clearNumbers(entry: TranscriptEntry): number[] {
  const out: number[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) out.push(v);
    } else if (Array.isArray(v)) v.forEach(walk);
  };
  Object.values(entry.fields).forEach(walk);
  return out;
}

/**
 * The training batches of a party's transcript that carry at least `width` clear numbers
 * (a gradient's worth), cut at each batch's opening message (`train.residual` for an
 * agency, `train.forward` for the bank); a batch's first `width` such numbers stand for
 * its gradient.
 */
export function batchesFromTranscript(entries: readonly TranscriptEntry[], opening: string, width: number): { epoch: number; batch: number; numbers: number[] }[] {
  const batches: { epoch: number; batch: number; numbers: number[] }[] = [];
  let current: { epoch: number; batch: number; numbers: number[] } | undefined;
  for (const entry of entries) {
    if (entry.type === opening) {
      const epoch = entry.fields.epoch as number;
      const batch = entry.fields.batch as number;
      if (!current || current.epoch !== epoch || current.batch !== batch) batches.push((current = { epoch, batch, numbers: [] }));
      continue;
    }
    if (entry.type === 'train.epochEnd' || entry.type === 'eval.forward') current = undefined;
    current?.numbers.push(...clearNumbers(entry));
  }
  return batches.filter((b) => b.numbers.length >= width);
}
