/** `jinqiao train` and `jinqiao run`: a whole training job, every party in one process. */
import { Command, Option } from 'commander';
import { errors } from '../errors.ts';
import { loadTrainingJob } from '../lr/job-file.ts';
import { runLocalTraining, type LocalTrainingOptions, type LocalTrainingResult } from '../lr/local.ts';
import { writeTrainingOutputs } from '../lr/output.ts';
import type { TrainingConfig } from '../lr/config.ts';
import { parseNonNegativeInt, parsePartyFile, parsePositiveNumber, parseThreads } from './options.ts';
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
  optimiser?: TrainingConfig['optimiser'];
  sigmoid?: TrainingConfig['sigmoid'];
  l2?: string;
  seed?: string;
  validationFraction?: string;
  idType?: TrainingConfig['idType'];
  threads?: string;
  jobId?: string;
  json?: boolean;
  quiet?: boolean;
  transcript?: string;
  keepEncrypted?: boolean;
  allowPartialScoreDisclosure?: boolean;
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
    .option('--batch-size <n>', 'rows per mini-batch (default 2048)')
    .option('--learning-rate <x>', 'step size (default 0.5)')
    .option('--momentum <mu>', 'heavy-ball momentum in [0, 1) (default 0)')
    .addOption(new Option('--optimiser <name>', 'update rule: SGD, the only one encrypted weights can follow (default sgd)').choices(['sgd']))
    .addOption(new Option('--sigmoid <name>', 'sigmoid approximation under encryption (default taylor1)').choices(['taylor1']))
    .option('--keep-encrypted', "keep every party's final weights encrypted under the arbiter's key instead of revealing each to its owner")
    .option('--allow-partial-score-disclosure', "run a single-agency job, which shows the bank that agency's partial scores (only where the agency's policy allows it)")
    .option('--transcript <dir>', 'write <dir>/<party>.jsonl: every message each party received, numbers in the clear, ciphertexts as byte counts')
    .option('--l2 <alpha>', 'L2 penalty (default 0)')
    .option('--seed <text>', 'shared seed of the row order, split and batches (default jinqiao)')
    .option('--validation-fraction <x>', 'share of aligned rows held out for evaluation (default 0.2)')
    .addOption(new Option('--id-type <type>', 'how to read IDs (default: decided from the data)').choices(['auto', 'uscc', 'plain']))
    .option('--threads <n>', 'worker threads (default: all cores; 0 = main thread only)')
    .option('--job-id <id>', 'job identifier (default: a fresh UUID)')
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--quiet', 'no progress on stderr')
    .action((opts: TrainCliOptions) =>
      runCommand(async () => {
        const config: Partial<TrainingConfig> = {
          ...(opts.epochs !== undefined && { epochs: parseNonNegativeInt('--epochs', opts.epochs) }),
          ...(opts.batchSize !== undefined && { batchSize: parseNonNegativeInt('--batch-size', opts.batchSize) }),
          ...(opts.learningRate !== undefined && { learningRate: parsePositiveNumber('--learning-rate', opts.learningRate) }),
          ...(opts.momentum !== undefined && { momentum: parseNonNegativeNumber('--momentum', opts.momentum) }),
          ...(opts.optimiser !== undefined && { optimiser: opts.optimiser }),
          ...(opts.sigmoid !== undefined && { sigmoid: opts.sigmoid }),
          ...(opts.l2 !== undefined && { l2: parseNonNegativeNumber('--l2', opts.l2) }),
          ...(opts.seed !== undefined && { seed: opts.seed }),
          ...(opts.validationFraction !== undefined && { validationFraction: parsePositiveNumber('--validation-fraction', opts.validationFraction) }),
          ...(opts.idType !== undefined && { idType: opts.idType }),
          ...(opts.threads !== undefined && { threads: parseThreads(opts.threads) }),
          ...(opts.jobId !== undefined && { jobId: opts.jobId }),
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
          { json: opts.json, quiet: opts.quiet, transcript: opts.transcript },
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
        await trainAndReport(job.training, out, opts);
      }),
    );
}

async function trainAndReport(options: LocalTrainingOptions, out: string, flags: { json?: boolean; quiet?: boolean; transcript?: string }): Promise<void> {
  const progress = flags.quiet ? undefined : progressPrinter(process.stderr);
  const transcript = flags.transcript === undefined ? undefined : new Transcript();
  let result: LocalTrainingResult;
  try {
    result = await runLocalTraining({ ...options, onProgress: progress?.update, transcript });
  } finally {
    progress?.finish();
  }
  if (transcript) await transcript.write(flags.transcript!);
  const audits = new Map([...(options.governance?.parties ?? [])].flatMap(([name, g]) => (g.audit ? [[name, g.audit] as const] : [])));
  const files = await writeTrainingOutputs(out, result, audits);
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

function parseNonNegativeNumber(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw errors.optionInvalid(option, `"${value}" is not a number >= 0`);
  return n;
}
