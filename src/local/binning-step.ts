/**
 * (In-process host) A job file's `binning:` section: every party bins its own features and
 * the bank gets WOE and IV (../binning/in-process.ts), on the job's own tables, seed, ID
 * type and threads, before the job trains, admitted by the job's governance as the training
 * job is (every party's gate, audit log and approval). Outputs go to `<out>/binning/` (binning.json,
 * iv.csv, screening.json, report.html); with `scorecard` the training that follows runs on
 * bin indicators from that binning.json.
 */
import { join, resolve } from 'node:path';
import { runBinningInProcess, type BinningResult } from '../binning/in-process.ts';
import { writeBinningOutputs } from '../binning/output.ts';
import type { BinningJob } from './job-file.ts';
import type { LocalTrainingOptions } from './training.ts';

export interface BinningStepResult {
  readonly result: BinningResult;
  /** `<out>/binning/binning.json`. */
  readonly binningFile: string;
  readonly files: readonly string[];
}

export async function runBinningStep(training: LocalTrainingOptions, binning: BinningJob, out: string): Promise<BinningStepResult> {
  const config = training.config ?? {};
  // The job file's governance admits the binning job as it admits the training job: the same
  // purpose, gates, consent, approvals and audit logs (its own job id, `<job>-binning`).
  const result = await runBinningInProcess({
    label: training.label,
    features: training.features,
    governance: training.governance,
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
