/**
 * Enterprise consent: a signed token saying that one enterprise authorises named
 * institutions to use named fields for named purposes during a period.
 *
 * Flow: the enterprise authorises on the platform (or another registry the data holders
 * trust); the platform (issuer) signs a token with its Ed25519 key; data holders receive
 * the tokens and, before alignment, keep only the rows of enterprises whose token covers
 * the job (`filterByConsent`): its purpose, its fields and every institution that takes
 * part in it — a token naming the tax bureau does not admit the enterprise into a job
 * where the social insurance fund takes part too. An enterprise withdraws consent by having its token id put
 * on a revocation list.
 *
 * Token: canonical JSON (see canonical.ts) of { type, version, tokenId, issuer (key id),
 * enterprise (normalised USCC), partners, purposes, fields, notBefore, notAfter }, signed
 * under the domain tag `jinqiao/consent/v1`; stored one token per line (JSON Lines) with
 * its hex signature. The validity period is half open: valid from notBefore, expired at
 * notAfter.
 *
 * Who learns what: tokens name the enterprise in clear; they stay with the issuer and the
 * data holders and never travel to the partner. The partner must only ever learn the
 * aligned set that PSI yields, never which enterprises were excluded for want of consent
 * nor how many: the excluded count `filterByConsent` returns is for the holder's own
 * report and audit log. Because filtering happens before PSI, an enterprise without
 * consent looks to the partner exactly like one the holder has no record of.
 *
 * Weaknesses: a partner that knows an enterprise is on the holder's books can still infer
 * from its absence in the intersection that it did not consent (the same absence it
 * would see for an enterprise the holder does not know). Verification is as fresh as the
 * revocation list the holder has: a revocation it has not yet received is not honoured.
 * The revocation list is append-only by convention and protected only by the holder's
 * file permissions; it is not signed.
 */
import { randomUUID } from 'node:crypto';
import type { Static } from 'typebox';
import { stat } from 'node:fs/promises';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { pathText } from '../data/yaml.ts';
import { errors, shownValue } from '../errors.ts';
import { normaliseId } from '../ids/normalise.ts';
import { conform, conforms, firstProblem } from '../schemas/check.ts';
import { CONSENT_TOKEN_TYPE, CONSENT_TOKEN_VERSION, ConsentTokenSchema, RevocationSchema, TOKEN_ID_PATTERN } from '../schemas/governance.ts';
import { canonicalJson } from './canonical.ts';
import { appendDurably, readTextFile } from '../util/durable.ts';
import { sign, verify, type PartyKeyPair, type PublicKeyRecord } from './keys.ts';

const SIGNATURE_DOMAIN = 'jinqiao/consent/v1';
const TOKEN_ID = new RegExp(TOKEN_ID_PATTERN);

/** A consent token: its fields are those of schemas/governance.ts `ConsentTokenSchema` (described there), read-only. */
export type ConsentToken = { readonly [K in keyof TokenFields]: TokenFields[K] extends (infer U)[] ? readonly U[] : TokenFields[K] };
type TokenFields = Static<typeof ConsentTokenSchema>;

export interface ConsentGrant {
  /** The enterprise's USCC as typed; it is normalised and validated. */
  readonly enterprise: string;
  readonly partners: readonly string[];
  readonly purposes: readonly string[];
  readonly fields: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Defaults to a fresh UUID. */
  readonly tokenId?: string;
}

/** Every reason a token can fail to cover a job. */
export const CONSENT_REASONS = {
  malformed: 'the token is not a well-formed consent token',
  'untrusted-issuer': 'the token is signed by a key the data holder does not trust',
  'bad-signature': 'the signature does not match the token (forged or altered)',
  revoked: 'the token id is on the revocation list',
  'not-yet-valid': 'the validity period has not begun',
  expired: 'the validity period has ended',
  'wrong-partner': 'the token does not authorise every institution taking part in the job',
  'wrong-purpose': 'the token does not authorise this purpose',
  'field-outside-grant': 'the job uses a field the token does not grant',
} as const;
export type ConsentReason = keyof typeof CONSENT_REASONS;

export interface ConsentContext {
  /** Keys whose signatures the data holder accepts (the platform's, a registry's). */
  readonly trustedIssuers: readonly PublicKeyRecord[];
  readonly now: Date;
  /**
   * Every institution that takes part in the job besides the data holder: the token must
   * authorise each one. An institution is given by its name, or by all its names (explicit
   * id and key id) when the token may use either.
   */
  readonly partners: readonly (string | readonly string[])[];
  readonly purpose: string;
  /** Fields the job uses; every one must be granted. */
  readonly fields: readonly string[];
  /** Revoked token ids (see `loadRevocationList`). */
  readonly revoked: ReadonlySet<string>;
}

export type ConsentVerdict =
  | { readonly valid: true; readonly token: ConsentToken }
  | { readonly valid: false; readonly reason: ConsentReason; readonly message: string; readonly tokenId: string | undefined };

/** (Issuer side: the platform) Signs a consent token for `grant`. */
export function issueConsent(issuer: PartyKeyPair, grant: ConsentGrant): ConsentToken {
  const enterprise = normaliseId(String(grant.enterprise), 'uscc');
  if (!enterprise.ok) throw errors.optionInvalid('enterprise', `${shownValue(grant.enterprise)} is not a unified social credit code: ${enterprise.why}`);
  const tokenId = grant.tokenId ?? randomUUID();
  if (!TOKEN_ID.test(tokenId)) throw errors.optionInvalid('tokenId', 'use 1 to 128 letters, digits and . _ : -');
  for (const key of ['partners', 'purposes', 'fields'] as const) {
    const problem = firstProblem(ConsentTokenSchema.properties[key], grant[key]);
    if (problem) throw errors.optionInvalid(pathText([key, ...problem.path]), problem.why);
  }
  for (const key of ['notBefore', 'notAfter'] as const) {
    if (!(grant[key] instanceof Date) || Number.isNaN(grant[key].getTime())) throw errors.optionInvalid(key, 'must be a valid date');
  }
  if (grant.notAfter.getTime() <= grant.notBefore.getTime()) throw errors.optionInvalid('notAfter', 'must be later than notBefore');
  const body = {
    type: CONSENT_TOKEN_TYPE,
    version: CONSENT_TOKEN_VERSION,
    tokenId,
    issuer: issuer.keyId,
    enterprise: enterprise.id,
    partners: [...grant.partners],
    purposes: [...grant.purposes],
    fields: [...grant.fields],
    notBefore: grant.notBefore.toISOString(),
    notAfter: grant.notAfter.toISOString(),
  } as const;
  const signature = bytesToHex(sign(issuer.secretKey, SIGNATURE_DOMAIN, utf8ToBytes(canonicalJson(body))));
  return { ...body, signature };
}

/** One line of a token file. */
export function encodeConsentToken(token: ConsentToken): string {
  return canonicalJson(token) + '\n';
}

/**
 * (Data-holder side) Whether `token` covers the job described by `context`, or the precise
 * reason it does not. The signature is checked before any claim in the token is believed,
 * so an altered token reads as forged, never as (say) expired.
 */
export function verifyConsent(token: unknown, context: ConsentContext): ConsentVerdict {
  // An empty list would make every token cover the job.
  if (context.partners.length === 0) throw errors.optionInvalid('partners', 'name every institution taking part in the job');
  const tokenId = isRecord(token) && typeof token.tokenId === 'string' ? token.tokenId : undefined;
  const fail = (reason: ConsentReason, message: string): ConsentVerdict => ({ valid: false, reason, message, tokenId });
  const problem = tokenProblem(token);
  if (problem !== undefined) return fail('malformed', problem);
  const t = token as ConsentToken;
  const issuer = context.trustedIssuers.find((k) => k.keyId === t.issuer);
  if (issuer === undefined) return fail('untrusted-issuer', `token ${t.tokenId} is signed by key ${t.issuer}, which is not a trusted issuer`);
  const { signature, ...body } = t;
  if (!verify(issuer.publicKey, SIGNATURE_DOMAIN, utf8ToBytes(canonicalJson(body)), hexToBytes(signature))) {
    return fail('bad-signature', `token ${t.tokenId}: the signature of ${t.issuer} does not match its content (forged or altered)`);
  }
  if (context.revoked.has(t.tokenId)) return fail('revoked', `token ${t.tokenId} has been revoked`);
  const now = context.now.getTime();
  if (now < Date.parse(t.notBefore)) return fail('not-yet-valid', `token ${t.tokenId} is valid from ${t.notBefore}`);
  if (now >= Date.parse(t.notAfter)) return fail('expired', `token ${t.tokenId} expired at ${t.notAfter}`);
  const missing = context.partners.map((names) => (typeof names === 'string' ? [names] : names)).filter((names) => !names.some((n) => t.partners.includes(n)));
  if (missing.length > 0) {
    return fail('wrong-partner', `token ${t.tokenId} authorises ${t.partners.join(', ')}, not ${missing.map((names) => names.join(' / ')).join(', ')}, which take${missing.length === 1 ? 's' : ''} part in the job`);
  }
  if (!t.purposes.includes(context.purpose)) return fail('wrong-purpose', `token ${t.tokenId} authorises ${t.purposes.join(', ')}, not ${context.purpose}`);
  const outside = context.fields.filter((f) => !t.fields.includes(f));
  if (outside.length > 0) return fail('field-outside-grant', `token ${t.tokenId} does not grant ${outside.join(', ')} (granted: ${t.fields.join(', ')})`);
  return { valid: true, token: t };
}

/** Why `token` is not a well-formed token: its schema first, then what a schema cannot say. */
function tokenProblem(token: unknown): string | undefined {
  if (!conforms(ConsentTokenSchema, token)) {
    const problem = firstProblem(ConsentTokenSchema, token)!;
    return problem.path.length === 0 ? problem.why : `field "${pathText(problem.path)}": ${problem.why}`;
  }
  const enterprise = normaliseId(token.enterprise, 'uscc');
  if (!enterprise.ok) return `field "enterprise": ${enterprise.why}`;
  if (enterprise.id !== token.enterprise) return 'field "enterprise" is not in normalised form';
  for (const key of ['notBefore', 'notAfter'] as const) {
    const value = token[key];
    if (Number.isNaN(Date.parse(value)) || new Date(value).toISOString() !== value) return `field "${key}" must be an ISO 8601 UTC time as toISOString() writes it`;
  }
  if (Date.parse(token.notAfter) <= Date.parse(token.notBefore)) return 'field "notAfter" is not later than "notBefore"';
  return undefined;
}

export type ExclusionReason = ConsentReason | 'no-consent' | 'invalid-id';

export interface ConsentFilter {
  /** Row indices, ascending, whose enterprise has a token covering the job. */
  readonly included: readonly number[];
  /** Rows left out. Report it locally only: the partner must never learn it. */
  readonly excluded: number;
  /** Rows left out, by why: an invalid ID, no token at all, or the failure of the enterprise's first token. */
  readonly excludedByReason: Readonly<Partial<Record<ExclusionReason, number>>>;
}

/**
 * (Data-holder side, before alignment) Which rows may enter the job: those whose ID (a
 * USCC, normalised here) has at least one token that `verifyConsent` accepts for `context`.
 */
export function filterByConsent(ids: readonly string[], tokens: readonly unknown[], context: ConsentContext): ConsentFilter {
  const consented = new Set<string>();
  const firstFailure = new Map<string, ConsentReason>();
  for (const token of tokens) {
    const verdict = verifyConsent(token, context);
    if (verdict.valid) consented.add(verdict.token.enterprise);
    // A malformed or forged token's enterprise field is not to be believed.
    else if (verdict.reason !== 'malformed' && verdict.reason !== 'bad-signature' && verdict.reason !== 'untrusted-issuer') {
      const enterprise = (token as ConsentToken).enterprise;
      if (!firstFailure.has(enterprise)) firstFailure.set(enterprise, verdict.reason);
    }
  }
  const included: number[] = [];
  const excludedByReason: Partial<Record<ExclusionReason, number>> = {};
  ids.forEach((raw, row) => {
    const id = normaliseId(raw, 'uscc');
    if (id.ok && consented.has(id.id)) {
      included.push(row);
      return;
    }
    const reason: ExclusionReason = !id.ok ? 'invalid-id' : (firstFailure.get(id.id) ?? 'no-consent');
    excludedByReason[reason] = (excludedByReason[reason] ?? 0) + 1;
  });
  return { included, excluded: ids.length - included.length, excludedByReason };
}

/** Parses a token file: one JSON token per line; blank lines are skipped. */
export function parseConsentTokens(text: string, file: string): unknown[] {
  return jsonLines(text, file, false).map((l) => l.value);
}

export async function loadConsentTokens(file: string): Promise<unknown[]> {
  return parseConsentTokens(await readTextFile(file), file);
}

/**
 * Reads a revocation list: JSON Lines of { tokenId, revokedAt }. Its absence is an error,
 * not an empty list: a holder that meant to check revocations must not silently skip them.
 */
export async function loadRevocationList(file: string): Promise<ReadonlySet<string>> {
  const revoked = new Set<string>();
  for (const { value, line } of jsonLines(await readTextFile(file), file, true)) {
    conform(RevocationSchema, value, (path, why) =>
      errors.consentFileInvalid({ file, line, column: 1 }, `${path.length === 0 ? '' : `field "${pathText(path)}": `}${why} (a revocation is {"tokenId": ..., "revokedAt": ...})`),
    );
    revoked.add(value.tokenId);
  }
  return revoked;
}

/**
 * Adds `tokenId` to the revocation list at `file` (created if absent) and syncs it before
 * resolving. Appends only, so earlier revocations are never rewritten. Returns false when
 * the token was already revoked.
 */
export async function revokeConsent(file: string, tokenId: string, now: Date = new Date()): Promise<boolean> {
  if (!TOKEN_ID.test(tokenId)) throw errors.optionInvalid('tokenId', `${shownValue(tokenId)} is not a token id (1 to 128 letters, digits and . _ : -)`);
  const listExists = await stat(file).then(
    () => true,
    () => false,
  );
  if (listExists && (await loadRevocationList(file)).has(tokenId)) return false;
  await appendDurably(file, canonicalJson({ tokenId, revokedAt: now.toISOString() }) + '\n');
  return true;
}

/** `appendOnly`: the file is only ever appended whole lines, so an unterminated last line is a torn write. */
function jsonLines(text: string, file: string, appendOnly: boolean): { value: unknown; line: number }[] {
  const out: { value: unknown; line: number }[] = [];
  const lines = text.split('\n');
  lines.forEach((content, i) => {
    if (content.trim() === '') return;
    if (appendOnly && i === lines.length - 1) throw errors.consentFileInvalid({ file, line: i + 1, column: content.length + 1 }, 'the last line is not terminated (a write cut short?)');
    try {
      out.push({ value: JSON.parse(content), line: i + 1 });
    } catch (e) {
      const column = /position (\d+)/.exec((e as Error).message)?.[1];
      throw errors.consentFileInvalid({ file, line: i + 1, column: column === undefined ? undefined : Number(column) + 1 }, `not JSON: ${(e as Error).message}`);
    }
  });
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
