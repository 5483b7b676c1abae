/** `jinqiao psi prepare` (the agency's offline phase) and `jinqiao psi --prepared` (the online phase). */
import { Command, Option } from 'commander';
import { errors } from '../errors.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { BACKEND_NAMES, DEFAULT_BACKEND, isBackendName } from '../psi/backends/index.ts';
import { writeIntersectionIds } from '../psi/output.ts';
import { prepareRegister, runUnbalancedPsi } from '../lookup/unbalanced-psi.ts';
import { parseFieldCheck, prepareVerification } from '../lookup/verify.ts';
import { collect } from './governance-options.ts';
import { refuseInputAsOutput } from '../data/write.ts';
import type { CsvEncoding } from '../data/csv.ts';
import { openPartyAudits } from './audit-dir.ts';
import { parseNonNegativeInt, parseThreads } from './options.ts';
import { runCommand } from './run-command.ts';

interface PrepareCliOptions {
  id: string;
  key: string;
  out: string;
  idType: IdTypeOption;
  backend: string;
  threads?: string;
  strict?: boolean;
  json?: boolean;
  field?: string[];
}

export function psiPrepareCommand(): Command {
  return new Command('prepare')
    .description("(agency, offline, once per key period) evaluate the OPRF over a register and write its sorted tags")
    .argument('<register.csv>', "the agency's register")
    .requiredOption('--id <column>', 'name of the ID column')
    .requiredOption('--key <dir>', 'key folder: its oprf.key is used, or made when there is none (a new key period)')
    .requiredOption('--out <tags>', 'the tag file to write (atomically)')
    .addOption(new Option('--id-type <type>', 'how to read IDs').choices(['auto', 'uscc', 'plain']).default('auto'))
    .addOption(new Option('--backend <name>', 'group backend of a new key').choices([...BACKEND_NAMES]).default(DEFAULT_BACKEND))
    .option('--threads <n>', 'worker threads (default: all cores; 0 = main thread)')
    .option('--strict', 'make an invalid or empty ID an error instead of skipping and counting it (a repeated ID is always dropped and counted)')
    .option('--json', 'print one JSON object with the counts and timings on stdout')
    .option('--field <name[:tol=r]>', 'verification tags of this field instead of PSI tags, for `verify --prepared` (repeat for several)', collect)
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action((register: string, opts: PrepareCliOptions) =>
      runCommand(async () => {
        if (!isBackendName(opts.backend)) throw errors.optionInvalid('--backend', `unknown backend ${opts.backend}`);
        await refuseInputAsOutput('--out', opts.out, [register], [{ option: '--key', path: opts.key }]);
        if (opts.field !== undefined) {
          const v = await prepareVerification({
            register: { file: register, idColumn: opts.id },
            checks: opts.field.map(parseFieldCheck),
            idType: opts.idType,
            keyDir: opts.key,
            backend: opts.backend,
            out: opts.out,
            threads: parseThreads(opts.threads),
            strict: opts.strict,
          });
          const summary = { tags: v.tags, rows: v.register.rows, invalid: v.register.invalid, invalidLines: v.register.invalidLines, repeats: v.register.repeats, repeatLines: v.register.repeatLines, fields: opts.field, keyId: v.keyId, keyCreated: v.keyCreated, offlineSeconds: round(v.offlineSeconds), tagFileBytes: v.fileBytes, out: opts.out };
          if (opts.json) process.stdout.write(JSON.stringify(summary) + '\n');
          else process.stdout.write([`tags:     ${v.tags} values of ${v.register.rows} rows (${v.register.invalid} invalid, ${v.register.repeats} repeated, skipped), fields ${opts.field.join(', ')}`, `key:      ${v.keyId}${v.keyCreated ? ' (new key period)' : ''}`, `time:     ${summary.offlineSeconds} s`, `written:  ${opts.out}`].join('\n') + '\n');
          return;
        }
        const r = await prepareRegister({
          file: register,
          idColumn: opts.id,
          idType: opts.idType,
          keyDir: opts.key,
          backend: opts.backend,
          out: opts.out,
          threads: parseThreads(opts.threads),
          strict: opts.strict,
        });
        const summary = {
          tags: r.tags,
          rows: r.register.rowsRead,
          invalid: r.register.invalid,
          invalidLines: r.register.invalidLines,
          repeats: r.repeats,
          keyId: r.keyId,
          keyCreated: r.keyCreated,
          offlineSeconds: round(r.offlineSeconds),
          tagFileBytes: r.fileBytes,
          out: opts.out,
        };
        if (opts.json) {
          process.stdout.write(JSON.stringify(summary) + '\n');
          return;
        }
        process.stdout.write(
          [
            `tags:     ${r.tags} enterprises of ${r.register.rowsRead} rows (${r.register.invalid} invalid, ${r.repeats} repeated, skipped)`,
            `key:      ${r.keyId}${r.keyCreated ? ' (new key period)' : ''}`,
            `time:     ${summary.offlineSeconds} s`,
            `written:  ${opts.out}`,
          ].join('\n') + '\n',
        );
      }),
    );
}

/** The online phase, both parties in one process: called by `jinqiao psi` when --prepared is given. */
export async function runPreparedPsi(
  bankFile: string,
  opts: {
    id: string;
    prepared: string;
    key: string;
    out?: string;
    json?: boolean;
    threads?: string;
    strict?: boolean;
    maxEvaluations?: string;
    audit?: string;
    encoding: CsvEncoding | 'auto';
    /** Given on the command line (else the tag file's): a tag file of another is refused. */
    backend?: string;
    idType?: IdTypeOption;
  },
): Promise<void> {
  if (opts.out !== undefined) await refuseInputAsOutput('--out', opts.out, [bankFile, opts.prepared], [{ option: '--key', path: opts.key }, opts.audit === undefined ? undefined : { option: '--audit', path: opts.audit }]);
  if (opts.backend !== undefined && !isBackendName(opts.backend)) throw errors.optionInvalid('--backend', `unknown backend ${opts.backend}`);
  // Parsed before the audit folder is made: a bad value then leaves nothing behind.
  const maxEvaluations = opts.maxEvaluations === undefined ? undefined : parseNonNegativeInt('--max-evaluations', opts.maxEvaluations);
  const threads = parseThreads(opts.threads);
  const audits = opts.audit === undefined ? undefined : await openPartyAudits(opts.audit);
  const r = await runUnbalancedPsi({
    bank: { file: bankFile, idColumn: opts.id, encoding: opts.encoding },
    prepared: opts.prepared,
    ...(opts.backend === undefined ? {} : { backend: opts.backend }),
    ...(opts.idType === undefined ? {} : { idType: opts.idType }),
    keyDir: opts.key,
    threads,
    strict: opts.strict,
    maxEvaluations,
    agencyAudit: audits?.agency,
    bankAudit: audits?.bank,
  });
  if (opts.out !== undefined) await writeIntersectionIds({ file: bankFile, idColumn: opts.id, encoding: opts.encoding }, r.lines, opts.out);
  const summary = {
    intersection: r.intersection,
    bank: r.bank.rowsRead,
    register: r.registerSize,
    evaluations: r.evaluations,
    offlineSeconds: round(r.offlineSeconds),
    onlineSeconds: round(r.onlineSeconds),
    onlineToOffline: round(r.onlineSeconds / r.offlineSeconds),
    invalid: { bank: r.bank.invalid, bankLines: r.bank.invalidLines },
    duplicates: { bank: r.bank.duplicates, bankLines: r.bank.duplicateLines },
    bytesSent: r.bytesSent,
    peakMemoryMB: Math.round(process.resourceUsage().maxRSS / 1024),
    out: opts.out ?? null,
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  const lines = [
    `intersection: ${r.intersection} of ${r.bank.rowsRead} bank rows, against a register of ${r.registerSize}`,
    `time:         online ${summary.onlineSeconds} s (${r.evaluations} agency evaluations), offline ${summary.offlineSeconds} s`,
  ];
  if (r.bank.invalid > 0) lines.push(`skipped:      ${r.bank.invalid} invalid or empty IDs (lines ${r.bank.invalidLines.join(', ')})`);
  if (r.bank.duplicates > 0) lines.push(`skipped:      ${r.bank.duplicates} repeated IDs (lines ${r.bank.duplicateLines.join(', ')})`);
  if (opts.out) lines.push(`written:      ${opts.out}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
