/**
 * Blind verification: a bank checks what enterprises declared against an agency's register
 * and learns, per claim, only consistent / not consistent.
 *
 * The agency publishes OPRF tags of (id ‖ field ‖ band key) for every value of its register
 * (bands.ts: one key for equality, one per grid for a tolerance); the bank evaluates the
 * keys of its claims online (online.ts) and a claim is consistent when one of its keys is
 * among the tags.
 *
 *   agency          tags T = {F_k(id ‖ field ‖ key)} over its records      (offline)
 *   agency → bank   T                                                       (published)
 *   bank ↔ agency   one OPRF session over the claims' keys                 (oprf.*)
 *
 * Who learns what (honest-but-curious; DDH, random oracles): the agency, the number of keys
 * evaluated (claims × grids), nothing about which enterprise, field or value; the bank, per
 * claim, whether it is consistent, and the number of tags (records × fields). What no
 * protocol can stop: a bank may evaluate keys of values nobody declared, so every session's
 * evaluations are counted against a limit and audited by the agency, and each enterprise's
 * value is only as hidden as the number of bands a bank could try.
 */
import { performance } from 'node:perf_hooks';
import { columnIndex, openCsv, type CsvRow } from '../data/csv.ts';
import { errors } from '../errors.ts';
import { detectIdType, normaliseId, type IdType, type IdTypeOption } from '../ids/normalise.ts';
import type { BackendName } from '../psi/group.ts';
import { memoryChannelPair, type FrameTap } from '../transport/memory.ts';
import { bandKeys, verificationInput, type FieldCheck } from './bands.ts';
import { inputBatches } from './inputs.ts';
import { answerTagQueries, queryTags } from './online.ts';
import { ephemeralOprfKey } from './oprf-key.ts';
import { prepareTags } from './prepare.ts';
import { executorFor } from './unbalanced-psi.ts';

export const VERIFY_DOMAIN = 'verify';

/** `name` or `name:tol=r` (a relative tolerance, 0 < r ≤ 10). */
export function parseFieldCheck(spec: string): FieldCheck {
  const m = /^([^:]+?)(?::tol=([^:]*))?$/.exec(spec.trim());
  if (!m) throw errors.optionInvalid('--field', `"${spec}" is not <name> or <name>:tol=<r>`);
  if (m[2] === undefined) return { field: m[1]!, tolerance: undefined };
  const r = Number(m[2]);
  if (m[2].trim() === '' || !Number.isFinite(r) || r <= 0 || r > 10) throw errors.optionInvalid('--field', `tolerance "${m[2]}" of ${m[1]} must be a number in (0, 10], e.g. tol=0.1 for 10%`);
  return { field: m[1]!, tolerance: r };
}

export interface VerifyOptions {
  readonly claims: { readonly file: string; readonly idColumn: string };
  readonly register: { readonly file: string; readonly idColumn: string };
  readonly checks: readonly FieldCheck[];
  readonly idType?: IdTypeOption;
  readonly backend: BackendName;
  readonly threads?: number;
  readonly tap?: FrameTap;
}

export interface ClaimVerdict {
  /** The ID as the claims file spells it. */
  readonly id: string;
  readonly field: string;
  readonly consistent: boolean;
}

export interface VerifyResult {
  readonly verdicts: readonly ClaimVerdict[];
  readonly registerRows: number;
  /** Register rows skipped for an invalid or empty ID. */
  readonly registerInvalid: number;
  readonly tags: number;
  readonly evaluations: number;
  readonly seconds: number;
  readonly bytesSent: number;
}

interface Claim {
  readonly id: string;
  readonly field: string;
  readonly inputs: readonly number[];
}

/** Both parties in one process: the agency prepares its tags with a key for this run only, then answers the bank. */
export async function runVerification(options: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now();
  const fields = uniqueChecks(options.checks);
  const { claims, inputs, idType } = await readClaims(options, fields);
  const key = await ephemeralOprfKey(options.backend);
  const executor = executorFor(options.threads);
  try {
    const register = await registerInputs(options, fields, idType);
    const prepared = await prepareTags({ executor, key, domain: VERIFY_DOMAIN }, inputBatches(register.inputs));
    const [bankEnd, agencyEnd] = memoryChannelPair('bank', 'agency', options.tap);
    const hit = new Uint8Array(inputs.length);
    const [, agency] = await Promise.all([
      queryTags({ channel: bankEnd, executor, backend: key.backend, keyId: key.keyId, domain: VERIFY_DOMAIN, tags: prepared.tags }, inputBatches(inputs), (m) => (hit[m.row] = 1)).catch((e) => {
        bankEnd.close((e as Error).message);
        throw e;
      }),
      answerTagQueries({ channel: agencyEnd, executor, key, domains: [VERIFY_DOMAIN], maxEvaluations: inputs.length }).catch((e) => {
        agencyEnd.close((e as Error).message);
        throw e;
      }),
    ]);
    return {
      verdicts: claims.map((c) => ({ id: c.id, field: c.field, consistent: c.inputs.some((i) => hit[i] === 1) })),
      registerRows: register.rows,
      registerInvalid: register.invalid,
      tags: prepared.tags.size,
      evaluations: agency.evaluations,
      seconds: (performance.now() - started) / 1000,
      bytesSent: bankEnd.bytesSent + agencyEnd.bytesSent,
    };
  } finally {
    await executor.close();
  }
}

function uniqueChecks(checks: readonly FieldCheck[]): FieldCheck[] {
  if (checks.length === 0) throw errors.optionInvalid('--field', 'name at least one field to verify');
  const names = checks.map((c) => c.field);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw errors.optionInvalid('--field', `${JSON.stringify(twice)} is given twice`);
  return [...checks];
}

/** (Bank) Every non-empty claimed value, checked: a bad ID or a non-numeric value ends the run with its location. */
async function readClaims(options: VerifyOptions, checks: readonly FieldCheck[]): Promise<{ claims: Claim[]; inputs: string[]; idType: IdType }> {
  const { file, idColumn } = options.claims;
  const table = await openCsv(file);
  const idCol = columnIndex(table, idColumn);
  const cols = checks.map((c) => columnIndex(table, c.field));
  const rows: CsvRow[] = [];
  for await (const chunk of table.chunks) rows.push(...chunk);
  const idType = options.idType === 'uscc' || options.idType === 'plain' ? options.idType : detectIdType(rows.map((r) => r.fields[idCol]!));
  const claims: Claim[] = [];
  const inputs: string[] = [];
  const inputIndex = new Map<string, number>();
  for (const row of rows) {
    const raw = row.fields[idCol]!;
    const id = normaliseId(raw, idType);
    if (!id.ok) throw errors.idInvalid({ file, line: row.line, column: row.columnOf(idCol), columnName: idColumn }, raw, id.why);
    checks.forEach((check, k) => {
      const cell = row.fields[cols[k]!]!.trim();
      if (cell === '') return;
      const value = parseNumber(cell);
      if (value === undefined) throw errors.valueNotNumeric({ file, line: row.line, column: row.columnOf(cols[k]!), columnName: check.field }, cell);
      const indices = bandKeys(value, check).map((key) => {
        const input = verificationInput(id.id, check.field, key);
        let index = inputIndex.get(input);
        if (index === undefined) {
          index = inputs.push(input) - 1;
          inputIndex.set(input, index);
        }
        return index;
      });
      claims.push({ id: raw.trim(), field: check.field, inputs: indices });
    });
  }
  return { claims, inputs, idType };
}

/** (Agency) The inputs of every value it holds for the checked fields; a non-numeric value is an error. */
async function registerInputs(options: VerifyOptions, checks: readonly FieldCheck[], idType: IdType): Promise<{ inputs: string[]; rows: number; invalid: number }> {
  const { file, idColumn } = options.register;
  const table = await openCsv(file);
  const idCol = columnIndex(table, idColumn);
  const cols = checks.map((c) => columnIndex(table, c.field));
  const inputs: string[] = [];
  let rows = 0;
  let invalid = 0;
  for await (const chunk of table.chunks) {
    for (const row of chunk) {
      rows++;
      const id = normaliseId(row.fields[idCol]!, idType);
      if (!id.ok) {
        invalid++;
        continue;
      }
      checks.forEach((check, k) => {
        const cell = row.fields[cols[k]!]!.trim();
        if (cell === '') return;
        const value = parseNumber(cell);
        if (value === undefined) throw errors.valueNotNumeric({ file, line: row.line, column: row.columnOf(cols[k]!), columnName: check.field }, cell);
        for (const key of bandKeys(value, check)) inputs.push(verificationInput(id.id, check.field, key));
      });
    }
  }
  return { inputs, rows, invalid };
}

function parseNumber(cell: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(cell)) return undefined;
  const n = Number(cell);
  return Number.isFinite(n) ? n : undefined;
}
