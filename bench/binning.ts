/**
 * Federated binning of FATE's benchmark shape: a bank with 30 features and one agency with
 * 300, all rows aligned, 10 quantile bins per feature, under CKKS with the platform as
 * arbiter, every party in one process. The reference is FATE's hetero feature binning on
 * 100k × (30 + 300): 68 s on 2 × 16 cores (as issue 14 quotes it); the target here is 30 s.
 *
 *   node bench/binning.ts [--rows 100000] [--bank 30] [--agency 300] [--threads n] [--json]
 *
 * Prints seconds (and the CPU seconds of every thread), aligned rows per second, bin columns, and the ratios to FATE's
 * time and to the target. The shared generator (bench/data.ts) makes the tables.
 */
import { parseArgs } from 'node:util';
import { binTables } from '../src/binning/in-process.ts';
import { syntheticTrainingTables } from './data.ts';

export const FATE_BINNING_SECONDS = 68;
export const BINNING_TARGET_SECONDS = 30;

export interface BinningBenchResult {
  readonly label: string;
  readonly rows: number;
  readonly features: number;
  readonly binColumns: number;
  readonly seconds: number;
  /** CPU time of the process, every thread (user + system): on an idle machine the wall time is at least this over the cores. */
  readonly cpuSeconds: number;
  readonly rowsPerSecond: number;
  readonly ratioToFate: number;
  readonly ratioToTarget: number;
}

export async function benchBinning(rows: number, bankFeatures: number, agencyFeatures: number, threads?: number): Promise<BinningBenchResult> {
  const { label, features } = syntheticTrainingTables(rows, bankFeatures, [agencyFeatures], 'binning');
  const cpu = process.cpuUsage();
  const result = await binTables({ label: { table: label, name: 'bank' }, features: [{ table: features[0]!, name: 'agency' }], config: { threads } });
  const used = process.cpuUsage(cpu);
  const binColumns = result.parties.flatMap((p) => p.features).reduce((s, f) => s + f.bins.length + (f.missing ? 1 : 0), 0);
  return {
    label: `generated ${rows} x (${bankFeatures} + ${agencyFeatures})`,
    rows: result.rows,
    features: bankFeatures + agencyFeatures,
    binColumns,
    seconds: result.seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    rowsPerSecond: result.rows / result.seconds,
    ratioToFate: result.seconds / FATE_BINNING_SECONDS,
    ratioToTarget: result.seconds / BINNING_TARGET_SECONDS,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '100000' }, bank: { type: 'string', default: '30' }, agency: { type: 'string', default: '300' }, threads: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const r = await benchBinning(Number(values.rows), Number(values.bank), Number(values.agency), values.threads === undefined ? undefined : Number(values.threads));
  if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    process.stdout.write(
      `${r.label}: ${r.seconds.toFixed(1)} s (CPU ${r.cpuSeconds.toFixed(1)} s), ${Math.round(r.rowsPerSecond)} rows/s, ${r.binColumns} bin columns; ` +
        `${r.ratioToFate.toFixed(2)}x FATE's ${FATE_BINNING_SECONDS} s, ${r.ratioToTarget.toFixed(2)}x the ${BINNING_TARGET_SECONDS} s target\n`,
    );
  }
}
