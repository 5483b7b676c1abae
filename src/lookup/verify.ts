/**
 * Blind verification: a bank checks what enterprises declared against an agency's register
 * and learns, per claim, only consistent / not consistent.
 *
 * The agency publishes OPRF tags of (id ‖ field ‖ band key) for every value of its register
 * (bands.ts: one key for equality, one per grid, `GRIDS` of them, for a tolerance); the bank
 * evaluates ONE key per claim online (online.ts: for a tolerance, the grid in which its claim
 * lies farthest from a band edge) and a claim is consistent when its key is among the tags.
 *
 *   agency          tags T = {F_k(id ‖ field ‖ key)} over its records      (offline)
 *   agency → bank   T                                                       (published)
 *   bank ↔ agency   one OPRF session over the claims' keys                 (oprf.*)
 *
 * Who learns what (honest-but-curious; DDH, random oracles): the agency, the number of keys
 * evaluated (rows × fields: one per claim, exact or tolerance, and one per empty cell or
 * repeated key), nothing about which enterprise, field or value; the bank, per claim, whether
 * it is consistent (its one key's hit is the verdict: with a key per grid, which grid matched
 * said more), and the number of tags (records × fields × grids). What no protocol can stop: a
 * bank may evaluate keys of values nobody declared, so every session's evaluations are
 * counted against a limit and audited by the agency, and each enterprise's value is only as
 * hidden as the number of bands a bank could try.
 */
import { performance } from 'node:perf_hooks';
import { columnIndex, openCsv, type CsvRow } from '../data/csv.ts';
import { errors } from '../errors.ts';
import { detectIdType, normaliseId, type IdType, type IdTypeOption } from '../ids/normalise.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import type { BackendName } from '../psi/group.ts';
import { memoryChannelPair, type FrameTap } from '../transport/memory.ts';
import { claimKeys, GRIDS, paddingKey, registerKeys, verificationInput, type FieldCheck } from './bands.ts';
import { inputBatches } from './inputs.ts';
import { answerTagQueries, bothEnds, queryTags } from './online.ts';
import { ephemeralOprfKey, loadOprfKey, loadOrCreateOprfKey } from './oprf-key.ts';
import { TAG_BYTES } from './oprf.ts';
import { checkTagFileFits, checkTagFileKey, openTagFile, TAG_FILE_VERSION, writeTagFile, type TagFileHeader } from './tag-file.ts';
import { RegisterRows, type RegisterReport } from './register-rows.ts';
import type { AuditLog } from '../governance/audit.ts';
import { prepareTags } from './prepare.ts';
import { executorFor } from './unbalanced-psi.ts';

/**
 * The OPRF domain of verification tags. It names the protocol: tags of the earlier one (domain
 * `verify`, a key for each of two grids per tolerance claim) match nothing under it, so an old
 * tag file or agency is refused, never answered with wrong verdicts.
 */
export const VERIFY_DOMAIN = `verify/one-key-${GRIDS}-grids`;

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
  /** What reading the register found; undefined against prepared tags, where the register is not read (the agency's business). */
  readonly register: RegisterReport | undefined;
  readonly tags: number;
  readonly evaluations: number;
  readonly seconds: number;
  readonly bytesSent: number;
}

interface Claim {
  readonly id: string;
  /** The ID normalised (what the audit log hashes). */
  readonly normalised: string;
  readonly field: string;
  /** Its keys' places among the inputs evaluated (one key: bands.ts `claimKeys`). */
  readonly inputs: readonly number[];
}

/** Both parties in one process: the agency prepares its tags with a key for this run only, then answers the bank. */
export async function runVerification(options: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now();
  const fields = uniqueChecks(options.checks, options.claims.idColumn);
  const { claims, inputs, idType } = await readClaims(options, fields);
  const key = await ephemeralOprfKey(options.backend);
  const executor = executorFor(options.threads);
  try {
    const register = await registerInputs(options, fields, idType);
    const prepared = await prepareTags({ executor, key, domain: VERIFY_DOMAIN }, inputBatches(register.inputs));
    const [bankEnd, agencyEnd] = memoryChannelPair('bank', 'agency', options.tap);
    const hit = new Uint8Array(inputs.length);
    const [, agency] = await bothEnds(
      queryTags({ channel: bankEnd, executor, backend: key.backend, keyId: key.keyId, domain: VERIFY_DOMAIN, tags: prepared.tags }, inputBatches(inputs), (m) => (hit[m.row] = 1)).catch((e) => {
        bankEnd.close((e as Error).message);
        throw e;
      }),
      answerTagQueries({ channel: agencyEnd, executor, key, domains: [VERIFY_DOMAIN], maxEvaluations: inputs.length }).catch((e) => {
        agencyEnd.close((e as Error).message);
        throw e;
      }),
    );
    return {
      verdicts: claims.map((c) => ({ id: c.id, field: c.field, consistent: c.inputs.some((i) => hit[i] === 1) })),
      register: register.report,
      tags: prepared.tags.size,
      evaluations: agency.evaluations,
      seconds: (performance.now() - started) / 1000,
      bytesSent: bankEnd.bytesSent + agencyEnd.bytesSent,
    };
  } finally {
    await executor.close();
  }
}

function uniqueChecks(checks: readonly FieldCheck[], idColumn: string): FieldCheck[] {
  if (checks.length === 0) throw errors.optionInvalid('--field', 'name at least one field to verify');
  const id = checks.find((c) => c.field === idColumn);
  if (id !== undefined) throw errors.optionInvalid('--field', `${JSON.stringify(id.field)} is the ID column (--id), not a declared value`, 'name the columns of declared values with --field');
  const names = checks.map((c) => c.field);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw errors.optionInvalid('--field', `${JSON.stringify(twice)} is given twice`);
  return [...checks];
}

/** (Bank) Every non-empty claimed value, checked: a bad ID or a non-numeric value ends the run with its location. */
async function readClaims(options: Pick<VerifyOptions, 'claims' | 'idType'>, checks: readonly FieldCheck[]): Promise<{ claims: Claim[]; inputs: string[]; idType: IdType }> {
  const { file, idColumn } = options.claims;
  const table = await openCsv(file);
  const idCol = columnIndex(table, idColumn);
  const cols = checks.map((c) => columnIndex(table, c.field, FIELD_HINT));
  const rows: CsvRow[] = [];
  for await (const chunk of table.chunks) rows.push(...chunk);
  const idType = options.idType === 'uscc' || options.idType === 'plain' ? options.idType : detectIdType(rows.map((r) => r.fields[idCol]!));
  const claims: Claim[] = [];
  const inputs: string[] = [];
  const inputIndex = new Map<string, number>();
  // Every row takes one key per checked field whatever it claims: a claim its one key, an
  // empty cell as many padding keys (one) that match nothing. The count the agency sees is then rows ×
  // fields, which tells neither which fields a row claims nor how many cells are empty
  // (test/attacks/verify-field-count.test.ts). A key already in the file (the same claim
  // again) is evaluated once, with one blinding scalar per run two equal points would show,
  // and its place taken by a fresh padding key: dropping it would change the count
  // (test/attacks/verify-repeat-count.test.ts).
  for (const row of rows) {
    const raw = row.fields[idCol]!;
    const id = normaliseId(raw, idType);
    if (!id.ok) throw errors.idInvalid({ file, line: row.line, column: row.columnOf(idCol), columnName: idColumn }, raw, id.why, CLAIM_ID_HINT);
    checks.forEach((check, k) => {
      const cell = row.fields[cols[k]!]!.trim();
      const value = cell === '' ? undefined : parseNumber(cell);
      if (cell !== '' && value === undefined) throw errors.valueNotNumeric({ file, line: row.line, column: row.columnOf(cols[k]!), columnName: check.field }, cell);
      // An empty cell is no claim: its padding is evaluated, no verdict is given.
      if (value === undefined) {
        for (let j = claimKeys(1, check).length; j > 0; j--) inputs.push(verificationInput(id.id, check.field, paddingKey()));
        return;
      }
      const indices = claimKeys(value, check).map((key) => {
        const input = verificationInput(id.id, check.field, key);
        let index = inputIndex.get(input);
        if (index === undefined) inputIndex.set(input, (index = inputs.push(input) - 1));
        else inputs.push(verificationInput(id.id, check.field, paddingKey()));
        return index;
      });
      claims.push({ id: raw.trim(), normalised: id.id, field: check.field, inputs: indices });
    });
  }
  return { claims, inputs, idType };
}

const FIELD_HINT = 'name an existing column with --field (or leave --field out with --prepared: every field of the tag file)';
const CLAIM_ID_HINT = 'correct or remove the row: every claim needs a valid ID (give --id-type plain if the IDs are not unified social credit codes)';

/** (Agency) The inputs of every value it holds for the checked fields (rows kept as `RegisterRows` says); a non-numeric value is an error. */
async function registerInputs(options: Pick<VerifyOptions, 'register'> & { readonly strict?: boolean }, checks: readonly FieldCheck[], idTypeOption: IdType | 'auto'): Promise<{ inputs: string[]; report: RegisterReport; idType: IdType }> {
  const { file, idColumn } = options.register;
  let idType: IdType | undefined = idTypeOption === 'auto' ? undefined : idTypeOption;
  const table = await openCsv(file);
  const idCol = columnIndex(table, idColumn);
  const cols = checks.map((c) => columnIndex(table, c.field, FIELD_HINT));
  const inputs: string[] = [];
  const kept = new RegisterRows();
  for await (const chunk of table.chunks) {
    idType ??= detectIdType(chunk.slice(0, 1000).map((r) => r.fields[idCol]!));
    for (const row of chunk) {
      const id = normaliseId(row.fields[idCol]!, idType);
      if (!id.ok && options.strict) throw errors.idInvalid({ file, line: row.line, column: row.columnOf(idCol), columnName: idColumn }, row.fields[idCol]!, id.why);
      if (!kept.keep(row.line, id.ok ? id.id : undefined) || !id.ok) continue;
      checks.forEach((check, k) => {
        const cell = row.fields[cols[k]!]!.trim();
        if (cell === '') return;
        const value = parseNumber(cell);
        if (value === undefined) throw errors.valueNotNumeric({ file, line: row.line, column: row.columnOf(cols[k]!), columnName: check.field }, cell);
        for (const key of registerKeys(value, check)) inputs.push(verificationInput(id.id, check.field, key));
      });
    }
  }
  return { inputs, report: kept.report, idType: idType ?? 'plain' };
}

function parseNumber(cell: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(cell)) return undefined;
  const n = Number(cell);
  return Number.isFinite(n) ? n : undefined;
}

/** The field checks a prepared verification tag file was made for, as `name` / `name:tol=r`. */
export function formatFieldCheck(check: FieldCheck): string {
  return check.tolerance === undefined ? check.field : `${check.field}:tol=${check.tolerance}`;
}

/** The OPRF domain of prepared verification tags: the checks are part of it, so tags of other tolerances never match. */
export function preparedVerifyDomain(checks: readonly FieldCheck[]): string {
  return `${VERIFY_DOMAIN}:${JSON.stringify(checks.map(formatFieldCheck))}`;
}

/** The checks `preparedVerifyDomain` wrote into `domain`, as `name` / `name:tol=r`; undefined for any other domain. */
export function checksOfVerifyDomain(domain: string): string[] | undefined {
  if (!domain.startsWith(`${VERIFY_DOMAIN}:`)) return undefined;
  try {
    const listed = JSON.parse(domain.slice(VERIFY_DOMAIN.length + 1)) as unknown;
    if (!Array.isArray(listed) || !listed.every((c) => typeof c === 'string')) return undefined;
    listed.forEach(parseFieldCheck);
    return listed;
  } catch {
    return undefined;
  }
}

/**
 * Why a verification tag file cannot be answered from under this version's protocol (its
 * domain is not the one of its fields: `preparedVerifyDomain`), or undefined when it can.
 * Tags of the earlier two-key protocol would give wrong verdicts, not none: each value's
 * keys were of two grids of another width.
 */
export function staleVerificationTags(header: Pick<TagFileHeader, 'domain' | 'fields'>): string | undefined {
  const expected = preparedVerifyDomain(header.fields.map(parseFieldCheck));
  if (header.domain === expected) return undefined;
  if (header.domain.startsWith(`${EARLIER_VERIFY_DOMAIN}:`)) return `holds verification tags made by an earlier jinqiao, for two keys per tolerance claim (domain ${header.domain}), which this version no longer evaluates`;
  return `holds verification tags of domain ${header.domain}, not ${expected}, the domain of its fields under this version's protocol`;
}

/** The domain of verification tags before one key per claim. */
const EARLIER_VERIFY_DOMAIN = 'verify';
/** What to do with a stale verification tag file. */
export const PREPARE_AGAIN = 'prepare the tags again with `jinqiao psi prepare <register> --id <column> --key <folder> --out <file> --field <name>[:tol=r] …` (same key and fields)';

export interface PrepareVerificationOptions {
  readonly register: { readonly file: string; readonly idColumn: string };
  readonly checks: readonly FieldCheck[];
  readonly idType?: IdTypeOption;
  readonly keyDir: string;
  readonly backend: BackendName;
  readonly out: string;
  readonly threads?: number;
  /** Make an invalid or empty register ID an error instead of skipping and counting it. */
  readonly strict?: boolean;
}

/**
 * (Agency, offline, once per key period) Verification tags of every value of the checked
 * fields of its register, under the key in `keyDir`, written to `out`: what `verify
 * --prepared` answers from, at loan-book scale, without touching the register again.
 */
export async function prepareVerification(options: PrepareVerificationOptions): Promise<{ keyId: string; keyCreated: boolean; tags: number; register: RegisterReport; offlineSeconds: number; fileBytes: number }> {
  const started = performance.now();
  const checks = uniqueChecks(options.checks, options.register.idColumn);
  const { key, created } = await loadOrCreateOprfKey(options.keyDir, options.backend);
  const register = await registerInputs(options, checks, options.idType === 'uscc' || options.idType === 'plain' ? options.idType : 'auto');
  const executor = executorFor(options.threads);
  try {
    const domain = preparedVerifyDomain(checks);
    const prepared = await prepareTags({ executor, key, domain }, inputBatches(register.inputs));
    const offlineSeconds = (performance.now() - started) / 1000;
    const fileBytes = await writeTagFile(
      options.out,
      { version: TAG_FILE_VERSION, kind: 'verify', keyId: key.keyId, backend: key.backend, domain, idType: register.idType, count: prepared.tags.size, tagBytes: TAG_BYTES, labelBytes: 0, fields: checks.map(formatFieldCheck), offlineSeconds },
      prepared.tags,
    );
    return { keyId: key.keyId, keyCreated: created, tags: prepared.tags.size, register: register.report, offlineSeconds, fileBytes };
  } finally {
    await executor.close();
  }
}

export interface PreparedVerifyOptions {
  readonly claims: { readonly file: string; readonly idColumn: string };
  /** The agency's verification tag file (`psi prepare --field`). */
  readonly prepared: string;
  /** The agency's key folder: it answers the online phase. */
  readonly keyDir: string;
  /** Fields to check (default: every field of the tag file); each as the tag file has it. */
  readonly checks?: readonly FieldCheck[];
  readonly threads?: number;
  /** Most evaluations the agency grants the session (default: unlimited). */
  readonly maxEvaluations?: number;
  readonly agencyAudit?: AuditLog;
  /**
   * The bank's log: `verify.start` (key period, fields, claims) before its first query, so a
   * session that fails is on record too, and `verify.run` (evaluations, verdicts, the
   * enterprises as salted hashes: why it checked each is the bank's to show) once it ended.
   */
  readonly bankAudit?: Pick<AuditLog, 'append' | 'hashId'>;
  readonly tap?: FrameTap;
  /** The group backend the caller expects (the tag file names it): a tag file of another is refused. */
  readonly backend?: BackendName;
  /** How the caller expects IDs read (the tag file says): a tag file of another ID type is refused. */
  readonly idType?: IdTypeOption;
}

/** Blind verification against prepared tags, both parties in one process: online cost only (one agency multiply per claim key). */
export async function runPreparedVerification(options: PreparedVerifyOptions): Promise<VerifyResult & { offlineSeconds: number; onlineSeconds: number }> {
  const started = performance.now();
  // Started first: its workers take a few hundred ms to load their modules, which overlaps
  // reading the tag file and the claims instead of following them.
  const executor = executorFor(options.threads);
  try {
    return await preparedVerification(options, executor, started);
  } finally {
    await executor.close();
  }
}

async function preparedVerification(options: PreparedVerifyOptions, executor: PsiExecutor, started: number): Promise<VerifyResult & { offlineSeconds: number; onlineSeconds: number }> {
  // The tags load while the session starts: only its first answer needs them.
  const { header, tags } = await openTagFile(options.prepared);
  // Consumed by the session, or dropped with it if it fails first (an I/O error then has nobody to tell).
  tags.catch(() => undefined);
  if (header.kind !== 'verify') throw errors.optionInvalid('--prepared', `${options.prepared} holds ${header.kind} tags, not verification tags (prepare them with psi prepare --field)`);
  checkTagFileFits(options.prepared, header, options);
  const tagChecks = header.fields.map(parseFieldCheck);
  const domain = preparedVerifyDomain(tagChecks);
  const stale = staleVerificationTags(header);
  if (stale !== undefined) throw errors.optionInvalid('--prepared', `${options.prepared} ${stale}`, `${PREPARE_AGAIN} and verify against the new file`);
  const checks = options.checks ?? tagChecks;
  for (const c of checks) {
    const match = tagChecks.find((t) => t.field === c.field);
    if (!match) throw errors.optionInvalid('--field', `${c.field} is not among the fields of ${options.prepared} (${header.fields.join(', ')})`);
    if (match.tolerance !== c.tolerance) throw errors.optionInvalid('--field', `${options.prepared} checks ${formatFieldCheck(match)}, not ${formatFieldCheck(c)}`);
  }
  const key = await loadOprfKey(options.keyDir);
  checkTagFileKey(options.prepared, header, options.keyDir, key);
  const unique = uniqueChecks(checks, options.claims.idColumn);
  const { claims, inputs } = await readClaims({ claims: options.claims, idType: header.idType }, unique);
  const fields = unique.map(formatFieldCheck);
  await options.bankAudit?.append('verify.start', { mode: 'prepared', keyId: header.keyId, fields, claims: claims.length });
  const [bankEnd, agencyEnd] = memoryChannelPair('bank', 'agency', options.tap);
  const hit = new Uint8Array(inputs.length);
  const [, agency] = await bothEnds(
    queryTags({ channel: bankEnd, executor, backend: header.backend, keyId: header.keyId, domain: header.domain, tags }, inputBatches(inputs), (m) => (hit[m.row] = 1)).catch((e) => {
      bankEnd.close((e as Error).message);
      throw e;
    }),
    answerTagQueries({
      channel: agencyEnd,
      executor,
      key,
      domains: [domain],
      maxEvaluations: options.maxEvaluations ?? Number.MAX_SAFE_INTEGER,
      beforeAnswer: async (batch) => {
        await options.agencyAudit?.append('verify.answered', { keyId: key.keyId, batch: batch.seq, evaluations: batch.evaluations, last: batch.last });
      },
    }).catch((e) => {
      agencyEnd.close((e as Error).message);
      throw e;
    }),
  );
  const verdicts = claims.map((c) => ({ id: c.id, field: c.field, consistent: c.inputs.some((i) => hit[i] === 1) }));
  if (options.bankAudit) {
    const enterprises = [...new Set(claims.map((c) => c.normalised))].map((id) => options.bankAudit!.hashId(id));
    await options.bankAudit.append('verify.run', { mode: 'prepared', keyId: header.keyId, fields, evaluations: agency.evaluations, claims: verdicts.length, consistent: verdicts.filter((v) => v.consistent).length, enterprises });
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    verdicts,
    // The register is not read online: its size is the agency's business (the tag count bounds records × fields × grids).
    register: undefined,
    tags: header.count,
    evaluations: agency.evaluations,
    seconds,
    onlineSeconds: seconds,
    offlineSeconds: header.offlineSeconds,
    bytesSent: bankEnd.bytesSent + agencyEnd.bytesSent,
  };
}
