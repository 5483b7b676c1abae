/**
 * The logistic sigmoid and the polynomial stand-ins the label party evaluates on the encrypted
 * linear score [[z]] (CKKS can add and multiply, not exponentiate), plus the quadratic loss
 * approximation it reports for early stopping.
 *
 * - `taylor1`: σ(z) ≈ 1/2 + z/4, FATE's choice. One plaintext multiply, no ciphertext
 *   multiply; accurate only near 0 (error 0.019 on [-1, 1], 0.119 on [-2, 2]) and outside
 *   [0, 1] for |z| > 2. Adequate while weights start at zero and stay small under L2.
 * - `poly3`: the least-squares cubic of σ on [-8, 8] (uniform weight, continuous norm):
 *   1/2 + 0.150120413273545 z − 0.00159301740722061 z³; the even terms vanish because
 *   σ(z) − 1/2 is odd. Maximum error 0.1143, at z = ±8; the fit trades accuracy near 0 for a
 *   bounded error across the whole interval. It diverges outside it (σ̃ < 0 beyond z ≈ 9.7),
 *   so standardised, clipped features and L2 must keep |z| within 8.
 *
 * - `poly2`: the least-squares quadratic of σ on [-6, 2] (uniform weight, continuous norm):
 *   0.470650367813646 + 0.206043353362011 z + 0.0221778085336047 z². Fitted to the range
 *   linear scores take on credit data with a 15–30% default rate (intercept near logit(0.2)
 *   ≈ −1.4; 99.8% of the Newton fit's training scores lie in [-6, 3] on default_credit and
 *   the SME example). Maximum error 0.0907 on the interval, at z = 2; its minimum (−0.008)
 *   is at z ≈ −4.65 and it rises again below, so it is no sigmoid far outside the interval.
 *   Unlike any degree-1 polynomial (whose slope and offset only rescale the least-squares
 *   direction, so the ranking a converged model gives cannot change), it bends the residual
 *   the way σ does where the rows are. One ciphertext multiply: the encrypted-model
 *   parameters for it have one level more (he/params.ts).
 *
 * Loss: log(1 + e^(−y′z)) ≈ log 2 − ½ y′z + ⅛ z², with y′ = 2y − 1 ∈ {−1, 1}: the
 * second-order Taylor expansion at z = 0 FATE uses, computable from [[z]], [[z²]] and the
 * plaintext labels.
 */
import { errors } from '../errors.ts';

export type SigmoidName = 'exact' | 'taylor1' | 'poly2' | 'poly3';

/** Coefficients [c0, c1, c2, c3] of c0 + c1 z + c2 z² + c3 z³. */
export type CubicCoefficients = readonly [number, number, number, number];

export interface SigmoidApproximation {
  readonly name: Exclude<SigmoidName, 'exact'>;
  readonly coefficients: CubicCoefficients;
  /** The interval on which `maxError` bounds |σ̃(z) − σ(z)|. */
  readonly interval: readonly [number, number];
  readonly maxError: number;
}

export const TAYLOR1: SigmoidApproximation = Object.freeze({
  name: 'taylor1',
  coefficients: Object.freeze([0.5, 0.25, 0, 0]) as CubicCoefficients,
  interval: Object.freeze([-2, 2]) as readonly [number, number],
  maxError: 0.1193,
});

export const POLY2: SigmoidApproximation = Object.freeze({
  name: 'poly2',
  coefficients: Object.freeze([0.470650367813646, 0.206043353362011, 0.0221778085336047, 0]) as CubicCoefficients,
  interval: Object.freeze([-6, 2]) as readonly [number, number],
  maxError: 0.0908,
});

export const POLY3: SigmoidApproximation = Object.freeze({
  name: 'poly3',
  coefficients: Object.freeze([0.5, 0.150120413273545, 0, -0.00159301740722061]) as CubicCoefficients,
  interval: Object.freeze([-8, 8]) as readonly [number, number],
  maxError: 0.1144,
});

/** The weights of FATE's quadratic loss approximation: constant + linear·y′z + quadratic·z². */
export const TAYLOR1_LOSS = Object.freeze({ constant: Math.LN2, linear: -0.5, quadratic: 0.125 });

/** The exact logistic function, without overflow for large |z|. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

export function evaluateCubic(coefficients: CubicCoefficients, z: number): number {
  const [c0, c1, c2, c3] = coefficients;
  return c0 + z * (c1 + z * (c2 + z * c3));
}

/** The sigmoid the named variant computes: exact, or its polynomial approximation. */
export function sigmoidFunction(name: SigmoidName): (z: number) => number {
  switch (name) {
    case 'exact':
      return sigmoid;
    case 'taylor1':
      return (z) => evaluateCubic(TAYLOR1.coefficients, z);
    case 'poly2':
      return (z) => evaluateCubic(POLY2.coefficients, z);
    case 'poly3':
      return (z) => evaluateCubic(POLY3.coefficients, z);
    default:
      throw errors.optionInvalid('sigmoid', `must be "exact", "taylor1", "poly2" or "poly3", got ${JSON.stringify(name)}`);
  }
}

/** The exact logistic loss log(1 + e^z) − y z of one row, stable for large |z|. */
export function logisticLoss(z: number, label: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - label * z;
}

/**
 * (Label) The mean taylor1 loss of rows with linear scores `z` and 0/1 `labels` — the number
 * the arbiter decrypts for early stopping, here in plaintext.
 */
export function taylor1Loss(z: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (z.length !== labels.length) throw errors.valuesInvalid('labels', `holds ${labels.length} values for ${z.length} scores`);
  if (z.length === 0) throw errors.valuesInvalid('z', 'the loss of no rows is undefined');
  let sum = 0;
  for (let i = 0; i < z.length; i++) {
    const signedLabel = 2 * labels[i] - 1;
    sum += TAYLOR1_LOSS.constant + TAYLOR1_LOSS.linear * signedLabel * z[i] + TAYLOR1_LOSS.quadratic * z[i] * z[i];
  }
  return sum / z.length;
}
