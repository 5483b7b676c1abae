export { blindingScalars, labelKeyOf, tagOf, TAG_BYTES, type BlindingScalars, type TagBytes } from './oprf.ts';
export { ephemeralOprfKey, loadOprfKey, loadOrCreateOprfKey, oprfKeyFile, type OprfKey } from './oprf-key.ts';
export { TagSet, sortTags } from './tag-set.ts';
export { readTagFile, writeTagFile, TAG_FILE_VERSION, type TagFileHeader } from './tag-file.ts';
export { prepareTags, type LabelSource, type PreparedTags } from './prepare.ts';
export { answerTagQueries, oprfHashPrefix, queryTags, type AgencyOnlineConfig, type BankOnlineConfig, type BankOnlineResult, type OnlineMatch } from './online.ts';
export { inputBatches } from './inputs.ts';
export { encodeLabel, openLabel, sealLabel, sealedLabelBytes } from './label.ts';
export { prepareRegister, runUnbalancedPsi, PSI_DOMAIN, type PrepareRegisterOptions, type PrepareRegisterResult, type UnbalancedPsiOptions, type UnbalancedPsiResult } from './unbalanced-psi.ts';
export { bandOf, claimKeys, GRIDS, registerKeys, verificationInput, type FieldCheck } from './bands.ts';
export { parseFieldCheck, runVerification, VERIFY_DOMAIN, type ClaimVerdict, type VerifyOptions, type VerifyResult } from './verify.ts';
export {
  answerLookup,
  answerLookupRequest,
  consented,
  exposedValue,
  fieldExposures,
  prepareLabeledSet,
  requestLookup,
  runLookup,
  type AgencyGovernance,
  type FieldExposure,
  type LabeledSet,
  type LookupOptions,
  type LookupRegister,
  type LookupRequest,
  type LookupResult,
  type LookupRow,
} from './lookup.ts';
