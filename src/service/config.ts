/**
 * A party service's configuration (YAML or JSON), as an operator writes it: who the party
 * is, where it listens, its TLS key and certificate, which partner certificates it trusts
 * and where to reach them, its tables, and its job store. Paths are relative to the file.
 * Every problem names the file and the field.
 */
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../data/yaml.ts';
import { errors } from '../errors.ts';
import type { PartyGovernance } from '../governance/gate.ts';
import { loadPartyGovernance } from '../local/job-file.ts';

export type PartyRole = 'label' | 'features' | 'arbiter';

export const CLIENT_CERTS = ['off', 'optional', 'required'] as const;
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
  readonly api: { readonly listen: Address; readonly token: string; readonly clientCerts: ClientCerts; readonly clientCa: readonly string[] | undefined } | undefined;
  /** Seconds a silent peer may take before the job fails. */
  readonly timeoutSeconds: number;
  /** The party's admission gate: policy, consent, audit (see README, Governance). */
  readonly governance: PartyGovernance | undefined;
}

type Json = Record<string, unknown>;

const API_KEYS = ['listen', 'token', 'clientCerts', 'clientCa'];
const TABLE_KEYS = ['file', 'postgres', 'table', 'query', 'id', 'label', 'features'];
const PARTNER_KEYS = ['address', 'role'];

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
  const root = await readYamlFile(file);
  const bad = (field: string, why: string) => errors.jobInvalid(file, field, why);
  if (!isObject(root)) throw bad('(top level)', 'must be a mapping');
  const base = dirname(resolve(file));
  const known = ['name', 'role', 'listen', 'tls', 'partners', 'tables', 'store', 'jobStore', 'api', 'timeoutSeconds', 'governance'];
  for (const key of Object.keys(root)) if (!known.includes(key)) throw bad(key, `unknown field (expected one of: ${known.join(', ')})`);
  const str = (v: unknown, field: string) => {
    if (typeof v !== 'string' || v === '') throw bad(field, 'must be a non-empty string');
    return v;
  };
  const role = str(root.role, 'role');
  if (role !== 'label' && role !== 'features' && role !== 'arbiter') throw bad('role', 'must be label, features or arbiter');
  const tls = root.tls;
  if (!isObject(tls)) throw bad('tls', 'must give key, cert and trust');
  const trust = Array.isArray(tls.trust) ? tls.trust : [tls.trust];
  const partners = new Map<string, Address>();
  const partnerRoles = new Map<string, PartyRole>();
  if (root.partners !== undefined) {
    if (!isObject(root.partners)) throw bad('partners', 'must map partner names to host:port or { address, role }');
    for (const [name, entry] of Object.entries(root.partners)) {
      const at = `partners.${name}`;
      if (isObject(entry)) {
        for (const key of Object.keys(entry)) if (!PARTNER_KEYS.includes(key)) throw bad(`${at}.${key}`, `unknown field (expected one of: ${PARTNER_KEYS.join(', ')})`);
        const bound = entry.role === 'agency' ? 'features' : entry.role;
        if (bound !== 'label' && bound !== 'features' && bound !== 'arbiter') throw bad(`${at}.role`, 'must be label (the bank), agency (or features) or arbiter (the platform)');
        if (bound === 'label' && role === 'label') throw bad(`${at}.role`, 'a label party (the bank) has no label partner: it opens the jobs');
        if (entry.address !== undefined) partners.set(name, parseAddress(entry.address, `${at}.address`, bad));
        else if (bound !== 'label') throw bad(`${at}.address`, `${name} is dialled as ${bound === 'arbiter' ? 'the arbiter' : 'an agency'}: give its host:port (only a label partner, which dials in, may go without)`);
        partnerRoles.set(name, bound);
      } else {
        partners.set(name, parseAddress(entry, at, bad));
        const implied = plainPartnerRole(role);
        if (implied) partnerRoles.set(name, implied);
      }
    }
  }
  const tables = new Map<string, TableConfig>();
  if (root.tables !== undefined) {
    if (!isObject(root.tables)) throw bad('tables', 'must map table names to { file, id, label?, features? }');
    for (const [name, spec] of Object.entries(root.tables)) {
      if (!isObject(spec)) throw bad(`tables.${name}`, 'must be { file | postgres, id, label?, features? }');
      for (const key of Object.keys(spec)) if (!TABLE_KEYS.includes(key)) throw bad(`tables.${name}.${key}`, `unknown field (expected one of: ${TABLE_KEYS.join(', ')})`);
      if ((spec.file === undefined) === (spec.postgres === undefined)) throw bad(`tables.${name}`, 'needs exactly one of file (CSV) and postgres (a postgresql:// URL, with table or query)');
      if (spec.postgres !== undefined && (spec.table === undefined) === (spec.query === undefined)) throw bad(`tables.${name}`, 'a PostgreSQL source needs exactly one of table and query');
      tables.set(name, {
        ...(spec.file !== undefined
          ? { file: resolve(base, str(spec.file, `tables.${name}.file`)) }
          : {
              postgres: {
                connectionString: str(spec.postgres, `tables.${name}.postgres`),
                ...(spec.table === undefined ? {} : { table: str(spec.table, `tables.${name}.table`) }),
                ...(spec.query === undefined ? {} : { query: str(spec.query, `tables.${name}.query`) }),
              },
            }),
        idColumn: str(spec.id, `tables.${name}.id`),
        ...(spec.label === undefined ? {} : { labelColumn: str(spec.label, `tables.${name}.label`) }),
        ...(spec.features === undefined ? {} : { features: (spec.features as unknown[]).map((f, i) => str(f, `tables.${name}.features[${i}]`)) }),
      });
    }
  }
  let api: PartyConfig['api'];
  if (root.api !== undefined) {
    if (!isObject(root.api)) throw bad('api', 'must be { listen, token, clientCerts?, clientCa? }');
    for (const key of Object.keys(root.api)) if (!API_KEYS.includes(key)) throw bad(`api.${key}`, `unknown field (expected one of: ${API_KEYS.join(', ')})`);
    const token = str(root.api.token, 'api.token');
    if (token.length < 16) throw bad('api.token', 'must be at least 16 characters (a bearer token for API clients)');
    const clientCerts = root.api.clientCerts ?? 'off';
    if (!CLIENT_CERTS.includes(clientCerts as ClientCerts)) throw bad('api.clientCerts', `must be one of ${CLIENT_CERTS.join(', ')}`);
    const clientCa = root.api.clientCa === undefined ? undefined : (Array.isArray(root.api.clientCa) ? root.api.clientCa : [root.api.clientCa]).map((c, i) => resolve(base, str(c, `api.clientCa[${i}]`)));
    api = { listen: parseAddress(root.api.listen, 'api.listen', bad), token, clientCerts: clientCerts as ClientCerts, clientCa };
  }
  let jobStore: PartyConfig['jobStore'];
  if (root.jobStore !== undefined) {
    if (!isObject(root.jobStore)) throw bad('jobStore', 'must be { postgres: postgresql://… }');
    const url = str(root.jobStore.postgres, 'jobStore.postgres');
    if (!/^postgres(ql)?:\/\//.test(url)) throw bad('jobStore.postgres', 'must be a postgresql:// URL');
    jobStore = { postgres: url };
  }
  const timeoutSeconds = root.timeoutSeconds === undefined ? 60 : Number(root.timeoutSeconds);
  if (!(timeoutSeconds > 0)) throw bad('timeoutSeconds', 'must be a positive number of seconds');
  const name = str(root.name, 'name');
  const governance = root.governance === undefined ? undefined : await loadPartyGovernance(root.governance, name, 'governance', base, bad);
  return {
    file,
    name,
    governance,
    role,
    listen: parseAddress(root.listen, 'listen', bad),
    tls: { key: resolve(base, str(tls.key, 'tls.key')), cert: resolve(base, str(tls.cert, 'tls.cert')), trust: trust.map((t, i) => resolve(base, str(t, `tls.trust[${i}]`))) },
    partners,
    partnerRoles,
    tables,
    store: resolve(base, str(root.store, 'store')),
    jobStore,
    api,
    timeoutSeconds,
  };
}

function parseAddress(value: unknown, field: string, bad: (field: string, why: string) => Error): Address {
  if (typeof value !== 'string') throw bad(field, 'must be host:port');
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw bad(field, `"${value}" is not host:port`);
  return { host: value.slice(0, colon), port };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
