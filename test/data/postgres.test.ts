import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Cursor from 'pg-cursor';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadFeatureTableFromPostgres } from '../../src/data/postgres.ts';
import type { JinqiaoError } from '../../src/errors.ts';
import { loadFeatureTable, type FeatureTable } from '../../src/data/table.ts';
import { trainOnTables } from '../../src/local/training.ts';
import { uscc } from '../helpers/ids.ts';
import { createTable, freePort, queryRows, startPostgres, type PostgresServer } from '../helpers/postgres.ts';

const ENTERPRISES = 25_000;
const COLUMNS = [
  { name: 'uscc', type: 'text' },
  { name: 'defaulted', type: 'integer' },
  { name: 'revenue_wan', type: 'numeric(14,2)' },
  { name: 'employees', type: 'integer' },
  { name: 'growth', type: 'double precision' },
  { name: 'grade', type: 'real' },
  { name: 'filings', type: 'text' },
];
const EXAMPLES = join(import.meta.dirname, '../../examples/sme-credit');

/** Enterprise rows as text cells (null for NULL), with NULLs sprinkled through every feature. */
function enterpriseRows(): (string | null)[][] {
  return Array.from({ length: ENTERPRISES }, (_, i) => [
    uscc(i + 1),
    i % 7 === 0 ? '1' : '0',
    i % 97 === 0 ? null : (((i * 7919) % 1_000_000) / 100).toFixed(2),
    i % 101 === 0 ? null : String(i % 500),
    i % 89 === 0 ? null : String(Math.sin(i) * 1e-3),
    i % 83 === 0 ? null : String((i % 64) / 8),
    i % 79 === 0 ? null : String(i % 13),
  ]);
}

/** What the two loaders must agree on: everything but where a row came from. */
function content(table: FeatureTable) {
  return { ids: table.ids, featureNames: table.featureNames, values: table.values, labels: table.labels, rowCount: table.rowCount };
}

let server: PostgresServer;
let dir: string;
let rows: (string | null)[][];

beforeAll(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'jinqiao-pg-test-'));
  rows = enterpriseRows();
  await createTable(server.connectionString, 'enterprises', COLUMNS, rows);
  const csv = [COLUMNS.map((c) => c.name).join(','), ...rows.map((r) => r.map((cell) => cell ?? '').join(','))].join('\n') + '\n';
  writeFileSync(join(dir, 'enterprises.csv'), csv);
});

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a party table read from PostgreSQL', () => {
  it('equals the same data read from CSV: ids, values with NaN for NULL, labels', async () => {
    const options = { idColumn: 'uscc', labelColumn: 'defaulted' };
    const fromDb = await loadFeatureTableFromPostgres({ connectionString: server.connectionString, table: 'enterprises', ...options });
    const fromCsv = await loadFeatureTable(join(dir, 'enterprises.csv'), options);
    expect(fromDb.rowCount).toBe(ENTERPRISES);
    // Expected from the rows this test inserted, read here, not by another loader of src/data.
    expect(fromDb.ids).toEqual(rows.map((r) => r[0]));
    expect(fromDb.featureNames).toEqual(COLUMNS.slice(2).map((c) => c.name));
    expect(Array.from(fromDb.labels!)).toEqual(rows.map((r) => Number(r[1])));
    const expected = Float64Array.from(rows.flatMap((r) => r.slice(2).map((cell) => (cell === null ? NaN : Number(cell)))));
    expect(fromDb.values).toEqual(expected);
    expect(content(fromDb)).toEqual(content(fromCsv));
    // The first enterprise has NULL in every feature.
    expect(Array.from(fromDb.values.subarray(0, 5))).toEqual([NaN, NaN, NaN, NaN, NaN]);
    expect(fromDb.file).toBe('postgres:enterprises');
    expect(Array.from(fromDb.lines.subarray(0, 3))).toEqual([1, 2, 3]);
  });

  it('reads only the named features, from a table in a named schema or from a query', async () => {
    const fromTable = await loadFeatureTableFromPostgres({
      connectionString: server.connectionString,
      schema: 'public',
      table: 'enterprises',
      idColumn: 'uscc',
      features: ['grade', 'employees'],
    });
    expect(fromTable.featureNames).toEqual(['grade', 'employees']);
    expect(fromTable.labels).toBeUndefined();
    expect(Array.from(fromTable.values.subarray(2, 4))).toEqual([1 / 8, 1]);

    const fromQuery = await loadFeatureTableFromPostgres({
      connectionString: server.connectionString,
      query: 'SELECT uscc AS id, revenue_wan * 10000 AS revenue_yuan FROM enterprises WHERE employees < 3 ORDER BY uscc',
      idColumn: 'id',
    });
    expect(fromQuery.file).toBe('postgres:query');
    expect(fromQuery.featureNames).toEqual(['revenue_yuan']);
    expect(fromQuery.rowCount).toBe(rows.filter((r) => r[3] !== null && Number(r[3]) < 3).length);
  });

  it('reads bigint IDs as text, boolean and numeric labels as 0/1, and an empty result as no rows', async () => {
    await createTable(
      server.connectionString,
      'loans',
      [
        { name: 'loan_id', type: 'bigint' },
        { name: 'defaulted', type: 'boolean' },
        { name: 'defaulted_share', type: 'numeric(3,2)' },
        { name: 'rate', type: 'double precision' },
      ],
      [
        ['9007199254740993', 't', '1.00', 'NaN'],
        ['2', 'f', '0.00', '0.0425'],
      ],
    );
    const connectionString = server.connectionString;
    const byBoolean = await loadFeatureTableFromPostgres({ connectionString, table: 'loans', idColumn: 'loan_id', labelColumn: 'defaulted', features: ['rate'] });
    expect(byBoolean).toMatchObject({ ids: ['9007199254740993', '2'], labels: new Uint8Array([1, 0]), values: new Float64Array([NaN, 0.0425]) });
    const byNumeric = await loadFeatureTableFromPostgres({ connectionString, table: 'loans', idColumn: 'loan_id', labelColumn: 'defaulted_share', features: [] });
    expect(byNumeric.labels).toEqual(new Uint8Array([1, 0]));
    const empty = await loadFeatureTableFromPostgres({ connectionString, query: 'SELECT loan_id, rate FROM loans WHERE false', idColumn: 'loan_id' });
    expect(empty).toMatchObject({ rowCount: 0, featureNames: ['rate'], ids: [] });
  });

  it('rejects options it cannot honour, naming the field', async () => {
    const connectionString = server.connectionString;
    const cases = [
      [{ connectionString: 'host=db.internal dbname=tax', table: 'loans', idColumn: 'loan_id' }, 'connectionString'],
      [{ connectionString, idColumn: 'loan_id' }, 'table'],
      [{ connectionString, table: 'loans', query: 'SELECT 1', idColumn: 'loan_id' }, 'table'],
      [{ connectionString, query: 'SELECT 1', schema: 'public', idColumn: 'loan_id' }, 'schema'],
      [{ connectionString, table: 'loans', idColumn: '' }, 'idColumn'],
      [{ connectionString, table: 'loans', idColumn: 'loan_id', batchRows: 0 }, 'batchRows'],
    ] as const;
    for (const [options, field] of cases) {
      await expect(loadFeatureTableFromPostgres(options)).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringContaining(`option ${field}:`) });
    }
  });

  it('streams through a server-side cursor, at most batchRows rows per fetch', async () => {
    const read = vi.spyOn(Cursor.prototype, 'read');
    const table = await loadFeatureTableFromPostgres({ connectionString: server.connectionString, table: 'enterprises', idColumn: 'uscc', batchRows: 4000 });
    expect(table.rowCount).toBe(ENTERPRISES);
    expect(read.mock.calls.map((call) => call[0])).toEqual(Array(Math.ceil(ENTERPRISES / 4000)).fill(4000));

    read.mockClear();
    await loadFeatureTableFromPostgres({ connectionString: server.connectionString, table: 'enterprises', idColumn: 'uscc' });
    expect(read.mock.calls.map((call) => call[0])).toEqual([10_000, 10_000, 10_000]);
  });

  describe('bad data stops the load with the CSV loader\'s codes, naming the source, row and column', () => {
    beforeAll(async () => {
      await createTable(
        server.connectionString,
        'bad',
        [
          { name: 'id', type: 'text' },
          { name: 'label', type: 'integer' },
          { name: 'amount', type: 'text' },
        ],
        [
          ['A1', '0', '1.5'],
          ['A2', '1', null],
          ['A3', '0', 'twelve'],
          ['A4', '2', '4'],
        ],
      );
    });

    it('a text cell in a numeric feature is E_VALUE_NOT_NUMERIC', async () => {
      await expect(loadFeatureTableFromPostgres({ connectionString: server.connectionString, table: 'bad', idColumn: 'id' })).rejects.toMatchObject({
        code: 'E_VALUE_NOT_NUMERIC',
        message: 'postgres:bad:3 (column "amount"): "twelve" is not a number',
        location: { file: 'postgres:bad', line: 3, columnName: 'amount' },
      });
    });

    it('a label other than 0/1 is E_LABEL_NOT_BINARY', async () => {
      const load = loadFeatureTableFromPostgres({
        connectionString: server.connectionString,
        query: "SELECT id, label, amount FROM bad WHERE amount IS DISTINCT FROM 'twelve'",
        idColumn: 'id',
        labelColumn: 'label',
      });
      await expect(load).rejects.toMatchObject({ code: 'E_LABEL_NOT_BINARY', location: { file: 'postgres:query', line: 3, columnName: 'label' } });
    });

    it('a missing column is E_COLUMN_MISSING, listing the columns there are', async () => {
      const load = loadFeatureTableFromPostgres({ connectionString: server.connectionString, table: 'bad', idColumn: 'id', features: ['amount', 'turnover'] });
      await expect(load).rejects.toMatchObject({
        code: 'E_COLUMN_MISSING',
        message: 'postgres:bad: no column "turnover" (columns: id, label, amount)',
        location: { columnName: 'turnover' },
      });
    });

    it('a table or column name cannot inject SQL, and the tables survive the attempt', async () => {
      const connectionString = server.connectionString;
      await expect(loadFeatureTableFromPostgres({ connectionString, table: 'x"; drop table bad; --', idColumn: 'id' })).rejects.toMatchObject({
        code: 'E_DATABASE_QUERY',
        message: expect.stringContaining('does not exist'),
      });
      await expect(loadFeatureTableFromPostgres({ connectionString, table: 'bad', idColumn: 'id" FROM bad; DROP TABLE bad; --' })).rejects.toMatchObject({
        code: 'E_COLUMN_MISSING',
      });
      await expect(loadFeatureTableFromPostgres({ connectionString, table: 'bad', idColumn: 'id', features: ['label'] })).resolves.toMatchObject({ rowCount: 4 });
    });

    it('runs in a READ ONLY transaction: a query that writes is refused and changes nothing', async () => {
      const load = loadFeatureTableFromPostgres({ connectionString: server.connectionString, query: 'DELETE FROM bad RETURNING id, label', idColumn: 'id' });
      await expect(load).rejects.toMatchObject({ code: 'E_DATABASE_QUERY', hint: expect.stringContaining('READ ONLY') });
      expect(await queryRows(server.connectionString, 'SELECT count(*)::int AS n FROM bad')).toEqual([{ n: 4 }]);
    });
  });

  it('releases its connection whether the read succeeds or fails', async () => {
    const others = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";
    // A backend leaves pg_stat_activity a moment after its client hangs up.
    await expect.poll(async () => (await queryRows(server.connectionString, others))[0], { timeout: 5000 }).toEqual({ n: 0 });
  });

  it('an unreachable server is a clear E_DATABASE_UNREACHABLE naming host and port, never the password', async () => {
    const port = await freePort();
    const load = loadFeatureTableFromPostgres({ connectionString: `postgresql://bank:s3cret@127.0.0.1:${port}/credit`, table: 'enterprises', idColumn: 'uscc' });
    const error = (await load.catch((e: unknown) => e)) as JinqiaoError;
    expect(error).toMatchObject({ code: 'E_DATABASE_UNREACHABLE', name: 'JinqiaoError' });
    expect(error.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${port} (database "credit", user "bank"): connection refused (is the server running and listening on that port?)`);
    expect(error.hint).toContain('pg_hba.conf');
    expect(JSON.stringify(error)).not.toContain('s3cret');
  });

  it('an agency reading from PostgreSQL trains the same model as from its CSV', async () => {
    const taxCsv = join(EXAMPLES, 'tax_bureau.csv');
    const [header, ...lines] = readFileSync(taxCsv, 'utf8').trim().split('\n');
    expect(header).toBe('uscc,vat_paid_wan,tax_credit_grade,late_filings_24m');
    await createTable(
      server.connectionString,
      'tax_bureau',
      [
        { name: 'uscc', type: 'text' },
        { name: 'vat_paid_wan', type: 'numeric' },
        { name: 'tax_credit_grade', type: 'integer' },
        { name: 'late_filings_24m', type: 'integer' },
      ],
      lines.map((line) => line.split(',').map((cell) => (cell === '' ? null : cell))),
    );
    const bank = await loadFeatureTable(join(EXAMPLES, 'bank.csv'), { idColumn: 'uscc', labelColumn: 'defaulted' });
    const agencyFromDb = await loadFeatureTableFromPostgres({ connectionString: server.connectionString, table: 'tax_bureau', idColumn: 'uscc' });
    const agencyFromCsv = await loadFeatureTable(taxCsv, { idColumn: 'uscc' });
    const train = (agency: FeatureTable) =>
      trainOnTables({
        label: { table: bank, name: 'bank' },
        features: [{ table: agency, name: 'tax_bureau' }],
        config: { he: 'mock', batchSize: 1024, epochs: 3, seed: 'pg', allowPartialScoreDisclosure: true },
      });
    const viaDb = await train(agencyFromDb);
    const viaCsv = await train(agencyFromCsv);
    expect(viaDb.alignedRows).toBeGreaterThan(1000);
    expect(viaDb.predictions.ids).toEqual(viaCsv.predictions.ids);
    const scoreGap = Math.max(...viaDb.predictions.scores.map((s, i) => Math.abs(s - viaCsv.predictions.scores[i]!)));
    expect(scoreGap).toBeLessThan(1e-3);
    expect(viaDb.parties.find((p) => p.name === 'tax_bureau')).toMatchObject({ file: 'postgres:tax_bureau', rowsRead: lines.length });
  });
});

describe('the test PostgreSQL server (test/helpers/postgres.ts)', () => {
  it('moves to another port when the one it picked was taken before it could bind it', async () => {
    // PostgreSQL cannot bind port 0, so the helper picks a port first: here another listener holds it.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as AddressInfo).port;
    let second: PostgresServer | undefined;
    try {
      second = await startPostgres({ firstPort: taken });
      expect(second.port).not.toBe(taken);
      expect(second.connectionString).toContain(`127.0.0.1:${second.port}/`);
      expect(await queryRows(second.connectionString, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await second?.stop();
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
