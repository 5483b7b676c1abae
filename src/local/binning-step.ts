/**
 * (In-process host) A job file's `binning:` section: every party bins its own features and
 * the bank gets WOE and IV (../binning/in-process.ts), on the job's own tables, seed, ID
 * type and threads, before the job trains. Outputs go to `<out>/binning/` (binning.json,
 * iv.csv, screening.json, report.html); with `scorecard` the training that follows runs on
 * bin indicators from that binning.json.
 */
import { join, resolve } from 'node:path';
import { runBinningInProcess, type BinningResult } from '../binning/in-process.ts';
import { writeBinningOutputs } from '../binning/output.ts';
import { errors } from '../errors.ts';
import type { BinningJob } from './job-file.ts';
import type { LocalTrainingOptions } from './training.ts';

export interface BinningStepResult {
  readonly result: BinningResult;
  /** `<out>/binning/binning.json`. */
  readonly binningFile: string;
  readonly files: readonly string[];
}

export async function runBinningStep(training: LocalTrainingOptions, binning: BinningJob, out: string, source = 'job file'): Promise<BinningStepResult> {
  if (training.governance) {
    throw errors.jobInvalid(source, 'binning', "binning does not pass the parties' admission gates yet: run it without governance, or bin with `jinqiao bin` under each party's operator");
  }
  const config = training.config ?? {};
  const result = await runBinningInProcess({
    label: training.label,
    features: training.features,
    config: {
      rule: binning.rule,
      ...(binning.minIv !== undefined && { minIv: binning.minIv }),
      ...(config.seed !== undefined && { seed: config.seed }),
      ...(config.idType !== undefined && { idType: config.idType }),
      ...(config.threads !== undefined && { threads: config.threads }),
      ...(config.jobId !== undefined && { jobId: `${config.jobId}-binning` }),
    },
  });
  const dir = join(resolve(out), 'binning');
  const files = await writeBinningOutputs(dir, result);
  return { result, binningFile: join(dir, 'binning.json'), files };
}
