/**
 * (Agency) How verification and lookup read a register's rows, by the rule of `psi prepare`:
 * a row with an invalid or empty ID is skipped, a repeated ID keeps its first row (later rows,
 * and their values, are dropped); both are counted, with their first lines, for the report.
 */
import { REPORTED_LINES } from '../psi/source.ts';

export interface RegisterReport {
  readonly rows: number;
  readonly invalid: number;
  readonly invalidLines: readonly number[];
  readonly repeats: number;
  readonly repeatLines: readonly number[];
}

export class RegisterRows {
  private readonly seen = new Set<string>();
  readonly report = { rows: 0, invalid: 0, invalidLines: [] as number[], repeats: 0, repeatLines: [] as number[] };

  /** Whether the row on `line`, whose normalised ID is `id` (undefined when invalid), is kept. */
  keep(line: number, id: string | undefined): boolean {
    const r = this.report;
    r.rows++;
    if (id === undefined) {
      r.invalid++;
      if (r.invalidLines.length < REPORTED_LINES) r.invalidLines.push(line);
      return false;
    }
    if (this.seen.has(id)) {
      r.repeats++;
      if (r.repeatLines.length < REPORTED_LINES) r.repeatLines.push(line);
      return false;
    }
    this.seen.add(id);
    return true;
  }
}
