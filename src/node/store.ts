/**
 * A party's job store: every job it took part in, its phase and progress, its result or the
 * reason it failed, in an embedded SQLite database (node:sqlite, no native dependency) in
 * the party's store folder. Each party keeps its own store; none holds another's.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobRecord {
  readonly id: string;
  readonly state: JobState;
  readonly phase: string;
  readonly progress: Record<string, unknown>;
  readonly definition: Record<string, unknown>;
  readonly result: Record<string, unknown> | null;
  readonly error: { readonly code: string; readonly message: string } | null;
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
  created_at: string;
  updated_at: string;
}

export class JobStore {
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
    return (this.#db.prepare('SELECT * FROM jobs ORDER BY created_at DESC').all() as unknown as Row[]).map(toRecord);
  }

  update(id: string, changes: { state?: JobState; phase?: string; progress?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: string; message: string } }): void {
    const current = this.get(id);
    if (!current) return;
    this.#db
      .prepare('UPDATE jobs SET state = ?, phase = ?, progress = ?, result = ?, error = ?, updated_at = ? WHERE id = ?')
      .run(
        changes.state ?? current.state,
        changes.phase ?? current.phase,
        JSON.stringify(changes.progress ?? current.progress),
        JSON.stringify(changes.result ?? current.result),
        JSON.stringify(changes.error ?? current.error),
        new Date().toISOString(),
        id,
      );
  }

  close(): void {
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
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
