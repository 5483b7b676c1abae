/** `jinqiao verify`: blind verification of declared values against an agency's register, both parties in one process. */
import { Command, Option } from 'commander';
import { errors } from '../errors.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { BACKEND_NAMES, DEFAULT_BACKEND, isBackendName } from '../psi/backends/index.ts';
import { writeCsv } from '../lookup/csv-out.ts';
import { parseFieldCheck, runPreparedVerification, runVerification } from '../lookup/verify.ts';
import { openPartyAudits } from './audit-dir.ts';
import { collect } from './governance-options.ts';
import { parseNonNegativeInt, parseThreads, refuseWithoutPrepared, skippedRegisterRows } from './options.ts';
import { refuseInputAsOutput } from '../data/write.ts';
import { runCommand } from './run-command.ts';

interface VerifyCliOptions {
  id: string;
  field?: string[];
  prepared?: string;
  key?: string;
  maxEvaluations?: string;
  audit?: string;
  out?: string;
  json?: boolean;
  idType: IdTypeOption;
  backend: string;
  threads?: string;
}

export function verifyCommand(): Command {
  return new Command('verify')
    .description("check each declared value against the agency's register; the bank learns only consistent / not consistent, the agency only how many")
    .argument('<claims.csv>', "the bank's file: the enterprise ID and one column per declared field")
    .argument('[register.csv]', "the agency's register, with columns of the same names (omitted with --prepared)")
    .requiredOption('--id <column>', 'name of the ID column in both files')
    .option('--field <name[:tol=r]>', 'a field to check: equality, or within a relative tolerance r (repeat for several; with --prepared, default: every field of the tag file)', collect)
    .option('--prepared <tags>', "loan-book scale: the agency's verification tags from `psi prepare --field`, instead of <register.csv>")
    .option('--key <dir>', "with --prepared: the agency's key folder (it answers the online phase)")
    .option('--max-evaluations <n>', 'with --prepared: the most claim keys the agency evaluates in the session (its rate limit)')
    .option('--audit <dir>', "with --prepared: append the session to <dir>/bank.jsonl (claims as salted hashes) and the agency's answers to <dir>/agency.jsonl (keys made if missing)")
    .option('--out <file>', 'write `id,field,consistent` per claim, in claim order')
    .option('--json', 'print one JSON object with the verdicts and counts on stdout (register counts are null with --prepared: the register is not read)')
    .addOption(new Option('--id-type <type>', 'how to read IDs (with --prepared: the tag file says, and another is refused)').choices(['auto', 'uscc', 'plain']).default('auto'))
    .addOption(new Option('--backend <name>', 'group backend (with --prepared: the tag file names it, and another is refused)').choices([...BACKEND_NAMES]).default(DEFAULT_BACKEND))
    .option('--threads <n>', 'worker threads (default: all cores; 0 = main thread)')
    .action((claims: string, register: string | undefined, opts: VerifyCliOptions, command: Command) =>
      runCommand(async () => {
        if (!isBackendName(opts.backend)) throw errors.optionInvalid('--backend', `unknown backend ${opts.backend}`);
        let r: Awaited<ReturnType<typeof runVerification>> & { offlineSeconds?: number; onlineSeconds?: number };
        if (opts.prepared !== undefined) {
          if (register !== undefined) throw errors.optionInvalid('--prepared', 'give either <register.csv> or --prepared, not both');
          if (opts.key === undefined) throw errors.optionInvalid('--key', "--prepared needs the agency's key folder");
          if (opts.out !== undefined) await refuseInputAsOutput('--out', opts.out, [claims, opts.prepared], [{ option: '--key', path: opts.key }, opts.audit === undefined ? undefined : { option: '--audit', path: opts.audit }]);
          // Parsed before the audit folder is made: a bad value then leaves nothing behind.
          const maxEvaluations = opts.maxEvaluations === undefined ? undefined : parseNonNegativeInt('--max-evaluations', opts.maxEvaluations);
          const threads = parseThreads(opts.threads);
          const audits = opts.audit === undefined ? undefined : await openPartyAudits(opts.audit);
          r = await runPreparedVerification({
            claims: { file: claims, idColumn: opts.id },
            prepared: opts.prepared,
            keyDir: opts.key,
            ...(opts.field ? { checks: opts.field.map(parseFieldCheck) } : {}),
            threads,
            ...(maxEvaluations === undefined ? {} : { maxEvaluations }),
            ...(audits ? { agencyAudit: audits.agency, bankAudit: audits.bank } : {}),
            // Given on the command line: checked against the tag file, which otherwise decides.
            ...(command.getOptionValueSource('backend') === 'cli' ? { backend: opts.backend } : {}),
            ...(command.getOptionValueSource('idType') === 'cli' ? { idType: opts.idType } : {}),
          });
        } else {
          refuseWithoutPrepared([['--key', opts.key], ['--max-evaluations', opts.maxEvaluations], ['--audit', opts.audit]], 'verification against <register.csv> runs with a key for the run only and no limit', '<register.csv>');
          if (register === undefined) throw errors.optionInvalid('<register.csv>', "missing: give the agency's register, or --prepared <tags> --key <dir>");
          if (opts.field === undefined) throw errors.optionInvalid('--field', 'name at least one field to verify');
          if (opts.out !== undefined) await refuseInputAsOutput('--out', opts.out, [claims, register]);
          r = await runVerification({
            claims: { file: claims, idColumn: opts.id },
            register: { file: register, idColumn: opts.id },
            checks: opts.field.map(parseFieldCheck),
            idType: opts.idType,
            backend: opts.backend,
            threads: parseThreads(opts.threads),
          });
        }
        if (opts.out !== undefined) await writeCsv(opts.out, ['id', 'field', 'consistent'], r.verdicts.map((v) => [v.id, v.field, String(v.consistent)]));
        const consistent = r.verdicts.filter((v) => v.consistent).length;
        if (opts.json) {
          process.stdout.write(
            JSON.stringify({
              claims: r.verdicts.length,
              consistent,
              inconsistent: r.verdicts.length - consistent,
              verdicts: r.verdicts,
              // null against prepared tags: the register is not read online (see --help).
              registerRows: r.register?.rows ?? null,
              registerInvalid: r.register?.invalid ?? null,
              registerInvalidLines: r.register?.invalidLines ?? null,
              registerRepeats: r.register?.repeats ?? null,
              registerRepeatLines: r.register?.repeatLines ?? null,
              tags: r.tags,
              evaluations: r.evaluations,
              seconds: Math.round(r.seconds * 1000) / 1000,
              bytesSent: r.bytesSent,
              ...(r.offlineSeconds === undefined ? {} : { offlineSeconds: Math.round(r.offlineSeconds * 1000) / 1000, onlineSeconds: Math.round(r.onlineSeconds! * 1000) / 1000 }),
              out: opts.out ?? null,
            }) + '\n',
          );
          return;
        }
        const lines = [`claims:   ${r.verdicts.length} checked, ${consistent} consistent, ${r.verdicts.length - consistent} not`, `time:     ${Math.round(r.seconds * 1000) / 1000} s (${r.evaluations} agency evaluations)`];
        if (r.register) lines.push(...skippedRegisterRows(register!, r.register));
        if (opts.out) lines.push(`written:  ${opts.out}`);
        else for (const v of r.verdicts) lines.push(`${v.id},${v.field},${v.consistent}`);
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}
