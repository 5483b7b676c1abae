/**
 * Turns a results JSON into Markdown tables (printed by `npm run bench` section by
 * section) and into a report beside the results file (`<stem>.md`) with SVG charts.
 * `npm run bench:report -- <results.json>` regenerates that report from a stored run without
 * measuring anything. BENCHMARKS.md is curated from these reports, never written by a run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { PaillierEpochEstimate } from './baselines/paillier.ts';
import { ANCHORS } from './anchors.ts';
import type { CodecResult } from './codec.ts';
import type { HeOpsResult, ProtocolOps } from './he.ts';
import type { PsiEndToEnd, PsiOpResult, ScalingPoint } from './psi.ts';
import type { Figure } from './stats.ts';
import { lineChart, logBarChart, type Bar } from './svg.ts';
import type { NetworkBench } from './network.ts';
import type { ScoringBench } from './scoring.ts';
import type { LoadBench } from './load.ts';
import { BINNING_TARGET_SECONDS, FATE_BINNING_SECONDS, type BinningBenchResult } from './binning.ts';
import type { GradientRevealingComparison, TrainingEpochResult } from './train.ts';
import { unbalancedPsiMarkdown, type UnbalancedPsiBench } from './unbalanced-psi.ts';
import { lookupServiceMarkdown, type LookupServiceBench } from './lookup-service.ts';

export const SECTIONS = ['psiOps', 'codec', 'he', 'scaling', 'psi', 'unbalancedPsi', 'lookupService', 'train', 'network', 'scoring', 'load', 'binning', 'baselines', 'anchors'] as const;
export type Section = (typeof SECTIONS)[number];

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  readonly host: string;
  readonly packages: Record<string, string>;
  readonly gitCommit: string;
  readonly gitDirty: boolean;
}

export interface PaillierBaseline {
  readonly job: string;
  readonly estimate: PaillierEpochEstimate;
  /** jinqiao's measured epoch on the same shape in this run (all cores), if the train section ran. */
  readonly jinqiaoEpochSeconds?: number;
  /** Paillier extrapolated one-core epoch / jinqiao epoch (wall clock, jinqiao on every core). */
  readonly wallClockRatio?: number;
  /** The same per core: Paillier one-core seconds / (jinqiao seconds × cores). */
  readonly perCoreRatio?: number;
}

export interface BenchResults {
  readonly mode: 'smoke' | 'quick' | 'full';
  readonly date: string;
  readonly command: string;
  readonly machine: Machine;
  durationSeconds?: number;
  /** 1-minute load average when the run started and ended. */
  loadAverage?: { start: number; end: number };
  psiOps?: { readonly ops: readonly PsiOpResult[] };
  codec?: { readonly frames: readonly CodecResult[] };
  he?: {
    readonly ckks: readonly HeOpsResult[];
    readonly bfv: HeOpsResult;
    readonly bfvVsCkks: readonly { op: string; ckksMicroseconds: number; bfvMicroseconds: number; ratio: number }[];
    readonly protocol: ProtocolOps;
  };
  scaling?: {
    readonly psi: { readonly batches: number; readonly batchSize: number; readonly points: readonly ScalingPoint[] };
    readonly matvec: { readonly rows: number; readonly features: number; readonly points: readonly ScalingPoint[] };
  };
  psi?: {
    readonly endToEnd: readonly PsiEndToEnd[];
    /** The pure-JS reference backend and x25519 at the same (small) size. */
    readonly reference: { readonly x25519: PsiEndToEnd; readonly ristretto: PsiEndToEnd; readonly slowdown: number };
  };
  unbalancedPsi?: UnbalancedPsiBench;
  lookupService?: LookupServiceBench;
  train?: { readonly epochs: readonly TrainingEpochResult[]; readonly againstGradientRevealing: GradientRevealingComparison };
  network?: NetworkBench;
  scoring?: ScoringBench;
  load?: LoadBench;
  binning?: BinningBenchResult;
  baselines?: {
    readonly paillier: readonly PaillierBaseline[];
    readonly plaintext: readonly { job: string; plaintextEpochSeconds: number; jinqiaoEpochSeconds: number; slowdown: number }[];
    readonly referenceBackend: { readonly multiplySlowdown: number; readonly hashSlowdown: number; readonly endToEndSlowdown?: number };
  };
  anchors?: readonly { readonly id: string; readonly ours?: number; readonly oursNote: string; readonly ratio?: number }[];
}

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const fix = (v: number, d: number) => v.toFixed(d);
/** Median ± half the spread, in the figure's unit. */
const pm = (f: Figure, d: number) => (f.n > 1 ? `${fix(f.median, d)} ± ${fix(f.spread / 2, d)}` : `${fix(f.median, d)} (1 run)`);
const us = (v: number) => (v >= 1000 ? n0(v) : v >= 10 ? fix(v, 1) : fix(v, 2));
const ratio = (v: number) => (v >= 100 ? `${n0(v)}×` : v >= 10 ? `${fix(v, 0)}×` : `${fix(v, 2)}×`);

function table(header: readonly string[], align: readonly ('l' | 'r')[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function sectionMarkdown(r: BenchResults, section: Section): string {
  switch (section) {
    case 'psiOps': {
      const ops = r.psiOps!.ops;
      const ref = (op: string) => ops.find((o) => o.backend === 'x25519' && o.op === op);
      return [
        '## PSI group operations (one core, tinybench)',
        '',
        table(
          ['backend', 'op', 'µs/op (median)', 'spread (2×MAD)', 'ops/s', 'vs x25519'],
          ['l', 'l', 'r', 'r', 'r', 'r'],
          ops.map((o) => {
            const base = ref(o.op);
            return [o.backend, o.op, us(o.microseconds.median), us(o.microseconds.spread), n0(o.opsPerSecond), base ? `${ratio(o.microseconds.median / base.microseconds.median)} the time` : '—'];
          }),
        ),
        '',
        'ristretto255 decode/encode are part of every ristretto multiply (shown separately); X25519 has no separate encoding step (the 32-byte u-coordinate is the ladder\'s input and output).',
      ].join('\n');
    }
    case 'codec':
      return [
        '## Wire format (msgpackr via src/transport/codec.ts, one core)',
        '',
        table(
          ['frame', 'op', 'frame bytes', 'µs (median)', 'spread (2×MAD)', 'MB/s'],
          ['l', 'l', 'r', 'r', 'r', 'r'],
          r.codec!.frames.map((f) => [f.frame, f.op.split(' ')[0]!, n0(f.frameBytes), us(f.microseconds.median), us(f.microseconds.spread), n0(f.megabytesPerSecond)]),
        ),
        '',
        'Decode includes the codec\'s validation (type tag, version, field types, no trailing bytes).',
      ].join('\n');
    case 'he': {
      const he = r.he!;
      const [a, b] = he.ckks;
      const rows = a!.ops.map((o) => {
        const other = b?.ops.find((x) => x.op.split(' (')[0] === o.op.split(' (')[0]);
        return [o.op, us(o.microseconds.median), us(o.microseconds.spread), other ? us(other.microseconds.median) : '—', other ? us(other.microseconds.spread) : '—', other ? ratio(other.microseconds.median / o.microseconds.median) : '—'];
      });
      const setLine = (s: HeOpsResult) =>
        `- ${s.parameterSet}: N = ${s.polyModulusDegree}, q = ${s.coeffModBits.join('·')} bits${s.plainModulusBits ? `, t = ${s.plainModulusBits} bits` : ''}, ${n0(s.slots)} slots; keygen ${fix(s.keygenSeconds, 2)} s; Galois keys ${fix(s.galoisKeyBytes / 2 ** 20, 1)} MiB (zstd); fresh ciphertext ${n0(s.ciphertextBytes / 1024)} KiB (zstd)`;
      return [
        '## CKKS core operations (node-seal 7, one core)',
        '',
        table(
          ['op', `${a!.parameterSet} µs`, 'spread', `${b?.parameterSet ?? '—'} µs`, 'spread', 'N=16384 / N=8192'],
          ['l', 'r', 'r', 'r', 'r', 'r'],
          rows,
        ),
        '',
        ...he.ckks.map(setLine),
        '',
        '## BFV next to CKKS (N = 8192, the degree-1 path)',
        '',
        table(
          ['op', 'CKKS DEGREE1_PARAMS µs', 'BFV µs', 'BFV / CKKS'],
          ['l', 'r', 'r', 'r'],
          he.bfvVsCkks.map((c) => [c.op, us(c.ckksMicroseconds), us(c.bfvMicroseconds), ratio(c.ratio)]),
        ),
        '',
        setLine(he.bfv),
        '- BFV multiply_plain converts the plaintext to NTT form on every call (SEAL keeps BFV plaintexts in coefficient form); CKKS encodes straight into NTT form. BFV rotate_rows rotates 2 × 4096-slot rows; BFV has 8192 integer slots vs 4096 complex/real CKKS slots.',
        '',
        '## Training-protocol HE operations (through the project\'s evaluator, bytes in and out)',
        '',
        table(
          ['op', 'ms (median)', 'spread (2×MAD)'],
          ['l', 'r', 'r'],
          he.protocol.ops.map((o) => [o.op, fix(o.microseconds.median / 1000, 2), fix(o.microseconds.spread / 1000, 2)]),
        ),
      ].join('\n');
    }
    case 'scaling': {
      const s = r.scaling!;
      const rows = (loop: string, unit: string, points: readonly ScalingPoint[]) =>
        points.map((p) => [loop, String(p.threads), `${n0(p.throughput.median)} ± ${n0(p.throughput.spread / 2)} ${unit}`, ratio(p.throughput.median / points[0]!.throughput.median), `${fix(p.efficiency * 100, 0)}%`, p.threads === 1 ? '—' : `+${fix(p.marginalGain, 2)}`]);
      return [
        '## Worker scaling (piscina pools, same work at each thread count)',
        '',
        table(
          ['loop', 'threads', 'throughput (median ± half spread)', 'speedup', 'efficiency', 'gain from the added worker (× one worker)'],
          ['l', 'r', 'r', 'r', 'r', 'r'],
          [
            ...rows(`PSI hashAndBlind, ${s.psi.batches} × ${n0(s.psi.batchSize)} IDs (x25519)`, 'IDs/s', s.psi.points),
            ...rows(`CKKS Xᵀ[[d]], ${n0(s.matvec.rows)} rows × ${s.matvec.features}`, 'rows/s', s.matvec.points),
          ],
        ),
        '',
        `Efficiency = throughput / (threads × one-thread throughput). This machine has ${r.machine.cores} cores, so the curve stops there.`,
      ].join('\n');
    }
    case 'psi': {
      const p = r.psi!;
      const row = (e: PsiEndToEnd) => [e.backend, n0(e.idsPerSide), String(e.seconds.n), pm(e.seconds, 1), `${n0(e.idsPerSecond.median)} ± ${n0(e.idsPerSecond.spread / 2)}`, n0(e.rawLimitIdsPerSecond), `${fix(e.efficiency * 100, 0)}%`, n0(e.peakMemoryMB), fix(e.bytesPerId, 1)];
      return [
        `## PSI end to end (\`jinqiao psi\`, both parties in one child process, ${p.endToEnd[0]?.threads ?? r.machine.cores} worker threads)`,
        '',
        table(
          ['backend', 'IDs per side', 'runs', 'seconds (median ± half spread)', 'IDs/s, both sides', 'raw limit IDs/s', 'efficiency', 'peak RSS MB', 'bytes sent per ID'],
          ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
          [...p.endToEnd, p.reference.x25519, p.reference.ristretto].map(row),
        ),
        '',
        `Raw limit = threads × single-core multiplies/s of the backend (measured in this run) / 2 multiplies per ID. The pure-JS reference backend (ristretto255-noble) runs ${ratio(p.reference.slowdown)} slower than x25519 end to end at ${n0(p.reference.ristretto.idsPerSide)} IDs per side (both measured in this run).`,
      ].join('\n');
    }
    case 'train':
      return [
        '## Training epoch (CKKS, every party in one process, all cores)',
        '',
        table(
          ['job', 'train rows', 'features (label + agencies)', 'batch', 'epochs', 's/epoch (median ± half spread)', 'plaintext s/epoch', 'slowdown', 'MB on the wire/epoch', 'validation AUC', 'plaintext ceiling AUC', 'gap'],
          ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
          r.train!.epochs.map((e) => [
            e.name,
            n0(e.trainRows),
            `${e.features.label} + ${e.features.features.join(' + ')}`,
            n0(e.batchSize),
            String(e.epochs),
            pm(e.epochSeconds, 2),
            pm(e.plaintextEpochSeconds, 3),
            ratio(e.slowdownVsPlaintext),
            fix(e.bytesPerEpoch / 1e6, 1),
            fix(e.auc, 4),
            fix(e.ceilingAuc, 4),
            fix(e.auc - e.ceilingAuc, 4),
          ]),
        ),
        '',
        'Ceiling: a centralised plaintext logistic regression (Newton) on the pooled features of exactly the run\'s training rows, scored on exactly its validation rows. Wire bytes count the training messages (train.forward, train.residual, he.refresh, train.decrypt) only.',
        '',
        '### Encrypted model against the gradient-revealing protocol it replaced (same data, same run, all cores)',
        '',
        table(
          ['job', 'batch', 'encrypted model s/epoch', 'gradient-revealing s/epoch', 'ratio (target <= 1.5)', 'encrypted CPU-s/epoch', 'gradient-revealing CPU-s/epoch', 'CPU ratio'],
          ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
          [((g) => [g.name, n0(g.batchSize), pm(g.encryptedModel, 2), pm(g.gradientRevealing, 2), ratio(g.ratio), ...(g.encryptedModelCpu ? [pm(g.encryptedModelCpu, 2), pm(g.gradientRevealingCpu, 2), ratio(g.cpuRatio)] : ['', '', ''])])(r.train!.againstGradientRevealing)],
        ),
        '',
        'CPU seconds count every thread of the benchmark process (all parties and the worker pool). The two protocols run one after the other, so on a shared machine their wall times meet different loads; their CPU times do not depend on what else runs.',
        ...(r.train!.againstGradientRevealing.encryptedModelPoly2
          ? ['', `With the quadratic sigmoid (\`sigmoid: poly2\`, N = 16384), same data, same run: ${pm(r.train!.againstGradientRevealing.encryptedModelPoly2, 2)} s/epoch, ${ratio(r.train!.againstGradientRevealing.ratioPoly2!)} the gradient-revealing epoch.`]
          : []),
      ].join('\n');
    case 'baselines': {
      const b = r.baselines!;
      const rows: string[][] = [];
      for (const p of b.paillier) {
        const e = p.estimate;
        rows.push([
          `FATE-style Paillier-${e.keyBits} hetero LR epoch, one core — **EXTRAPOLATED** from a ${e.sliceRows}-row slice (${fix(e.measuredSeconds, 1)} s measured)`,
          p.job,
          `${n0(e.extrapolated.epochSeconds)} s/epoch, ${fix(e.extrapolated.wireBytes / 2 ** 20, 0)} MiB`,
          p.jinqiaoEpochSeconds === undefined ? '—' : `${fix(p.jinqiaoEpochSeconds, 2)} s/epoch on ${r.machine.cores} cores`,
          p.wallClockRatio === undefined ? '—' : `${ratio(p.wallClockRatio)} (per core: ${ratio(p.perCoreRatio!)})`,
        ]);
      }
      for (const p of b.plaintext) rows.push(['plaintext LR epoch, same mini-batch algorithm, one core', p.job, `${fix(p.plaintextEpochSeconds, 3)} s/epoch`, `${fix(p.jinqiaoEpochSeconds, 2)} s/epoch`, `jinqiao ${ratio(p.slowdown)} slower`]);
      const ref = b.referenceBackend;
      rows.push(['pure-JS reference group backend (ristretto255-noble), multiply', 'PSI', `${ratio(ref.multiplySlowdown)} the time of x25519`, 'x25519 (native)', `jinqiao ${ratio(ref.multiplySlowdown)} faster`]);
      rows.push(['pure-JS reference group backend, hash-to-group', 'PSI', `${ratio(ref.hashSlowdown)} the time of x25519`, 'x25519 (native)', `jinqiao ${ratio(ref.hashSlowdown)} faster`]);
      if (ref.endToEndSlowdown !== undefined) rows.push(['pure-JS reference group backend, end to end', 'PSI', `${ratio(ref.endToEndSlowdown)} the time of x25519`, 'x25519 (native)', `jinqiao ${ratio(ref.endToEndSlowdown)} faster`]);
      return [
        '## Baselines (measured in this run)',
        '',
        table(['baseline', 'job', 'baseline figure', 'jinqiao (this run)', 'ratio (baseline / jinqiao)'], ['l', 'l', 'r', 'r', 'r'], rows),
        '',
        ...b.paillier.map((p) => `- Paillier ${p.job}: ${p.estimate.extrapolated.note}`),
        '- Per-core ratio: Paillier one-core seconds / (jinqiao seconds × cores used by jinqiao).',
      ].join('\n');
    }
    case 'network': {
      const n = r.network!;
      return [
        '## Across the network (mutual TLS on loopback) and bytes per party',
        '',
        `The SME demo job (bank + 2 agencies + arbiter, ${n.epochs} epochs) run by four party services over mutual TLS 1.3 on loopback: ${n.networkSeconds.toFixed(1)} s, against ${n.inProcessSeconds.toFixed(1)} s with in-memory channels: **${n.slowdown.toFixed(2)}×**. The services share this process and its two cores (as four processes would on this machine); what the network run adds is TLS, framing, heartbeats and sockets.`,
        '',
        table(
          ['party', 'IDs held', 'PSI bytes sent per ID held', 'training bytes sent per epoch'],
          ['l', 'r', 'r', 'r'],
          n.parties.map((p) => [p.party, p.ids ? n0(p.ids) : '—', p.ids ? p.psiBytesPerId.toFixed(1) : '—', n0(p.trainingBytesPerEpoch)]),
        ),
        '',
        'The bank runs one PSI per agency, so it sends its own blinded set once per agency and re-blinds every agency\'s set: more bytes per ID than an agency. Training bytes are ciphertexts (zstd) and masked decryption requests.',
      ].join('\n');
    }
    case 'load':
      return loadMarkdown(r.load!, r.loadAverage);
    case 'unbalancedPsi':
      return unbalancedPsiMarkdown(r.unbalancedPsi!);
    case 'lookupService':
      return lookupServiceMarkdown(r.lookupService!);
    case 'scoring': {
      const sc = r.scoring!;
      return [
        '## Joint scoring',
        '',
        table(
          ['measure', 'value'],
          ['l', 'r'],
          [
            [`one enterprise, three agencies, party services over mutual TLS on loopback (median of ${sc.requests} requests, warm session)`, `${sc.latencyMs.median.toFixed(0)} ms ± ${(sc.latencyMs.spread / 2).toFixed(0)}`],
            ['opening a scoring session (keys; every agency blinds and ships its register once)', `${n0(sc.sessionOpenMs)} ms`],
            [`batch of ${n0(sc.batch.enterprises)} enterprises, three agencies, one process`, `${sc.batch.seconds.toFixed(1)} s (${n0(sc.batch.perSecond)} enterprises/s)`],
          ],
        ),
        '',
        'Target (issue): under 300 ms for one enterprise with three agencies on loopback.',
      ].join('\n');
    }
    case 'binning': {
      const b = r.binning!;
      const pooled = b.pooled ? `${b.pooled.seconds.toFixed(2)} s (${b.ratioToPooled!.toFixed(1)}x)` : '—';
      return [
        '## Federated binning (WOE/IV)',
        '',
        table(
          ['job', 'bin columns', 'seconds', 'CPU seconds (all threads)', 'rows/s', `vs FATE's ${FATE_BINNING_SECONDS} s`, `vs the ${BINNING_TARGET_SECONDS} s target`, 'pooled plaintext, same run (federated / pooled)'],
          ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
          [[b.label, n0(b.binColumns), b.seconds.toFixed(1), b.cpuSeconds.toFixed(1), n0(b.rowsPerSecond), `${b.ratioToFate.toFixed(2)}x`, `${b.ratioToTarget.toFixed(2)}x`, pooled]],
        ),
        '',
        "FATE's figure is for 100k × (30 + 300) on 2 × 16 cores; compare like shapes only. The pooled baseline bins the same tables in the clear, joined by ID, with the same binning code, on one thread: the ratio is what keeping labels and values apart costs (PSI, the encrypted per-bin sums and their reveal).",
        ...(b.maxIvDifference !== undefined ? ['', `Every feature's IV agrees with the pooled computation to ${b.maxIvDifference.toExponential(1)}.`] : []),
        ...(b.loadAverage ? ['', `1-minute load average ${b.loadAverage.start.toFixed(1)} before and ${b.loadAverage.end.toFixed(1)} after this section (2 cores).`] : []),
      ].join('\n');
    }
    case 'anchors':
      return [
        '## Published anchors (NOT measured here)',
        '',
        table(
          ['what', 'figure', 'hardware', 'per core', 'jinqiao per core, this run', 'source'],
          ['l', 'r', 'l', 'r', 'r', 'l'],
          ANCHORS.map((a) => {
            const ours = r.anchors?.find((o) => o.id === a.id);
            return [a.what, a.figure, a.hardware, a.perCore, ours ? ours.oursNote : '—', a.source];
          }),
        ),
      ].join('\n');
  }
}

/**
 * Writes the run's report and its charts next to its results file (`<stem>.md`, `<stem>-*.svg`).
 * BENCHMARKS.md at the root is curated from such reports (each section names its run, with
 * the notes of runs outside the suite) and is never overwritten by a run.
 */
export function writeReport(results: BenchResults, resultsFile: string, rootDir: string): string[] {
  const written: string[] = [];
  const stem = resultsFile.replace(/\.json$/, '');
  const reportDir = dirname(resultsFile);
  const chart = (name: string, svg: string) => {
    const file = `${stem}-${name}.svg`;
    writeFileSync(file, svg);
    written.push(file);
    return `![${name}](${relative(reportDir, file)})`;
  };
  const figures: string[] = [];
  if (results.scaling) {
    const speedup = (points: readonly ScalingPoint[]) => points.map((p) => ({ x: p.threads, y: p.throughput.median / points[0]!.throughput.median, spread: p.throughput.spread / points[0]!.throughput.median }));
    const threads = results.scaling.psi.points.map((p) => p.threads);
    figures.push(
      chart(
        'scaling',
        lineChart('Worker scaling (speedup over one worker)', 'worker threads', 'speedup', [
          { name: 'PSI hashAndBlind', points: speedup(results.scaling.psi.points) },
          { name: 'CKKS Xᵀ[[d]]', points: speedup(results.scaling.matvec.points) },
          { name: 'ideal', points: threads.map((t) => ({ x: t, y: t })), dashed: true },
        ]),
      ),
    );
  }
  if (results.psi) {
    const e2e = results.psi.endToEnd;
    figures.push(
      chart(
        'psi-throughput',
        lineChart(
          'PSI end to end: IDs/s (both sides) by size',
          'IDs per side',
          'IDs per second',
          [
            { name: 'jinqiao x25519', points: e2e.map((e) => ({ x: e.idsPerSide, y: e.idsPerSecond.median, spread: e.idsPerSecond.spread })) },
            { name: 'raw limit', points: e2e.map((e) => ({ x: e.idsPerSide, y: e.rawLimitIdsPerSecond })), dashed: true },
            { name: `FATE/core × ${results.machine.cores}`, points: e2e.map((e) => ({ x: e.idsPerSide, y: ANCHORS[0]!.perCoreValue * results.machine.cores })), dashed: true },
          ],
          { logX: true },
        ),
      ),
    );
  }
  if (results.train && results.baselines) {
    const bars: Bar[] = [];
    for (const e of results.train.epochs) {
      bars.push({ name: `${e.name}: jinqiao CKKS`, value: e.epochSeconds.median });
      bars.push({ name: `${e.name}: plaintext`, value: e.plaintextEpochSeconds.median });
      const p = results.baselines.paillier.find((x) => x.job === e.name);
      if (p) bars.push({ name: `${e.name}: Paillier (extrapolated)`, value: p.estimate.extrapolated.epochSeconds, estimated: true });
    }
    figures.push(chart('epoch', logBarChart('Seconds per training epoch (hatched: extrapolated, one core)', 's', bars)));
  }
  const m = results.machine;
  const sections = SECTIONS.filter((s) => results[s] !== undefined);
  const md = [
    '# Benchmarks',
    '',
    `Generated by \`${results.command}\` on ${results.date.slice(0, 10)} from the run stored in [\`${relative(rootDir, resultsFile)}\`](${relative(reportDir, resultsFile)}) (mode: ${results.mode}, ${n0(results.durationSeconds ?? 0)} s). \`npm run bench:report -- <results.json>\` regenerates this report from the stored run; BENCHMARKS.md at the repository's root is curated from such reports.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')}; commit ${m.gitCommit}${m.gitDirty ? ' (with uncommitted changes)' : ''}. ${results.loadAverage ? ` 1-minute load average ${results.loadAverage.start.toFixed(1)} at the start and ${results.loadAverage.end.toFixed(1)} at the end of the run.` : ''} The machine is shared and noisy: compare ratios measured in the same run rather than absolute figures across runs.`,
    '',
    'How to read: every figure is a median with its spread. For repeated runs (end to end, epochs, scaling) the spread is max − min and tables show median ± half of it; for micro benchmarks (tinybench) it is 2 × the median absolute deviation of the per-iteration samples. Anything extrapolated or not measured here says so.',
    '',
    ...figures.flatMap((f) => [f, '']),
    ...sections.flatMap((s) => [sectionMarkdown(results, s), '']),
  ].join('\n');
  const file = `${stem}.md`;
  writeFileSync(file, md);
  written.push(file);
  return written;
}

if (import.meta.filename === process.argv[1] || basename(process.argv[1] ?? '') === 'report.ts') {
  const resultsFile = process.argv[2] && resolve(process.argv[2]);
  if (!resultsFile) {
    process.stderr.write('usage: node bench/report.ts <bench/results/....json>\n');
    process.exit(2);
  }
  const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as BenchResults;
  for (const f of writeReport(results, resultsFile, join(import.meta.dirname, '..'))) process.stdout.write(`wrote ${f}\n`);
}

/** Serving under load, against the targets of issue 17; a target not met says so. */
function loadMarkdown(l: LoadBench, load: BenchResults['loadAverage']): string {
  const [seq, at8, at32] = l.scoring as [LoadBench['scoring'][number], LoadBench['scoring'][number], LoadBench['scoring'][number]];
  const met = (ok: boolean) => (ok ? 'met' : '**not met**');
  const ms = (v: number) => `${n0(v)} ms`;
  const rssGrowth = Math.max(...l.rssMB.map((r) => Math.max(r.afterScoring, r.afterTraining) - r.afterFirstJob));
  const later = l.rssMB.every((r) => r.afterTrainingLater !== undefined) ? Math.max(...l.rssMB.map((r) => Math.max(r.afterScoring, r.afterTrainingLater!) - r.afterFirstJob)) : undefined;
  const under = l.jobsList.underTraining;
  return [
    '## Serving under load',
    '',
    `Four \`jinqiao serve\` processes (bank, two agencies, platform) on loopback over mutual TLS; a model trained through the bank's API (${l.firstJobSeconds.toFixed(0)} s); each scoring request one enterprise with ${l.decoys} decoys through \`POST /v1/score\`.${load ? ` 1-minute load average ${load.start.toFixed(1)} at the start, ${load.end.toFixed(1)} at the end of the run (2 cores: above 2, the processes competed with other work).` : ''}`,
    '',
    table(
      ['clients', 'requests', 'requests/s', 'vs sequential', 'p50', 'p99', 'errors', 'answers ≠ sequential', 'largest Δ probability'],
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      l.scoring.map((s) => [String(s.clients), n0(s.requests), s.perSecond.toFixed(1), `${s.speedup.toFixed(2)}×`, ms(s.p50Ms), ms(s.p99Ms), s.errors ? `${s.errors} (${Object.entries(s.errorKinds).map(([k, v]) => `${v}× ${k}`).join(', ')})` : '0', String(s.mismatches), s.largestProbabilityDifference === undefined ? '—' : s.largestProbabilityDifference.toExponential(1)]),
    ),
    '',
    table(
      ['service', 'RSS idle', 'after the first job', `after ${n0(l.scoringRequests)} scoring requests`, `after ${l.trainingJobs} training jobs`, '30 s later'],
      ['l', 'r', 'r', 'r', 'r', 'r'],
      l.rssMB.map((r) => [r.party, `${n0(r.idle)} MB`, `${n0(r.afterFirstJob)} MB`, `${n0(r.afterScoring)} MB`, `${n0(r.afterTraining)} MB`, r.afterTrainingLater === undefined ? '—' : `${n0(r.afterTrainingLater)} MB`]),
    ),
    '',
    table(
      ['GET /v1/jobs', 'polls', 'p50', 'p99', 'max'],
      ['l', 'r', 'r', 'r', 'r'],
      [
        ['at rest', n0(l.jobsList.idle.n), ms(l.jobsList.idle.p50Ms), ms(l.jobsList.idle.p99Ms), '—'],
        [`while ${under.concurrentJobs} training jobs run`, n0(under.n), ms(under.p50Ms), ms(under.p99Ms), ms(under.maxMs)],
      ],
    ),
    '',
    table(
      ['target (issue 17)', 'measured', ''],
      ['l', 'l', 'l'],
      [
        ['32 concurrent clients: 0 errors, answers equal to the sequential ones', `${at32.errors} errors, ${at32.mismatches} different`, met(at32.errors === 0 && at32.mismatches === 0)],
        ['32 concurrent clients: p99 ≤ 1 s', ms(at32.p99Ms), met(at32.p99Ms <= 1000)],
        ['8 clients: throughput ≥ 1.5× sequential', `${at8.speedup.toFixed(2)}× (${at8.perSecond.toFixed(1)} against ${seq.perSecond.toFixed(1)} requests/s)`, met(at8.speedup >= 1.5)],
        [`RSS after ${n0(l.scoringRequests)} scoring requests and ${l.trainingJobs} training jobs within 300 MB of its size after the first job`, `largest growth ${n0(rssGrowth)} MB (2 s after the last job)`, met(rssGrowth <= 300)],
        ...(later === undefined ? [] : [['the same, 30 s after the last job', `largest growth ${n0(later)} MB`, met(later <= 300)]]),
        ['GET /v1/jobs p99 ≤ 200 ms while 3 training jobs run', `${ms(under.p99Ms)} (${under.concurrentJobs} running)`, met(under.p99Ms <= 200 && under.concurrentJobs >= 3)],
        ...(l.failedJobs.length ? [['every training job succeeds', `failed: ${l.failedJobs.join(', ')}`, met(false)]] : []),
      ],
    ),
  ].join('\n');
}
