export type {
  CiphertextBytes,
  HeBackend,
  HeEvaluator,
  HeKeyOwner,
  HeParams,
  MaskedPlainBytes,
  MaskedRequest,
  MaskSecret,
  PublicKeyBundle,
} from './backend.ts';
export { DEGREE1_PARAMS, DEGREE3_PARAMS, checkParams } from './params.ts';
export { rotationSteps } from './diagonals.ts';
export { gridFor } from './masking.ts';
export { ckksBackend, createCkksEvaluator, type CkksEvaluatorOptions } from './ckks.ts';
export { createCkksKeyOwner } from './key-owner.ts';
export { mockBackend, createMockEvaluator, createMockKeyOwner } from './mock.ts';
export { createParallelEvaluator, type ParallelEvaluator, type ParallelEvaluatorOptions } from './pool.ts';
