import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  encodeConsentToken,
  filterByConsent,
  issueConsent,
  loadRevocationList,
  parseConsentTokens,
  revokeConsent,
  verifyConsent,
  type ConsentContext,
  type ConsentToken,
} from '../../src/governance/consent.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { uscc } from '../helpers/ids.ts';

const platform = generateKeyPair();
const impostor = generateKeyPair();
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-consent-'));
const day = 86_400_000;
const jan1 = new Date('2025-01-01T00:00:00.000Z');

function grant(over: Partial<Parameters<typeof issueConsent>[1]> = {}) {
  return {
    enterprise: uscc(1),
    partners: ['bank-of-example'],
    purposes: ['credit-modeling'],
    fields: ['vat_paid_wan', 'tax_credit_grade'],
    notBefore: jan1,
    notAfter: new Date(jan1.getTime() + 365 * day),
    ...over,
  };
}

const context: ConsentContext = {
  trustedIssuers: [platform],
  now: new Date(jan1.getTime() + 30 * day),
  partners: ['bank-of-example'],
  purpose: 'credit-modeling',
  fields: ['vat_paid_wan'],
  revoked: new Set(),
};

function reasonOf(token: unknown, over: Partial<ConsentContext> = {}): string {
  const verdict = verifyConsent(token, { ...context, ...over });
  return verdict.valid ? 'valid' : verdict.reason;
}

describe('consent tokens', () => {
  const token = issueConsent(platform, grant());

  it('verifies a token that covers partner, purpose and fields', () => {
    expect(reasonOf(token)).toBe('valid');
  });

  it('stores the enterprise normalised, so any spelling of its USCC yields the same token subject', () => {
    const typed = ` ${uscc(1).toLowerCase()} `;
    expect(issueConsent(platform, grant({ enterprise: typed })).enterprise).toBe(uscc(1));
    expect(() => issueConsent(platform, grant({ enterprise: '911101080000000000' }))).toThrow(/enterprise.*check character/);
  });

  it('survives encoding to a line and parsing back', () => {
    const [parsed] = parseConsentTokens(encodeConsentToken(token), 't.jsonl');
    expect(parsed).toEqual(token);
    expect(reasonOf(parsed)).toBe('valid');
  });

  it('is not yet valid before notBefore, and expired from notAfter on', () => {
    expect(reasonOf(token, { now: new Date(jan1.getTime() - 1) })).toBe('not-yet-valid');
    expect(reasonOf(token, { now: jan1 })).toBe('valid');
    expect(reasonOf(token, { now: new Date(token.notAfter) })).toBe('expired');
  });

  it('is refused once revoked', () => {
    expect(reasonOf(token, { revoked: new Set([token.tokenId]) })).toBe('revoked');
  });

  it('detects a forged signature and every tampered field', () => {
    const flipped = token.signature.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(reasonOf({ ...token, signature: flipped })).toBe('bad-signature');
    const tampered: Partial<ConsentToken>[] = [
      { enterprise: uscc(2) },
      { partners: ['bank-of-example', 'shadow-lender'] },
      { purposes: ['credit-modeling', 'marketing'] },
      { fields: ['vat_paid_wan', 'tax_credit_grade', 'late_filings_24m'] },
      { notAfter: new Date(jan1.getTime() + 3650 * day).toISOString() },
      { tokenId: 'another-id' },
    ];
    for (const change of tampered) expect(reasonOf({ ...token, ...change }), JSON.stringify(change)).toBe('bad-signature');
  });

  it('refuses a token signed by a key the holder does not trust, even if it names a trusted issuer', () => {
    expect(reasonOf(issueConsent(impostor, grant()))).toBe('untrusted-issuer');
    const impersonating = { ...issueConsent(impostor, grant()), issuer: platform.keyId };
    expect(reasonOf(impersonating)).toBe('bad-signature');
  });

  it('refuses a token scoped to another partner, purpose or fields', () => {
    expect(reasonOf(token, { partners: ['shadow-lender'] })).toBe('wrong-partner');
    // An institution known by two names (explicit id, key id) is covered by either.
    expect(reasonOf(token, { partners: [['shadow-lender', 'bank-of-example']] })).toBe('valid');
    expect(reasonOf(token, { purpose: 'marketing' })).toBe('wrong-purpose');
    const verdict = verifyConsent(token, { ...context, fields: ['vat_paid_wan', 'late_filings_24m'] });
    expect(verdict).toMatchObject({ valid: false, reason: 'field-outside-grant' });
    expect(!verdict.valid && verdict.message).toContain('late_filings_24m');
  });

  it('calls anything that is not a token malformed, naming the field', () => {
    expect(reasonOf('not a token')).toBe('malformed');
    const { fields: _dropped, ...missing } = token;
    const verdict = verifyConsent(missing, context);
    expect(verdict).toMatchObject({ valid: false, reason: 'malformed' });
    expect(!verdict.valid && verdict.message).toContain('"fields"');
    expect(reasonOf({ ...token, notBefore: '2025-01-01' })).toBe('malformed');
    expect(reasonOf({ ...token, extra: 1 })).toBe('malformed');
  });
});

describe('filterByConsent', () => {
  it('keeps the rows whose enterprise consented, and counts the rest by reason for the local report', () => {
    const tokens = [
      issueConsent(platform, grant({ enterprise: uscc(1) })),
      issueConsent(platform, grant({ enterprise: uscc(2), purposes: ['loan-verification'] })),
      issueConsent(platform, grant({ enterprise: uscc(3), notAfter: new Date(jan1.getTime() + day) })),
      issueConsent(impostor, grant({ enterprise: uscc(4) })),
      issueConsent(platform, grant({ enterprise: uscc(5) })),
    ];
    const ids = [uscc(5), uscc(1).toLowerCase(), uscc(2), uscc(3), uscc(4), uscc(6), 'not-an-id'];
    const filter = filterByConsent(ids, tokens, context);
    expect(filter.included).toEqual([0, 1]);
    expect(filter.excluded).toBe(5);
    expect(filter.excludedByReason).toEqual({ 'wrong-purpose': 1, expired: 1, 'no-consent': 2, 'invalid-id': 1 });
  });
});

describe('revocation list', () => {
  it('appends revocations, is idempotent, and is read back as a set', async () => {
    const list = join(dir, 'revoked.jsonl');
    expect(await revokeConsent(list, 'token-1', jan1)).toBe(true);
    expect(await revokeConsent(list, 'token-2', jan1)).toBe(true);
    expect(await revokeConsent(list, 'token-1', jan1)).toBe(false);
    expect([...(await loadRevocationList(list))]).toEqual(['token-1', 'token-2']);
    expect(readFileSync(list, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('names the line of a damaged entry, and treats a missing list as an error rather than as empty', async () => {
    const list = join(dir, 'damaged.jsonl');
    writeFileSync(list, '{"tokenId":"a","revokedAt":"2025-01-01T00:00:00.000Z"}\n');
    appendFileSync(list, '{"tokenId":"b",\n');
    await expect(loadRevocationList(list)).rejects.toMatchObject({ code: 'E_CONSENT_FILE_INVALID', message: expect.stringMatching(/damaged\.jsonl:2:\d+: not JSON/) });
    await expect(loadRevocationList(join(dir, 'absent.jsonl'))).rejects.toMatchObject({ code: 'E_FILE_UNREADABLE' });
  });
});
