/**
 * Unbalanced PSI between a bank's loan book and a national-scale register, run in one
 * process (the CLI, tests, benchmarks): the agency's offline `prepareRegister`, then
 * `runUnbalancedPsi`, where the agency answers one OPRF session over an in-memory channel
 * and the bank looks its tags up locally.
 *
 * Who learns what: the agency, the number of distinct IDs the bank holds; the bank, which
 * of its IDs the agency holds, and the register's size (the tag count). See oprf.ts.
 */
import { performance } from 'node:perf_hooks';
import type { IdTypeOption } from '../ids/normalise.ts';
import type { BackendName } from '../psi/group.ts';
import { poolExecutor, inlineExecutor, type PsiExecutor } from '../psi/executor.ts';
import { openIdSource, type IdSourceReport } from '../psi/source.ts';
import type { AuditLog } from '../governance/audit.ts';
import { memoryChannelPair, type FrameTap } from '../transport/memory.ts';
import { loadOprfKey, loadOrCreateOprfKey } from './oprf-key.ts';
import { answerTagQueries, bothEnds, queryTags } from './online.ts';
import { prepareTags } from './prepare.ts';
import { checkTagFileFits, checkTagFileKey, openTagFile, TAG_FILE_VERSION, writeTagFile } from './tag-file.ts';
import { errors } from '../errors.ts';
import type { CsvOptions } from '../data/csv.ts';
import { TAG_BYTES } from './oprf.ts';

export const PSI_DOMAIN = 'psi';

export function executorFor(threads: number | undefined): PsiExecutor {
  return threads === 0 ? inlineExecutor() : poolExecutor(threads === undefined ? {} : { threads });
}

export interface PrepareRegisterOptions {
  readonly file: string;
  readonly idColumn: string;
  readonly idType?: IdTypeOption;
  readonly keyDir: string;
  readonly backend: BackendName;
  readonly out: string;
  readonly threads?: number;
  readonly strict?: boolean;
}

export interface PrepareRegisterResult {
  readonly keyId: string;
  readonly keyCreated: boolean;
  readonly tags: number;
  readonly repeats: number;
  readonly register: IdSourceReport;
  readonly offlineSeconds: number;
  readonly fileBytes: number;
}

/** (Agency) Tags of every ID of a register under the key in `keyDir`, written atomically to `out`. */
export async function prepareRegister(options: PrepareRegisterOptions): Promise<PrepareRegisterResult> {
  const started = performance.now();
  const { key, created } = await loadOrCreateOprfKey(options.keyDir, options.backend);
  const source = await openIdSource({ file: options.file, idColumn: options.idColumn, idType: options.idType, strict: options.strict });
  const executor = executorFor(options.threads);
  try {
    const prepared = await prepareTags({ executor, key, domain: PSI_DOMAIN }, source.batches);
    const offlineSeconds = (performance.now() - started) / 1000;
    const fileBytes = await writeTagFile(
      options.out,
      {
        version: TAG_FILE_VERSION,
        kind: 'psi',
        keyId: key.keyId,
        backend: key.backend,
        domain: PSI_DOMAIN,
        idType: source.idType,
        count: prepared.tags.size,
        tagBytes: TAG_BYTES,
        labelBytes: 0,
        fields: [],
        offlineSeconds,
      },
      prepared.tags,
    );
    source.report.duplicates = prepared.repeats;
    return { keyId: key.keyId, keyCreated: created, tags: prepared.tags.size, repeats: prepared.repeats, register: source.report, offlineSeconds, fileBytes };
  } finally {
    await executor.close();
  }
}

export interface UnbalancedPsiOptions {
  readonly bank: { readonly file: string; readonly idColumn: string; readonly encoding?: CsvOptions['encoding'] };
  /** The group backend the caller expects (the tag file names it): a tag file of another is refused. */
  readonly backend?: BackendName;
  /** How the caller expects IDs read (the tag file says): a tag file of another ID type is refused. */
  readonly idType?: IdTypeOption;
  /** The agency's tag file. */
  readonly prepared: string;
  /** The agency's key folder (it answers the online session). */
  readonly keyDir: string;
  readonly threads?: number;
  /** Most evaluations the agency grants the session (default: unlimited). */
  readonly maxEvaluations?: number;
  readonly strict?: boolean;
  readonly tap?: FrameTap;
  /** A pool kept warm by the caller (a service, a benchmark); not closed here. Default: one for this run. */
  readonly executor?: PsiExecutor;
  /** The agency's log: every session's evaluation count, or its refusal, is appended before the bank gets a result. */
  readonly agencyAudit?: AuditLog;
  /**
   * The bank's log: `psi.start` (the key period and register size) is appended before its
   * first query leaves, so a session that then fails or is cut short is on record too;
   * `psi.run` (evaluations, intersection size) once it ended.
   */
  readonly bankAudit?: Pick<AuditLog, 'append'>;
}

export interface UnbalancedPsiResult {
  /** The key period the tags belong to. */
  readonly keyId: string;
  readonly intersection: number;
  /** The bank's file lines in the intersection, ascending. */
  readonly lines: Uint32Array;
  readonly bank: IdSourceReport;
  readonly registerSize: number;
  readonly evaluations: number;
  readonly offlineSeconds: number;
  readonly onlineSeconds: number;
  readonly bytesSent: number;
}

/** Both parties of the online phase in one process, isolated behind an in-memory channel. */
export async function runUnbalancedPsi(options: UnbalancedPsiOptions): Promise<UnbalancedPsiResult> {
  const started = performance.now();
  // Started first, as verify --prepared does: its workers' module loading overlaps reading
  // the tag file and the bank's IDs instead of following them.
  const executor = options.executor ?? executorFor(options.threads);
  try {
    // The tags load while the session starts, as in verify --prepared: only its first answer needs them.
    const { header, tags } = await openTagFile(options.prepared);
    // Consumed by the session, or dropped with it if it fails first.
    tags.catch(() => undefined);
    if (header.kind !== 'psi') {
      throw errors.optionInvalid(
        '--prepared',
        `${options.prepared} holds ${header.kind === 'verify' ? 'verification' : 'labeled lookup'} tags, not PSI tags`,
        header.kind === 'verify' ? `check claims against it with \`jinqiao verify <claims.csv> --prepared ${options.prepared}\`, or give PSI tags (\`jinqiao psi prepare\` without --field)` : 'give PSI tags (`jinqiao psi prepare` without --field)',
      );
    }
    checkTagFileFits(options.prepared, header, options);
    const key = await loadOprfKey(options.keyDir);
    checkTagFileKey(options.prepared, header, options.keyDir, key);
    const source = await openIdSource({ file: options.bank.file, idColumn: options.bank.idColumn, idType: header.idType, strict: options.strict, encoding: options.bank.encoding });
    await options.bankAudit?.append('psi.start', { mode: 'prepared', keyId: header.keyId, register: header.count });
    const [bankEnd, agencyEnd] = memoryChannelPair('bank', 'agency', options.tap);
    const lines: number[] = [];
    const [bank, agency] = await bothEnds(
      queryTags({ channel: bankEnd, executor, backend: header.backend, keyId: header.keyId, domain: header.domain, tags }, source.batches, (m) => lines.push(m.row)).catch((e) => {
        bankEnd.close(String((e as Error).message));
        throw e;
      }),
      answerTagQueries({ channel: agencyEnd, executor, key, domains: [PSI_DOMAIN], maxEvaluations: options.maxEvaluations ?? Number.MAX_SAFE_INTEGER }).then(
        async (answered) => {
          await options.agencyAudit?.append('oprf.session', { keyId: key.keyId, domain: answered.domain, evaluations: answered.evaluations });
          return answered;
        },
        async (e) => {
          agencyEnd.close(String((e as Error).message));
          await options.agencyAudit?.append('oprf.refused', { keyId: key.keyId, reason: String((e as Error).message) });
          throw e;
        },
      ),
    );
    for (const [row, first] of bank.repeats) source.duplicate(row, first);
    const sorted = Uint32Array.from(lines).sort();
    await options.bankAudit?.append('psi.run', { mode: 'prepared', keyId: header.keyId, evaluated: agency.evaluations, intersection: sorted.length });
    return {
      keyId: header.keyId,
      intersection: sorted.length,
      lines: sorted,
      bank: source.report,
      registerSize: header.count,
      evaluations: agency.evaluations,
      offlineSeconds: header.offlineSeconds,
      onlineSeconds: (performance.now() - started) / 1000,
      bytesSent: bankEnd.bytesSent + agencyEnd.bytesSent,
    };
  } finally {
    if (options.executor === undefined) await executor.close();
  }
}
