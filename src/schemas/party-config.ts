/**
 * A party service's configuration (`jinqiao serve --config`, service/config.ts), as a
 * TypeBox schema: its raw shape, before paths are resolved and partners bound to roles.
 *
 * What the schema cannot say stays in the loader: a table reads exactly one of a CSV file
 * and PostgreSQL (and PostgreSQL exactly one of table and query), the partner roles this
 * party's own role allows, a partner dialled without an address, and files that must exist.
 */
import { Type, type Static } from 'typebox';
import { ServiceGovernanceSchema } from './governance.ts';

export const PARTY_ROLES = ['label', 'features', 'arbiter'] as const;
/** Requests one API client address may make per minute (api.requestsPerMinute). */
export const DEFAULT_REQUESTS_PER_MINUTE = 1200;

export const CLIENT_CERTS = ['off', 'optional', 'required'] as const;

/** host:port, port 0..65535 (0: any free port). The host is everything before the last colon, so `[::1]:7400` works. */
const ADDRESS_PATTERN = '^.+:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)$';
const Address = (description: string) => Type.String({ pattern: ADDRESS_PATTERN, description, errorMessage: 'must be host:port' });

const File = (description: string) => Type.String({ minLength: 1, description });
const Files = (description: string) =>
  Type.Union([File('A PEM file, relative to this config'), Type.Array(File('A PEM file, relative to this config'))], { description, errorMessage: 'must be a file or a list of files' });

const PartnerEntrySchema = Type.Object(
  {
    address: Type.Optional(Address('Where its service listens; only a label partner (which dials in) may go without')),
    role: Type.Enum(['label', 'agency', 'features', 'arbiter'], {
      type: 'string',
      description: 'The one role it may act in with this party: label (the bank), agency or features, arbiter (the platform)',
      errorMessage: 'must be label (the bank), agency (or features) or arbiter (the platform)',
    }),
  },
  { additionalProperties: false },
);

const TableSchema = Type.Object(
  {
    file: Type.Optional(File('A CSV file, relative to this config')),
    postgres: Type.Optional(Type.String({ minLength: 1, writeOnly: true, description: 'Or a postgresql:// URL (keep the password in PGPASSWORD or ~/.pgpass), with table or query' })),
    table: Type.Optional(Type.String({ minLength: 1, description: 'The PostgreSQL table' })),
    query: Type.Optional(Type.String({ minLength: 1, description: 'Or a PostgreSQL query' })),
    id: Type.String({ minLength: 1, description: 'The ID column' }),
    label: Type.Optional(Type.String({ minLength: 1, description: 'The 0/1 outcome column (the bank)' })),
    features: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Feature columns (default: every column but the ID and label)' })),
    psi: Type.Optional(
      Type.Object(
        {
          tags: File('(Agency) The tag file `jinqiao psi prepare` made of this table, relative to this config'),
          key: File('(Agency) The --key folder (key period) it was prepared with, holding oprf.key'),
        },
        { additionalProperties: false, description: "(Agency) Answer banks' unbalanced PSI (POST /v1/psi at the bank) against this prepared tag file", errorMessage: { type: 'must be { tags, key }' } },
      ),
    ),
    verify: Type.Optional(
      Type.Object(
        {
          tags: File('(Agency) The verification tag file `jinqiao psi prepare --field …` made of this table, relative to this config'),
          key: File('(Agency) The --key folder (key period) it was prepared with, holding oprf.key'),
        },
        {
          additionalProperties: false,
          description: "(Agency) Answer banks' verification (POST /v1/verify at the bank) of the fields and tolerances this tag file was prepared for from it, instead of preparing tags for every session",
          errorMessage: { type: 'must be { tags, key }' },
        },
      ),
    ),
  },
  { additionalProperties: false, errorMessage: { type: 'must be { file | postgres, id, label?, features?, psi?, verify? }' } },
);

/** A party service's configuration file. */
export const PartyConfigSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'The party, as its partners name it' }),
    role: Type.Enum(PARTY_ROLES, { type: 'string', description: 'label (the bank), features (an agency) or arbiter (the platform)' }),
    listen: Address('Where the party service listens for its partners (mutual TLS)'),
    tls: Type.Object(
      {
        key: File("The party's TLS private key (PEM)"),
        cert: File("The party's TLS certificate (PEM)"),
        trust: Files("The partners' certificates (or their CA's) it trusts"),
      },
      { additionalProperties: false, errorMessage: { type: 'must give key, cert and trust' } },
    ),
    partners: Type.Optional(
      Type.Record(Type.String(), Type.Union([Address('Where the partner listens; the role is the one this party dials it in'), PartnerEntrySchema]), {
        description: 'Partner name → host:port, or { address, role } to bind the role it may act in',
        errorMessage: 'must map partner names to host:port or { address, role }',
      }),
    ),
    tables: Type.Optional(Type.Record(Type.String(), TableSchema, { description: 'Table name → where its rows are', errorMessage: 'must map table names to { file, id, label?, features? }' })),
    store: File('Folder for job outputs, checkpoints and model slices (and the SQLite job store by default)'),
    jobStore: Type.Optional(
      Type.Object(
        { postgres: Type.String({ pattern: '^postgres(ql)?://', writeOnly: true, description: 'A postgresql:// URL', errorMessage: 'must be a postgresql:// URL' }) },
        { additionalProperties: false, description: 'Keep the job store in PostgreSQL instead of SQLite', errorMessage: { type: 'must be { postgres: postgresql://… }' } },
      ),
    ),
    api: Type.Optional(
      Type.Object(
        {
          listen: Address('Where the HTTPS API listens'),
          token: Type.String({ minLength: 16, writeOnly: true, description: 'The bearer token API clients send', errorMessage: 'must be at least 16 characters (a bearer token for API clients)' }),
          clientCerts: Type.Optional(Type.Enum(CLIENT_CERTS, { type: 'string', default: 'off', description: 'Ask API clients for a certificate (optional), or refuse those without one trusted by clientCa (required)' })),
          clientCa: Type.Optional(Files('Certificates that API client certificates must chain to (default: tls.trust)')),
          requestsPerMinute: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_REQUESTS_PER_MINUTE, description: 'Requests one client address may make per minute before it is answered 429 with Retry-After (a loan system scoring from one address at more than 20 a second needs more)', errorMessage: 'must be a whole number of requests per minute, 1 to 1000000 (default 1200)' }),
          ),
        },
        { additionalProperties: false, description: "The party's HTTPS API, served with its own key and certificate", errorMessage: { type: 'must be { listen, token, clientCerts?, clientCa?, requestsPerMinute? }' } },
      ),
    ),
    timeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 60, description: 'Seconds a silent peer may take before the job fails', errorMessage: 'must be a positive number of seconds' })),
    governance: Type.Optional(ServiceGovernanceSchema),
    jobs: Type.Optional(
      Type.Object(
        {
          concurrency: Type.Optional(Type.Integer({ minimum: 1, description: 'Jobs the service runs at once (default: one per core, as many as free memory holds at 1.5 GiB each)', errorMessage: 'must be a whole number of jobs, at least 1' })),
          approvalTimeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 86_400, description: "Seconds a job waits for this party's operator to approve it", errorMessage: 'must be a positive number of seconds (default 86400, a day)' })),
        },
        { additionalProperties: false, description: "The job queue and operators' approvals", errorMessage: { type: 'must be { concurrency?, approvalTimeoutSeconds? }' } },
      ),
    ),
    lookup: Type.Optional(
      Type.Object(
        {
          maxSessionSeconds: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, default: 3600, description: "(Agency) A verification or lookup session a bank opened ends after this many seconds; the bank's next call opens a new one, under the policy, consent and register of that moment", errorMessage: 'must be a positive number of seconds (default 3600, an hour)' }),
          ),
          maxSessionCalls: Type.Optional(Type.Integer({ minimum: 1, description: '(Agency) ... or after this many calls, whichever comes first (default: no limit on calls)', errorMessage: 'must be a whole number of calls, at least 1' })),
        },
        { additionalProperties: false, description: 'Verification and interface calls: how long a session a bank opened lives before this agency ends it', errorMessage: { type: 'must be { maxSessionSeconds?, maxSessionCalls? }' } },
      ),
    ),
    scoring: Type.Optional(
      Type.Object(
        {
          anchorEveryRequests: Type.Optional(Type.Integer({ minimum: 1, default: 100, description: "(Bank) A scoring session exchanges signed audit anchors with its agencies after this many requests (and at its end)", errorMessage: 'must be a whole number of requests, at least 1 (default 100)' })),
          anchorEveryMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 5, description: '(Bank) ... and once this many minutes have passed since its last exchange, idle or not', errorMessage: 'must be a positive number of minutes (default 5)' })),
        },
        { additionalProperties: false, description: 'Scoring sessions: how often a long session anchors the audit logs of the bank and its agencies', errorMessage: { type: 'must be { anchorEveryRequests?, anchorEveryMinutes? }' } },
      ),
    ),
  },
  {
    additionalProperties: false,
    title: 'Party service configuration',
    description: 'A party service (jinqiao serve --config); paths are relative to the file',
    errorMessage: { type: 'must be a mapping' },
  },
);
export type PartyConfigFile = Static<typeof PartyConfigSchema>;
