/**
 * Federated binning of FATE's benchmark shape: a bank with 30 features and one agency with
 * 300, all rows aligned, 10 quantile bins per feature, under CKKS with the platform as
 * arbiter, every party in one process. The reference is FATE's hetero feature binning on
 * 100k × (30 + 300): 68 s on 2 × 16 cores (as issue 14 quotes it); the target here is 30 s.
 *
 *   node bench/binning.ts [--rows 100000] [--bank 30] [--agency 300] [--threads n] [--json]
 *
 * Prints seconds (and the CPU seconds of every thread), aligned rows per second, bin columns, the ratios to FATE's
 * time and to the target, and to the same binning in the clear on the pooled tables measured
 * in the same run (`pooledBinning`), with the largest IV difference between the two. The
 * shared generator (bench/data.ts) makes the tables.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { binTable, DEFAULT_BINNING_RULE, type BinningRule } from '../src/binning/bins.ts';
import { binTables } from '../src/binning/in-process.ts';
import { featureEvidence } from '../src/binning/woe.ts';
import type { FeatureTable } from '../src/data/table.ts';
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
  /** The same binning, WOE and IV in the clear on the pooled tables (one party holding them all), in the same run. */
  readonly pooled?: { readonly seconds: number; readonly cpuSeconds: number };
  readonly ratioToPooled?: number;
  /** Largest |IV federated − IV pooled| over every feature: the two must agree (counts are exact). */
  readonly maxIvDifference?: number;
  /** 1-minute load average before and after (2 cores: above 2, the run competed with other work). */
  readonly loadAverage?: { readonly start: number; readonly end: number };
}

/**
 * The baseline: every table in one place, joined by ID in the clear, each feature binned by
 * the same rule and code as each party bins its own (src/binning/bins.ts), per-bin bad counts
 * and WOE/IV from the labels directly. What the federated job costs over this is the price
 * of keeping labels and values apart: PSI, the encrypted per-bin sums and their reveal.
 */
export function pooledBinning(label: FeatureTable, features: readonly FeatureTable[], rule: BinningRule = DEFAULT_BINNING_RULE): number[] {
  const positions = features.map((t) => new Map(t.ids.map((id, i) => [id, i])));
  const labelRows: number[] = [];
  const featureRows: number[][] = features.map(() => []);
  label.ids.forEach((id, i) => {
    const at = positions.map((m) => m.get(id));
    if (at.some((a) => a === undefined)) return;
    labelRows.push(i);
    at.forEach((a, k) => featureRows[k]!.push(a!));
  });
  const rows = labelRows.length;
  const y = Float64Array.from(labelRows, (r) => label.labels![r]!);
  const bads = y.reduce((a, v) => a + v, 0);
  const ivs: number[] = [];
  [label, ...features].forEach((table, k) => {
    for (const { bins } of binTable(table, Uint32Array.from(k === 0 ? labelRows : featureRows[k - 1]!), rule)) {
      const hasMissing = bins.missingCount > 0;
      const counts = [...bins.counts, ...(hasMissing ? [bins.missingCount] : [])];
      const badsPerBin = new Array<number>(counts.length).fill(0);
      for (let i = 0; i < rows; i++) badsPerBin[bins.binOf[i]!]! += y[i]!;
      ivs.push(featureEvidence(counts, badsPerBin, hasMissing, rows, bads).iv);
    }
  });
  return ivs;
}

export async function benchBinning(rows: number, bankFeatures: number, agencyFeatures: number, threads?: number): Promise<BinningBenchResult> {
  const { label, features } = syntheticTrainingTables(rows, bankFeatures, [agencyFeatures], 'binning');
  const loadStart = loadavg()[0]!;
  let cpu = process.cpuUsage();
  let started = performance.now();
  const pooledIvs = pooledBinning(label, features);
  const pooled = { seconds: (performance.now() - started) / 1000, cpuSeconds: cpuSecondsSince(cpu) };
  cpu = process.cpuUsage();
  started = performance.now();
  const result = await binTables({ label: { table: label, name: 'bank' }, features: [{ table: features[0]!, name: 'agency' }], config: { threads }, started });
  const cpuSeconds = cpuSecondsSince(cpu);
  const binColumns = result.parties.flatMap((p) => p.features).reduce((s, f) => s + f.bins.length + (f.missing ? 1 : 0), 0);
  const federatedIvs = result.parties.flatMap((p) => p.features.map((f) => f.iv));
  return {
    label: `generated ${rows} x (${bankFeatures} + ${agencyFeatures})`,
    rows: result.rows,
    features: bankFeatures + agencyFeatures,
    binColumns,
    seconds: result.seconds,
    cpuSeconds,
    rowsPerSecond: result.rows / result.seconds,
    ratioToFate: result.seconds / FATE_BINNING_SECONDS,
    ratioToTarget: result.seconds / BINNING_TARGET_SECONDS,
    pooled,
    ratioToPooled: result.seconds / pooled.seconds,
    maxIvDifference: Math.max(...federatedIvs.map((iv, j) => Math.abs(iv - pooledIvs[j]!))),
    loadAverage: { start: loadStart, end: loadavg()[0]! },
  };
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
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
        `${r.ratioToFate.toFixed(2)}x FATE's ${FATE_BINNING_SECONDS} s, ${r.ratioToTarget.toFixed(2)}x the ${BINNING_TARGET_SECONDS} s target; ` +
        `pooled plaintext ${r.pooled!.seconds.toFixed(2)} s (${r.ratioToPooled!.toFixed(1)}x), IVs agree to ${r.maxIvDifference!.toExponential(1)}; load ${r.loadAverage!.start.toFixed(1)} → ${r.loadAverage!.end.toFixed(1)}\n`,
    );
  }
}
