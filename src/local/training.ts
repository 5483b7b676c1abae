/**
 * Every party of a training job in one process: the bank (label), one or more agencies
 * (features) and the platform (arbiter), each isolated behind encoded in-memory channels
 * with its own keys, data and state, each running the same job runner (src/jobs/) as a
 * party service would. What `jinqiao train` and `jinqiao run` execute, and what tests,
 * research and the demo use. Outputs are moved into place only after every party has
 * finished: a failed job leaves no model.
 */
import type { RoleRunner } from '../jobs/role-threads.ts';
import { randomUUID } from 'node:crypto';
import { errors } from '../errors.ts';
import { loadFeatureTable, partyNameOf, refuseLabelAmongFeatures, type FeatureTable } from '../data/table.ts';
import type { PartyGovernance } from '../governance/gate.ts';
import { ckksBackend } from '../he/ckks.ts';
import { mockBackend } from '../he/mock.ts';
import type { PublicKeyBundle } from '../he/backend.ts';
import { SharedMatvecPool } from '../he/pool.ts';
import type { IdType } from '../ids/normalise.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../lr/config.ts';
import type { ScoreReport } from '../lr/metrics.ts';
import type { ModelSlice } from '../lr/model.ts';
import type { ProgressListener } from '../lr/progress.ts';
import type { MatvecRunner } from '../lr/protocol.ts';
import type { LabelPartyResult } from '../lr/roles/label.ts';
import type { Channel } from '../protocol/channel.ts';
import { inlineExecutor, poolExecutor, type PsiExecutor } from '../psi/executor.ts';
import { memoryChannelPair, type FrameTap, type MemoryChannel } from '../transport/memory.ts';
import { recordingChannel, type Transcript } from '../transport/transcript.ts';
import type { LoadedTable, PartyJobContext, PartyRole } from '../jobs/context.ts';
import { memoryOutputs, stagedOutputs, type StagedOutputs } from '../jobs/output-folder.ts';
import { joinJob, type PartnerOutcome } from '../jobs/partner.ts';
import { trainAsLabel } from '../jobs/training.ts';
import type { LabelJobOutcome } from '../jobs/training-outputs.ts';
import { settleParties } from './settle.ts';
import type { IdSourceReport } from '../psi/source.ts';

export interface TableSpec {
  readonly file: string;
  readonly idColumn: string;
  /** Feature columns; default: every column but the ID (and label) column. */
  readonly features?: readonly string[];
}

export interface LocalTrainingOptions {
  readonly label: TableSpec & { readonly labelColumn: string; readonly name?: string };
  readonly features: readonly (TableSpec & { readonly name?: string })[];
  readonly config?: Partial<TrainingConfig>;
  /** Where the outputs go (every party's files in one folder); default: kept in the result only. */
  readonly out?: string;
  readonly onProgress?: ProgressListener;
  /** Sees every frame on every channel (leak-canary tests, byte counts). */
  readonly tap?: FrameTap;
  readonly governance?: JobGovernance;
  /** Records every message each party receives (`--transcript`). */
  readonly transcript?: Transcript;
}

export interface PartySummary {
  readonly name: string;
  readonly role: 'label' | 'features';
  readonly file: string;
  readonly rowsRead: number;
  readonly features: number;
  readonly bytesSent: number;
  /** IDs alignment skips in this party's table (invalid, empty or repeated), with their first lines. */
  readonly ids: IdSourceReport;
}

/** What the label party's runner reports (src/jobs/training-outputs.ts), with every party's view that only this host has. */
export interface LocalTrainingResult extends Omit<LabelJobOutcome, 'idType' | 'slice' | 'parties'> {
  readonly idType: IdType;
  /** The training rows, as the label file spells their IDs. */
  readonly trainIds: readonly string[];
  readonly models: readonly ModelSlice[];
  /** Every party as this process saw it (the label's own manifest names partners only). */
  readonly parties: readonly PartySummary[];
  /** Every output file, name → text (what `out` received). */
  readonly outputs: ReadonlyMap<string, string>;
  /** Paths written under `out`. */
  readonly files: readonly string[];
}

/** Governance of a job: the declared purpose and, per party name, that party's gate. */
export interface JobGovernance {
  readonly purpose: string;
  readonly parties: ReadonlyMap<string, PartyGovernance>;
}

export async function runLocalTraining(options: LocalTrainingOptions): Promise<LocalTrainingResult> {
  const started = performance.now();
  if (options.features.length === 0) throw errors.optionInvalid('--features', 'at least one feature party is needed');
  const [labelTable, ...featureTables] = await Promise.all([
    loadFeatureTable(options.label.file, { idColumn: options.label.idColumn, labelColumn: options.label.labelColumn, features: options.label.features }),
    ...options.features.map((f) => loadFeatureTable(f.file, { idColumn: f.idColumn, features: f.features })),
  ]);
  return trainOnTables({
    label: { table: labelTable, name: options.label.name, labelColumn: options.label.labelColumn },
    features: featureTables.map((table, k) => ({ table, name: options.features[k]!.name })),
    config: options.config,
    out: options.out,
    onProgress: options.onProgress,
    tap: options.tap,
    started,
    governance: options.governance,
    transcript: options.transcript,
  });
}

export interface TablesTrainingOptions {
  readonly label: { readonly table: FeatureTable; readonly name?: string; readonly labelColumn?: string };
  readonly features: readonly { readonly table: FeatureTable; readonly name?: string }[];
  readonly config?: Partial<TrainingConfig>;
  readonly out?: string;
  readonly onProgress?: ProgressListener;
  readonly tap?: FrameTap;
  /** When the job started (performance.now()), if loading came first. */
  readonly started?: number;
  readonly governance?: JobGovernance;
  readonly transcript?: Transcript;
}

/** The same job on tables already in memory (integrators reading from their own stores; benchmarks). */
export async function trainOnTables(options: TablesTrainingOptions): Promise<LocalTrainingResult> {
  const started = options.started ?? performance.now();
  if (options.features.length === 0) throw errors.optionInvalid('features', 'at least one feature party is needed');
  const config = resolveTrainingConfig({ ...options.config, jobId: options.config?.jobId ?? randomUUID() });
  const labelName = options.label.name ?? 'label';
  const featureNames = uniqueNames(options.features.map((f) => ({ name: f.name, file: f.table.file })), [labelName, ARBITER]);
  const tables = new Map<string, LoadedTable>([
    [labelName, { ...options.label.table, labelColumn: options.label.labelColumn }],
    ...featureNames.map((name, k): [string, LoadedTable] => [name, options.features[k]!.table]),
  ]);
  // Only this host sees every table: the outcome must never reach an agency as a feature.
  refuseLabelAmongFeatures({ ...options.label.table, labelColumn: options.label.labelColumn ?? options.label.table.labelColumn }, options.features.map((f) => f.table));
  const threads = config.threads;
  const psiExecutor = threads === 0 ? inlineExecutor() : poolExecutor({ threads });
  const pools = config.he === 'ckks' && threads !== 0 ? new SharedMatvecPool(threads) : undefined;
  const outputs = options.out === undefined ? memoryOutputs() : stagedOutputs(options.out);
  const wiring = new MemoryWiring(options.tap, options.transcript);
  try {
    const host = (name: string, role: PartyRole): PartyJobContext =>
      memoryPartyContext({
        name,
        role,
        wiring,
        loadTable: async (table) => tables.get(table) ?? Promise.reject(errors.optionInvalid('table', `no table ${table}`)),
        loadModelSlice: () => Promise.reject(errors.protocol('a training job loads no model slice')),
        governance: options.governance,
        psiExecutor,
        matvec: pools && ((b) => pools.for(b)),
        outputs,
        onProgress: role === 'label' ? options.onProgress : undefined,
      });
    const labelRun = trainAsLabel(host(labelName, 'label'), { config, purpose: options.governance?.purpose, labelTable: labelName, features: featureNames.map((party) => ({ party, table: party })), arbiter: ARBITER });
    // The label may stop before it has told anyone of the job (its own input refused): the partners must not wait for it.
    labelRun.catch(() => wiring.closeAll('the label party stopped'));
    const [label, ...partners] = await settleParties<[Awaited<ReturnType<typeof trainAsLabel>>, ...PartnerOutcome[]]>([
      labelRun,
      ...featureNames.map((name) => joinJob(host(name, 'features'), wiring.end(name, labelName))),
      joinJob(host(ARBITER, 'arbiter'), wiring.end(ARBITER, labelName)),
    ]);
    const features = partners.flatMap((p) => (p.role === 'features' && p.kind === 'training' ? [p.result] : []));
    const files = await outputs.commit();
    const parties: PartySummary[] = [labelName, ...featureNames].map((name, i) => {
      const table = tables.get(name)!;
      const ids = i === 0 ? label.idReport : features[i - 1]!.idReport;
      return { name, role: i === 0 ? 'label' : 'features', file: table.file, rowsRead: table.rowCount, features: table.featureNames.length, ids, bytesSent: wiring.bytesSentBy(name) };
    });
    return {
      config,
      idType: label.idType as IdType,
      alignedRows: label.alignedRows,
      trainRows: label.trainRows,
      validationRows: label.validationRows,
      epochsRun: label.epochsRun,
      lossCurve: label.lossCurve,
      metrics: label.metrics,
      trainIds: label.trainIds,
      predictions: label.predictions,
      models: [label.slice, ...features.map((f) => f.slice)],
      parties,
      outputs: new Map(outputs.files),
      files,
      seconds: (performance.now() - started) / 1000,
      timings: label.timings,
    };
  } catch (e) {
    await outputs.discard();
    throw e;
  } finally {
    await psiExecutor.close();
    await pools?.destroy();
  }
}

/** The arbiter's name in an in-process job. */
const ARBITER = 'arbiter';

function uniqueNames(features: readonly { name?: string; file: string }[], reserved: readonly string[]): string[] {
  const names = features.map((f, k) => f.name ?? (partyNameOf(f.file) || `agency-${k + 1}`));
  const seen = new Map<string, number>(reserved.map((r) => [r, 1]));
  return names.map((n) => {
    const count = (seen.get(n) ?? 0) + 1;
    seen.set(n, count);
    return count === 1 ? n : `${n}-${count}`;
  });
}

/** Memory channels between every pair of parties, made on first use from either end. */
export class MemoryWiring {
  readonly #tap: FrameTap | undefined;
  readonly #transcript: Transcript | undefined;
  readonly #pairs = new Map<string, [MemoryChannel, MemoryChannel]>();

  constructor(tap: FrameTap | undefined, transcript?: Transcript) {
    this.#tap = tap;
    this.#transcript = transcript;
  }

  /** `self`'s end of the channel between `self` and `peer`, recorded in the transcript (what `self` receives) if there is one. */
  end(self: string, peer: string): Channel {
    const end = this.#end(self, peer);
    return this.#transcript ? recordingChannel(end, self, this.#transcript) : end;
  }

  #end(self: string, peer: string): MemoryChannel {
    const [a, b] = self < peer ? [self, peer] : [peer, self];
    const key = JSON.stringify([a, b]);
    let pair = this.#pairs.get(key);
    if (!pair) {
      pair = memoryChannelPair(a, b, this.#tap);
      this.#pairs.set(key, pair);
    }
    return pair[self === a ? 0 : 1];
  }

  /** Closes every channel: the parties still waiting on one fail rather than wait forever. */
  closeAll(reason: string): void {
    for (const pair of this.#pairs.values()) for (const end of pair) end.close(reason);
  }

  bytesSentBy(party: string): number {
    let sum = 0;
    for (const pair of this.#pairs.values()) for (const end of pair) if (end.self === party) sum += end.bytesSent;
    return sum;
  }
}

export interface MemoryPartyOptions {
  readonly name: string;
  readonly role: PartyRole;
  readonly wiring: MemoryWiring;
  readonly loadTable: PartyJobContext['loadTable'];
  readonly loadModelSlice: PartyJobContext['loadModelSlice'];
  /** (Arbiter) Where it finds the key it kept for an encrypted model (scoring only). */
  readonly keptKeyFile?: PartyJobContext['keptKeyFile'];
  readonly governance: JobGovernance | undefined;
  readonly psiExecutor: PsiExecutor;
  readonly matvec?: (bundle: PublicKeyBundle) => Promise<MatvecRunner>;
  readonly outputs?: StagedOutputs;
  readonly onProgress?: ProgressListener;
  /** Where the party's roles run (default: this thread). */
  readonly roles?: RoleRunner;
}

/** A party of an in-process job: memory channels, preloaded tables, one output folder for all. */
export function memoryPartyContext(o: MemoryPartyOptions): PartyJobContext {
  const outputs = o.outputs ?? memoryOutputs();
  return {
    name: o.name,
    role: o.role,
    connect: async (partner) => o.wiring.end(o.name, partner),
    loadTable: o.loadTable,
    loadModelSlice: o.loadModelSlice,
    ...(o.keptKeyFile && { keptKeyFile: o.keptKeyFile }),
    institutionOf: (party) => o.governance?.parties.get(party)?.institution ?? party,
    governance: o.governance?.parties.get(o.name),
    psiExecutor: o.psiExecutor,
    heBackendFor: (kind) => (kind === 'mock' ? mockBackend : ckksBackend),
    matvec: () => o.matvec,
    outputs: () => outputs,
    onProgress: () => o.onProgress,
    ...(o.roles && { roles: o.roles }),
  };
}
