/**
 * A party's job store: every job it took part in, its phase and progress, its result or the
 * reason it failed. SQLite (node:sqlite, no native dependency) in the party's store folder
 * by default; PostgreSQL when configured (pg-store.ts). Each party keeps its own store; none
 * holds another's.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * `queued`: waiting for a free slot (the service runs `jobs.concurrency` at once);
 * `awaiting-approval`: held until an operator approves it (this party's, or a partner's,
 * which `phase` names); `rejected`: an operator rejected it (or the wait timed out).
 */
export type JobState = 'queued' | 'awaiting-approval' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'rejected';

/** States a job leaves on its own; the others are final. */
export const ACTIVE_STATES: ReadonlySet<JobState> = new Set(['queued', 'awaiting-approval', 'running']);

/** What a job asked this party's operator to approve, and the decision once taken. */
export interface JobApproval {
  readonly request: {
    /** The institutions the party exchanges data-derived messages with in the job. */
    readonly partners: readonly string[];
    readonly purpose: string;
    /** The party's own fields the job uses. */
    readonly fields: readonly string[];
    /** The party's rows the job would use (after consent filtering), where known. */
    readonly rows?: number;
  };
  readonly requestedAt: string;
  readonly decision?: { readonly approved: boolean; readonly operator: string; readonly reason?: string; readonly at: string };
}

export interface JobRecord {
  readonly id: string;
  readonly state: JobState;
  readonly phase: string;
  readonly progress: Record<string, unknown>;
  readonly definition: Record<string, unknown>;
  readonly result: Record<string, unknown> | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** Set when the job needed this party's operator's approval. */
  readonly approval: JobApproval | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface Row {
  id: string;
  state: JobState;
  phase: string;
  progress: string;
  definition: string;
  result: string | null;
  error: string | null;
  approval: string | null;
  created_at: string;
  updated_at: string;
}

/** What the service needs of a job store; reads are synchronous so progress updates stay cheap. */
export interface JobStore {
  create(id: string, definition: Record<string, unknown>): JobRecord;
  get(id: string): JobRecord | undefined;
  list(): JobRecord[];
  update(id: string, changes: JobChanges): void;
  /** Resolves once every change so far is durable. */
  flush(): Promise<void>;
  /** Flushes and closes. */
  close(): Promise<void>;
}

export interface JobChanges {
  readonly state?: JobState;
  readonly phase?: string;
  readonly progress?: Record<string, unknown>;
  readonly result?: Record<string, unknown>;
  readonly error?: { readonly code: string; readonly message: string };
  readonly approval?: JobApproval;
}

/** Applies `changes` to a record (both stores keep the same rules). */
export function applyChanges(current: JobRecord, changes: JobChanges, now: string): JobRecord {
  return {
    ...current,
    state: changes.state ?? current.state,
    phase: changes.phase ?? current.phase,
    progress: changes.progress ?? current.progress,
    result: changes.result ?? current.result,
    error: changes.error ?? current.error,
    approval: changes.approval ?? current.approval,
    updatedAt: now,
  };
}

export class SqliteJobStore implements JobStore {
  readonly #db: DatabaseSync;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#db = new DatabaseSync(join(dir, 'jobs.sqlite'));
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        phase TEXT NOT NULL,
        progress TEXT NOT NULL,
        definition TEXT NOT NULL,
        result TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `);
    // Stores written before per-job approval lack its column.
    const columns = this.#db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'approval')) this.#db.exec('ALTER TABLE jobs ADD COLUMN approval TEXT');
  }

  create(id: string, definition: Record<string, unknown>): JobRecord {
    const now = new Date().toISOString();
    this.#db
      .prepare('INSERT INTO jobs (id, state, phase, progress, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(id, 'queued', 'queued', '{}', JSON.stringify(definition), now, now);
    return this.get(id)!;
  }

  get(id: string): JobRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return row && toRecord(row);
  }

  list(): JobRecord[] {
    return (this.#db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC').all() as unknown as Row[]).map(toRecord);
  }

  update(id: string, changes: JobChanges): void {
    const current = this.get(id);
    if (!current) return;
    const next = applyChanges(current, changes, new Date().toISOString());
    this.#db
      .prepare('UPDATE jobs SET state = ?, phase = ?, progress = ?, result = ?, error = ?, approval = ?, updated_at = ? WHERE id = ?')
      .run(next.state, next.phase, JSON.stringify(next.progress), JSON.stringify(next.result), JSON.stringify(next.error), JSON.stringify(next.approval), next.updatedAt, id);
  }

  /** Every statement is durable when it returns (synchronous = FULL). */
  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.#db.close();
  }
}

function toRecord(row: Row): JobRecord {
  return {
    id: row.id,
    state: row.state,
    phase: row.phase,
    progress: JSON.parse(row.progress),
    definition: JSON.parse(row.definition),
    result: row.result === null ? null : JSON.parse(row.result),
    error: row.error === null ? null : JSON.parse(row.error),
    approval: row.approval === null ? null : JSON.parse(row.approval),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
