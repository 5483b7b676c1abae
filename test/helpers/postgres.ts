/**
 * A real, throwaway PostgreSQL server for tests: initdb into a temporary folder, a server on
 * a free port of 127.0.0.1 (another one if that is taken meanwhile) with trust
 * authentication, and `stop()` to shut it down and delete the folder. Uses the Debian
 * `postgresql` package's binaries; CI installs it.
 *
 * PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system
 * user that the package creates; under any other user it runs as that user.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  /** Connects as the superuser `jinqiao` to the database `postgres`. */
  readonly connectionString: string;
  readonly port: number;
  stop(): Promise<void>;
}

const ROOT = '/usr/lib/postgresql';
const SUPERUSER = 'jinqiao';

/** The bin folder of the newest installed PostgreSQL major version. */
export function postgresBinaries(): string {
  const majors = existsSync(ROOT)
    ? readdirSync(ROOT)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(ROOT, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error(`no PostgreSQL server binaries under ${ROOT}/<major>/bin; install them with: apt-get install -y postgresql`);
  }
  return join(ROOT, majors[0]!, 'bin');
}

/** Attempts at a port before giving up: each fails only if another process took the port first. */
const PORT_ATTEMPTS = 5;

/**
 * PostgreSQL cannot listen on port 0 and say which port it got, so a free port is picked and
 * the server binds it a moment later; another process may take it in between (on a shared
 * machine, any connection's ephemeral port). The server then fails to start with "Address
 * already in use", and another port is tried: a race costs a retry, never the test.
 * `firstPort` is the port of the first attempt (tests of that retry take it first).
 */
export async function startPostgres(options: { firstPort?: number } = {}): Promise<PostgresServer> {
  const bin = postgresBinaries();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-pg-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    return execFileSync(command, argv, { cwd: dir, stdio: 'pipe', encoding: 'utf8' });
  };
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const serverLog = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  try {
    run('initdb', ['-D', data, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    for (let attempt = 1; ; attempt++) {
      const port = attempt === 1 && options.firstPort !== undefined ? options.firstPort : await freePort();
      const logBefore = serverLog().length;
      // The socket folder is ours: the default one (/var/run/postgresql) may not exist or be writable.
      const serverOptions = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c full_page_writes=off`;
      try {
        run('pg_ctl', ['start', '-w', '-t', '30', '-D', data, '-l', log, '-o', serverOptions]);
      } catch (e) {
        if (attempt < PORT_ATTEMPTS && /Address already in use/.test(serverLog().slice(logBefore))) continue;
        throw e;
      }
      let stopped = false;
      return {
        connectionString: `postgresql://${SUPERUSER}@127.0.0.1:${port}/postgres`,
        port,
        async stop() {
          if (stopped) return;
          stopped = true;
          try {
            run('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', data]);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      };
    }
  } catch (e) {
    const logText = serverLog();
    rmSync(dir, { recursive: true, force: true });
    const output = (e as { stderr?: string }).stderr ?? '';
    throw new Error(`could not start a test PostgreSQL server: ${(e as Error).message}\n${output}\n${logText}`);
  }
}

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface ColumnSpec {
  readonly name: string;
  /** A PostgreSQL type, e.g. `numeric(12,2)`, `integer`, `text`. */
  readonly type: string;
}

/**
 * Creates `table` and fills it with `rows` (cells as text, null for NULL), cast to each
 * column's type by the server, a few thousand rows per statement.
 */
export async function createTable(connectionString: string, table: string, columns: readonly ColumnSpec[], rows: readonly (readonly (string | null)[])[]): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const name = pg.escapeIdentifier(table);
    await client.query(`CREATE TABLE ${name} (${columns.map((c) => `${pg.escapeIdentifier(c.name)} ${c.type}`).join(', ')})`);
    const params = columns.map((_, j) => `$${j + 1}::text[]`).join(', ');
    const aliases = columns.map((_, j) => `c${j}`);
    const casts = columns.map((c, j) => `${aliases[j]}::${c.type}`).join(', ');
    const insert = `INSERT INTO ${name} SELECT ${casts} FROM unnest(${params}) AS u(${aliases.join(', ')})`;
    for (let start = 0; start < rows.length; start += 5000) {
      const chunk = rows.slice(start, start + 5000);
      await client.query(insert, columns.map((_, j) => chunk.map((row) => row[j] ?? null)));
    }
  } finally {
    await client.end();
  }
}

/** Runs one statement and returns its rows (test assertions about the server's state). */
export async function queryRows(connectionString: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}
