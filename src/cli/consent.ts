/**
 * `jinqiao consent issue | verify | revoke`: enterprise consent tokens.
 *
 * `issue` runs at the issuer (the platform) with its secret key; `verify` and `revoke` run
 * at a data holder with the issuer's public key and its revocation list.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { writeAtomically } from '../data/write.ts';
import { errors } from '../errors.ts';
import { encodeConsentToken, issueConsent, loadConsentTokens, loadRevocationList, revokeConsent, verifyConsent, type ConsentToken, type ConsentVerdict } from '../governance/consent.ts';
import { loadPublicKey, loadSecretKey } from '../governance/keys.ts';
import { parseNonNegativeInt } from './options.ts';
import { collect, commandGroup, parseNameList, parseTime } from './governance-options.ts';
import { runCommand } from './run-command.ts';

interface IssueOptions {
  issuerKey: string;
  enterprise: string;
  partner: string[];
  purpose: string[];
  fields: string;
  validDays: string;
  notBefore?: string;
  tokenId?: string;
  out: string;
  append?: boolean;
}

interface VerifyOptions {
  trust: string[];
  partner: string[];
  purpose: string;
  fields?: string;
  revoked?: string;
  now?: string;
}

const DAY_MS = 86_400_000;

export function consentCommand(): Command {
  const consent = commandGroup('consent', "enterprise consent tokens: an enterprise's signed authorisation of institutions, purposes and fields");

  consent
    .command('issue')
    .description('(issuer, e.g. the platform) sign a consent token for one enterprise')
    .requiredOption('--issuer-key <file>', "the issuer's secret key (.key, from jinqiao keys generate)")
    .requiredOption('--enterprise <uscc>', "the enterprise's unified social credit code")
    .requiredOption('--partner <ids>', 'institution(s) authorised, comma-separated or repeated', collect)
    .requiredOption('--purpose <purposes>', 'purpose(s) authorised, e.g. credit-modeling; comma-separated or repeated', collect)
    .requiredOption('--fields <names>', 'fields authorised, comma-separated')
    .requiredOption('--valid-days <n>', 'days the consent lasts from --not-before')
    .option('--not-before <time>', 'start of validity, ISO 8601 (default: now)')
    .option('--token-id <id>', 'token id (default: a fresh UUID)')
    .requiredOption('--out <file>', 'token file to write (one JSON line)')
    .option('--append', 'add the token as one more line of --out (created if missing) instead of replacing it: one file holds every enterprise\'s token')
    .action((opts: IssueOptions) =>
      runCommand(async () => {
        const days = parseNonNegativeInt('--valid-days', opts.validDays);
        if (days === 0) throw errors.optionInvalid('--valid-days', 'must be at least 1');
        const notBefore = opts.notBefore === undefined ? new Date() : parseTime('--not-before', opts.notBefore);
        const issuer = await loadSecretKey(opts.issuerKey);
        const token = issueConsent(issuer, {
          enterprise: opts.enterprise,
          partners: opts.partner.flatMap((p) => parseNameList('--partner', p)),
          purposes: opts.purpose.flatMap((p) => parseNameList('--purpose', p)),
          fields: parseNameList('--fields', opts.fields),
          notBefore,
          notAfter: new Date(notBefore.getTime() + days * DAY_MS),
          tokenId: opts.tokenId,
        });
        // Appending: the file must already be a token file (each line a token), so a wrong --out is refused, not extended.
        const before = opts.append && existsSync(opts.out) ? await readFile(opts.out, 'utf8') : '';
        if (before.trim() !== '') await loadConsentTokens(opts.out);
        const kept = before === '' || before.endsWith('\n') ? before : `${before}\n`;
        await writeAtomically(opts.out, (write) => write(kept + encodeConsentToken(token)));
        process.stdout.write(`issued:   consent token ${token.tokenId} for ${token.enterprise}\nscope:    ${scope(token)}\nvalid:    ${token.notBefore} to ${token.notAfter}\nwritten:  ${opts.out}\n`);
      }),
    );

  consent
    .command('verify')
    .description('(data holder) check that a token file covers the institutions taking part, the purpose and the fields; exit 0 valid, 1 invalid with the reason')
    .argument('<token-file>', 'a token file (one token per line)')
    .requiredOption('--trust <pubkey-file>', "a trusted issuer's public key (.pub); repeat for several", collect)
    .requiredOption('--partner <ids>', 'every institution taking part in the job (the token must authorise each); comma-separated or repeated', collect)
    .requiredOption('--purpose <purpose>', 'the purpose of the job')
    .option('--fields <names>', 'fields the job uses, comma-separated (default: no field check)')
    .option('--revoked <list-file>', 'revocation list to check against (written by jinqiao consent revoke)')
    .option('--now <time>', 'check validity at this ISO 8601 time instead of now')
    .action((tokenFile: string, opts: VerifyOptions) =>
      runCommand(async () => {
        const context = {
          trustedIssuers: await Promise.all(opts.trust.map(loadPublicKey)),
          now: opts.now === undefined ? new Date() : parseTime('--now', opts.now),
          partners: opts.partner.flatMap((p) => parseNameList('--partner', p)),
          purpose: opts.purpose,
          fields: opts.fields === undefined ? [] : parseNameList('--fields', opts.fields),
          revoked: opts.revoked === undefined ? new Set<string>() : await loadRevocationList(opts.revoked),
        };
        const tokens = await loadConsentTokens(tokenFile);
        if (tokens.length === 0) throw errors.consentFileInvalid({ file: tokenFile }, 'the file holds no token');
        const verdicts = tokens.map((t) => verifyConsent(t, context));
        const caveat = opts.revoked === undefined ? ' (revocation not checked: no --revoked list)' : '';
        for (const verdict of verdicts) {
          if (verdict.valid) process.stdout.write(`valid: consent token ${verdict.token.tokenId} for ${verdict.token.enterprise}: ${scope(verdict.token)}, until ${verdict.token.notAfter}${caveat}\n`);
          else if (verdicts.length > 1) process.stdout.write(`invalid (${verdict.reason}): ${verdict.message}\n`);
        }
        const invalid = verdicts.find((v): v is Extract<ConsentVerdict, { valid: false }> => !v.valid);
        if (invalid) throw errors.consentInvalid(invalid.reason, invalid.message);
      }),
    );

  consent
    .command('revoke')
    .description('(data holder or issuer) add a token id to a revocation list; the list is only ever appended to')
    .argument('<token-id>', 'id of the token to revoke')
    .requiredOption('--list <file>', 'the revocation list (created if absent)')
    .action((tokenId: string, opts: { list: string }) =>
      runCommand(async () => {
        const added = await revokeConsent(opts.list, tokenId);
        process.stdout.write(added ? `revoked: ${tokenId} (${opts.list})\n` : `already revoked: ${tokenId} (${opts.list})\n`);
      }),
    );

  return consent;
}

function scope(token: ConsentToken): string {
  return `partners ${token.partners.join(', ')}; purposes ${token.purposes.join(', ')}; fields ${token.fields.join(', ')}`;
}
