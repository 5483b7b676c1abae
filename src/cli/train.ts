/** `jinqiao train` and `jinqiao run`: a whole training job, every party in one process. */
import { Command, Option } from 'commander';
import { join, resolve } from 'node:path';
import { scorecardFiles } from '../binning/scorecard.ts';
import { trainOnBins } from '../binning/scorecard-training.ts';
import { writeAtomically } from '../data/write.ts';
import { errors } from '../errors.ts';
import { loadTrainingJob } from '../local/job-file.ts';
import { runBinningStep } from '../local/binning-step.ts';
import { runLocalTraining, type LocalTrainingOptions, type LocalTrainingResult } from '../local/training.ts';
import { checkOutputFolder } from '../jobs/output-folder.ts';
import { anchorsFileOf, storeAuditAnchor } from '../governance/audit.ts';
import type { TrainingConfig } from '../lr/config.ts';
import { parseNonNegativeInt, parseNonNegativeNumber, parsePartyFile, parsePositiveNumber, parseThreads } from './options.ts';
import { progressPrinter } from './progress.ts';
import { runCommand } from './run-command.ts';
import { Transcript } from '../transport/transcript.ts';

interface TrainCliOptions {
  label: string;
  labelColumn: string;
  features: string[];
  id: string;
  out: string;
  epochs?: string;
  batchSize?: string;
  learningRate?: string;
  momentum?: string;
  nesterov?: boolean;
  optimiser?: TrainingConfig['optimiser'];
  sigmoid?: TrainingConfig['sigmoid'];
  l2?: string;
  seed?: string;
  validationFraction?: string;
  idType?: TrainingConfig['idType'];
  threads?: string;
  jobId?: string;
  strict?: boolean;
  json?: boolean;
  quiet?: boolean;
  transcript?: string;
  keepEncrypted?: boolean;
  allowPartialScoreDisclosure?: boolean;
  binning?: string;
}

export function trainCommand(): Command {
  return new Command('train')
    .description('train a logistic regression jointly: the bank (label) and agencies (features) under CKKS, the platform as arbiter, all in one process')
    .requiredOption('--label <bank.csv>', "the label party's table (IDs, the 0/1 outcome and its own features)")
    .requiredOption('--label-column <name>', 'the 0/1 outcome column of the label table')
    .requiredOption('--features <[name=]agency.csv>', "a feature party's table; repeat for several agencies (named after the file unless name= is given)", (v: string, prev: string[] = []) => [...prev, v])
    .requiredOption('--id <column>', 'the ID column, the same name in every table')
    .requiredOption('--out <dir>', 'folder for predictions.csv, metrics.json, manifest.json and one model file per party')
    .option('--epochs <n>', 'passes over the training rows (default 10)')
    .option('--batch-size <n>', 'rows per mini-batch (default: up to 2048, adapted to small data)')
    .option('--learning-rate <x>', 'step size (default 0.5)')
    .option('--momentum <mu>', 'heavy-ball momentum in [0, 1) (default 0)')
    .option('--nesterov', "Nesterov's momentum instead of the heavy ball (needs --momentum above 0)")
    .addOption(new Option('--optimiser <name>', 'update rule: SGD, the only one encrypted weights can follow (default sgd)').choices(['sgd']))
    .addOption(new Option('--sigmoid <name>', 'sigmoid approximation under encryption (default taylor1)').choices(['taylor1', 'poly2']))
    .option('--keep-encrypted', "keep every party's final weights encrypted under the arbiter's key instead of revealing each to its owner")
    .option('--allow-partial-score-disclosure', "run a single-agency job, which shows the bank that agency's partial scores (only where the agency's policy allows it)")
    .option('--transcript <dir>', 'write <dir>/<party>.jsonl: every message each party received, numbers in the clear, ciphertexts as byte counts')
    .option('--l2 <alpha>', 'L2 penalty (default 0)')
    .option('--seed <text>', 'shared seed of the row order, split and batches (default jinqiao)')
    .option('--validation-fraction <x>', 'share of aligned rows held out for evaluation (default 0.2)')
    .addOption(new Option('--id-type <type>', 'how to read IDs (default: decided from the data)').choices(['auto', 'uscc', 'plain']))
    .option('--threads <n>', 'worker threads (default: all cores; 0 = main thread only)')
    .option('--job-id <id>', 'job identifier (default: a fresh UUID)')
    .option('--strict', 'make invalid, empty or repeated IDs an error instead of skipping and counting them')
    .option('--binning <binning.json>', 'train a scorecard on bin indicators (from `jinqiao bin`) and write scorecard.csv')
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--quiet', 'no progress on stderr')
    .action((opts: TrainCliOptions) =>
      runCommand(async () => {
        const config: Partial<TrainingConfig> = {
          ...(opts.epochs !== undefined && { epochs: parseNonNegativeInt('--epochs', opts.epochs) }),
          ...(opts.batchSize !== undefined && { batchSize: parseNonNegativeInt('--batch-size', opts.batchSize) }),
          ...(opts.learningRate !== undefined && { learningRate: parsePositiveNumber('--learning-rate', opts.learningRate) }),
          ...(opts.momentum !== undefined && { momentum: parseNonNegativeNumber('--momentum', opts.momentum) }),
          ...(opts.nesterov && { nesterov: true }),
          ...(opts.optimiser !== undefined && { optimiser: opts.optimiser }),
          ...(opts.sigmoid !== undefined && { sigmoid: opts.sigmoid }),
          ...(opts.l2 !== undefined && { l2: parseNonNegativeNumber('--l2', opts.l2) }),
          ...(opts.seed !== undefined && { seed: opts.seed }),
          ...(opts.validationFraction !== undefined && { validationFraction: parsePositiveNumber('--validation-fraction', opts.validationFraction) }),
          ...(opts.idType !== undefined && { idType: opts.idType }),
          ...(opts.threads !== undefined && { threads: parseThreads(opts.threads) }),
          ...(opts.jobId !== undefined && { jobId: opts.jobId }),
          ...(opts.strict && { strict: true }),
          ...(opts.keepEncrypted && { keepEncrypted: true }),
          ...(opts.allowPartialScoreDisclosure && { allowPartialScoreDisclosure: true }),
        };
        await trainAndReport(
          {
            label: { file: opts.label, idColumn: opts.id, labelColumn: opts.labelColumn },
            features: opts.features.map((spec) => ({ ...parsePartyFile(spec), idColumn: opts.id })),
            config,
          },
          opts.out,
          { json: opts.json, quiet: opts.quiet, field: '--out', transcript: opts.transcript, binning: opts.binning },
        );
      }),
    );
}

export function runJobCommand(): Command {
  return new Command('run')
    .description('run a training job described in a YAML or JSON job file (see examples/)')
    .argument('<job-file>', 'the job file')
    .option('--out <dir>', 'output folder (default: the job file\'s "out")')
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--quiet', 'no progress on stderr')
    .option('--transcript <dir>', 'write <dir>/<party>.jsonl: every message each party received, numbers in the clear, ciphertexts as byte counts')
    .action((file: string, opts: { out?: string; json?: boolean; quiet?: boolean; transcript?: string }) =>
      runCommand(async () => {
        const job = await loadTrainingJob(file);
        const out = opts.out ?? job.out;
        if (out === undefined) throw errors.jobInvalid(file, 'out', 'name an output folder in the job file or with --out');
        const field = opts.out === undefined ? 'out' : '--out';
        let binning: string | undefined;
        let binningFiles: readonly string[] = [];
        if (job.binning) {
          await checkOutputFolder(out, field);
          const step = await runBinningStep(job.training, job.binning, out);
          binningFiles = step.files;
          if (job.binning.scorecard) binning = step.binningFile;
          if (!opts.quiet && !opts.json) process.stderr.write(`binning: ${step.result.rows} aligned rows, ${step.result.parties.reduce((n, p) => n + p.features.length, 0)} features in ${Math.round(step.result.seconds * 10) / 10} s\n`);
        }
        await trainAndReport(job.training, out, { ...opts, field, binning, extraFiles: binningFiles });
      }),
    );
}

async function trainAndReport(options: LocalTrainingOptions, out: string, flags: { json?: boolean; quiet?: boolean; field: string; transcript?: string; binning?: string; extraFiles?: readonly string[] }): Promise<void> {
  await checkOutputFolder(out, flags.field);
  const progress = flags.quiet ? undefined : progressPrinter(process.stderr);
  const transcript = flags.transcript === undefined ? undefined : new Transcript();
  let result: LocalTrainingResult;
  let card: Map<string, string> | undefined;
  try {
    if (flags.binning === undefined) result = await runLocalTraining({ ...options, out, onProgress: progress?.update, transcript });
    else {
      const trained = await trainOnBins({ ...options, out, onProgress: progress?.update, transcript }, flags.binning);
      result = trained.result;
      card = scorecardFiles(trained.scorecard, trained.scale);
    }
  } finally {
    progress?.finish();
  }
  if (transcript) await transcript.write(flags.transcript!);
  const files = [...(flags.extraFiles ?? []), ...result.files];
  for (const [name, text] of card ?? []) {
    const file = join(resolve(out), name);
    await writeAtomically(file, (write) => write(text));
    files.push(file);
  }
  if (!flags.json) for (const line of skippedIdWarnings(result)) process.stderr.write(`jinqiao: warning: ${line}\n`);
  // The job's end: every governed party's signed head goes to each of the others, kept next to their own logs.
  const audits = [...(options.governance?.parties ?? [])].flatMap(([name, g]) => (g.audit ? [[name, g.audit] as const] : []));
  for (const [name, log] of audits) {
    const anchor = await log.anchor(result.config.jobId);
    for (const [other, keeper] of audits) if (other !== name) await storeAuditAnchor(anchorsFileOf(keeper.file), anchor, log.publicKey);
  }
  const summary = {
    auc: result.metrics.auc,
    ks: result.metrics.ks.statistic,
    accuracy: result.metrics.classification.accuracy,
    precision: result.metrics.classification.precision,
    recall: result.metrics.classification.recall,
    rows: result.alignedRows,
    trainRows: result.trainRows,
    validationRows: result.validationRows,
    epochs: result.epochsRun,
    lossCurve: result.lossCurve,
    seconds: Math.round(result.seconds * 1000) / 1000,
    jobId: result.config.jobId,
    invalid: Object.fromEntries(result.parties.map((p) => [p.name, { count: p.ids.invalid, lines: p.ids.invalidLines }])),
    duplicates: Object.fromEntries(result.parties.map((p) => [p.name, { count: p.ids.duplicates, lines: p.ids.duplicateLines }])),
    out,
    files,
  };
  if (flags.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  process.stdout.write(
    [
      `aligned rows: ${result.alignedRows} (train ${result.trainRows}, validation ${result.validationRows})`,
      `AUC ${summary.auc.toFixed(4)}   KS ${summary.ks.toFixed(4)}   accuracy ${summary.accuracy.toFixed(4)}   precision ${summary.precision.toFixed(4)}   recall ${summary.recall.toFixed(4)} (at 0.5)`,
      `epochs: ${result.epochsRun}, ${summary.seconds} s`,
      `written: ${files.join(', ')}`,
    ].join('\n') + '\n',
  );
}

/** One line per party and kind of ID that alignment skipped, as `psi` reports them. */
function skippedIdWarnings(result: LocalTrainingResult): string[] {
  const lines = (count: number, shown: readonly number[]) => `lines ${shown.join(', ')}${count > shown.length ? ', …' : ''}`;
  return result.parties.flatMap(({ file, ids }) => [
    ...(ids.invalid > 0 ? [`skipped ${ids.invalid} invalid or empty IDs in ${file} (${lines(ids.invalid, ids.invalidLines)}); --strict makes them an error`] : []),
    ...(ids.duplicates > 0 ? [`skipped ${ids.duplicates} repeated IDs in ${file}, keeping each first row (${lines(ids.duplicates, ids.duplicateLines)}); --strict makes them an error`] : []),
  ]);
}
