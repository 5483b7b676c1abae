/**
 * Both parties of a PSI in one process, isolated from each other: separate scalars and
 * state, only encoded channel messages between them. What `jinqiao psi` runs, and what
 * tests, research and the demo use.
 */
import { randomUUID } from 'node:crypto';
import type { CsvOptions } from '../data/csv.ts';
import { errors } from '../errors.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { memoryChannelPair, type FrameTap } from '../transport/memory.ts';
import { DEFAULT_BACKEND } from '../psi/backends/index.ts';
import { runPsiParty, type Reveal } from '../psi/ecdh.ts';
import { inlineExecutor, poolExecutor, type PsiExecutor } from '../psi/executor.ts';
import type { BackendName } from '../psi/group.ts';
import { openIdSource, type IdSourceReport } from '../psi/source.ts';
import { settleParties } from './settle.ts';

export interface LocalPsiOptions {
  readonly left: { readonly file: string; readonly idColumn: string; readonly encoding?: CsvOptions['encoding'] };
  readonly right: { readonly file: string; readonly idColumn: string; readonly encoding?: CsvOptions['encoding'] };
  readonly idType?: IdTypeOption;
  readonly reveal?: Reveal;
  readonly backend?: BackendName;
  /** Worker threads; 0 runs inline on the main thread. Defaults to the machine's cores. */
  readonly threads?: number;
  readonly strict?: boolean;
  readonly jobId?: string;
  /** Sees every frame on the channel (leak-canary tests, byte counts). */
  readonly tap?: FrameTap;
  /** Share an executor across runs (benchmarks); it is not closed here. */
  readonly executor?: PsiExecutor;
  /** Both sides send at least this many values (dummies hide their set sizes; `--pad-to`). */
  readonly padTo?: number;
}

export interface LocalPsiResult {
  readonly jobId: string;
  readonly backend: BackendName;
  readonly idType: string;
  /** Size of the intersection. */
  readonly intersection: number;
  readonly left: IdSourceReport;
  readonly right: IdSourceReport;
  /** Line numbers of the intersection in each file, in the canonical order (undefined for cardinality only). */
  readonly leftLines: Uint32Array | undefined;
  readonly rightLines: Uint32Array | undefined;
  readonly seconds: number;
  /** IDs read on both sides per second, end to end. */
  readonly idsPerSecond: number;
  readonly bytesSent: { readonly left: number; readonly right: number };
}

export async function runLocalPsi(options: LocalPsiOptions): Promise<LocalPsiResult> {
  const started = performance.now();
  const jobId = options.jobId ?? randomUUID();
  const backend = options.backend ?? DEFAULT_BACKEND;
  const reveal = options.reveal ?? 'both';
  const [leftSource, rightSource] = await Promise.all([
    openIdSource({ ...options.left, idType: options.idType, strict: options.strict }),
    openIdSource({ ...options.right, idType: options.idType, strict: options.strict }),
  ]);
  if (leftSource.idType !== rightSource.idType) {
    throw errors.optionInvalid(
      '--id-type',
      `${options.left.file} holds ${leftSource.idType} IDs but ${options.right.file} holds ${rightSource.idType} IDs`,
      'pass --id-type uscc or --id-type plain so that both sides normalise IDs the same way',
    );
  }
  const executor = options.executor ?? (options.threads === 0 ? inlineExecutor() : poolExecutor({ threads: options.threads }));
  const [leftChannel, rightChannel] = memoryChannelPair('left', 'right', options.tap);
  try {
    const common = { jobId, backend, idType: leftSource.idType, reveal, executor, padTo: options.padTo };
    const [l, r] = await settleParties([
      runPsiParty({ ...common, channel: leftChannel, side: 'left', onDuplicate: (a, b) => leftSource.duplicate(a, b) }, leftSource.batches),
      runPsiParty({ ...common, channel: rightChannel, side: 'right', onDuplicate: (a, b) => rightSource.duplicate(a, b) }, rightSource.batches),
    ]);
    const seconds = (performance.now() - started) / 1000;
    return {
      jobId,
      backend,
      idType: leftSource.idType,
      intersection: l.intersectionSize ?? r.intersectionSize ?? 0,
      left: leftSource.report,
      right: rightSource.report,
      leftLines: l.rows,
      rightLines: r.rows,
      seconds,
      idsPerSecond: (leftSource.report.rowsRead + rightSource.report.rowsRead) / seconds,
      bytesSent: { left: leftChannel.bytesSent, right: rightChannel.bytesSent },
    };
  } finally {
    if (!options.executor) await executor.close();
  }
}
