/**
 * Governance for the SME credit story: the platform issues enterprises' consent tokens,
 * the tax bureau admits the bank's credit-modeling job under its policy, keeps only the
 * rows whose consent covers the job, and records each step in its audit log.
 *
 * Run: `node examples/governance/setup.ts`. Keys are generated on the first run into
 * keys/ (never committed) and reused afterwards; tokens and the audit log go to out/,
 * rebuilt on every run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AuditLog,
  checkJob,
  encodeConsentToken,
  filterByConsent,
  generateKeyPair,
  issueConsent,
  loadPolicy,
  loadRevocationList,
  loadSecretKey,
  revokeConsent,
  saveKeyPair,
  type PartyKeyPair,
} from '../../src/governance/index.ts';

const here = import.meta.dirname;
const keysDir = join(here, 'keys');
const outDir = join(here, 'out');
const DAY = 86_400_000;

async function partyKey(name: string): Promise<PartyKeyPair> {
  const prefix = join(keysDir, name);
  if (existsSync(`${prefix}.key`)) return loadSecretKey(`${prefix}.key`);
  const pair = generateKeyPair();
  await saveKeyPair(prefix, pair);
  return pair;
}

await mkdir(keysDir, { recursive: true });
await rm(outDir, { recursive: true, force: true });
await mkdir(outDir);
const platform = await partyKey('platform');
await partyKey('bank');
const taxBureau = await partyKey('tax-bureau');

// The platform issues consent for the first five taxpayers: three in scope, one expired,
// one that its enterprise later withdraws.
const taxpayers = (await readFile(join(here, '../sme-credit/tax_bureau.csv'), 'utf8')).split('\n').slice(1).filter(Boolean).map((line) => line.split(',')[0]!);
const now = new Date();
const scope = { partners: ['bank-of-example'], purposes: ['credit-modeling'], fields: ['vat_paid_wan', 'tax_credit_grade', 'late_filings_24m'] };
const inForce = { notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 365 * DAY) };
const tokens = [
  ...taxpayers.slice(0, 3).map((enterprise) => issueConsent(platform, { enterprise, ...scope, ...inForce })),
  issueConsent(platform, { enterprise: taxpayers[3]!, ...scope, notBefore: new Date(now.getTime() - 400 * DAY), notAfter: new Date(now.getTime() - 35 * DAY) }),
  issueConsent(platform, { enterprise: taxpayers[4]!, ...scope, ...inForce, tokenId: 'withdrawn-consent' }),
];
await writeFile(join(outDir, 'consents.jsonl'), tokens.map(encodeConsentToken).join(''));
await writeFile(join(outDir, 'consent-0.jsonl'), encodeConsentToken(tokens[0]!));
await revokeConsent(join(outDir, 'revoked.jsonl'), 'withdrawn-consent');

// The tax bureau admits the bank's job, filters by consent, and audits both steps.
const policy = await loadPolicy(join(here, 'policy.yaml'));
const decision = checkJob(policy, { partner: 'bank-of-example', purpose: 'credit-modeling', fields: scope.fields });
const log = await AuditLog.open(join(outDir, 'tax-bureau.audit.jsonl'), { party: policy.party, key: taxBureau });
if (!decision.admitted) {
  await log.append('job.refused', { partner: 'bank-of-example', purpose: 'credit-modeling', rule: decision.refusal.rule });
  throw decision.refusal;
}
await log.append('job.admitted', { job: 'sme-credit-1', partner: decision.partner, purpose: decision.purpose, fields: scope.fields, approvalRequired: decision.approvalRequired });
const filter = filterByConsent(taxpayers, tokens, {
  trustedIssuers: [platform],
  now,
  partners: [[decision.partner, decision.partnerKeyId]],
  purpose: decision.purpose,
  fields: scope.fields,
  revoked: await loadRevocationList(join(outDir, 'revoked.jsonl')),
});
// The counts stay here, in the bureau's own log; the bank only ever sees the PSI result.
await log.append('consent.filtered', { job: 'sme-credit-1', included: filter.included.length, excluded: filter.excluded, excludedByReason: filter.excludedByReason });

console.log(`policy:       ${decision.party} admits ${decision.partner} for ${decision.purpose} (operator approval ${decision.approvalRequired ? 'required' : 'not required'})`);
console.log(`consent:      ${filter.included.length} of ${taxpayers.length} taxpayers may enter the job; excluded ${JSON.stringify(filter.excludedByReason)}`);
console.log(`audit head:   seq ${log.head.seq}, hash ${log.head.hash} (send this to the bank or the platform to anchor the log)`);
console.log(`
Try:
  jinqiao policy check examples/governance/policy.yaml --partner bank-of-example --purpose credit-modeling --fields vat_paid_wan,legal_representative_id
  jinqiao consent verify examples/governance/out/consent-0.jsonl --trust examples/governance/keys/platform.pub --partner bank-of-example --purpose credit-modeling --fields vat_paid_wan
  jinqiao consent verify examples/governance/out/consents.jsonl --trust examples/governance/keys/platform.pub --partner bank-of-example --purpose credit-modeling --revoked examples/governance/out/revoked.jsonl
  jinqiao audit verify examples/governance/out/tax-bureau.audit.jsonl --key examples/governance/keys/tax-bureau.pub
  jinqiao audit show examples/governance/out/tax-bureau.audit.jsonl`);
