/**
 * How far a scored z may be from the exact z: the bank learns z through the arbiter's
 * two-pass masked reveal against SCORE_BOUND 256, whose second pass rounds to a grid of 2^-9
 * (bound 2^0, masks of 2^40: he/masking.ts), so half a step, plus SEAL's decoding error on
 * values of 2^40, at most 2^-50.4 of the mask (he/masking.ts measured it): 2^-10.4.
 * (A bound of half a step alone failed once in a full run, at 2^-10 + 2.2e-5.)
 */
export const REVEALED_Z_ERROR = 2 ** -10 + 2 ** -10.4;

/** Two answers for one enterprise: each z within REVEALED_Z_ERROR, and σ' <= 1/4. */
export const SAME_ENTERPRISE_PROBABILITY = (2 * REVEALED_Z_ERROR) / 4;
