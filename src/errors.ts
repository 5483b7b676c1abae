/**
 * The catalogue of every failure a user of jinqiao can hit.
 *
 * Each error carries a stable `code` that integrators switch on, a message that says what
 * went wrong, where (file, line and column for data errors, the field for options), and a
 * `hint` that says what to do. The CLI prints `message` and `hint` on one line each and
 * exits 2 for input errors, 1 for everything else; it never prints a stack trace for a
 * JinqiaoError.
 */

/**
 * Every error code, whether the user's input is at fault (the CLI exits 2, the service answers
 * 4xx) and what it means. Codes are stable: integrators switch on them. Codes the party
 * service answers with over HTTP are here too, and so is E_NODE_VERSION, which
 * bin/jinqiao.js prints before any of this can load.
 */
export const ERROR_CATALOGUE = {
  E_FILE_UNREADABLE: { input: true, meaning: 'an input file cannot be read (missing, not a file, no permission)' },
  E_FILE_ENCODING: { input: true, meaning: 'a CSV file is neither UTF-8 nor GB18030 text' },
  E_CSV_SYNTAX: { input: true, meaning: 'a CSV row is malformed (field count, quotes, header)' },
  E_COLUMN_MISSING: { input: true, meaning: 'a named column is not in the table' },
  E_ID_INVALID: { input: true, meaning: 'an ID is invalid or empty (an error under --strict)' },
  E_ID_DUPLICATE: { input: true, meaning: 'an ID is repeated (an error under --strict)' },
  E_VALUE_NOT_NUMERIC: { input: true, meaning: 'a feature cell is not a number' },
  E_LABEL_NOT_BINARY: { input: true, meaning: 'a label is not 0 or 1' },
  E_OPTION_INVALID: { input: true, meaning: 'an option or parameter has a bad value; `field` names it' },
  E_JOB_INVALID: { input: true, meaning: 'a job file, party config or job definition is invalid; `field` names the field' },
  E_INTERSECTION_EMPTY: { input: true, meaning: 'the parties have no enterprise in common' },
  E_TOO_FEW_ROWS: { input: true, meaning: 'too few rows for a batch, or a batch too small to hide the residuals' },
  E_PARAMS_INSECURE: { input: true, meaning: 'HE or masking parameters below the security floor; `field` names the parameter' },
  E_HE_DEPTH_EXHAUSTED: { input: false, meaning: 'a ciphertext has no rescale level left for the operation' },
  E_PROTOCOL: { input: false, meaning: 'a peer broke the protocol' },
  E_MESSAGE_MALFORMED: { input: false, meaning: 'a peer sent bytes that are not a jinqiao message' },
  E_CHANNEL_CLOSED: { input: false, meaning: 'the channel to a peer closed' },
  E_BACKEND_UNAVAILABLE: { input: false, meaning: 'a PSI group backend cannot be loaded on this machine' },
  E_MODEL_INVALID: { input: true, meaning: 'a model slice or checkpoint is unusable for this job, or a monitoring run kept in --runs is damaged' },
  E_OUTPUT_UNWRITABLE: { input: true, meaning: 'an output cannot be written' },
  E_VALUES_INVALID: { input: true, meaning: 'an in-memory array handed to the model maths is unusable' },
  E_ONE_CLASS: { input: true, meaning: 'labels hold one outcome only' },
  E_FEATURE_UNBINNABLE: { input: true, meaning: 'a feature cannot be binned (one distinct value, all missing, or bins that would isolate a few enterprises)' },
  E_LABEL_AMONG_FEATURES: { input: true, meaning: "an agency's table holds the label column as a feature" },
  E_POLICY_INVALID: { input: true, meaning: "a data holder's policy file is invalid; `field` names the field" },
  E_POLICY_REFUSED: { input: false, meaning: "a job or call outside a data holder's policy; `rule` names the rule (partner.daily-budget: a partner's interface calls past its daily budget, HTTP 429 with Retry-After)" },
  E_ROLE_REFUSED: { input: false, meaning: "a job asks a partner to act in a role the party's config does not bind to it (a label that is not its bank, an arbiter that is not its platform or is also a data party); `rule` names the rule" },
  E_PARTIAL_SCORE_DISCLOSURE: { input: true, meaning: "a training job would show the bank one agency's partial scores, and no policy allows it" },
  E_SCORE_REFUSED: { input: false, meaning: 'one enterprise of a scoring request is not scored; `rule` says why (the rest are)' },
  E_KEY_INVALID: { input: true, meaning: "a key file is unusable: a signing key, or the arbiter's kept key of a model trained with --keep-encrypted" },
  E_CONSENT_FILE_INVALID: { input: true, meaning: 'a consent token file or revocation list is malformed' },
  E_CONSENT_INVALID: { input: false, meaning: "an enterprise's consent does not cover the job; `reason` says why" },
  E_AUDIT_BROKEN: { input: false, meaning: 'an audit log fails verification' },
  E_PEER_UNTRUSTED: { input: false, meaning: 'a TLS peer was refused at the handshake, or an API client for presenting a certificate the party does not trust' },
  E_DATABASE_UNREACHABLE: { input: false, meaning: 'a PostgreSQL server cannot be reached or refuses the login' },
  E_DATABASE_QUERY: { input: true, meaning: "the database refused the read of a party's table" },
  E_UNAUTHORIZED: { input: true, meaning: 'a service API request without the right bearer token' },
  E_NOT_FOUND: { input: true, meaning: 'a service API request for a route or job that does not exist' },
  E_NOT_READY: { input: true, meaning: "a job's outputs were asked for before it succeeded" },
  E_NOT_RUNNING: { input: true, meaning: 'a job that is not running was asked to stop' },
  E_INTERNAL: { input: false, meaning: 'a failure that is not in this catalogue (a bug): reported to peers and API clients without detail' },
  E_NODE_VERSION: { input: true, meaning: 'the Node.js running jinqiao is older than 24' },
  E_INTERRUPTED: { input: false, meaning: 'the service stopped while the job ran; resume it' },
  E_TABLE_UNKNOWN: { input: true, meaning: "a job names a table the party's configuration does not hold" },
  E_BUSY: { input: false, meaning: 'the service queues no more requests of this kind now; retry after the time it gives' },
  E_RATE_LIMITED: { input: true, meaning: 'a service API client sent more requests than its per-client rate allows; retry after the time it gives (HTTP 429, Retry-After)' },
  E_JOB_REJECTED: { input: false, meaning: "a party's operator rejected the job (or cancelled it while it awaited approval); the message names the party and the reason" },
  E_APPROVAL_TIMEOUT: { input: false, meaning: "a job waited longer than the party's approval timeout for its operator's decision" },
  E_NOT_AWAITING_APPROVAL: { input: true, meaning: 'an approval or rejection for a job that is not waiting for this party\'s approval' },
} as const satisfies Record<string, { readonly input: boolean; readonly meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Where in an input file a problem sits; lines and columns count from 1. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** The column's header name, when the problem belongs to a named column. */
  readonly columnName?: string;
}

export class JinqiaoError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly location: SourceLocation | undefined;
  /** The option, parameter or file field at fault (e.g. `--threads`, `training.epochs`), as data. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, hint: string, location?: SourceLocation, field?: string) {
    super(message);
    this.name = 'JinqiaoError';
    this.code = code;
    this.hint = hint;
    this.location = location;
    this.field = field;
  }

  /** True when the user's input (not jinqiao or a peer) is at fault. */
  get isInputError(): boolean {
    return ERROR_CATALOGUE[this.code].input;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, location: this.location, field: this.field };
  }
}

/**
 * Codes whose message a party may pass to its peers when it stops a job: they describe its
 * configuration, policy or the job's definition, never a row of its data.
 */
export const SHAREABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_TABLE_UNKNOWN', 'E_POLICY_REFUSED', 'E_ROLE_REFUSED', 'E_PARTIAL_SCORE_DISCLOSURE', 'E_JOB_INVALID', 'E_PARAMS_INSECURE', 'E_MODEL_INVALID', 'E_JOB_REJECTED', 'E_APPROVAL_TIMEOUT']);

export function isJinqiaoError(e: unknown): e is JinqiaoError {
  return e instanceof JinqiaoError;
}

/** Characters of a value an error message shows; the rest is counted, not printed. */
export const SHOWN_CHARACTERS = 60;

/**
 * A value from the user's data as every error message shows it: quoted, and cut to a
 * readable length with its full length stated, so that a 50 MB cell never floods a terminal
 * or a log (`"91350100…"… (52428800 characters)`).
 */
export function shownValue(value: string): string {
  if (value.length <= SHOWN_CHARACTERS) return JSON.stringify(value);
  // Never cut between the two halves of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(value[SHOWN_CHARACTERS - 1]!) ? SHOWN_CHARACTERS - 1 : SHOWN_CHARACTERS;
  return `${JSON.stringify(value.slice(0, end))}… (${value.length} characters)`;
}

/** Column names as a message lists them: each cut like a value, at most 30 of them. */
function shownList(names: readonly string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, 30).map((n) => (n.length > SHOWN_CHARACTERS ? shownValue(n) : n));
  return shown.join(', ') + (names.length > shown.length ? `, … (${names.length} columns)` : '');
}

/** What to do about a missing column, by the column's role. */
export const COLUMN_HINTS = {
  id: 'name an existing column with --id (id: in a job file)',
  label: 'name the 0/1 outcome column with --label-column (label: in a job file)',
  feature: "list only columns the table has as the party's features",
} as const;

/** `file:line:column` as editors and compilers print it. */
export function formatLocation(loc: SourceLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.column !== undefined) s += `:${loc.column}`;
  if (loc.columnName !== undefined) s += ` (column ${shownValue(loc.columnName)})`;
  return s;
}

export const errors = {
  /** `hint` for a file that was read but is not what it should be (a truncated tag file). */
  fileUnreadable: (file: string, reason: string, hint = 'check the path and the file permissions') =>
    new JinqiaoError('E_FILE_UNREADABLE', `${file}: cannot read the file (${reason})`, hint, { file }),
  encodingUnknown: (file: string) =>
    new JinqiaoError(
      'E_FILE_ENCODING',
      `${file}: the text is neither UTF-8 nor GB18030`,
      'save the file as CSV UTF-8, or name its encoding with --encoding',
      { file },
    ),
  csvSyntax: (loc: SourceLocation, what: string) =>
    new JinqiaoError(
      'E_CSV_SYNTAX',
      `${formatLocation(loc)}: ${what}`,
      'fix the row so that it has the same number of comma-separated fields as the header, with quotes balanced',
      loc,
    ),
  /** `hint` names the option that names the column (the ID column's by default). */
  columnMissing: (file: string, column: string, available: readonly string[], hint: string = COLUMN_HINTS.id) =>
    new JinqiaoError(
      'E_COLUMN_MISSING',
      `${file}:1: no column ${shownValue(column)} in the header (columns: ${shownList(available)})`,
      hint,
      { file, line: 1 },
    ),
  /** `hint` for commands without --strict (verify, lookup), where every row of the file must hold a valid ID. */
  idInvalid: (loc: SourceLocation, value: string, why: string, hint = 'correct or remove the row, or run without --strict to skip and count invalid IDs') =>
    new JinqiaoError('E_ID_INVALID', `${formatLocation(loc)}: invalid ID ${shownValue(value)}: ${why}`, hint, loc),
  idDuplicate: (loc: SourceLocation, firstLine: number) =>
    new JinqiaoError(
      'E_ID_DUPLICATE',
      `${formatLocation(loc)}: duplicate ID (first seen on line ${firstLine})`,
      'remove the duplicate row, or run without --strict to keep only the first',
      loc,
    ),
  valueNotNumeric: (loc: SourceLocation, value: string) =>
    new JinqiaoError(
      'E_VALUE_NOT_NUMERIC',
      `${formatLocation(loc)}: ${shownValue(value)} is not a number`,
      'feature columns must hold decimal numbers; leave a cell empty for a missing value',
      loc,
    ),
  labelNotBinary: (loc: SourceLocation, value: string) =>
    new JinqiaoError(
      'E_LABEL_NOT_BINARY',
      `${formatLocation(loc)}: label ${shownValue(value)} is not 0 or 1`,
      'the label column must hold 0 (repaid) or 1 (defaulted) on every row',
      loc,
    ),
  optionInvalid: (field: string, why: string, hint = 'see --help for the accepted values') =>
    new JinqiaoError('E_OPTION_INVALID', `option ${field}: ${why}`, hint, undefined, field),
  /** `where` is a file (or what stands for one: `definition`, `request`), or the field's line and column in it. */
  jobInvalid: (where: string | SourceLocation, field: string, why: string) =>
    new JinqiaoError(
      'E_JOB_INVALID',
      `${typeof where === 'string' ? where : formatLocation(where)}: field "${field}": ${why}`,
      'see examples/ for a job file that runs',
      typeof where === 'string' ? { file: where } : where,
      field,
    ),
  jobSyntax: (loc: SourceLocation, what: string) =>
    new JinqiaoError('E_JOB_INVALID', `${formatLocation(loc)}: ${what}`, 'fix the job file; see examples/ for one that runs', loc),
  intersectionEmpty: (what: string) =>
    new JinqiaoError(
      'E_INTERSECTION_EMPTY',
      `the parties have no enterprise in common (${what})`,
      'check that every party uses the same ID column and the same kind of IDs',
    ),
  tooFewRows: (what: string, hint = 'lower the batch size or supply more aligned rows') => new JinqiaoError('E_TOO_FEW_ROWS', what, hint),
  paramsInsecure: (field: string, why: string) =>
    new JinqiaoError(
      'E_PARAMS_INSECURE',
      `parameter ${field}: ${why}`,
      'use the defaults, which give 128-bit security and 40-bit statistical masking',
      undefined,
      field,
    ),
  heDepthExhausted: (operation: string, levelsLeft: number, levelsNeeded: number) =>
    new JinqiaoError(
      'E_HE_DEPTH_EXHAUSTED',
      `${operation} needs ${levelsNeeded} more rescale level(s), the ciphertext has ${levelsLeft}`,
      'use the degree-3 parameter set, or fewer multiplications before decryption',
    ),
  protocol: (what: string) =>
    new JinqiaoError('E_PROTOCOL', `protocol violation: ${what}`, 'the peer does not follow the protocol; check that both run the same jinqiao version'),
  /** (Agency) An OPRF session for tags of another key period than the agency's key. */
  oprfKeyMismatch: (tagKeyId: string, agencyKeyId: string) =>
    new JinqiaoError(
      'E_PROTOCOL',
      `the bank's tags were prepared under key ${tagKeyId}; this agency's key is ${agencyKeyId}`,
      "the tag file belongs to another key period: prepare it again with the agency's current key (`jinqiao psi prepare --key <its key folder>`), or answer with the key folder it was prepared with",
    ),
  /** (Agency) An OPRF session asks for more evaluations than the agency grants one session. */
  oprfLimitExceeded: (limit: number) =>
    new JinqiaoError(
      'E_PROTOCOL',
      `the session asks for more than the ${limit} evaluations this agency grants a session`,
      'ask about fewer IDs or claims in one session, or have the agency raise its limit (`--max-evaluations` of `psi --prepared` and `verify --prepared`)',
    ),
  messageMalformed: (what: string) =>
    new JinqiaoError('E_MESSAGE_MALFORMED', `malformed message: ${what}`, 'the peer sent bytes that are not a jinqiao message; check versions and the connection'),
  channelClosed: (peer: string, reason: string) =>
    new JinqiaoError('E_CHANNEL_CLOSED', `the channel to ${peer} closed: ${reason}`, 'check that the peer is running, then rerun the job'),
  backendUnavailable: (name: string, reason: string) =>
    new JinqiaoError(
      'E_BACKEND_UNAVAILABLE',
      `group backend "${name}" is unavailable: ${reason}`,
      'use --backend noble-ristretto255, which is pure JavaScript and runs everywhere',
    ),
  /** `hint` for files other than model slices and checkpoints that jinqiao keeps for itself (monitoring runs). */
  modelInvalid: (file: string, why: string, hint = 'use a model file written by this version of jinqiao for this job') =>
    new JinqiaoError('E_MODEL_INVALID', `${file}: ${why}`, hint, { file }),
  outputUnwritable: (file: string, reason: string, hint = 'check that the folder exists and is writable') =>
    new JinqiaoError('E_OUTPUT_UNWRITABLE', `${file}: cannot write (${reason})`, hint, { file }),
  /** An in-memory array handed to the model math (scores, labels, features, a gradient) is unusable. */
  valuesInvalid: (name: string, why: string) =>
    new JinqiaoError(
      'E_VALUES_INVALID',
      `${name}: ${why}`,
      'pass finite numbers, one per aligned row (or per weight), with matching lengths',
    ),
  /** Labels given as an in-memory array rather than read from a file. */
  labelValueNotBinary: (name: string, index: number, value: number) =>
    new JinqiaoError(
      'E_LABEL_NOT_BINARY',
      `${name}[${index}] is ${value}, not 0 or 1`,
      'the label column must hold 0 (repaid) or 1 (defaulted) on every row',
    ),
  oneClass: (what: string, label: 0 | 1) =>
    new JinqiaoError(
      'E_ONE_CLASS',
      `${what} is undefined: every label is ${label}`,
      'evaluate on rows that hold both repaid (0) and defaulted (1) loans: use more rows or another split seed',
    ),
  /** The label party's table holds one outcome only: no model can be trained on it. */
  labelOneClass: (loc: SourceLocation, label: 0 | 1) =>
    new JinqiaoError(
      'E_ONE_CLASS',
      `${formatLocation(loc)}: every label is ${label}; a model needs both repaid (0) and defaulted (1) loans`,
      'check that the label column is the outcome column and that the table holds both outcomes',
      loc,
    ),
  /** An agency's table would contribute the bank's label column as a feature. */
  labelAmongFeatures: (file: string, column: string) =>
    new JinqiaoError(
      'E_LABEL_AMONG_FEATURES',
      `${file}: column "${column}" has the name of the label column and would be used as a feature of this agency`,
      "the outcome must not be an agency's feature: remove or rename the column, or list the agency's features explicitly",
      { file, columnName: column },
    ),
  /** A data holder's policy file is unusable; `field` is the path inside it, e.g. `partners[0].purposes`. */
  policyInvalid: (loc: SourceLocation, field: string, why: string) =>
    new JinqiaoError(
      'E_POLICY_INVALID',
      `${formatLocation(loc)}: field "${field}": ${why}`,
      'fix the policy file; examples/governance/policy.yaml is one that loads',
      loc,
      field,
    ),
  /**
   * A job outside the data holder's policy; `rule` is the stable id of the rule that refused
   * it. A refusal that lifts with time (a spent daily budget) carries `retryAfterSeconds`,
   * also written into the message, where a peer that receives only the message finds it
   * (policyRefusalOf); the API answers it 429 with Retry-After.
   */
  policyRefused: <Rule extends string>(rule: Rule, why: string, retryAfterSeconds?: number): JinqiaoError & { readonly rule: Rule; readonly retryAfterSeconds?: number } =>
    Object.assign(
      new JinqiaoError(
        'E_POLICY_REFUSED',
        `refused by policy rule ${rule}${retryAfterSeconds === undefined ? '' : ` (retry after ${retryAfterSeconds} s)`}: ${why}`,
        retryAfterSeconds === undefined
          ? "change the job's partner, purpose or fields to fit the policy; only the data holder's operator can change the policy"
          : `retry after ${retryAfterSeconds} s (the budget renews at 00:00 UTC), or ask the data holder's operator to raise it`,
      ),
      { rule, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) },
    ),
  /** A job whose parties do not hold the roles this party's config binds to them; `rule` is the stable id of the check that refused it. */
  roleRefused: <Rule extends string>(rule: Rule, why: string, hint: string): JinqiaoError & { readonly rule: Rule } =>
    Object.assign(new JinqiaoError('E_ROLE_REFUSED', `refused by role rule ${rule}: ${why}`, hint), { rule }),
  /**
   * One enterprise of a scoring request was not scored (the others were); `rule` is the
   * stable id of why. Reported per ID in the answer, not thrown.
   */
  scoreRefused: <Rule extends string>(rule: Rule, why: string): JinqiaoError & { readonly rule: Rule } =>
    Object.assign(
      new JinqiaoError(
        'E_SCORE_REFUSED',
        `not scored (${rule}): ${why}`,
        rule === 'id.unknown'
          ? "add the enterprise's row to the bank's table, then ask again"
          : 'the agency that alone holds the enterprise must allow disclosePartialScores for the purpose in its policy; otherwise decide without its data',
      ),
      { rule },
    ),
  keyInvalid: (file: string, why: string, hint = 'use a key file written by `jinqiao keys generate`') =>
    new JinqiaoError('E_KEY_INVALID', `${file}: ${why}`, hint, { file }),
  /** A consent token file or revocation list that cannot be read as one JSON object per line. */
  consentFileInvalid: (loc: SourceLocation, why: string) =>
    new JinqiaoError(
      'E_CONSENT_FILE_INVALID',
      `${formatLocation(loc)}: ${why}`,
      'use a file written by `jinqiao consent issue` or `jinqiao consent revoke`: one JSON object per line',
      loc,
    ),
  /** An enterprise's consent does not cover the job; `reason` is the stable id of what failed. */
  consentInvalid: <Reason extends string>(reason: Reason, why: string): JinqiaoError & { readonly reason: Reason } =>
    Object.assign(
      new JinqiaoError(
        'E_CONSENT_INVALID',
        `consent ${reason}: ${why}`,
        'leave the enterprise out of the job, or ask it (through the platform) for an authorisation that covers this partner, purpose and fields',
      ),
      { reason },
    ),
  /** The first entry of an audit log that fails verification; `seq` is the sequence number the line holds, if readable. */
  auditBroken: (file: string, line: number, seq: number | undefined, why: string) =>
    new JinqiaoError(
      'E_AUDIT_BROKEN',
      `${file}:${line}: ${seq === undefined ? 'entry' : `entry seq ${seq}`}: ${why}`,
      'the log no longer holds what its party wrote; compare its head hash with the copy anchored at the partner or the platform, and keep the file for investigation',
      { file, line },
    ),
  /** A TLS peer refused, or was refused, during the handshake: its certificate, name or trust does not match the configuration. */
  peerUntrusted: (peer: string, reason: string) =>
    new JinqiaoError(
      'E_PEER_UNTRUSTED',
      `the connection to ${peer} was refused at the TLS handshake: ${reason}`,
      "check that each party's trusted certificates (ca) hold the partner's certificate or CA, compare fingerprints out of band (`jinqiao init-party` prints them), and check the expected party name and the certificate's validity dates",
    ),
  /** (The HTTPS API, client certificates optional) A client presented a certificate the party does not trust. */
  apiClientUntrusted: (address: string, reason: string) =>
    new JinqiaoError('E_PEER_UNTRUSTED', `the API refused the client at ${address}: ${reason}`, 'present a certificate that chains to api.clientCa (default tls.trust), or present none'),
  /** A database holding a party's table cannot be reached or refuses the login; `server` never holds the password. */
  databaseUnreachable: (server: string, reason: string) =>
    new JinqiaoError(
      'E_DATABASE_UNREACHABLE',
      `cannot connect to PostgreSQL at ${server}: ${reason}`,
      'check that the server runs on that host and port and accepts this machine (listen_addresses, pg_hba.conf), and the user, password and database in the connection string',
    ),
  /** The server refused the read of a party's table; `source` is e.g. `postgres:tax_records`. */
  databaseQueryFailed: (source: string, reason: string, hint = 'check the table name (and schema) or the query, and that the database user may SELECT from it') =>
    new JinqiaoError('E_DATABASE_QUERY', `${source}: ${reason}`, hint, { file: source }),
  /** A named column is not in a database table or query result (E_COLUMN_MISSING, as for a CSV header). */
  databaseColumnMissing: (source: string, column: string, available: readonly string[]) =>
    new JinqiaoError(
      'E_COLUMN_MISSING',
      `${source}: no column ${shownValue(column)} (columns: ${shownList(available)})`,
      'name an existing column of the table or query result',
      { file: source, columnName: column },
    ),
  /** A training job would show the bank one agency's partial scores (rule training.partial-score-disclosure). */
  partialScoreDisclosure: (agency: string, why: string) =>
    new JinqiaoError(
      'E_PARTIAL_SCORE_DISCLOSURE',
      `refused (rule training.partial-score-disclosure): the job would show the bank ${agency}'s partial scores: ${why}`,
      "add a second agency, or set allowPartialScoreDisclosure (--allow-partial-score-disclosure) where the agency's policy allows it",
    ),
  featureUnbinnable: (file: string, feature: string, why: string, hint: string) =>
    new JinqiaoError('E_FEATURE_UNBINNABLE', `${file}: feature "${feature}": ${why}`, hint, { file, columnName: feature }),
  /** A full request queue: the caller retries after `retryAfterSeconds`. */
  busy: (what: string, retryAfterSeconds: number): JinqiaoError & { readonly retryAfterSeconds: number } =>
    Object.assign(new JinqiaoError('E_BUSY', `busy: ${what}`, `retry after ${retryAfterSeconds} s`), { retryAfterSeconds }),
  /** Too many API requests from one client: it retries after `retryAfterSeconds`. */
  rateLimited: (max: number, windowSeconds: number, retryAfterSeconds: number): JinqiaoError & { readonly retryAfterSeconds: number } =>
    Object.assign(new JinqiaoError('E_RATE_LIMITED', `more than ${max} requests in ${windowSeconds} s from this client`, `retry after ${retryAfterSeconds} s`), { retryAfterSeconds }),
  /** A job names a table the party's configuration does not hold. */
  tableUnknown: (party: string, table: string, known: readonly string[]) =>
    new JinqiaoError('E_TABLE_UNKNOWN', `${party} has no table ${JSON.stringify(table)}`, `name one of ${party}'s tables (${known.join(', ') || 'none configured'}), or add it under tables: in ${party}'s config`),
  /** A peer stopped the job for a reason it may tell (its configuration or policy, never its data). */
  peerStopped: (peer: string, code: ErrorCode, reason: string): JinqiaoError & { readonly causedByPeer: string } =>
    Object.assign(new JinqiaoError(code, `${peer} stopped the job: ${reason}`, `ask ${peer}'s operator; the reason is in its log`), { causedByPeer: peer }),
  /** A job, session or model that the service does not hold. */
  notFound: (what: string, hint: string) => new JinqiaoError('E_NOT_FOUND', what, hint),
  /** A party's operator rejected a job that awaited its approval (the reason is shared with every party of the job). */
  jobRejected: (party: string, operator: string, reason: string) =>
    new JinqiaoError('E_JOB_REJECTED', `rejected by ${party}'s operator: ${reason}`, `${operator} at ${party} rejected the job; change it as the reason asks and submit it again, or ask ${party}'s operator`),
  /** A job's approval was asked for and no operator decided within the party's approval timeout. */
  approvalTimedOut: (party: string, jobId: string, seconds: number) =>
    new JinqiaoError('E_APPROVAL_TIMEOUT', `job ${jobId} waited ${seconds} s for approval by ${party}'s operator, who did not decide`, `ask ${party}'s operator to approve it (jinqiao approve) and resume or resubmit the job; jobs.approvalTimeoutSeconds in ${party}'s config sets the wait`),
  /** An approve or reject for a job that is not waiting for this party's operator. */
  notAwaitingApproval: (jobId: string, state: string) =>
    new JinqiaoError('E_NOT_AWAITING_APPROVAL', `job ${jobId} is ${state}, not awaiting this party's approval`, 'list the jobs awaiting approval with GET /v1/approvals'),
  /** A job that is not running was asked to stop. */
  notRunning: (jobId: string, state: string) => new JinqiaoError('E_NOT_RUNNING', `job ${jobId} is ${state}`, 'only a running, queued or awaiting-approval job can be cancelled'),
  /** A request to a party service without its bearer token or a console session. */
  unauthorized: (what: string) => new JinqiaoError('E_UNAUTHORIZED', what, "send Authorization: Bearer <the token in the service config>, or sign in to the console with it"),
  /** A job cut off by a stop of the service that ran it (a crash, a kill, a restart). */
  interrupted: (jobId: string) =>
    new JinqiaoError('E_INTERRUPTED', `job ${jobId}: the service stopped while it ran`, 'resume it: jinqiao resume, or POST /v1/jobs/{id}/resume at the bank'),
  /** The worker thread that ran a job's role died (out of memory, a crash); the service runs on. */
  threadStopped: (jobId: string, reason: string) =>
    new JinqiaoError(
      'E_INTERNAL',
      `job ${jobId}: the worker thread running this party's part stopped: ${reason}`,
      'the service is still running; run the job again (a training job: resume it at the bank), and report this message if it happens again',
    ),
} as const;
