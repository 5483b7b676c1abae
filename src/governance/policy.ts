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
 *   a public key; each with the purposes it may use and its sensitive-field grants.
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
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import { documentData } from '../data/yaml.ts';
import { errors, isJinqiaoError, type JinqiaoError, type SourceLocation, shownValue } from '../errors.ts';
import { readTextFile } from '../util/durable.ts';
import { KEY_ID_PATTERN, loadPublicKey, publicKeyFromHex, type PublicKeyBytes } from './keys.ts';

export const FIELD_CLASSES = ['public', 'internal', 'sensitive', 'restricted'] as const;
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
  'field.banded': 'a banded field is verified only within a tolerance at least its band width',
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

/** (Data-holder side) Admits `request` or names the first rule that refuses it. */
export function checkJob(policy: DataHolderPolicy, request: JobRequest): JobDecision {
  const fields = validRequest(request);
  const refuse = (rule: PolicyRule, why: string): JobDecision => ({ admitted: false, refusal: errors.policyRefused(rule, why) });
  const partner = policy.partners.find((p) => p.id === request.partner || p.keyId === request.partner);
  if (partner === undefined) return refuse('partner.unknown', `${policy.party} does not work with partner ${JSON.stringify(request.partner)}`);
  const purpose = policy.purposes.get(request.purpose);
  if (purpose === undefined) {
    return refuse('purpose.undeclared', `${policy.party} does not accept purpose ${JSON.stringify(request.purpose)} (accepted: ${[...policy.purposes.keys()].join(', ')})`);
  }
  const partnerName = partner.id ?? partner.keyId;
  if (!partner.purposes.includes(purpose.name)) {
    return refuse('purpose.not-granted', `partner ${partnerName} may not use purpose ${purpose.name} (granted: ${partner.purposes.join(', ')})`);
  }
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

const NAME = /^[^\s,]+$/;
const PURPOSE_NAME = /^[a-z][a-z0-9-]*$/;
const TOP_LEVEL = ['party', 'fields', 'purposes', 'partners'];
const PURPOSE_KEYS = ['fields', 'consentRequired', 'approvalRequired', 'disclosePartialScores', 'banded'];
const PARTNER_KEYS = ['id', 'keyId', 'publicKey', 'publicKeyFile', 'purposes', 'sensitiveFields'];

/**
 * Reads a policy from YAML or JSON text. `file` names it in errors and anchors relative
 * `publicKeyFile` paths. Every inconsistency is an error, not a warning: a typo in a
 * security policy must not silently widen or narrow what it allows.
 */
export async function parsePolicy(text: string, file: string): Promise<DataHolderPolicy> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const { line, col } = lineCounter.linePos(syntax.pos[0]);
    throw errors.policyInvalid({ file, line, column: col }, '(syntax)', `not valid YAML or JSON: ${syntax.message.split('\n')[0]}`);
  }
  const bad = (path: readonly (string | number)[], why: string) => errors.policyInvalid(locate(doc, lineCounter, file, path), pathText(path), why);
  const root = documentData(doc, (why) => bad([], why));
  if (!isRecord(root)) throw bad([], 'the policy must be a mapping with party, fields, purposes and partners');
  unknownKeys(root, TOP_LEVEL, [], bad);

  if (typeof root.party !== 'string' || root.party === '') throw bad(['party'], 'must name the data holder (a non-empty string)');

  if (!isRecord(root.fields) || Object.keys(root.fields).length === 0) throw bad(['fields'], 'must map each field name to its class');
  const fields = new Map<string, FieldClass>();
  for (const [name, cls] of Object.entries(root.fields)) {
    if (!NAME.test(name)) throw bad(['fields', name], 'a field name has no spaces or commas');
    if (!FIELD_CLASSES.includes(cls as FieldClass)) throw bad(['fields', name], `class must be one of ${FIELD_CLASSES.join(', ')}`);
    fields.set(name, cls as FieldClass);
  }

  if (!isRecord(root.purposes) || Object.keys(root.purposes).length === 0) throw bad(['purposes'], 'must declare at least one accepted purpose');
  const purposes = new Map<string, PurposeRule>();
  for (const [name, spec] of Object.entries(root.purposes)) {
    const at = ['purposes', name];
    if (!PURPOSE_NAME.test(name)) throw bad(at, 'a purpose is lower-case words joined by hyphens, e.g. credit-modeling');
    if (!isRecord(spec)) throw bad(at, 'must be a mapping with fields, consentRequired, approvalRequired, disclosePartialScores');
    unknownKeys(spec, PURPOSE_KEYS, at, bad);
    const exposed = nameList(spec.fields, [...at, 'fields'], bad, true);
    exposed.forEach((f, i) => {
      const cls = fields.get(f);
      if (cls === undefined) throw bad([...at, 'fields', i], `field ${shownValue(f)} is not classified under fields`);
      if (cls === 'restricted') throw bad([...at, 'fields', i], `field ${shownValue(f)} is restricted and can never be exposed`);
    });
    purposes.set(name, {
      name,
      fields: exposed,
      consentRequired: flag(spec.consentRequired, true, [...at, 'consentRequired'], bad),
      approvalRequired: flag(spec.approvalRequired, false, [...at, 'approvalRequired'], bad),
      disclosePartialScores: flag(spec.disclosePartialScores, false, [...at, 'disclosePartialScores'], bad),
      banded: bandWidths(spec.banded, exposed, [...at, 'banded'], bad),
    });
  }

  if (!Array.isArray(root.partners) || root.partners.length === 0) throw bad(['partners'], 'must list at least one partner institution');
  const partners: PartnerRule[] = [];
  for (const [i, spec] of root.partners.entries()) {
    const at = ['partners', i];
    if (!isRecord(spec)) throw bad(at, 'must be a mapping with keyId (or id and publicKey), purposes, sensitiveFields');
    unknownKeys(spec, PARTNER_KEYS, at, bad);
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

type Bad = (path: readonly (string | number)[], why: string) => JinqiaoError;

async function partnerRule(spec: Record<string, unknown>, at: (string | number)[], file: string, bad: Bad): Promise<PartnerRule> {
  if (spec.publicKey !== undefined && spec.publicKeyFile !== undefined) throw bad(at, 'give publicKey or publicKeyFile, not both');
  let key: { publicKey: PublicKeyBytes; keyId: string } | undefined;
  if (spec.publicKey !== undefined) {
    if (typeof spec.publicKey !== 'string') throw bad([...at, 'publicKey'], 'must be 64 hex digits');
    try {
      key = publicKeyFromHex(spec.publicKey, 'publicKey');
    } catch (e) {
      throw isJinqiaoError(e) ? bad([...at, 'publicKey'], e.message.replace(/^option publicKey: /, '')) : e;
    }
  }
  if (spec.publicKeyFile !== undefined) {
    if (typeof spec.publicKeyFile !== 'string' || spec.publicKeyFile === '') throw bad([...at, 'publicKeyFile'], 'must be a path to a .pub file');
    try {
      key = await loadPublicKey(resolve(dirname(resolve(file)), spec.publicKeyFile));
    } catch (e) {
      throw isJinqiaoError(e) ? bad([...at, 'publicKeyFile'], e.message) : e;
    }
  }
  if (spec.keyId !== undefined && (typeof spec.keyId !== 'string' || !KEY_ID_PATTERN.test(spec.keyId))) throw bad([...at, 'keyId'], 'a key id is 32 lower-case hex digits');
  if (key !== undefined && spec.keyId !== undefined && spec.keyId !== key.keyId) throw bad([...at, 'keyId'], `does not match the public key (whose id is ${key.keyId})`);
  if (spec.id !== undefined) {
    if (typeof spec.id !== 'string' || !NAME.test(spec.id)) throw bad([...at, 'id'], 'must be a non-empty name without spaces or commas');
    if (key === undefined) throw bad(at, 'an explicit id must be bound to the partner\'s key: add publicKey or publicKeyFile');
  }
  const keyId = key?.keyId ?? (spec.keyId as string | undefined);
  if (keyId === undefined) throw bad(at, 'identify the partner by keyId, or by id with publicKey or publicKeyFile');
  return {
    id: spec.id as string | undefined,
    keyId,
    publicKey: key?.publicKey,
    purposes: nameList(spec.purposes, [...at, 'purposes'], bad, true),
    sensitiveFields: spec.sensitiveFields === undefined ? [] : nameList(spec.sensitiveFields, [...at, 'sensitiveFields'], bad, false),
  };
}

function nameList(value: unknown, at: (string | number)[], bad: Bad, nonEmpty: boolean): string[] {
  if (!Array.isArray(value) || (nonEmpty && value.length === 0)) throw bad(at, `must be a list of${nonEmpty ? ' at least one' : ''} name${nonEmpty ? '' : 's'}`);
  value.forEach((v, i) => {
    if (typeof v !== 'string' || !NAME.test(v)) throw bad([...at, i], 'must be a name without spaces or commas');
    if (value.indexOf(v) !== i) throw bad([...at, i], `${shownValue(v)} is listed twice`);
  });
  return value as string[];
}

function bandWidths(value: unknown, exposed: readonly string[], at: (string | number)[], bad: Bad): Map<string, number> {
  const widths = new Map<string, number>();
  if (value === undefined) return widths;
  if (!isRecord(value)) throw bad(at, 'must map exposed fields to a relative band width, e.g. vat_paid_wan: 0.25');
  for (const [field, width] of Object.entries(value)) {
    if (!exposed.includes(field)) throw bad([...at, field], `field ${JSON.stringify(field)} is not exposed for this purpose`);
    if (typeof width !== 'number' || !(width > 0 && width <= 10)) throw bad([...at, field], 'a relative band width is a number in (0, 10], e.g. 0.25 for bands of ×1.25');
    widths.set(field, width);
  }
  return widths;
}

function flag(value: unknown, fallback: boolean, at: (string | number)[], bad: Bad): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw bad(at, 'must be true or false');
  return value;
}

function unknownKeys(spec: Record<string, unknown>, known: readonly string[], at: (string | number)[], bad: Bad): void {
  for (const key of Object.keys(spec)) if (!known.includes(key)) throw bad([...at, key], `unknown field (expected one of: ${known.join(', ')})`);
}

/** Line and column of the deepest node on `path` that exists in the document. */
function locate(doc: Document, lineCounter: LineCounter, file: string, path: readonly (string | number)[]): SourceLocation {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    const offset = keyOffset(doc, path.slice(0, depth)) ?? (node as { range?: [number, number, number] } | undefined)?.range?.[0];
    if (offset !== undefined) {
      const { line, col } = lineCounter.linePos(offset);
      return { file, line, column: col };
    }
  }
  return { file };
}

/** A mapping entry is best pointed at by its key (the value may be on the next line). */
function keyOffset(doc: Document, path: readonly (string | number)[]): number | undefined {
  if (path.length === 0) return undefined;
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === path[path.length - 1]);
  return (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
}

function pathText(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
