/** `jinqiao psi`: both parties of an ECDH-PSI in one process, on two CSV files. */
import { Command, Option } from 'commander';
import { errors } from '../errors.ts';
import { BACKEND_NAMES, DEFAULT_BACKEND, isBackendName } from '../psi/backends/index.ts';
import { runLocalPsi } from '../local/psi.ts';
import { writeIntersectionIds } from '../psi/output.ts';
import { refuseInputAsOutput } from '../data/write.ts';
import { checkPadTo, type Reveal } from '../psi/ecdh.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { encodingOption, parseNonNegativeInt, parseThreads, refuseWithoutPrepared } from './options.ts';
import type { CsvEncoding } from '../data/csv.ts';
import { runCommand } from './run-command.ts';
import { psiPrepareCommand, runPreparedPsi } from './unbalanced-psi.ts';

interface PsiCliOptions {
  id?: string;
  out?: string;
  json?: boolean;
  idType: IdTypeOption;
  reveal: Reveal;
  backend: string;
  threads?: string;
  strict?: boolean;
  jobId?: string;
  encoding: CsvEncoding | 'auto';
  prepared?: string;
  key?: string;
  maxEvaluations?: string;
  audit?: string;
  padTo?: string;
}

export function psiCommand(): Command {
  return new Command('psi')
    .description('find the enterprises two tables have in common by ECDH-PSI, both parties in one process')
    .argument('<left.csv>', "the left party's table (its spelling of IDs is used by --out)")
    .argument('[right.csv]', "the right party's table (omitted with --prepared)")
    .option('--id <column>', 'name of the ID column in both files (required)')
    .option('--out <file>', 'write the intersection IDs, one per line, as the left file spells them')
    .option('--json', 'print one JSON object with the counts and timings on stdout')
    .addOption(new Option('--id-type <type>', 'how to read IDs: unified social credit codes, plain strings, or decide from the data (with --prepared: the tag file says, and another is refused)').choices(['auto', 'uscc', 'plain']).default('auto'))
    .addOption(new Option('--reveal <who>', 'who learns the intersection: both sides, the left side only, or only its size').choices(['both', 'left', 'cardinality']).default('both'))
    .addOption(new Option('--backend <name>', 'group backend (with --prepared: the tag file names it, and another is refused)').choices([...BACKEND_NAMES]).default(DEFAULT_BACKEND))
    .option('--threads <n>', 'worker threads for the hot loop (default: all cores; 0 = main thread)')
    .option('--strict', 'make invalid, empty or repeated IDs an error instead of skipping and counting them')
    .option('--job-id <id>', 'job identifier bound into every hash (default: a fresh UUID)')
    .option('--pad-to <n>', "each side sends n values, dummies making up the difference, so neither learns the other's set size beyond n (n must be at least each side's distinct IDs)")
    .option('--prepared <tags>', "unbalanced PSI: the agency's tag file from `psi prepare`, instead of <right.csv> (IDs are read as the tag file says)")
    .option('--key <dir>', "with --prepared: the agency's key folder (it answers the online phase)")
    .option('--max-evaluations <n>', 'with --prepared: the most bank IDs the agency evaluates in the session (its rate limit)')
    .option('--audit <dir>', 'with --prepared: append the session to <dir>/agency.jsonl and <dir>/bank.jsonl (keys made if missing)')
    .addOption(encodingOption())
    .enablePositionalOptions()
    .addCommand(psiPrepareCommand())
    .action((left: string, right: string | undefined, opts: PsiCliOptions, command: Command) =>
      runCommand(async () => {
        // Not a required option: commander would then demand it of `psi prepare` too.
        if (opts.id === undefined) throw errors.optionInvalid('--id', 'missing: name the ID column');
        if (opts.prepared !== undefined) {
          if (right !== undefined) throw errors.optionInvalid('--prepared', 'give either <right.csv> or --prepared, not both');
          if (opts.key === undefined) throw errors.optionInvalid('--key', "--prepared needs the agency's key folder");
          if (opts.reveal === 'cardinality') throw errors.optionInvalid('--reveal', 'with --prepared the bank learns its IDs in common (the agency learns nothing but their count)');
          if (opts.padTo !== undefined) throw errors.optionInvalid('--pad-to', 'pads the sets of an ECDH-PSI between two tables; with --prepared the tag file fixes the agency\'s set', 'leave out --pad-to, or give <right.csv> instead of --prepared');
          if (opts.jobId !== undefined) throw errors.optionInvalid('--job-id', 'binds the hashes of an ECDH-PSI between two tables; with --prepared they are bound to the tag file\'s key period', 'leave out --job-id, or give <right.csv> instead of --prepared');
          await runPreparedPsi(left, {
            ...opts,
            id: opts.id,
            prepared: opts.prepared,
            key: opts.key,
            // Given on the command line: checked against the tag file, which otherwise decides.
            backend: command.getOptionValueSource('backend') === 'cli' ? opts.backend : undefined,
            idType: command.getOptionValueSource('idType') === 'cli' ? opts.idType : undefined,
          });
          return;
        }
        refuseWithoutPrepared([['--key', opts.key], ['--max-evaluations', opts.maxEvaluations], ['--audit', opts.audit]], 'a psi between two tables has none', '<right.csv>');
        if (right === undefined) throw errors.optionInvalid('<right.csv>', 'missing: give the right party\'s table, or --prepared <tags>');
        if (!isBackendName(opts.backend)) throw errors.optionInvalid('--backend', `unknown backend ${opts.backend}`);
        if (opts.out !== undefined && opts.reveal === 'cardinality') {
          throw errors.optionInvalid('--out', 'cannot write IDs when only the size of the intersection is revealed');
        }
        if (opts.out !== undefined) await refuseInputAsOutput('--out', opts.out, [left, right]);
        const padTo = opts.padTo === undefined ? undefined : checkPadTo(parseNonNegativeInt('--pad-to', opts.padTo));
        const result = await runLocalPsi({
          left: { file: left, idColumn: opts.id, encoding: opts.encoding },
          right: { file: right, idColumn: opts.id, encoding: opts.encoding },
          idType: opts.idType,
          reveal: opts.reveal,
          backend: opts.backend,
          threads: parseThreads(opts.threads),
          strict: opts.strict,
          jobId: opts.jobId,
          padTo,
        });
        if (opts.out !== undefined && result.leftLines) {
          await writeIntersectionIds({ file: left, idColumn: opts.id, encoding: opts.encoding }, result.leftLines, opts.out);
        }
        const summary = {
          intersection: result.intersection,
          left: result.left.rowsRead,
          right: result.right.rowsRead,
          seconds: round(result.seconds, 3),
          idsPerSecond: Math.round(result.idsPerSecond),
          idType: result.idType,
          backend: result.backend,
          reveal: opts.reveal,
          jobId: result.jobId,
          invalid: { left: result.left.invalid, right: result.right.invalid, leftLines: result.left.invalidLines, rightLines: result.right.invalidLines },
          duplicates: { left: result.left.duplicates, right: result.right.duplicates, leftLines: result.left.duplicateLines, rightLines: result.right.duplicateLines },
          bytesSent: result.bytesSent,
          peakMemoryMB: Math.round(process.resourceUsage().maxRSS / 1024),
          out: opts.out ?? null,
        };
        if (opts.json) {
          process.stdout.write(JSON.stringify(summary) + '\n');
          return;
        }
        const lines = [
          `intersection: ${summary.intersection} enterprises (${summary.idType} IDs, backend ${summary.backend})`,
          `rows read:    ${left}: ${summary.left}, ${right}: ${summary.right}`,
          `time:         ${summary.seconds} s, ${summary.idsPerSecond} IDs/s`,
        ];
        for (const [side, report] of [[left, result.left], [right, result.right]] as const) {
          if (report.invalid > 0) lines.push(`skipped:      ${report.invalid} invalid or empty IDs in ${side} (lines ${report.invalidLines.join(', ')}${report.invalid > report.invalidLines.length ? ', …' : ''})`);
          if (report.duplicates > 0) lines.push(`skipped:      ${report.duplicates} repeated IDs in ${side} (lines ${report.duplicateLines.join(', ')}${report.duplicates > report.duplicateLines.length ? ', …' : ''})`);
        }
        if (opts.out) lines.push(`written:      ${opts.out}`);
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
