/**
 * (Each party, locally) A party's table read from PostgreSQL instead of a CSV file: the same
 * `FeatureTable` as `loadFeatureTable`, so it aligns, trains and scores like a CSV one.
 *
 * Who learns what: the database sees only jinqiao's SELECT; nothing read here leaves the
 * party except through the protocols, exactly as for a CSV file.
 *
 * The read streams through a server-side cursor, `batchRows` rows per fetch, so a 10M-row
 * table is never held as row objects beyond the current batch. It runs in a READ ONLY
 * transaction and the connection is closed however the read ends. Table and column names
 * are quoted as identifiers, so a name cannot inject SQL. A `query` is run as given: it is
 * trusted operator configuration, like the connection string; read-only mode and the
 * extended protocol (one statement only) limit what a wrong one can do, not what a hostile
 * one can read.
 *
 * Cells are checked as the CSV loader checks them: every value arrives as the server's text
 * (so numeric keeps its exact decimals and text columns holding numbers are accepted), NULL
 * and the CSV loader's missing-value spellings are NaN, and a bad cell stops the load with an
 * error naming `postgres:<table>` (or `postgres:query`), the 1-based row ordinal in read
 * order, and the column. Without an ORDER BY in a query, read order is the server's.
 */
import pg from 'pg';
import Cursor from 'pg-cursor';
import { errors, isJinqiaoError } from '../errors.ts';
import { MISSING_CELLS, type FeatureTable } from './table.ts';

export interface PostgresTableOptions {
  /** A URL, e.g. `postgresql://agency@db.internal:5432/tax`; errors name its host, port, database and user, never its password. */
  readonly connectionString: string;
  /** The table to read; quoted as an identifier. Give exactly one of `table` and `query`. */
  readonly table?: string;
  /** Schema of `table` (default: the server's search_path). */
  readonly schema?: string;
  /** A single SELECT, run as given: trusted operator configuration, never user input. */
  readonly query?: string;
  readonly idColumn: string;
  /** The 0/1 outcome column (label party only); integer, numeric or boolean. */
  readonly labelColumn?: string;
  /** Feature columns to read; default: every column but the ID and label columns. */
  readonly features?: readonly string[];
  /** Rows per cursor fetch (default 10,000): the most rows held as objects at once. */
  readonly batchRows?: number;
}

type Cell = string | null;
type PgField = { readonly name: string; readonly dataTypeID: number };

const DEFAULT_BATCH_ROWS = 10_000;
const MAX_BATCH_ROWS = 1_000_000;
/** Without a limit, a silently dropped route leaves the connect waiting for the OS TCP timeout. */
const CONNECT_TIMEOUT_MS = 10_000;
const BOOLEAN_OID = 16;
const CONNECTION_STRING_HINT = 'give e.g. postgresql://agency@db.internal:5432/tax, and keep the password out of job files with PGPASSWORD or ~/.pgpass';
/** Every value as the server's text: exact decimals for numeric and bigint, and one parsing path for all types. */
const TEXT_TYPES = { getTypeParser: () => (text: string) => text };

/** Reads a party's table from PostgreSQL; rejects with a JinqiaoError, never a driver error. */
export async function loadFeatureTableFromPostgres(options: PostgresTableOptions): Promise<FeatureTable> {
  const batchRows = checkOptions(options);
  const source = options.table === undefined ? 'postgres:query' : `postgres:${options.schema === undefined ? '' : options.schema + '.'}${options.table}`;
  let client: pg.Client;
  try {
    client = new pg.Client({ connectionString: options.connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, types: TEXT_TYPES });
  } catch {
    throw errors.optionInvalid('connectionString', 'is not a valid PostgreSQL URL', CONNECTION_STRING_HINT);
  }
  const server = describeServer(client);
  // A connection lost between fetches is reported by the pending read; without a listener it
  // would also be emitted as an unhandled 'error' event and end the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw errors.databaseUnreachable(server, describeConnectError(e));
  }
  try {
    await client.query('BEGIN TRANSACTION READ ONLY');
    const sql = options.query ?? (await tableSelect(client, options, source));
    const table = await readRows(client, sql, source, options, batchRows);
    await client.query('COMMIT');
    return table;
  } catch (e) {
    if (isJinqiaoError(e)) throw e;
    throw describeQueryError(e, source, server);
  } finally {
    // Ending the session also rolls back the transaction when the read failed part-way.
    await client.end().catch(() => {});
  }
}

function checkOptions(options: PostgresTableOptions): number {
  // pg reads libpq's key=value form as a URL relative to a dummy host, so only URLs are accepted.
  if (typeof options.connectionString !== 'string' || !/^postgres(ql)?:\/\//.test(options.connectionString)) {
    throw errors.optionInvalid('connectionString', 'must be a postgresql:// URL', CONNECTION_STRING_HINT);
  }
  if ((options.table === undefined) === (options.query === undefined)) {
    throw errors.optionInvalid('table', 'give exactly one of table and query');
  }
  for (const field of ['table', 'schema', 'query', 'idColumn', 'labelColumn'] as const) {
    const value = options[field];
    if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) throw errors.optionInvalid(field, 'must be a non-empty string');
  }
  if (options.idColumn === undefined) throw errors.optionInvalid('idColumn', 'is required');
  if (options.schema !== undefined && options.table === undefined) throw errors.optionInvalid('schema', 'applies only to table');
  if (options.features !== undefined && (!Array.isArray(options.features) || options.features.some((f) => typeof f !== 'string' || f === ''))) {
    throw errors.optionInvalid('features', 'must be a list of column names');
  }
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > MAX_BATCH_ROWS) {
    throw errors.optionInvalid('batchRows', `must be a whole number from 1 to ${MAX_BATCH_ROWS}, got ${options.batchRows}`);
  }
  return batchRows;
}

/** `host:port (database "d", user "u")`, from the parsed connection string: never the password. */
function describeServer(client: pg.Client): string {
  const who = client.user === undefined ? '' : `, user "${client.user}"`;
  return `${client.host}:${client.port} (database "${client.database ?? client.user}"${who})`;
}

/** SELECT of just the needed columns, after checking them against the table's own columns. */
async function tableSelect(client: pg.Client, options: PostgresTableOptions, source: string): Promise<string> {
  const name = (options.schema === undefined ? '' : pg.escapeIdentifier(options.schema) + '.') + pg.escapeIdentifier(options.table!);
  const probe = await client.query(`SELECT * FROM ${name} LIMIT 0`);
  const columns = pickColumns(probe.fields, options, source);
  const needed = [options.idColumn, ...(options.labelColumn === undefined ? [] : [options.labelColumn]), ...columns.featureNames];
  return `SELECT ${needed.map((c) => pg.escapeIdentifier(c)).join(', ')} FROM ${name}`;
}

interface Columns {
  readonly id: number;
  readonly label: number;
  readonly labelIsBoolean: boolean;
  readonly featureNames: readonly string[];
  readonly features: readonly number[];
}

/** Positions of the ID, label and feature columns in a result; E_COLUMN_MISSING for an absent one. */
function pickColumns(fields: readonly PgField[], options: PostgresTableOptions, source: string): Columns {
  const names = fields.map((f) => f.name);
  const position = (name: string) => {
    const i = names.indexOf(name);
    if (i < 0) throw errors.databaseColumnMissing(source, name, names);
    if (names.indexOf(name, i + 1) >= 0) throw errors.databaseQueryFailed(source, `column "${name}" appears twice in the result`, 'give each column of the query a distinct name (AS)');
    return i;
  };
  const id = position(options.idColumn);
  const label = options.labelColumn === undefined ? -1 : position(options.labelColumn);
  const featureNames = options.features ?? names.filter((_, i) => i !== id && i !== label);
  return {
    id,
    label,
    labelIsBoolean: label >= 0 && fields[label]!.dataTypeID === BOOLEAN_OID,
    featureNames,
    features: featureNames.map(position),
  };
}

async function readRows(client: pg.Client, sql: string, source: string, options: PostgresTableOptions, batchRows: number): Promise<FeatureTable> {
  const cursor = client.query(new Cursor<Cell[]>(sql, undefined, { rowMode: 'array', types: TEXT_TYPES }));
  let columns: Columns | undefined;
  let width = 0;
  const ids: string[] = [];
  let values = new Float64Array(0);
  let labels: Uint8Array | undefined;
  let rows = 0;
  let capacity = 0;
  for (;;) {
    const batch = await readBatch(cursor, batchRows);
    if (columns === undefined) {
      columns = pickColumns(batch.fields, options, source);
      width = columns.features.length;
      if (columns.label >= 0) labels = new Uint8Array(0);
    }
    if (rows + batch.rows.length > capacity) {
      capacity = Math.max(rows + batch.rows.length, capacity * 2);
      values = grow(values, capacity * width);
      if (labels) labels = grow(labels, capacity);
    }
    for (const row of batch.rows) {
      const line = rows + 1;
      // A NULL ID reads as an empty CSV cell would, so ID checks downstream treat both alike.
      ids.push(row[columns.id] ?? '');
      for (let j = 0; j < width; j++) {
        values[rows * width + j] = featureValue(row[columns.features[j]!] ?? null, { file: source, line, columnName: columns.featureNames[j] });
      }
      if (labels) labels[rows] = labelValue(row[columns.label] ?? null, columns.labelIsBoolean, { file: source, line, columnName: options.labelColumn });
      rows++;
    }
    if (batch.rows.length < batchRows) break;
  }
  return {
    file: source,
    idColumn: options.idColumn,
    ids,
    lines: Uint32Array.from({ length: rows }, (_, i) => i + 1),
    featureNames: columns.featureNames,
    values: values.slice(0, rows * width),
    labels: labels?.slice(0, rows),
    ...(options.labelColumn === undefined ? {} : { labelColumn: options.labelColumn }),
    rowCount: rows,
  };
}

/** One fetch, with the result's column descriptions (known even when no rows come back). */
function readBatch(cursor: Cursor<Cell[]>, batchRows: number): Promise<{ rows: Cell[][]; fields: readonly PgField[] }> {
  return new Promise((resolve, reject) => {
    cursor.read(batchRows, (err, rows, result) => (err ? reject(err) : resolve({ rows, fields: result.fields })));
  });
}

function featureValue(cell: Cell, loc: { file: string; line: number; columnName: string | undefined }): number {
  if (cell === null) return NaN;
  const text = cell.trim();
  if (MISSING_CELLS.has(text)) return NaN;
  const v = Number(text);
  if (!Number.isFinite(v)) throw errors.valueNotNumeric(loc, cell);
  return v;
}

function labelValue(cell: Cell, isBoolean: boolean, loc: { file: string; line: number; columnName: string | undefined }): number {
  if (isBoolean && (cell === 't' || cell === 'f')) return cell === 't' ? 1 : 0;
  const text = cell?.trim() ?? '';
  // Number() rather than the CSV loader's spellings: numeric(3,2) sends 1 as "1.00".
  const v = text === '' ? NaN : Number(text);
  if (v !== 0 && v !== 1) throw errors.labelNotBinary(loc, cell ?? 'NULL');
  return v;
}

function grow<T extends Float64Array | Uint8Array>(array: T, length: number): T {
  const grown = new (array.constructor as new (n: number) => T)(length);
  grown.set(array);
  return grown;
}

/** What went wrong while connecting, in words; pg's own errors carry stacks and socket details. */
function describeConnectError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the server running and listening on that port?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the host does not answer';
    case 'ECONNRESET':
      return 'the server closed the connection';
  }
  if (err.message === 'timeout expired') return `no answer within ${CONNECT_TIMEOUT_MS / 1000} s`;
  // Server-side refusals (authentication, unknown database) come with a readable message.
  return err.message ?? String(e);
}

/** A failure once connected: the server's refusal of the SQL, or a lost connection. */
function describeQueryError(e: unknown, source: string, server: string) {
  if (e instanceof pg.DatabaseError) {
    if (e.code === '25006') {
      return errors.databaseQueryFailed(source, e.message, 'the query must only read: jinqiao runs it in a READ ONLY transaction');
    }
    return errors.databaseQueryFailed(source, e.message);
  }
  return errors.databaseUnreachable(server, `the connection was lost while reading ${source} (${(e as Error).message})`);
}
