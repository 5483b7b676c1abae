/**
 * Four party services in this process — the bank, two agencies and the platform — talking
 * mutual TLS on loopback, with small tables cut from the bundled example (300 enterprises
 * every party holds, a few the agencies hold alone), certificates made on the spot and
 * stores in a temporary folder. Lighter than test/e2e (no child processes, no PostgreSQL),
 * for tests of the services' job lifecycle.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AuditLog } from '../../src/governance/audit.ts';
import type { PartyGovernance } from '../../src/governance/gate.ts';
import { generateKeyPair, type PartyKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import type { JobsConfig, PartyConfig, ScoringConfig, TableConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
export const PARTIES = ['bank', 'tax-bureau', 'social-insurance', 'arbiter'] as const;
export type PartyName = (typeof PARTIES)[number];

export interface LoopbackParties {
  readonly dir: string;
  readonly services: Readonly<Record<PartyName, PartyService>>;
  /** The party's own log lines. */
  readonly logs: Readonly<Record<PartyName, string[]>>;
  /** Audit logs of the parties given governance. */
  readonly audit: Partial<Record<PartyName, AuditLog>>;
  /** A job of the bank over both agencies, one epoch. */
  job(id: string, purpose?: string): Record<string, unknown>;
  close(): Promise<void>;
}

export interface LoopbackOptions {
  /** Per party: the purposes its policy makes wait for its operator's approval (a policy and an audit log are set up for it). */
  readonly approvalFor?: Partial<Record<PartyName, readonly string[]>>;
  /** Per party: its job queue and approval timeout. */
  readonly jobs?: Partial<Record<PartyName, JobsConfig>>;
  /** Per party: how often its scoring sessions exchange audit anchors. */
  readonly scoring?: Partial<Record<PartyName, ScoringConfig>>;
}

const FIELDS: Record<string, readonly string[]> = {
  bank: ['loan_amount_wan', 'years_as_customer', 'overdue_count_12m', 'defaulted'],
  'tax-bureau': ['vat_paid_wan', 'tax_credit_grade', 'late_filings_24m'],
  'social-insurance': ['insured_employees', 'contribution_arrears_months'],
  // The platform reads no table; a policy still names a field, which its jobs never use.
  arbiter: ['ciphertexts'],
};

function rows(file: string): { header: string; lines: string[] } {
  const [header, ...lines] = readFileSync(join(SME, file), 'utf8').trim().split('\n');
  return { header: header!, lines };
}

/** Writes the small tables and returns their files. */
function writeTables(dir: string): Record<'bank' | 'tax' | 'social', string> {
  const bank = rows('bank.csv');
  const tax = rows('tax_bureau.csv');
  const social = rows('social_insurance.csv');
  const idOf = (line: string) => line.slice(0, line.indexOf(','));
  const taxIds = new Set(tax.lines.map(idOf));
  const socialIds = new Set(social.lines.map(idOf));
  const shared = bank.lines.filter((l) => taxIds.has(idOf(l)) && socialIds.has(idOf(l))).slice(0, 300);
  const ids = new Set(shared.map(idOf));
  const write = (name: string, header: string, lines: readonly string[]) => {
    const file = join(dir, name);
    writeFileSync(file, [header, ...lines].join('\n') + '\n');
    return file;
  };
  return {
    bank: write('bank.csv', bank.header, shared),
    tax: write('tax.csv', tax.header, [...tax.lines.filter((l) => ids.has(idOf(l))), ...tax.lines.filter((l) => !ids.has(idOf(l))).slice(0, 40)]),
    social: write('social.csv', social.header, [...social.lines.filter((l) => ids.has(idOf(l))), ...social.lines.filter((l) => !ids.has(idOf(l))).slice(0, 40)]),
  };
}

/** A policy admitting every other party for `purpose`, with the party's own fields, asking its operator where listed. */
function policyFor(party: PartyName, keys: Record<PartyName, PartyKeyPair>, purposes: readonly string[], approval: readonly string[], dir: string) {
  const fields = FIELDS[party]!;
  const text = [
    `party: ${party}`,
    `fields: { ${fields.map((f) => `${f}: internal`).join(', ')} }`,
    'purposes:',
    ...purposes.map((p) => `  ${p}: { fields: [${fields.join(', ')}], consentRequired: false, approvalRequired: ${approval.includes(p)}, disclosePartialScores: true }`),
    'partners:',
    ...PARTIES.filter((p) => p !== party).map((p) => `  - { id: ${p}, publicKey: ${Buffer.from(keys[p].publicKey).toString('hex')}, purposes: [${purposes.join(', ')}] }`),
  ].join('\n');
  return parsePolicy(text + '\n', join(dir, `${party}-policy.yaml`));
}

export async function startLoopbackParties(options: LoopbackOptions = {}): Promise<LoopbackParties> {
  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-services-'));
  const files = writeTables(dir);
  for (const name of PARTIES) await writePartyIdentity(dir, await createPartyIdentity({ name }));
  const keys = Object.fromEntries(PARTIES.map((p) => [p, generateKeyPair()])) as Record<PartyName, PartyKeyPair>;
  const purposes = ['credit-modeling', 'credit-review', 'risk-monitoring'];
  const audit: Partial<Record<PartyName, AuditLog>> = {};
  const governanceOf = async (party: PartyName): Promise<PartyGovernance | undefined> => {
    const approval = options.approvalFor?.[party];
    if (!approval) return undefined;
    audit[party] = await AuditLog.open(join(dir, `${party}.audit.jsonl`), { party, key: keys[party] });
    return { institution: party, policy: await policyFor(party, keys, purposes, approval, dir), audit: audit[party] };
  };
  const logs = Object.fromEntries(PARTIES.map((p) => [p, [] as string[]])) as Record<PartyName, string[]>;
  const services = {} as Record<PartyName, PartyService>;
  const start = async (name: PartyName, role: PartyConfig['role'], partners: Partial<Record<PartyName, number>>, tables: Record<string, TableConfig>) => {
    const config: PartyConfig = {
      file: join(dir, `${name}.yaml`),
      name,
      role,
      listen: { host: '127.0.0.1', port: 0 },
      tls: { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`), trust: PARTIES.map((p) => join(dir, `${p}.crt`)) },
      partners: new Map(Object.entries(partners).map(([p, port]) => [p, { host: '127.0.0.1', port: port! }])),
      // Roles bound as a real config binds them: the bank opens jobs, the arbiter is the arbiter, agencies are agencies.
      partnerRoles: new Map<string, PartyConfig['role']>(PARTIES.filter((p) => p !== name).map((p) => [p, p === 'bank' ? 'label' : p === 'arbiter' ? 'arbiter' : 'features'])),
      tables: new Map(Object.entries(tables)),
      store: join(dir, `store-${name}`),
      jobStore: undefined,
      api: undefined,
      // Liveness is not under test here; four services share this process's event loop on a loaded machine.
      timeoutSeconds: 300,
      governance: await governanceOf(name),
      ...(options.jobs?.[name] ? { jobs: options.jobs[name] } : {}),
      ...(options.scoring?.[name] ? { scoring: options.scoring[name] } : {}),
    };
    services[name] = await startPartyService(config, (line) => logs[name].push(line));
    return services[name];
  };
  const arbiter = await start('arbiter', 'arbiter', {}, {});
  const tax = await start('tax-bureau', 'features', { arbiter: arbiter.tlsPort }, { taxpayers: { file: files.tax, idColumn: 'uscc' } });
  const social = await start('social-insurance', 'features', { arbiter: arbiter.tlsPort }, { insured: { file: files.social, idColumn: 'uscc' } });
  await start('bank', 'label', { arbiter: arbiter.tlsPort, 'tax-bureau': tax.tlsPort, 'social-insurance': social.tlsPort }, { customers: { file: files.bank, idColumn: 'uscc', labelColumn: 'defaulted' } });
  return {
    dir,
    services,
    logs,
    audit,
    job: (id, purpose = 'credit-modeling') => ({
      job: id,
      purpose,
      label: { table: 'customers' },
      features: [
        { party: 'tax-bureau', table: 'taxpayers' },
        { party: 'social-insurance', table: 'insured' },
      ],
      training: { epochs: 1, seed: id },
    }),
    async close() {
      for (const name of ['bank', 'tax-bureau', 'social-insurance', 'arbiter'] as const) await services[name]?.close().catch(() => {});
    },
  };
}

/** Polls until `check` holds (or fails after `timeoutMs`). */
export async function eventually<T>(what: string, check: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
