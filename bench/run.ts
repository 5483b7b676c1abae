/**
 * `npm run bench`: the benchmark suite, micro benchmarks, worker scaling, end-to-end runs
 * and baselines in one run, so that every ratio compares figures measured together.
 *
 *   node bench/run.ts             full mode (several minutes); writes bench/results/<date>-<machine>.md
 *   node bench/run.ts --quick     the same sections at smaller sizes (under 3 minutes)
 *   node bench/run.ts --smoke     every section at toy sizes (the test suite's check)
 *   --json                        print the results as one JSON object instead of tables
 *   --sections psi,train          only these sections (psiOps codec he scaling psi unbalancedPsi lookupService train network scoring load binning baselines anchors)
 *   --psi-10m                     add the 10M × 10M PSI run to full mode (~15 min)
 *   --unbalanced <register>x<bank>  sizes of the unbalanced-PSI section (e.g. 1000000x10000)
 *   --out <dir>                   where to write results (default bench/results)
 *   --report / --no-report        write that report (default: full mode with every section)
 *
 * Results go to <out>/<date>-<host>[-mode].json with the machine they were measured on.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, hostname, loadavg, release, totalmem, type } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { paillierEpoch } from './baselines/paillier.ts';
import { ANCHORS } from './anchors.ts';
import { benchCodec } from './codec.ts';
import { HE_PARAMETER_SETS, benchBfvOps, benchCkksOps, benchMatvecScaling, benchProtocolOps, bfvVsCkks, defaultThreadCounts, degree1Keys } from './he.ts';
import { benchPsiEndToEnd, benchPsiOps, benchPsiScaling } from './psi.ts';
import { SECTIONS, sectionMarkdown, writeReport, type BenchResults, type Machine, type PaillierBaseline, type Section } from './report.ts';
import { benchAgainstGradientRevealing, benchDefaultCredit, benchFateShape, type TrainingEpochResult } from './train.ts';
import { benchNetwork } from './network.ts';
import { benchScoring } from './scoring.ts';
import { benchLoad, LOAD_SIZES } from './load.ts';
import { benchUnbalancedPsi } from './unbalanced-psi.ts';
import { benchLookupService } from './lookup-service.ts';
import { benchBinning } from './binning.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    sections: { type: 'string' },
    only: { type: 'string' },
    'psi-10m': { type: 'boolean', default: false },
    unbalanced: { type: 'string' },
    out: { type: 'string' },
    report: { type: 'boolean' },
    'no-report': { type: 'boolean', default: false },
  },
});
const mode: BenchResults['mode'] = args.smoke ? 'smoke' : args.quick ? 'quick' : 'full';
const requested = (args.sections ?? args.only)?.split(',').map((s) => s.trim());
for (const s of requested ?? []) {
  if (!(SECTIONS as readonly string[]).includes(s)) {
    process.stderr.write(`--sections: unknown section "${s}"; known: ${SECTIONS.join(', ')}\n`);
    process.exit(2);
  }
}
// The load section starts four service processes and trains several jobs: its smoke run has
// a test of its own (test/bench/load.test.ts), so `--smoke` alone leaves it out.
const wanted = (s: Section) => (requested ? requested.includes(s) : !(mode === 'smoke' && s === 'load'));

/** Sizes per mode: smoke proves every section runs; quick keeps the shapes at smaller scale. */
const SIZES = {
  smoke: { opMs: 20, heOpMs: 20, scaleBatches: [4, 512, 1], matvec: [1, 13, 1], psiSizes: [2_000], psiRuns: 1, refSize: 200, refRuns: 1, fate: [2_000, 1, 512, [3, 10]], creditEpochs: 0, paillier: { keyBits: 512, sliceRows: 8 }, paillierWide: true, codecRows: 4096, networkEpochs: 1, scoring: [3, 2_000], unbalanced: [5_000, 500, 1], lookupService: [2_000, 3, 100], binning: [2_000, 3, 10] },
  quick: { opMs: 150, heOpMs: 150, scaleBatches: [16, 4096, 2], matvec: [2, 300, 2], psiSizes: [100_000], psiRuns: 2, refSize: 1_000, refRuns: 1, fate: [20_000, 1, 8192, [30, 300]], creditEpochs: 1, paillier: { keyBits: 2048, sliceRows: 16 }, paillierWide: false, codecRows: 8192, networkEpochs: 1, scoring: [5, 10_000], unbalanced: [200_000, 10_000, 3], lookupService: [50_000, 21, 5_000], binning: [20_000, 30, 300] },
  full: { opMs: 1000, heOpMs: 600, scaleBatches: [48, 4096, 5], matvec: [4, 300, 5], psiSizes: args['psi-10m'] ? [100_000, 1_000_000, 10_000_000] : [100_000, 1_000_000], psiRuns: 3, refSize: 5_000, refRuns: 3, fate: [100_000, 2, 8192, [30, 300]], creditEpochs: 3, paillier: { keyBits: 2048, sliceRows: undefined }, paillierWide: true, codecRows: 8192, networkEpochs: 4, scoring: [20, 100_000], unbalanced: [1_000_000, 10_000, 5], lookupService: [200_000, 41, 5_000], binning: [100_000, 30, 300] },
} as const;
const size = SIZES[mode];

/** `--unbalanced 1000000x10000`: the register and bank sizes of the unbalanced-PSI section (the mode's warm runs). */
function unbalancedSizes(option: string | undefined): readonly [number, number, number] | undefined {
  if (option === undefined) return undefined;
  const m = /^(\d+)x(\d+)$/.exec(option.replace(/_/g, ''));
  if (!m || Number(m[1]) < 2 || Number(m[2]) < 2) {
    process.stderr.write(`--unbalanced: "${option}" is not <register>x<bank>, e.g. 1000000x10000\n`);
    process.exit(2);
  }
  return [Number(m[1]), Number(m[2]), size.unbalanced[2]];
}

const log = (text: string) => {
  if (!args.json) process.stdout.write(text + '\n');
};

function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(import.meta.dirname, '../node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function git(...gitArgs: string[]): string {
  try {
    return execFileSync('git', gitArgs, { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

const machine: Machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: availableParallelism(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  os: `${type()} ${release()}`,
  host: hostname(),
  packages: Object.fromEntries(['node-seal', 'sodium-native', '@noble/curves', 'piscina', 'msgpackr', 'tinybench', 'paillier-bigint'].map((p) => [p, packageVersion(p)])),
  gitCommit: git('rev-parse', '--short', 'HEAD') || 'unknown',
  gitDirty: git('status', '--porcelain').length > 0,
};
const started = performance.now();
// Other work on a shared machine shows here: a 1-minute load above the core count means the runs competed.
const loadAtStart = loadavg()[0]!;
const results: BenchResults = { mode, date: new Date().toISOString(), command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(), machine };
log(`# jinqiao benchmarks (${mode}) on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
const show = (s: Section) => log('\n' + sectionMarkdown(results, s));
const threadCounts = defaultThreadCounts();

if (wanted('psiOps')) {
  results.psiOps = { ops: await benchPsiOps(size.opMs) };
  show('psiOps');
}

// Degree-1 keys as training creates them: for the codec's real ciphertexts, protocol ops and the matvec.
const keys = wanted('codec') || wanted('he') || wanted('scaling') ? await degree1Keys() : undefined;

if (wanted('codec')) {
  results.codec = { frames: await benchCodec(keys!.bundle, size.codecRows, size.opMs) };
  show('codec');
}

if (wanted('he')) {
  const ckks = [];
  for (const set of HE_PARAMETER_SETS) ckks.push(await benchCkksOps(set.name, set.params, size.heOpMs));
  const bfv = await benchBfvOps(size.heOpMs);
  results.he = { ckks, bfv, bfvVsCkks: bfvVsCkks(bfv, ckks[0]!), protocol: await benchProtocolOps(keys!, size.heOpMs, mode === 'full') };
  show('he');
}

if (wanted('scaling')) {
  const [batches, batchSize, runs] = size.scaleBatches;
  const [chunksPerThread, features, matvecRuns] = size.matvec;
  const chunks = chunksPerThread * Math.max(...threadCounts);
  results.scaling = {
    psi: { batches, batchSize, points: await benchPsiScaling(threadCounts, batches, batchSize, runs) },
    matvec: { rows: chunks * 4096, features, points: await benchMatvecScaling(keys!, threadCounts, chunks, features, matvecRuns) },
  };
  show('scaling');
}
keys?.owner.dispose();

const singleCore = async () => results.psiOps?.ops ?? (await benchPsiOps(size.opMs));
if (wanted('psi')) {
  const ops = await singleCore();
  const multiplies = (backend: string) => ops.find((o) => o.backend === backend && o.op === 'multiply')!.opsPerSecond;
  const endToEnd = await benchPsiEndToEnd('x25519', size.psiSizes, size.psiRuns, multiplies('x25519'));
  const [x25519] = await benchPsiEndToEnd('x25519', [size.refSize], size.refRuns, multiplies('x25519'));
  const [ristretto] = await benchPsiEndToEnd('ristretto255-noble', [size.refSize], size.refRuns, multiplies('ristretto255-noble'));
  results.psi = { endToEnd, reference: { x25519: x25519!, ristretto: ristretto!, slowdown: ristretto!.seconds.median / x25519!.seconds.median } };
  show('psi');
}

if (wanted('unbalancedPsi')) {
  const [registerSize, bankSize, warmRuns] = unbalancedSizes(args.unbalanced) ?? size.unbalanced;
  results.unbalancedPsi = await benchUnbalancedPsi(registerSize, bankSize, warmRuns);
  show('unbalancedPsi');
}

if (wanted('lookupService')) {
  const [registerSize, calls, batch] = size.lookupService;
  results.lookupService = await benchLookupService(registerSize, calls, batch);
  show('lookupService');
}

if (wanted('train')) {
  const epochs: TrainingEpochResult[] = [];
  if (size.creditEpochs > 0) epochs.push(await benchDefaultCredit(size.creditEpochs));
  const [rows, fateEpochs, batch, widths] = size.fate;
  epochs.push(await benchFateShape(rows, fateEpochs, batch, widths));
  // poly2 (N = 16384) is left out of smoke runs: it would double the suite test's training time.
  const againstGradientRevealing = await benchAgainstGradientRevealing(rows, Math.max(fateEpochs, 2), batch, widths, true, mode !== 'smoke');
  results.train = { epochs, againstGradientRevealing };
  show('train');
}

if (wanted('network')) {
  results.network = await benchNetwork(size.networkEpochs);
  show('network');
}

if (wanted('scoring')) {
  results.scoring = await benchScoring(size.scoring[0], size.scoring[1]);
  show('scoring');
}

if (wanted('load')) {
  results.load = await benchLoad(LOAD_SIZES[mode]);
  show('load');
}

if (wanted('binning')) {
  results.binning = await benchBinning(size.binning[0], size.binning[1], size.binning[2]);
  show('binning');
}

if (wanted('baselines')) {
  // Paillier on the shapes the training section ran (or FATE's shape alone without it). Its
  // fixed cost per batch (an encryption per masked feature, a decryption per feature, ~30 s
  // at 330 features) keeps the wide shape out of quick mode.
  const trained = results.train?.epochs.filter((e) => size.paillierWide || e.features.label + e.features.features.reduce((a, b) => a + b, 0) < 100);
  const shapes = trained?.map((e) => ({ job: e.name, rows: e.trainRows, guest: e.features.label, host: e.features.features.reduce((a, b) => a + b, 0), batch: e.batchSize, jinqiao: e.epochSeconds.median })) ?? [
    { job: 'generated 100000 x (30 + 300)', rows: 100_000, guest: 30, host: 300, batch: 8192, jinqiao: undefined },
  ];
  const paillier: PaillierBaseline[] = [];
  for (const s of shapes) {
    const estimate = await paillierEpoch({ rows: s.rows, guestFeatures: s.guest, hostFeatures: s.host, batchSize: s.batch, ...size.paillier, seed: 'bench' });
    const wall = s.jinqiao === undefined ? undefined : estimate.extrapolated.epochSeconds / s.jinqiao;
    paillier.push({ job: s.job, estimate, jinqiaoEpochSeconds: s.jinqiao, wallClockRatio: wall, perCoreRatio: wall === undefined ? undefined : wall / machine.cores });
  }
  const ops = await singleCore();
  const op = (backend: string, name: string) => ops.find((o) => o.backend === backend && o.op === name)!.microseconds.median;
  results.baselines = {
    paillier,
    plaintext: (results.train?.epochs ?? []).map((e) => ({ job: e.name, plaintextEpochSeconds: e.plaintextEpochSeconds.median, jinqiaoEpochSeconds: e.epochSeconds.median, slowdown: e.slowdownVsPlaintext })),
    referenceBackend: {
      multiplySlowdown: op('ristretto255-noble', 'multiply') / op('x25519', 'multiply'),
      hashSlowdown: op('ristretto255-noble', 'hash-to-group') / op('x25519', 'hash-to-group'),
      endToEndSlowdown: results.psi?.reference.slowdown,
    },
  };
  show('baselines');
}

if (wanted('anchors')) {
  const best = results.psi?.endToEnd.at(-1);
  const fateShape = results.train?.epochs.find((e) => e.trainRows === 100_000 && e.features.label === 30 && e.features.features[0] === 300);
  results.anchors = ANCHORS.map((a) => {
    if (a.id === 'fate-psi' && best && mode !== 'smoke') {
      const ours = best.idsPerSecond.median / best.threads;
      return { id: a.id, ours, ratio: ours / a.perCoreValue, oursNote: `${Math.round(ours).toLocaleString('en-US')} IDs/s per core at ${best.idsPerSide.toLocaleString('en-US')} per side (${(ours / a.perCoreValue).toFixed(1)}× FATE's)` };
    }
    if (a.id === 'fate-lr' && fateShape) {
      const ours = fateShape.epochSeconds.median * machine.cores;
      return { id: a.id, ours, ratio: a.perCoreValue / ours, oursNote: `${Math.round(ours).toLocaleString('en-US')} core-seconds per epoch (${(a.perCoreValue / ours).toFixed(1)}× fewer than FATE's)` };
    }
    if (a.id === 'jinqiao-psi-10m') return { id: a.id, oursNote: 'separately measured (this row is the measurement)' };
    const ub = results.unbalancedPsi;
    if ((a.id === 'apsi-1m' || a.id === 'secretflow-ubpsi') && ub && mode !== 'smoke') {
      const warm = ub.onlineWarmSeconds.median;
      const shape = `${ub.bankSize.toLocaleString('en-US')} bank IDs against ${ub.registerSize.toLocaleString('en-US')} in ${warm.toFixed(2)} s online (warm, ${ub.threads} threads)`;
      if (a.id === 'apsi-1m') return { id: a.id, oursNote: `${shape}: ${((warm * 1000) / ub.bankSize).toFixed(2)} ms and ${((warm * 1000 * ub.threads) / ub.bankSize).toFixed(2)} core-ms per query, batched` };
      return { id: a.id, oursNote: `${shape}: ${Math.round(ub.bankSize / warm / ub.threads).toLocaleString('en-US')} bank IDs/s per core online` };
    }
    return { id: a.id, oursNote: mode === 'full' ? 'section not run' : `not comparable in ${mode} mode (smaller shape)` };
  });
  show('anchors');
}

results.durationSeconds = (performance.now() - started) / 1000;
results.loadAverage = { start: loadAtStart, end: loadavg()[0]! };
const dir = resolve(args.out ?? join(import.meta.dirname, 'results'));
mkdirSync(dir, { recursive: true });
const file = join(dir, `${results.date.slice(0, 10)}-${machine.host}${mode === 'full' ? '' : `-${mode}`}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
const report = args['no-report'] ? false : (args.report ?? (mode === 'full' && !requested));
const written = report ? writeReport(results, file, join(import.meta.dirname, '..')) : [];
if (args.json) process.stdout.write(JSON.stringify({ ...results, resultsFile: file }) + '\n');
else log(`\nfinished in ${results.durationSeconds.toFixed(0)} s; results written to ${file}${written.length ? `\nreport: ${written.join(', ')}` : ''}`);
