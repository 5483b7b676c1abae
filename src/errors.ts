/**
 * The catalogue of every failure a user of jinqiao can hit.
 *
 * Each error carries a stable `code` that integrators switch on, a message that says what
 * went wrong, where (file, line and column for data errors, the field for options), and a
 * `hint` that says what to do. The CLI prints `message` and `hint` on one line each and
 * exits 2 for input errors, 1 for everything else; it never prints a stack trace for a
 * JinqiaoError.
 */

export type ErrorCode =
  | 'E_FILE_UNREADABLE'
  | 'E_CSV_SYNTAX'
  | 'E_COLUMN_MISSING'
  | 'E_ID_INVALID'
  | 'E_ID_DUPLICATE'
  | 'E_VALUE_NOT_NUMERIC'
  | 'E_LABEL_NOT_BINARY'
  | 'E_OPTION_INVALID'
  | 'E_JOB_INVALID'
  | 'E_INTERSECTION_EMPTY'
  | 'E_TOO_FEW_ROWS'
  | 'E_PARAMS_INSECURE'
  | 'E_HE_DEPTH_EXHAUSTED'
  | 'E_PROTOCOL'
  | 'E_MESSAGE_MALFORMED'
  | 'E_CHANNEL_CLOSED'
  | 'E_BACKEND_UNAVAILABLE'
  | 'E_MODEL_INVALID'
  | 'E_OUTPUT_UNWRITABLE'
  | 'E_VALUES_INVALID'
  | 'E_ONE_CLASS'
  | 'E_FEATURE_UNBINNABLE'
  | 'E_POLICY_INVALID'
  | 'E_POLICY_REFUSED'
  | 'E_KEY_INVALID'
  | 'E_CONSENT_FILE_INVALID'
  | 'E_CONSENT_INVALID'
  | 'E_AUDIT_BROKEN'
  | 'E_PEER_UNTRUSTED'
  | 'E_DATABASE_UNREACHABLE'
  | 'E_DATABASE_QUERY';

/** Where in an input file a problem sits; lines and columns count from 1. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** The column's header name, when the problem belongs to a named column. */
  readonly columnName?: string;
}

/** Errors caused by what the user gave us (files, options); the CLI exits 2 for these. */
const INPUT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'E_FILE_UNREADABLE',
  'E_CSV_SYNTAX',
  'E_COLUMN_MISSING',
  'E_ID_INVALID',
  'E_ID_DUPLICATE',
  'E_VALUE_NOT_NUMERIC',
  'E_LABEL_NOT_BINARY',
  'E_OPTION_INVALID',
  'E_JOB_INVALID',
  'E_INTERSECTION_EMPTY',
  'E_TOO_FEW_ROWS',
  'E_PARAMS_INSECURE',
  'E_MODEL_INVALID',
  'E_OUTPUT_UNWRITABLE',
  'E_VALUES_INVALID',
  'E_ONE_CLASS',
  'E_FEATURE_UNBINNABLE',
  'E_POLICY_INVALID',
  'E_KEY_INVALID',
  'E_CONSENT_FILE_INVALID',
  'E_DATABASE_QUERY',
]);

export class JinqiaoError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly location: SourceLocation | undefined;

  constructor(code: ErrorCode, message: string, hint: string, location?: SourceLocation) {
    super(message);
    this.name = 'JinqiaoError';
    this.code = code;
    this.hint = hint;
    this.location = location;
  }

  /** True when the user's input (not jinqiao or a peer) is at fault. */
  get isInputError(): boolean {
    return INPUT_CODES.has(this.code);
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, location: this.location };
  }
}

export function isJinqiaoError(e: unknown): e is JinqiaoError {
  return e instanceof JinqiaoError;
}

/** `file:line:column` as editors and compilers print it. */
export function formatLocation(loc: SourceLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.column !== undefined) s += `:${loc.column}`;
  if (loc.columnName !== undefined) s += ` (column "${loc.columnName}")`;
  return s;
}

export const errors = {
  fileUnreadable: (file: string, reason: string) =>
    new JinqiaoError(
      'E_FILE_UNREADABLE',
      `${file}: cannot read the file (${reason})`,
      'check the path and the file permissions',
      { file },
    ),
  csvSyntax: (loc: SourceLocation, what: string) =>
    new JinqiaoError(
      'E_CSV_SYNTAX',
      `${formatLocation(loc)}: ${what}`,
      'fix the row so that it has the same number of comma-separated fields as the header, with quotes balanced',
      loc,
    ),
  columnMissing: (file: string, column: string, available: readonly string[]) =>
    new JinqiaoError(
      'E_COLUMN_MISSING',
      `${file}:1: no column "${column}" in the header (columns: ${available.join(', ') || 'none'})`,
      'name an existing column, e.g. with --id',
      { file, line: 1 },
    ),
  idInvalid: (loc: SourceLocation, value: string, why: string) =>
    new JinqiaoError(
      'E_ID_INVALID',
      `${formatLocation(loc)}: invalid ID ${JSON.stringify(value)}: ${why}`,
      'correct or remove the row, or run without --strict to skip and count invalid IDs',
      loc,
    ),
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
      `${formatLocation(loc)}: ${JSON.stringify(value)} is not a number`,
      'feature columns must hold decimal numbers; leave a cell empty for a missing value',
      loc,
    ),
  labelNotBinary: (loc: SourceLocation, value: string) =>
    new JinqiaoError(
      'E_LABEL_NOT_BINARY',
      `${formatLocation(loc)}: label ${JSON.stringify(value)} is not 0 or 1`,
      'the label column must hold 0 (repaid) or 1 (defaulted) on every row',
      loc,
    ),
  optionInvalid: (field: string, why: string, hint = 'see --help for the accepted values') =>
    new JinqiaoError('E_OPTION_INVALID', `option ${field}: ${why}`, hint),
  jobInvalid: (file: string, field: string, why: string) =>
    new JinqiaoError(
      'E_JOB_INVALID',
      `${file}: field "${field}": ${why}`,
      'see examples/ for a job file that runs',
      { file },
    ),
  jobSyntax: (loc: SourceLocation, what: string) =>
    new JinqiaoError('E_JOB_INVALID', `${formatLocation(loc)}: ${what}`, 'fix the job file; see examples/ for one that runs', loc),
  intersectionEmpty: (what: string) =>
    new JinqiaoError(
      'E_INTERSECTION_EMPTY',
      `the parties have no enterprise in common (${what})`,
      'check that every party uses the same ID column and the same kind of IDs',
    ),
  tooFewRows: (what: string) =>
    new JinqiaoError('E_TOO_FEW_ROWS', what, 'lower the batch size or supply more aligned rows'),
  paramsInsecure: (field: string, why: string) =>
    new JinqiaoError(
      'E_PARAMS_INSECURE',
      `parameter ${field}: ${why}`,
      'use the defaults, which give 128-bit security and 40-bit statistical masking',
    ),
  heDepthExhausted: (operation: string, levelsLeft: number, levelsNeeded: number) =>
    new JinqiaoError(
      'E_HE_DEPTH_EXHAUSTED',
      `${operation} needs ${levelsNeeded} more rescale level(s), the ciphertext has ${levelsLeft}`,
      'use the degree-3 parameter set, or fewer multiplications before decryption',
    ),
  protocol: (what: string) =>
    new JinqiaoError('E_PROTOCOL', `protocol violation: ${what}`, 'the peer does not follow the protocol; check that both run the same jinqiao version'),
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
  modelInvalid: (file: string, why: string) =>
    new JinqiaoError('E_MODEL_INVALID', `${file}: ${why}`, 'use a model file written by this version of jinqiao for this job', { file }),
  outputUnwritable: (file: string, reason: string) =>
    new JinqiaoError('E_OUTPUT_UNWRITABLE', `${file}: cannot write (${reason})`, 'check that the folder exists and is writable', { file }),
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
  /** A feature that cannot be binned without isolating enterprises or without holding information. */
  featureUnbinnable: (file: string, feature: string, why: string, hint: string) =>
    new JinqiaoError('E_FEATURE_UNBINNABLE', `${file}: feature "${feature}": ${why}`, hint, { file, columnName: feature }),
  /** A data holder's policy file is unusable; `field` is the path inside it, e.g. `partners[0].purposes`. */
  policyInvalid: (loc: SourceLocation, field: string, why: string) =>
    new JinqiaoError(
      'E_POLICY_INVALID',
      `${formatLocation(loc)}: field "${field}": ${why}`,
      'fix the policy file; examples/governance/policy.yaml is one that loads',
      loc,
    ),
  /** A job outside the data holder's policy; `rule` is the stable id of the rule that refused it. */
  policyRefused: <Rule extends string>(rule: Rule, why: string): JinqiaoError & { readonly rule: Rule } =>
    Object.assign(
      new JinqiaoError(
        'E_POLICY_REFUSED',
        `refused by policy rule ${rule}: ${why}`,
        "change the job's partner, purpose or fields to fit the policy; only the data holder's operator can change the policy",
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
      `${source}: no column "${column}" (columns: ${available.join(', ') || 'none'})`,
      'name an existing column of the table or query result',
      { file: source, columnName: column },
    ),
} as const;
