/**
 * A party service's configuration (YAML or JSON), as an operator writes it: who the party
 * is, where it listens, its TLS key and certificate, which partner certificates it trusts
 * and where to reach them, its tables, and its job store. Paths are relative to the file.
 * The file's shape is schemas/party-config.ts (docs/config-schema.json); this module adds
 * what a schema cannot say and resolves the rest. Every problem names the file, the line
 * and column, and the field.
 */
import { availableParallelism, freemem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { pathText, readYamlSource, type FieldPath } from '../data/yaml.ts';
import { errors } from '../errors.ts';
import { PartnerBudgets } from '../governance/budget.ts';
import type { PartyGovernance } from '../governance/gate.ts';
import { loadPartyGovernance } from '../local/job-file.ts';
import { conform } from '../schemas/check.ts';
import { loadOprfKey } from '../lookup/oprf-key.ts';
import { readTagFileHeader } from '../lookup/tag-file.ts';
import { PREPARE_AGAIN, staleVerificationTags } from '../lookup/verify.ts';
import type { LookupSessionLimits } from '../jobs/lookup.ts';
import { CLIENT_CERTS, DEFAULT_REQUESTS_PER_MINUTE, PARTY_ROLES, PartyConfigSchema } from '../schemas/party-config.ts';

export { CLIENT_CERTS, PARTY_ROLES };
export type PartyRole = (typeof PARTY_ROLES)[number];
export type ClientCerts = (typeof CLIENT_CERTS)[number];

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface TableConfig {
  /** A CSV file, or … */
  readonly file?: string;
  /** … a PostgreSQL table or query (`postgresql://` URL; keep the password in PGPASSWORD or ~/.pgpass). */
  readonly postgres?: { readonly connectionString: string; readonly table?: string; readonly query?: string };
  readonly idColumn: string;
  readonly labelColumn?: string;
  readonly features?: readonly string[];
  /** (Agency) The tag file prepared of this table once per key period, and its key folder: answers unbalanced PSI. */
  readonly psi?: PreparedTagsConfig;
  /** (Agency) The verification tag file prepared of this table (`psi prepare --field`) and its key folder. */
  readonly verify?: PreparedTagsConfig;
}

export interface PreparedTagsConfig {
  readonly tags: string;
  readonly keyDir: string;
  /** The key period both belong to (checked when the config is loaded). */
  readonly keyId: string;
}

export interface PartyConfig {
  readonly file: string;
  readonly name: string;
  readonly role: PartyRole;
  readonly listen: Address;
  readonly tls: { readonly key: string; readonly cert: string; readonly trust: readonly string[] };
  /** Partner name → where its service listens (the label reaches agencies and the arbiter; agencies the arbiter). */
  readonly partners: ReadonlyMap<string, Address>;
  /**
   * Partner name → the one role it may act in with this party (see `partnerRolesRule`). A
   * partner absent here is bound to no role: it may not open a job (label) nor be a job's
   * arbiter at an agency or the platform.
   */
  readonly partnerRoles: ReadonlyMap<string, PartyRole>;
  readonly tables: ReadonlyMap<string, TableConfig>;
  /** Folder for job outputs, checkpoints and model slices (and the SQLite job store by default). */
  readonly store: string;
  /** Keep the job store in PostgreSQL instead of SQLite. */
  readonly jobStore: { readonly postgres: string } | undefined;
  /**
   * The party's HTTPS API (any role: the bank submits and scores there; every party lists the
   * jobs it took part in), served with the party's own key and certificate. `clientCerts`
   * asks API clients for a certificate (`optional`) or refuses those without one trusted by
   * `clientCa` (`required`; default `off`); `clientCa` defaults to `tls.trust`.
   */
  readonly api: { readonly listen: Address; readonly token: string; readonly clientCerts: ClientCerts; readonly clientCa: readonly string[] | undefined; readonly requestsPerMinute: number } | undefined;
  /** Seconds a silent peer may take before the job fails. */
  readonly timeoutSeconds: number;
  /** The party's admission gate: policy, consent, audit (see README, Governance). */
  readonly governance: PartyGovernance | undefined;
  /** The job queue and operators' approvals (see README, Approval and the job queue); default `jobsDefaults()`. */
  readonly jobs?: JobsConfig;
  /** How often the bank's scoring sessions exchange audit anchors; default `scoringDefaults()`. */
  readonly scoring?: ScoringConfig;
  /** (Agency) How long a lookup session a bank opened lives; default `lookupDefaults()`. */
  readonly lookup?: LookupSessionLimits;
}

export function lookupDefaults(): LookupSessionLimits {
  return { maxSessionSeconds: 3600, maxSessionCalls: undefined };
}

export interface ScoringConfig {
  /** A session exchanges anchors with its agencies after this many requests... */
  readonly anchorEveryRequests: number;
  /** ... and once this many minutes passed since its last exchange (and always as it closes). */
  readonly anchorEveryMinutes: number;
}

export function scoringDefaults(): ScoringConfig {
  return { anchorEveryRequests: 100, anchorEveryMinutes: 5 };
}

export interface JobsConfig {
  /** Jobs this service (the bank) runs at once; the rest wait as `queued`, first in first out. */
  readonly concurrency: number;
  /** Seconds a job waits for this party's operator to approve it before it fails. */
  readonly approvalTimeoutSeconds: number;
}

/** A training job's CKKS work takes about this much memory; the default concurrency leaves room for each. */
const MEMORY_PER_JOB = 1.5 * 2 ** 30;

/** One job per core, as many as the free memory holds at 1.5 GiB each, and at least one. */
export function defaultConcurrency(): number {
  return Math.max(1, Math.min(availableParallelism(), Math.floor(freemem() / MEMORY_PER_JOB)));
}

/** A day for an operator to decide. */
const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 24 * 3600;

export function jobsDefaults(): JobsConfig {
  return { concurrency: defaultConcurrency(), approvalTimeoutSeconds: DEFAULT_APPROVAL_TIMEOUT_SECONDS };
}

/**
 * The role a plain `name: host:port` partner entry binds: the one role in which this party
 * dials a partner. An agency dials only the platform, so its plain entries are arbiters;
 * the platform dials no one, so its plain entries (if any) are agencies; the bank dials
 * agencies and the platform alike, so its plain entries bind nothing (its own job
 * definitions name the arbiter). The label role is never implied: an agency or the
 * platform accepts jobs only from a partner written `{ role: label }`.
 */
export function plainPartnerRole(own: PartyRole): PartyRole | undefined {
  return own === 'features' ? 'arbiter' : own === 'arbiter' ? 'features' : undefined;
}

export async function loadPartyConfig(file: string): Promise<PartyConfig> {
  const source = await readYamlSource(file);
  const bad = (path: FieldPath, why: string) => errors.jobInvalid(source.locate(path), pathText(path), why);
  const root = source.data;
  // The one field a job file takes and a service refuses: say why, not only "unknown field".
  const governance = isRecord(root) ? root.governance : undefined;
  if (isRecord(governance) && governance.approved !== undefined) {
    throw bad(['governance', 'approved'], "a party service's operator approves each job on its own: remove approved and use jinqiao approve <job> or POST /v1/jobs/{id}/approve");
  }
  conform(PartyConfigSchema, root, bad);
  const base = dirname(resolve(file));
  const paths = (value: string | readonly string[]) => (typeof value === 'string' ? [value] : value).map((f) => resolve(base, f));

  const role = root.role;
  const partners = new Map<string, Address>();
  const partnerRoles = new Map<string, PartyRole>();
  for (const [name, entry] of Object.entries(root.partners ?? {})) {
    if (typeof entry === 'string') {
      partners.set(name, parseAddress(entry));
      const implied = plainPartnerRole(role);
      if (implied) partnerRoles.set(name, implied);
      continue;
    }
    const bound = entry.role === 'agency' ? 'features' : entry.role;
    if (bound === 'label' && role === 'label') throw bad(['partners', name, 'role'], 'a label party (the bank) has no label partner: it opens the jobs');
    if (entry.address !== undefined) partners.set(name, parseAddress(entry.address));
    else if (bound !== 'label') throw bad(['partners', name, 'address'], `${name} is dialled as ${bound === 'arbiter' ? 'the arbiter' : 'an agency'}: give its host:port (only a label partner, which dials in, may go without)`);
    partnerRoles.set(name, bound);
  }

  const tables = new Map<string, TableConfig>();
  const preparedTags = async (name: string, kind: 'psi' | 'verify', spec: { tags: string; key: string }): Promise<PreparedTagsConfig> => {
    if (role !== 'features') throw bad(['tables', name, kind], `only an agency (role features) answers from a prepared tag file; ${root.name} is ${role}: remove ${kind} here`);
    const tags = resolve(base, spec.tags);
    const keyDir = resolve(base, spec.key);
    const how = kind === 'psi' ? '`jinqiao psi prepare <register> --id <column> --key <folder> --out <file>`' : '`jinqiao psi prepare <register> --id <column> --key <folder> --out <file> --field <name>[:tol=r] …`';
    const header = await readTagFileHeader(tags).catch((e: Error) => {
      throw bad(['tables', name, kind, 'tags'], `${e.message}; name the file ${how} wrote`);
    });
    if (header.kind !== kind) {
      const what = header.kind === 'verify' ? 'prepared with --field, for verification' : header.kind === 'psi' ? 'prepared without --field, for PSI' : 'a labeled set, for blind lookup';
      throw bad(['tables', name, kind, 'tags'], `${tags} is a ${header.kind} tag file (${what}), not one for ${kind === 'psi' ? 'PSI' : 'verification'}: prepare one with ${how}`);
    }
    const stale = kind === 'verify' ? staleVerificationTags(header) : undefined;
    if (stale !== undefined) throw bad(['tables', name, kind, 'tags'], `${tags} ${stale}: ${PREPARE_AGAIN}`);
    const key = await loadOprfKey(keyDir).catch((e: Error) => {
      throw bad(['tables', name, kind, 'key'], `${e.message}; name the --key folder ${tags} was prepared with`);
    });
    if (key.keyId !== header.keyId) {
      throw bad(['tables', name, kind, 'key'], `the key in ${keyDir} (key id ${key.keyId}) is not the one ${tags} was prepared with (key id ${header.keyId}): name the --key folder used with \`jinqiao psi prepare\`, or prepare the tags again with this one (a new key period)`);
    }
    return { tags, keyDir, keyId: key.keyId };
  };
  for (const [name, spec] of Object.entries(root.tables ?? {})) {
    if ((spec.file === undefined) === (spec.postgres === undefined)) throw bad(['tables', name], 'needs exactly one of file (CSV) and postgres (a postgresql:// URL, with table or query)');
    if (spec.postgres !== undefined && (spec.table === undefined) === (spec.query === undefined)) throw bad(['tables', name], 'a PostgreSQL source needs exactly one of table and query');
    tables.set(name, {
      ...(spec.file !== undefined
        ? { file: resolve(base, spec.file) }
        : {
            postgres: {
              connectionString: spec.postgres!,
              ...(spec.table === undefined ? {} : { table: spec.table }),
              ...(spec.query === undefined ? {} : { query: spec.query }),
            },
          }),
      idColumn: spec.id,
      ...(spec.label === undefined ? {} : { labelColumn: spec.label }),
      ...(spec.features === undefined ? {} : { features: spec.features }),
      ...(spec.psi === undefined ? {} : { psi: await preparedTags(name, 'psi', spec.psi) }),
      ...(spec.verify === undefined ? {} : { verify: await preparedTags(name, 'verify', spec.verify) }),
    });
  }

  const api = root.api && {
    listen: parseAddress(root.api.listen),
    token: root.api.token,
    clientCerts: root.api.clientCerts ?? 'off',
    clientCa: root.api.clientCa === undefined ? undefined : paths(root.api.clientCa),
    requestsPerMinute: root.api.requestsPerMinute ?? DEFAULT_REQUESTS_PER_MINUTE,
  };
  const partyGovernance = root.governance === undefined ? undefined : await loadPartyGovernance(root.governance, root.name, base);
  if (partyGovernance?.policy && PartnerBudgets.anyIn(partyGovernance.policy) && !partyGovernance.audit) {
    throw bad(['governance', 'audit'], "the policy gives a partner a daily budget (evaluationsPerDay), which the service counts again from its audit log after a restart: add audit (and key) here, or remove the budget");
  }
  const defaults = jobsDefaults();
  const jobs = { concurrency: root.jobs?.concurrency ?? defaults.concurrency, approvalTimeoutSeconds: root.jobs?.approvalTimeoutSeconds ?? defaults.approvalTimeoutSeconds };
  return {
    file,
    name: root.name,
    governance: partyGovernance,
    role,
    listen: parseAddress(root.listen),
    tls: { key: resolve(base, root.tls.key), cert: resolve(base, root.tls.cert), trust: paths(root.tls.trust) },
    partners,
    partnerRoles,
    tables,
    store: resolve(base, root.store),
    jobStore: root.jobStore && { postgres: root.jobStore.postgres },
    api,
    timeoutSeconds: root.timeoutSeconds ?? 60,
    jobs,
    lookup: { maxSessionSeconds: root.lookup?.maxSessionSeconds ?? lookupDefaults().maxSessionSeconds, maxSessionCalls: root.lookup?.maxSessionCalls },
    scoring: { anchorEveryRequests: root.scoring?.anchorEveryRequests ?? scoringDefaults().anchorEveryRequests, anchorEveryMinutes: root.scoring?.anchorEveryMinutes ?? scoringDefaults().anchorEveryMinutes },
  };
}

/** A `host:port` the schema has checked: the host is everything before the last colon. */
function parseAddress(value: string): Address {
  const colon = value.lastIndexOf(':');
  return { host: value.slice(0, colon), port: Number(value.slice(colon + 1)) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
