/**
 * Both job stores keep the lifecycle states and a job's approval (what it asked for and the
 * operator's decision) across a reopen, and each takes over a store written before approvals
 * existed. PostgreSQL is a real server started for the test (test/helpers/postgres.ts).
 */
import { mkdtempSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresJobStore } from '../../src/service/pg-store.ts';
import { SqliteJobStore, type JobApproval, type JobStore } from '../../src/service/store.ts';
import { startPostgres, type PostgresServer } from '../helpers/postgres.ts';

const approval: JobApproval = {
  request: { partners: ['bank'], purpose: 'credit-modeling', fields: ['vat_paid_wan'], rows: 340 },
  requestedAt: '2026-12-02T07:00:00.000Z',
  decision: { approved: false, operator: 'alice', reason: 'not this quarter', at: '2026-12-02T07:05:00.000Z' },
};

async function roundTrip(open: () => Promise<JobStore>) {
  const store = await open();
  store.create('waits', { purpose: 'credit-modeling' });
  store.create('rejected', { purpose: 'credit-modeling' });
  store.update('waits', { state: 'awaiting-approval', phase: 'awaiting approval by tax-bureau' });
  store.update('rejected', { state: 'rejected', phase: 'stopped', approval, error: { code: 'E_JOB_REJECTED', message: "rejected by tax-bureau's operator: not this quarter" } });
  await store.close();
  const reopened = await open();
  try {
    expect(reopened.get('waits')).toMatchObject({ state: 'awaiting-approval', phase: 'awaiting approval by tax-bureau', approval: null });
    expect(reopened.get('rejected')).toMatchObject({ state: 'rejected', approval, error: { code: 'E_JOB_REJECTED' } });
  } finally {
    await reopened.close();
  }
}

describe('job stores and the approval lifecycle', () => {
  it('SQLite keeps states and approvals, and adds the approval column to an older store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jinqiao-store-'));
    // A store as the service wrote it before approvals: no approval column, one finished job.
    const old = new DatabaseSync(join(dir, 'jobs.sqlite'));
    old.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, phase TEXT NOT NULL, progress TEXT NOT NULL, definition TEXT NOT NULL,
      result TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`);
    old.prepare("INSERT INTO jobs VALUES ('before', 'succeeded', 'done', '{}', '{}', '{\"auc\":0.8}', 'null', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')").run();
    old.close();
    await roundTrip(async () => new SqliteJobStore(dir));
    const store = new SqliteJobStore(dir);
    expect(store.get('before')).toMatchObject({ state: 'succeeded', result: { auc: 0.8 }, approval: null });
    await store.close();
  });

  describe('PostgreSQL', () => {
    let server: PostgresServer;
    beforeAll(async () => {
      server = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });

    it('keeps states and approvals, and adds the approval column to an older table', async () => {
      const client = new pg.Client({ connectionString: server.connectionString });
      await client.connect();
      await client.query(`CREATE TABLE jinqiao_jobs (party text NOT NULL, id text NOT NULL, state text NOT NULL, phase text NOT NULL,
        progress jsonb NOT NULL, definition jsonb NOT NULL, result jsonb, error jsonb,
        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (party, id))`);
      await client.query(`INSERT INTO jinqiao_jobs VALUES ('bank', 'before', 'succeeded', 'done', '{}', '{}', '{"auc":0.8}', null, now(), now())`);
      await client.end();
      await roundTrip(() => PostgresJobStore.open(server.connectionString, 'bank'));
      const store = await PostgresJobStore.open(server.connectionString, 'bank');
      expect(store.get('before')).toMatchObject({ state: 'succeeded', result: { auc: 0.8 }, approval: null });
      await store.close();
    }, 60_000);
  });
});
