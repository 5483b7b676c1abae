export { isValidUscc, usccProblem, usccCheckCharacter, looksLikeUscc, USCC_ALPHABET } from './uscc.ts';
export { normaliseId, detectIdType, type IdType, type IdTypeOption, type NormalisedId } from './normalise.ts';
