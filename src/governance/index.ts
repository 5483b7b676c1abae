export { checkJob, loadPolicy, parsePolicy, FIELD_CLASSES, POLICY_RULES } from './policy.ts';
export type { DataHolderPolicy, FieldClass, JobAdmission, JobDecision, JobRequest, PartnerRule, PolicyRefusal, PolicyRule, PurposeRule } from './policy.ts';
export {
  CONSENT_REASONS,
  encodeConsentToken,
  filterByConsent,
  issueConsent,
  loadConsentTokens,
  loadRevocationList,
  parseConsentTokens,
  revokeConsent,
  verifyConsent,
} from './consent.ts';
export type { ConsentContext, ConsentFilter, ConsentGrant, ConsentReason, ConsentToken, ConsentVerdict, ExclusionReason } from './consent.ts';
export { PartnerBudgets, type BudgetCharge } from './budget.ts';
export { AUDIT_FORMAT, AuditLog, anchorsFileOf, hashId, headFileOf, loadAuditAnchors, readAuditEntries, storeAuditAnchor, verifyAuditLog } from './audit.ts';
export type { AuditAnchor, AuditDetails, AuditEntry, AuditEventType, AuditHead, AuditLogOptions, AuditVerdict, KnownAuditEventType } from './audit.ts';
export { generateKeyPair, keyIdOf, keyPairFromSecret, loadPublicKey, loadSecretKey, publicKeyFromHex, saveKeyPair, sign, verify } from './keys.ts';
export type { PartyKeyPair, PublicKeyBytes, PublicKeyRecord, SecretKeyBytes, SignatureBytes } from './keys.ts';
export { canonicalJson, type JsonValue } from './canonical.ts';
