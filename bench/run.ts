/**
 * `npm run bench`: the benchmark suite. `--quick` for a short run, `--json` to print the
 * results as JSON, `--only <suite>` to run one suite. Results are also written to
 * bench/results/<date>-<host>.json with the machine they were measured on.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchPsiEndToEnd, benchPsiOps } from './psi.ts';
import { benchDefaultCredit, benchFateShape, type TrainingEpochResult } from './train.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    'psi-10m': { type: 'boolean', default: false },
  },
});
const quick = args.quick!;
const log = (line: string) => {
  if (!args.json) process.stdout.write(line + '\n');
};

function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(import.meta.dirname, '../node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: availableParallelism(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  packages: Object.fromEntries(['node-seal', 'sodium-native', '@noble/curves', 'piscina', 'msgpackr', 'tinybench'].map((p) => [p, packageVersion(p)])),
};
const results: Record<string, unknown> = { mode: quick ? 'quick' : 'full', date: new Date().toISOString(), machine };
log(`jinqiao benchmarks (${quick ? 'quick' : 'full'}) on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);

if (!args.only || args.only === 'psi') {
  log('\n## PSI group operations (one core)');
  const ops = await benchPsiOps(quick);
  const x25519Multiply = ops.find((o) => o.backend === 'x25519' && o.op === 'multiply')!;
  log('| backend | op | µs/op (median) | spread | ops/s | vs x25519 |');
  log('|---|---|---:|---:|---:|---:|');
  for (const o of ops) {
    const ref = ops.find((r) => r.backend === 'x25519' && r.op === o.op)!;
    log(`| ${o.backend} | ${o.op} | ${o.microseconds.median.toFixed(1)} | ${o.microseconds.spread.toFixed(1)} | ${Math.round(o.opsPerSecond)} | ${(o.microseconds.median / ref.microseconds.median).toFixed(1)}× slower |`);
  }
  const sizes = quick ? [100_000] : args['psi-10m'] ? [100_000, 1_000_000, 10_000_000] : [100_000, 1_000_000];
  log('\n## PSI end to end (both parties in one process, x25519, all cores)');
  const e2e = await benchPsiEndToEnd(sizes, quick ? 1 : 3, x25519Multiply.opsPerSecond);
  log('| IDs per side | runs | seconds | IDs/s (both sides) | raw limit IDs/s | efficiency | peak MB | bytes/ID |');
  log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of e2e) {
    log(`| ${r.idsPerSide} | ${r.runs} | ${r.seconds.median.toFixed(1)} ± ${(r.seconds.spread / 2).toFixed(1)} | ${Math.round(r.idsPerSecond.median)} | ${Math.round(r.rawLimitIdsPerSecond)} | ${(r.efficiency * 100).toFixed(0)}% | ${r.peakMemoryMB} | ${r.bytesPerId.toFixed(1)} |`);
  }
  log('Published anchor, not measured here: FATE 2.0 PSI 100M x 100M in 50m54s on 2 x 16 cores = ~2,050 IDs/s per core.');
  results.psi = { ops, endToEnd: e2e };
}

if (!args.only || args.only === 'train') {
  log('\n## Training epoch (CKKS, every party in one process, all cores)');
  const runs: TrainingEpochResult[] = [await benchDefaultCredit(quick ? 1 : 3)];
  runs.push(quick ? await benchFateShape(20_000, 1, 8192) : await benchFateShape(100_000, 2, 8192));
  log('| job | train rows | features (label + agencies) | batch | s/epoch (median ± half spread) | plaintext s/epoch | slowdown | MB on the wire/epoch | validation AUC |');
  log('|---|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    log(`| ${r.name} | ${r.trainRows} | ${r.features.label} + ${r.features.features.join(' + ')} | ${r.batchSize} | ${r.epochSeconds.median.toFixed(2)} ± ${(r.epochSeconds.spread / 2).toFixed(2)} | ${r.plaintextEpochSeconds.toFixed(3)} | ${r.slowdownVsPlaintext.toFixed(0)}× | ${(r.bytesPerEpoch / 1e6).toFixed(1)} | ${r.auc.toFixed(4)} |`);
  }
  log('Published anchor, not measured here: FATE 2.0 Hetero-Coordinated-LR (Paillier, arbiter), 100,000 rows x (30 + 300) features: 2m16s per epoch on 2 x 16 cores.');
  results.train = { epochs: runs };
}

const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${new Date().toISOString().slice(0, 10)}-${hostname()}${quick ? '-quick' : ''}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
if (args.json) process.stdout.write(JSON.stringify(results) + '\n');
else log(`\nresults written to ${file}`);
