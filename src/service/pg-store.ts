/**
 * The job store in PostgreSQL, for parties that keep operational state in their database.
 *
 * Jobs live in the table `jinqiao_jobs`, keyed by (party, id), so several parties' services
 * may share one database without seeing each other's rows through this store. Reads come
 * from a copy loaded at start and kept current, so the service's progress updates stay
 * synchronous; every change is written in order by one writer. The service awaits
 * `flush()` when a job ends, before it reports the end, so a finished job's state and result
 * are in the database first; what a crash can lose is only the last progress updates of a
 * job that was running (which fails on restart anyway and can be resumed).
 */
import pg from 'pg';
import { errors } from '../errors.ts';
import { applyChanges, type JobChanges, type JobRecord, type JobStore } from './store.ts';

export class PostgresJobStore implements JobStore {
  readonly #pool: pg.Pool;
  readonly #party: string;
  readonly #jobs = new Map<string, JobRecord>();
  #writes: Promise<void> = Promise.resolve();
  #failure: Error | undefined;

  private constructor(pool: pg.Pool, party: string) {
    this.#pool = pool;
    this.#party = party;
  }

  static async open(connectionString: string, party: string): Promise<PostgresJobStore> {
    const pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 30_000 });
    // An idle connection the server drops (a restart, a shutdown) is replaced by the next
    // query, whose own failure flush() reports; unheard, the pool's error would end the process.
    pool.on('error', () => {});
    try {
      await pool.query(`CREATE TABLE IF NOT EXISTS jinqiao_jobs (
        party text NOT NULL, id text NOT NULL, state text NOT NULL, phase text NOT NULL,
        progress jsonb NOT NULL, definition jsonb NOT NULL, result jsonb, error jsonb,
        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (party, id))`);
      // Tables written before per-job approval lack its column.
      await pool.query('ALTER TABLE jinqiao_jobs ADD COLUMN IF NOT EXISTS approval jsonb');
      const store = new PostgresJobStore(pool, party);
      const rows = await pool.query('SELECT * FROM jinqiao_jobs WHERE party = $1', [party]);
      for (const row of rows.rows) {
        store.#jobs.set(row.id, {
          id: row.id,
          state: row.state,
          phase: row.phase,
          progress: row.progress,
          definition: row.definition,
          result: row.result,
          error: row.error,
          approval: row.approval,
          createdAt: new Date(row.created_at).toISOString(),
          updatedAt: new Date(row.updated_at).toISOString(),
        });
      }
      return store;
    } catch (e) {
      await pool.end().catch(() => {});
      const where = new URL(connectionString).host;
      throw errors.channelClosed(`the job store database at ${where}`, (e as Error).message);
    }
  }

  create(id: string, definition: Record<string, unknown>): JobRecord {
    const now = new Date().toISOString();
    const record: JobRecord = { id, state: 'queued', phase: 'queued', progress: {}, definition, result: null, error: null, approval: null, createdAt: now, updatedAt: now };
    this.#jobs.set(id, record);
    this.#write(record);
    return record;
  }

  get(id: string): JobRecord | undefined {
    return this.#jobs.get(id);
  }

  list(): JobRecord[] {
    return [...this.#jobs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  update(id: string, changes: JobChanges): void {
    const current = this.#jobs.get(id);
    if (!current) return;
    const next = applyChanges(current, changes, new Date().toISOString());
    this.#jobs.set(id, next);
    this.#write(next);
  }

  /** Resolves when every change so far is in the database; rejects with the first failed write. */
  async flush(): Promise<void> {
    await this.#writes;
    if (this.#failure) throw errors.channelClosed('the job store database', this.#failure.message);
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.#pool.end();
    }
  }

  #write(r: JobRecord): void {
    this.#writes = this.#writes.then(() =>
      this.#upsert(r).then(
        () => undefined,
        (e: Error) => {
          this.#failure ??= e;
        },
      ),
    );
  }

  /**
   * One record's row, retried: on a loaded host a connection can time out once and succeed
   * the next time, and every write is the whole row, so a retry is safe. Only a write that
   * fails WRITE_ATTEMPTS times counts as a failure of the store.
   */
  async #upsert(r: JobRecord): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#pool.query(
          `INSERT INTO jinqiao_jobs (party, id, state, phase, progress, definition, result, error, created_at, updated_at, approval)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (party, id) DO UPDATE SET state = $3, phase = $4, progress = $5, result = $7, error = $8, updated_at = $10, approval = $11`,
          [this.#party, r.id, r.state, r.phase, r.progress, r.definition, r.result, r.error, r.createdAt, r.updatedAt, r.approval],
        );
        return;
      } catch (e) {
        if (attempt >= WRITE_ATTEMPTS) throw e;
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
      }
    }
  }
}

const WRITE_ATTEMPTS = 4;
