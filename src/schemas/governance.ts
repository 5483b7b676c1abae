/**
 * The governance files, as TypeBox schemas: a data holder's policy, consent tokens and the
 * revocation list, signing key files, and the `governance:` section of a job file or party
 * config. Loaders check a file against its schema first (schemas/check.ts words the first
 * problem); what a schema cannot say (a field a purpose uses is classified, a key id
 * matches its key, a file exists) stays in the loader, after the schema check.
 *
 * Machine-written files (key files, revocation entries) accept fields they do not know, so
 * that a later version may add one; files people write, and signed tokens, do not.
 */
import { Type, type Static } from 'typebox';

/** A field, purpose or institution name in policies and consent tokens: no spaces, no commas. */
export const NAME_PATTERN = '^[^\\s,]+$';
/** A purpose: lower-case words joined by hyphens. */
export const PURPOSE_NAME_PATTERN = '^[a-z][a-z0-9-]*$';
/** A key id: hex of the first 16 bytes of SHA-256 of the public key. */
export const KEY_ID_PATTERN_SOURCE = '^[0-9a-f]{32}$';
/** An Ed25519 public or secret key, hex. */
export const HEX64_PATTERN = '^[0-9a-f]{64}$';
export const TOKEN_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';

export const FIELD_CLASSES = ['public', 'internal', 'sensitive', 'restricted'] as const;

const Name = Type.String({ pattern: NAME_PATTERN, errorMessage: 'must be a name without spaces or commas' });
const NameList = (description: string, atLeastOne: boolean) =>
  Type.Array(Name, {
    uniqueItems: true,
    ...(atLeastOne ? { minItems: 1 } : {}),
    description,
    errorMessage: { type: `must be a list of${atLeastOne ? ' at least one' : ''} name${atLeastOne ? '' : 's'}`, minItems: 'must list at least one name' },
  });
const KeyId = (description?: string) => Type.String({ pattern: KEY_ID_PATTERN_SOURCE, errorMessage: 'a key id is 32 lower-case hex digits', ...(description ? { description } : {}) });
const Hex64 = (options: { description?: string; writeOnly?: boolean } = {}) => Type.String({ pattern: HEX64_PATTERN, errorMessage: 'must be 64 lower-case hex digits', ...options });
const TokenId = Type.String({ pattern: TOKEN_ID_PATTERN, errorMessage: 'must be 1 to 128 letters, digits and . _ : -' });

// ---- Policy -------------------------------------------------------------------------------

const PurposeSchema = Type.Object(
  {
    fields: NameList('Fields this purpose may use: each classified under fields, none restricted', true),
    consentRequired: Type.Optional(Type.Boolean({ default: true, description: "Rows may be used only for enterprises whose consent token covers the job" })),
    approvalRequired: Type.Optional(Type.Boolean({ default: false, description: 'An operator must approve each job before it runs' })),
    disclosePartialScores: Type.Optional(Type.Boolean({ default: false, description: 'The bank may see the score of an enterprise only this holder knows (its partial score)' })),
    banded: Type.Optional(
      Type.Record(Type.String(), Type.Number({ exclusiveMinimum: 0, maximum: 10, errorMessage: 'a relative band width is a number in (0, 10], e.g. 0.25 for bands of ×1.25' }), {
        description: 'Exposed fields that interface calls answer only as a band, with its relative width',
        errorMessage: 'must map exposed fields to a relative band width, e.g. vat_paid_wan: 0.25',
      }),
    ),
  },
  { additionalProperties: false, errorMessage: { type: 'must be a mapping with fields, consentRequired, approvalRequired, disclosePartialScores' } },
);

const PolicyPartnerSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ pattern: NAME_PATTERN, description: "An explicit id, bound to the partner's publicKey or publicKeyFile", errorMessage: 'must be a non-empty name without spaces or commas' })),
    keyId: Type.Optional(KeyId("The id of the partner's Ed25519 key")),
    publicKey: Type.Optional(Type.String({ pattern: HEX64_PATTERN, description: "The partner's Ed25519 public key, hex", errorMessage: 'an Ed25519 public key is 64 lower-case hex digits' })),
    publicKeyFile: Type.Optional(Type.String({ minLength: 1, description: 'Or its .pub file, relative to the policy', errorMessage: 'must be a path to a .pub file' })),
    purposes: NameList('Purposes (declared under purposes) this partner may use', true),
    sensitiveFields: Type.Optional(NameList('Sensitive fields this partner has an explicit grant for', false)),
    evaluationsPerDay: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Interface calls and verification: the answers this partner may get per UTC day, across all its sessions and calls (OPRF evaluations in verify and blind mode, enterprises asked in identified mode); absent: only the per-call limit',
        errorMessage: 'must be a whole number of evaluations, at least 1 (leave it out for no daily budget)',
      }),
    ),
  },
  { additionalProperties: false, errorMessage: { type: 'must be a mapping with keyId (or id and publicKey), purposes, sensitiveFields, evaluationsPerDay' } },
);

/** A data holder's policy file (governance/policy.ts). */
export const PolicySchema = Type.Object(
  {
    party: Type.String({ minLength: 1, description: 'The data holder, as it names itself in audit logs', errorMessage: 'must name the data holder (a non-empty string)' }),
    fields: Type.Record(Type.String(), Type.Enum(FIELD_CLASSES, { type: 'string', errorMessage: `class must be one of ${FIELD_CLASSES.join(', ')}` }), {
      minProperties: 1,
      propertyNames: { pattern: NAME_PATTERN, errorMessage: 'a field name has no spaces or commas' },
      description: 'Every field the holder could expose, with its class',
      errorMessage: 'must map each field name to its class',
    }),
    purposes: Type.Record(Type.String(), PurposeSchema, {
      minProperties: 1,
      propertyNames: { pattern: PURPOSE_NAME_PATTERN, errorMessage: 'a purpose is lower-case words joined by hyphens, e.g. credit-modeling' },
      description: 'The purposes the holder accepts, each with the fields it may use',
      errorMessage: 'must declare at least one accepted purpose',
    }),
    partners: Type.Array(PolicyPartnerSchema, { minItems: 1, description: 'The institutions the holder works with', errorMessage: 'must list at least one partner institution' }),
  },
  {
    additionalProperties: false,
    title: 'Data holder policy',
    description: "A data holder's policy: the fields it could expose, the purposes it accepts, the partners it works with (README, Governance)",
    errorMessage: { type: 'the policy must be a mapping with party, fields, purposes and partners' },
  },
);
export type PolicyFile = Static<typeof PolicySchema>;

// ---- Consent ------------------------------------------------------------------------------

export const CONSENT_TOKEN_TYPE = 'jinqiao.consent';
export const CONSENT_TOKEN_VERSION = 1;

/** A consent token, one line of a token file (governance/consent.ts). */
export const ConsentTokenSchema = Type.Object(
  {
    type: Type.Literal(CONSENT_TOKEN_TYPE),
    version: Type.Literal(CONSENT_TOKEN_VERSION),
    tokenId: TokenId,
    issuer: KeyId("Key id of the issuer's Ed25519 key"),
    enterprise: Type.String({ description: "The enterprise's unified social credit code, normalised", errorMessage: 'must be a unified social credit code' }),
    partners: NameList('Institutions authorised, by the ids data holders know them by (explicit id or key id)', true),
    purposes: NameList('Purposes authorised', true),
    fields: NameList('Fields granted', true),
    notBefore: Type.String({ description: 'ISO 8601 UTC, as toISOString() writes it', errorMessage: 'must be an ISO 8601 UTC time as toISOString() writes it' }),
    notAfter: Type.String({ description: 'ISO 8601 UTC, as toISOString() writes it; the token has expired from then', errorMessage: 'must be an ISO 8601 UTC time as toISOString() writes it' }),
    signature: Type.String({ pattern: '^[0-9a-f]{128}$', description: 'Ed25519 signature, hex', errorMessage: 'must be 128 lower-case hex digits' }),
  },
  { additionalProperties: false, errorMessage: { type: 'a consent token is a JSON object' } },
);

/** One line of a revocation list. */
export const RevocationSchema = Type.Object({ tokenId: TokenId, revokedAt: Type.String() }, { errorMessage: { type: 'must be a JSON object' } });

// ---- Key files ----------------------------------------------------------------------------

export const PUBLIC_KEY_TYPE = 'jinqiao.ed25519.public';
export const SECRET_KEY_TYPE = 'jinqiao.ed25519.secret';
export const DECOY_KEY_TYPE = 'jinqiao.scoring-decoy-key';

/** `<name>.pub`, written by `jinqiao keys generate`. */
export const PublicKeyFileSchema = Type.Object({ type: Type.Literal(PUBLIC_KEY_TYPE), keyId: KeyId(), publicKey: Hex64() }, { errorMessage: { type: 'not a JSON key file' } });
/** `<name>.key` (mode 0600), written by `jinqiao keys generate`. */
export const SecretKeyFileSchema = Type.Object({ type: Type.Literal(SECRET_KEY_TYPE), keyId: KeyId(), publicKey: Hex64(), secretKey: Hex64({ writeOnly: true }) }, { errorMessage: { type: 'not a JSON key file' } });
/** The bank's scoring-decoys.secret. */
export const DecoyKeyFileSchema = Type.Object({ type: Type.Literal(DECOY_KEY_TYPE), key: Hex64({ writeOnly: true }) });

// ---- A party's governance settings ----------------------------------------------------------

const Path = (description: string) => Type.String({ minLength: 1, description });

const governanceProperties = {
  institution: Type.String({ minLength: 1, description: 'The institution this party is, as policies and consent tokens name it' }),
  policy: Type.Optional(Path('Its data holder policy (YAML or JSON), relative to this file')),
  consent: Type.Optional(Path('Consent tokens (JSON Lines, from jinqiao consent issue)')),
  trust: Type.Optional(Type.Union([Path('A consent issuer key (.pub)'), Type.Array(Path('A consent issuer key (.pub)'))], { description: 'The public keys (.pub) of the consent issuers it trusts', errorMessage: 'must be a .pub file or a list of them' })),
  revoked: Type.Optional(Path('Revoked consent tokens (JSON Lines, from jinqiao consent revoke); it must exist')),
  audit: Type.Optional(Path('Its audit log (JSON Lines), signed with key')),
  key: Type.Optional(Path("The party's secret key (.key, mode 0600), which signs its audit log")),
};
const governanceOptions = {
  additionalProperties: false as const,
  dependentRequired: { audit: ['key'] },
  errorMessage: { type: 'must be a mapping', dependentRequired: "an audit log needs the party's key to sign its entries" },
};

/** One party's `governance:` in a job file (by party name): it may carry an operator's approval. */
export const JobPartyGovernanceSchema = Type.Object(
  { ...governanceProperties, approved: Type.Optional(Type.Boolean({ description: "The party's operator approves the job (for a purpose whose policy requires approval)" })) },
  { ...governanceOptions, description: "A party's admission gate: policy, consent, audit (README, Governance)" },
);
export type JobPartyGovernanceFile = Static<typeof JobPartyGovernanceSchema>;

/** A party service's `governance:`: its operator approves each job on its own, so there is no `approved`. */
export const ServiceGovernanceSchema = Type.Object(governanceProperties, { ...governanceOptions, description: "The service's admission gate: policy, consent, audit (README, Governance)" });
export type ServiceGovernanceFile = Static<typeof ServiceGovernanceSchema>;
