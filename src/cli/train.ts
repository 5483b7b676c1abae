/** `jinqiao train` and `jinqiao run`: a whole training job, every party in one process. */
import { Command, Option } from 'commander';
import { join, resolve } from 'node:path';
import { scorecardCsv, type ScorecardRow } from '../binning/scorecard.ts';
import { trainOnBins } from '../binning/scorecard-training.ts';
import { writeAtomically } from '../data/write.ts';
import { errors } from '../errors.ts';
import { loadTrainingJob } from '../lr/job-file.ts';
import { runLocalTraining, type LocalTrainingOptions, type LocalTrainingResult } from '../lr/local.ts';
import { writeTrainingOutputs } from '../lr/output.ts';
import type { TrainingConfig } from '../lr/config.ts';
import { parseNonNegativeInt, parseNonNegativeNumber, parsePartyFile, parsePositiveNumber, parseThreads } from './options.ts';
import { progressPrinter } from './progress.ts';
import { runCommand } from './run-command.ts';

interface TrainCliOptions {
  label: string;
  labelColumn: string;
  features: string[];
  id: string;
  out: string;
  epochs?: string;
  batchSize?: string;
  learningRate?: string;
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
    .option('--batch-size <n>', 'rows per mini-batch (default 2048)')
    .option('--learning-rate <x>', 'step size (default 0.05)')
    .addOption(new Option('--optimiser <name>', 'update rule (default adam)').choices(['sgd', 'adam', 'rmsprop']))
    .addOption(new Option('--sigmoid <name>', 'sigmoid approximation under encryption (default taylor1)').choices(['taylor1', 'poly3']))
    .option('--l2 <alpha>', 'L2 penalty (default 0)')
    .option('--seed <text>', 'shared seed of the row order, split and batches (default jinqiao)')
    .option('--validation-fraction <x>', 'share of aligned rows held out for evaluation (default 0.2)')
    .addOption(new Option('--id-type <type>', 'how to read IDs (default: decided from the data)').choices(['auto', 'uscc', 'plain']))
    .option('--threads <n>', 'worker threads (default: all cores; 0 = main thread only)')
    .option('--job-id <id>', 'job identifier (default: a fresh UUID)')
    .option('--binning <binning.json>', 'train a scorecard on bin indicators (from `jinqiao bin`) and write scorecard.csv')
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--quiet', 'no progress on stderr')
    .action((opts: TrainCliOptions) =>
      runCommand(async () => {
        const config: Partial<TrainingConfig> = {
          ...(opts.epochs !== undefined && { epochs: parseNonNegativeInt('--epochs', opts.epochs) }),
          ...(opts.batchSize !== undefined && { batchSize: parseNonNegativeInt('--batch-size', opts.batchSize) }),
          ...(opts.learningRate !== undefined && { learningRate: parsePositiveNumber('--learning-rate', opts.learningRate) }),
          ...(opts.optimiser !== undefined && { optimiser: opts.optimiser }),
          ...(opts.sigmoid !== undefined && { sigmoid: opts.sigmoid }),
          ...(opts.l2 !== undefined && { l2: parseNonNegativeNumber('--l2', opts.l2) }),
          ...(opts.seed !== undefined && { seed: opts.seed }),
          ...(opts.validationFraction !== undefined && { validationFraction: parsePositiveNumber('--validation-fraction', opts.validationFraction) }),
          ...(opts.idType !== undefined && { idType: opts.idType }),
          ...(opts.threads !== undefined && { threads: parseThreads(opts.threads) }),
          ...(opts.jobId !== undefined && { jobId: opts.jobId }),
        };
        await trainAndReport(
          {
            label: { file: opts.label, idColumn: opts.id, labelColumn: opts.labelColumn },
            features: opts.features.map((spec) => ({ ...parsePartyFile(spec), idColumn: opts.id })),
            config,
          },
          opts.out,
          { json: opts.json, quiet: opts.quiet, binning: opts.binning },
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
    .action((file: string, opts: { out?: string; json?: boolean; quiet?: boolean }) =>
      runCommand(async () => {
        const job = await loadTrainingJob(file);
        const out = opts.out ?? job.out;
        if (out === undefined) throw errors.jobInvalid(file, 'out', 'name an output folder in the job file or with --out');
        await trainAndReport(job.training, out, opts);
      }),
    );
}

async function trainAndReport(options: LocalTrainingOptions, out: string, flags: { json?: boolean; quiet?: boolean; binning?: string }): Promise<void> {
  const progress = flags.quiet ? undefined : progressPrinter(process.stderr);
  let result: LocalTrainingResult;
  let card: ScorecardRow[] | undefined;
  try {
    if (flags.binning === undefined) result = await runLocalTraining({ ...options, onProgress: progress?.update });
    else ({ result, scorecard: card } = await trainOnBins({ ...options, onProgress: progress?.update }, flags.binning));
  } finally {
    progress?.finish();
  }
  const audits = new Map([...(options.governance?.parties ?? [])].flatMap(([name, g]) => (g.audit ? [[name, g.audit] as const] : [])));
  const files = await writeTrainingOutputs(out, result, audits);
  if (card) {
    const file = join(resolve(out), 'scorecard.csv');
    await writeAtomically(file, (write) => write(scorecardCsv(card)));
    files.push(file);
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
