/**
 * A data holder's policy, and admission of a job against it.
 *
 * (Data-holder side: a tax bureau, a social insurance fund, ...) Before any record is
 * touched, the holder checks a requested job — which partner, for which purpose, which of
 * its fields — against its own policy file, which it alone controls:
 *
 * - `fields`: every field it could expose, with its class. `restricted` fields are never
 *   usable, whatever else the file says; `sensitive` fields only by partners holding an
 *   explicit grant for them; `internal` and `public` fields by any admitted partner.
 * - `purposes`: the purposes it accepts (`credit-modeling`, `loan-verification`, ...), the
 *   fields each may use, whether enterprise consent is required (default yes), whether an
 *   operator must approve each job before it runs (default no), and whether the bank may
 *   see the score of an enterprise only this holder knows (`disclosePartialScores`,
 *   default no): such a score minus the bank's own part is this holder's partial score, so
 *   without the flag the bank refuses those enterprises rather than score them.
 * - `partners`: the institutions it works with, identified by the id of their Ed25519 key
 *   (hex of the first 16 bytes of SHA-256 of the public key), or by an explicit id bound to
 *   a public key; each with the purposes it may use, its sensitive-field grants and, for
 *   interface calls and verification, an optional daily budget (`evaluationsPerDay`, kept
 *   by budget.ts).
 *
 * `checkJob` admits a job or refuses it naming the rule (a stable id integrators switch on,
 * and a sentence for people). It decides only: the caller records the decision in the
 * audit log, holds an admitted job whose purpose needs approval until an operator approves
 * it, and filters rows by consent when the purpose requires it.
 *
 * Who learns what: the policy stays with the holder. A refused partner learns the rule that
 * refused it, which tells it a little about the policy (e.g. that a field exists and is
 * restricted); that is the price of refusals a partner can act on.
 *
 * Weaknesses: the partner id in a request must come from an authenticated channel (mutual
 * TLS, a signed job request); this module trusts the id it is given. A policy allows
 * field sets field by field, so it cannot forbid combinations of individually allowed
 * fields.
 */
import { dirname, resolve } from 'node:path';
import { parseYaml, pathText, type FieldPath } from '../data/yaml.ts';
import { errors, isJinqiaoError, type JinqiaoError, shownValue } from '../errors.ts';
import { conform } from '../schemas/check.ts';
import { FIELD_CLASSES, PolicySchema, type PolicyFile } from '../schemas/governance.ts';
import { readTextFile } from '../util/durable.ts';
import { loadPublicKey, publicKeyFromHex, type PublicKeyBytes } from './keys.ts';

export { FIELD_CLASSES };
export type FieldClass = (typeof FIELD_CLASSES)[number];

export interface PurposeRule {
  readonly name: string;
  /** Fields this purpose may use, in the order the policy lists them. */
  readonly fields: readonly string[];
  readonly consentRequired: boolean;
  readonly approvalRequired: boolean;
  /** The bank may see scores that reveal this holder's partial score (enterprises it alone holds). */
  readonly disclosePartialScores: boolean;
  /**
   * Exposed fields that interface calls return only as a band, with the band's relative
   * width: `vat_paid_wan: 0.25` answers 120 as [107.4, 134.3) (bands of ×1.25 on a public
   * log grid). Training and scoring use the field as they do any other.
   */
  readonly banded: ReadonlyMap<string, number>;
}

export interface PartnerRule {
  /** The explicit id the policy gives the partner, if any; it always has a key id. */
  readonly id: string | undefined;
  readonly keyId: string;
  /** Known when the policy names the key itself (not only its id). */
  readonly publicKey: PublicKeyBytes | undefined;
  readonly purposes: readonly string[];
  /** Sensitive fields this partner has an explicit grant for. */
  readonly sensitiveFields: readonly string[];
  /**
   * Interface calls and verification: the answers it may get per UTC day across all its
   * sessions (OPRF evaluations in verify and blind mode, enterprises asked in identified
   * mode); undefined: no daily budget, only the per-call limit. Kept by budget.ts.
   */
  readonly evaluationsPerDay: number | undefined;
}

export interface DataHolderPolicy {
  /** The data holder this policy belongs to, as it names itself in audit logs. */
  readonly party: string;
  readonly file: string;
  readonly fields: ReadonlyMap<string, FieldClass>;
  readonly purposes: ReadonlyMap<string, PurposeRule>;
  readonly partners: readonly PartnerRule[];
}

export interface JobRequest {
  /** The requesting institution, authenticated by the channel: its explicit id or key id. */
  readonly partner: string;
  readonly purpose: string;
  readonly fields: readonly string[];
}

/** Every rule that can refuse a job, with what it enforces. */
export const POLICY_RULES = {
  'partner.unknown': 'the partner is not listed in the policy',
  'purpose.undeclared': 'the purpose is not one the data holder accepts',
  'purpose.not-granted': 'the partner may not use this purpose',
  'field.restricted': 'restricted fields are never usable',
  'field.not-exposed': 'the field is not exposed for this purpose',
  'field.sensitive-not-granted': 'a sensitive field needs an explicit grant to this partner',
  'field.banded': 'a banded field is verified only at a tolerance r whose 1 + r is a whole power of its band factor',
  'partner.daily-budget': "the partner's interface calls and verifications today would exceed its evaluationsPerDay",
  'membership.consent-required': "a purpose that needs the enterprises' consent cannot be answered from a tag file prepared over the whole register (unbalanced PSI)",
} as const;
export type PolicyRule = keyof typeof POLICY_RULES;
export type PolicyRefusal = JinqiaoError & { readonly rule: PolicyRule };

export interface JobAdmission {
  readonly admitted: true;
  readonly party: string;
  /** The partner as the policy names it: its explicit id, else its key id. */
  readonly partner: string;
  readonly partnerKeyId: string;
  readonly purpose: string;
  readonly fields: readonly { readonly name: string; readonly class: FieldClass }[];
  /** Rows may be used only for enterprises whose consent covers the job (see consent.ts). */
  readonly consentRequired: boolean;
  /** The job must wait for an operator's explicit approval before it runs. */
  readonly approvalRequired: boolean;
  /** Scores that reveal the holder's partial score (enterprises only it holds) may be given to the partner. */
  readonly disclosePartialScores: boolean;
}

export type JobDecision = JobAdmission | { readonly admitted: false; readonly refusal: PolicyRefusal };

/** The partner and purpose of a request if the policy grants that purpose to that partner, else the refusal. */
function grantedPurpose(policy: DataHolderPolicy, partnerId: string, purposeName: string): { partner: PartnerRule; purpose: PurposeRule } | PolicyRefusal {
  const partner = policy.partners.find((p) => p.id === partnerId || p.keyId === partnerId);
  if (partner === undefined) return errors.policyRefused('partner.unknown', `${policy.party} does not work with partner ${JSON.stringify(partnerId)}`);
  const purpose = policy.purposes.get(purposeName);
  if (purpose === undefined) {
    return errors.policyRefused('purpose.undeclared', `${policy.party} does not accept purpose ${JSON.stringify(purposeName)} (accepted: ${[...policy.purposes.keys()].join(', ')})`);
  }
  if (!partner.purposes.includes(purpose.name)) {
    return errors.policyRefused('purpose.not-granted', `partner ${partner.id ?? partner.keyId} may not use purpose ${purpose.name} (granted: ${partner.purposes.join(', ')})`);
  }
  return { partner, purpose };
}

/**
 * (Data-holder side) Refuses a membership test (unbalanced PSI against a prepared tag file),
 * which reveals whether the holder has a record of each enterprise asked about and no field:
 * the partner must be granted the purpose, and a purpose that needs consent is refused,
 * since the tags were prepared once over the whole register, not per consenting enterprise.
 */
export function checkMembership(policy: DataHolderPolicy, request: { readonly partner: string; readonly purpose: string }): void {
  const granted = grantedPurpose(policy, request.partner, request.purpose);
  if (granted instanceof Error) throw granted;
  if (granted.purpose.consentRequired) {
    throw errors.policyRefused('membership.consent-required', `purpose ${granted.purpose.name} needs the enterprises' consent, and the tag file was prepared over the whole register: ask for membership under a purpose without consentRequired, or use a blind lookup (POST /v1/lookup, blind), whose tags hold consenting enterprises only`);
  }
}

/** (Data-holder side) Admits `request` or names the first rule that refuses it. */
export function checkJob(policy: DataHolderPolicy, request: JobRequest): JobDecision {
  const fields = validRequest(request);
  const refuse = (rule: PolicyRule, why: string): JobDecision => ({ admitted: false, refusal: errors.policyRefused(rule, why) });
  const granted = grantedPurpose(policy, request.partner, request.purpose);
  if (granted instanceof Error) return { admitted: false, refusal: granted };
  const { partner, purpose } = granted;
  const partnerName = partner.id ?? partner.keyId;
  const restricted = fields.filter((f) => policy.fields.get(f) === 'restricted');
  if (restricted.length > 0) return refuse('field.restricted', `${list(restricted)} ${restricted.length === 1 ? 'is' : 'are'} restricted and never usable`);
  const notExposed = fields.filter((f) => !purpose.fields.includes(f));
  if (notExposed.length > 0) {
    return refuse('field.not-exposed', `${list(notExposed)} ${notExposed.length === 1 ? 'is' : 'are'} not exposed for ${purpose.name} (exposed: ${purpose.fields.join(', ')})`);
  }
  const ungranted = fields.filter((f) => policy.fields.get(f) === 'sensitive' && !partner.sensitiveFields.includes(f));
  if (ungranted.length > 0) {
    return refuse('field.sensitive-not-granted', `${list(ungranted)} ${ungranted.length === 1 ? 'is' : 'are'} sensitive and not granted to partner ${partnerName}`);
  }
  return {
    admitted: true,
    party: policy.party,
    partner: partnerName,
    partnerKeyId: partner.keyId,
    purpose: purpose.name,
    fields: fields.map((name) => ({ name, class: policy.fields.get(name)! })),
    consentRequired: purpose.consentRequired,
    approvalRequired: purpose.approvalRequired,
    disclosePartialScores: purpose.disclosePartialScores,
  };
}

function validRequest(request: JobRequest): string[] {
  if (typeof request.partner !== 'string' || request.partner === '') throw errors.optionInvalid('request.partner', 'must be a non-empty string');
  if (typeof request.purpose !== 'string' || request.purpose === '') throw errors.optionInvalid('request.purpose', 'must be a non-empty string');
  if (!Array.isArray(request.fields) || request.fields.length === 0 || !request.fields.every((f) => typeof f === 'string' && f !== '')) {
    throw errors.optionInvalid('request.fields', 'must list at least one field name');
  }
  return [...new Set(request.fields)];
}

function list(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(', ');
}

export async function loadPolicy(file: string): Promise<DataHolderPolicy> {
  return parsePolicy(await readTextFile(file), file);
}

/**
 * Reads a policy from YAML or JSON text. `file` names it in errors and anchors relative
 * `publicKeyFile` paths. The text must match schemas/governance.ts `PolicySchema`; then every
 * inconsistency between its parts is an error, not a warning: a typo in a security policy
 * must not silently widen or narrow what it allows.
 */
export async function parsePolicy(text: string, file: string): Promise<DataHolderPolicy> {
  const source = parseYaml(text, file, (where, why, syntax) => errors.policyInvalid(where, syntax ? '(syntax)' : '(top level)', why));
  const bad: Bad = (path, why) => errors.policyInvalid(source.locate(path), pathText(path), why);
  const root = source.data;
  conform(PolicySchema, root, bad);

  const fields = new Map(Object.entries(root.fields));
  const purposes = new Map<string, PurposeRule>();
  for (const [name, spec] of Object.entries(root.purposes)) {
    const at = ['purposes', name];
    spec.fields.forEach((f, i) => {
      const cls = fields.get(f);
      if (cls === undefined) throw bad([...at, 'fields', i], `field ${shownValue(f)} is not classified under fields`);
      if (cls === 'restricted') throw bad([...at, 'fields', i], `field ${shownValue(f)} is restricted and can never be exposed`);
    });
    const banded = new Map(Object.entries(spec.banded ?? {}));
    for (const field of banded.keys()) if (!spec.fields.includes(field)) throw bad([...at, 'banded', field], `field ${JSON.stringify(field)} is not exposed for this purpose`);
    purposes.set(name, {
      name,
      fields: spec.fields,
      consentRequired: spec.consentRequired ?? true,
      approvalRequired: spec.approvalRequired ?? false,
      disclosePartialScores: spec.disclosePartialScores ?? false,
      banded,
    });
  }

  const partners: PartnerRule[] = [];
  for (const [i, spec] of root.partners.entries()) {
    const at = ['partners', i];
    const partner = await partnerRule(spec, at, file, bad);
    partner.purposes.forEach((p, j) => {
      if (!purposes.has(p)) throw bad([...at, 'purposes', j], `purpose ${shownValue(p)} is not declared under purposes`);
    });
    partner.sensitiveFields.forEach((f, j) => {
      const cls = fields.get(f);
      if (cls !== 'sensitive') throw bad([...at, 'sensitiveFields', j], `field ${shownValue(f)} is ${cls === undefined ? 'not classified' : `classified ${cls}`}; only sensitive fields take a grant`);
    });
    for (const name of [partner.id, partner.keyId]) {
      if (name !== undefined && partners.some((p) => p.id === name || p.keyId === name)) throw bad(at, `partner ${name} is listed twice`);
    }
    partners.push(partner);
  }
  return { party: root.party, file, fields, purposes, partners };
}

type Bad = (path: FieldPath, why: string) => JinqiaoError;

/** A partner's identity: a key id, or an explicit id bound to a key given here or in a .pub file. */
async function partnerRule(spec: PolicyFile['partners'][number], at: (string | number)[], file: string, bad: Bad): Promise<PartnerRule> {
  if (spec.publicKey !== undefined && spec.publicKeyFile !== undefined) throw bad(at, 'give publicKey or publicKeyFile, not both');
  let key: { publicKey: PublicKeyBytes; keyId: string } | undefined;
  if (spec.publicKey !== undefined) {
    try {
      key = publicKeyFromHex(spec.publicKey, 'publicKey');
    } catch (e) {
      throw isJinqiaoError(e) ? bad([...at, 'publicKey'], e.message.replace(/^option publicKey: /, '')) : e;
    }
  }
  if (spec.publicKeyFile !== undefined) {
    try {
      key = await loadPublicKey(resolve(dirname(resolve(file)), spec.publicKeyFile));
    } catch (e) {
      throw isJinqiaoError(e) ? bad([...at, 'publicKeyFile'], e.message) : e;
    }
  }
  if (key !== undefined && spec.keyId !== undefined && spec.keyId !== key.keyId) throw bad([...at, 'keyId'], `does not match the public key (whose id is ${key.keyId})`);
  if (spec.id !== undefined && key === undefined) throw bad(at, 'an explicit id must be bound to the partner\'s key: add publicKey or publicKeyFile');
  const keyId = key?.keyId ?? spec.keyId;
  if (keyId === undefined) throw bad(at, 'identify the partner by keyId, or by id with publicKey or publicKeyFile');
  return { id: spec.id, keyId, publicKey: key?.publicKey, purposes: spec.purposes, sensitiveFields: spec.sensitiveFields ?? [], evaluationsPerDay: spec.evaluationsPerDay };
}
