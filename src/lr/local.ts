/**
 * Every party of a training job in one process: the bank (label), one or more agencies
 * (features) and the platform (arbiter), each isolated behind encoded in-memory channels
 * with its own keys, data and state. What `jinqiao train` and `jinqiao run` execute, and
 * what tests, research and the demo use. Outputs are written only after every party has
 * finished, into a temporary folder renamed into place: a failed job leaves no model.
 */
import { randomUUID } from 'node:crypto';
import { errors } from '../errors.ts';
import { agreeOnIdType, loadFeatureTable, partyNameOf, type FeatureTable } from '../data/table.ts';
import { ckksBackend } from '../he/ckks.ts';
import { mockBackend } from '../he/mock.ts';
import type { HeBackend, PublicKeyBundle } from '../he/backend.ts';
import { createParallelEvaluator, type ParallelEvaluator } from '../he/pool.ts';
import type { IdType } from '../ids/normalise.ts';
import { poolExecutor, inlineExecutor } from '../psi/executor.ts';
import { settleParties } from '../psi/local.ts';
import type { Channel } from '../transport/channel.ts';
import { memoryChannelPair, type FrameTap, type MemoryChannel } from '../transport/memory.ts';
import { recordingChannel, type Transcript } from '../transport/transcript.ts';
import { admitJob, type PartyGovernance } from '../governance/gate.ts';
import { resolveTrainingConfig, type TrainingConfig } from './config.ts';
import type { ScoreReport } from './metrics.ts';
import { sliceOf, type ModelSlice } from './model.ts';
import type { ProgressListener } from './progress.ts';
import { heParamsFor, type MatvecRunner } from './protocol.ts';
import { runFeatureParty, type FeaturePartyResult } from './roles/features.ts';
import { runLabelParty, type LabelPartyResult } from './roles/label.ts';
import { runTrainingArbiter } from './roles/training-arbiter.ts';

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
}

export interface LocalTrainingResult {
  readonly config: TrainingConfig;
  readonly idType: IdType;
  readonly alignedRows: number;
  readonly trainRows: number;
  readonly validationRows: number;
  readonly epochsRun: number;
  readonly lossCurve: readonly number[];
  readonly metrics: ScoreReport;
  /** The training rows, as the label file spells their IDs. */
  readonly trainIds: readonly string[];
  /** Validation rows: the label file's IDs, scores and labels. */
  readonly predictions: { readonly ids: readonly string[]; readonly scores: Float64Array; readonly labels: Uint8Array };
  readonly models: readonly ModelSlice[];
  readonly parties: readonly PartySummary[];
  readonly seconds: number;
  readonly timings: LabelPartyResult['timings'];
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
    onProgress: options.onProgress,
    tap: options.tap,
    started,
    governance: options.governance,
    transcript: options.transcript,
  });
}

/** Governance of a job: the declared purpose and, per party name, that party's gate. */
export interface JobGovernance {
  readonly purpose: string;
  readonly parties: ReadonlyMap<string, PartyGovernance>;
}

export interface TablesTrainingOptions {
  readonly label: { readonly table: FeatureTable; readonly name?: string; readonly labelColumn?: string };
  readonly features: readonly { readonly table: FeatureTable; readonly name?: string }[];
  readonly config?: Partial<TrainingConfig>;
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
  const featureNames = uniqueNames(options.features.map((f) => ({ name: f.name, file: f.table.file })));
  const { labelTable, featureTables } = await admitParties(options, config.jobId, labelName, featureNames);
  const idType = agreeOnIdType(config.idType, [labelTable, ...featureTables]);
  const heBackend: HeBackend = config.he === 'mock' ? mockBackend : ckksBackend;
  const params = heParamsFor(config);

  const toFeatures = new Map<string, MemoryChannel>();
  const featureSides: MemoryChannel[] = [];
  const arbiterSides: MemoryChannel[] = [];
  const partyToArbiter: MemoryChannel[] = [];
  for (const name of [labelName, ...featureNames]) {
    const [party, arbiter] = memoryChannelPair(name, 'arbiter', options.tap);
    partyToArbiter.push(party);
    arbiterSides.push(arbiter);
  }
  for (const name of featureNames) {
    const [label, feature] = memoryChannelPair(labelName, name, options.tap);
    toFeatures.set(name, label);
    featureSides.push(feature);
  }

  const threads = config.threads;
  const psiExecutor = threads === 0 ? inlineExecutor() : poolExecutor({ threads });
  const pools = config.he === 'ckks' && threads !== 0 ? new SharedMatvecPool(threads) : undefined;
  try {
    const common = { config, idType, psiExecutor, heBackend, matvec: pools && ((b: PublicKeyBundle) => pools.for(b)) };
    const { transcript } = options;
    const held = (party: string, channel: Channel): Channel => (transcript ? recordingChannel(channel, party, transcript) : channel);
    const labelToFeatures = new Map([...toFeatures].map(([name, c]) => [name, held(labelName, c)]));
    const [label, ...rest] = await settleParties<[LabelPartyResult, ...unknown[]]>([
      runLabelParty({ ...common, table: labelTable, features: labelToFeatures, arbiter: held(labelName, partyToArbiter[0]!), onProgress: options.onProgress }),
      ...featureNames.map((name, k) =>
        runFeatureParty({ ...common, name, table: featureTables[k]!, label: held(name, featureSides[k]!), arbiter: held(name, partyToArbiter[k + 1]!) }),
      ),
      runTrainingArbiter({ backend: heBackend, params, parties: arbiterSides.map((c) => held('arbiter', c)) }),
    ]);
    const features = rest.slice(0, featureNames.length) as FeaturePartyResult[];
    await auditRun(options.governance, config.jobId, labelName, featureNames, label, features);
    const models = [
      sliceOf(config.jobId, labelName, 'label', label, config.sigmoid),
      ...features.map((f, k) => sliceOf(config.jobId, featureNames[k]!, 'features', f, config.sigmoid)),
    ];
    const tables = [labelTable, ...featureTables];
    const parties: PartySummary[] = [labelName, ...featureNames].map((name, i) => ({
      name,
      role: i === 0 ? 'label' : 'features',
      file: tables[i]!.file,
      rowsRead: tables[i]!.rowCount,
      features: tables[i]!.featureNames.length,
      bytesSent: (i === 0 ? [...toFeatures.values()].reduce((s, c) => s + c.bytesSent, 0) : featureSides[i - 1]!.bytesSent) + partyToArbiter[i]!.bytesSent,
    }));
    return {
      config,
      idType,
      alignedRows: label.alignedRows.length,
      trainRows: label.data.trainRows.length,
      validationRows: label.data.validationRows.length,
      epochsRun: label.epochsRun,
      lossCurve: label.lossCurve,
      metrics: label.metrics,
      trainIds: Array.from(label.data.trainRows, (pos) => labelTable.ids[label.alignedRows[pos]!]!.trim()),
      predictions: {
        ids: Array.from(label.validation.rows, (pos) => labelTable.ids[label.alignedRows[pos]!]!.trim()),
        scores: label.validation.scores,
        labels: label.validation.labels,
      },
      models,
      parties,
      seconds: (performance.now() - started) / 1000,
      timings: label.timings,
    };
  } finally {
    await psiExecutor.close();
    await pools?.destroy();
  }
}

function uniqueNames(features: readonly { name?: string; file: string }[]): string[] {
  const names = features.map((f, k) => f.name ?? (partyNameOf(f.file) || `agency-${k + 1}`));
  const seen = new Map<string, number>();
  return names.map((n) => {
    const count = (seen.get(n) ?? 0) + 1;
    seen.set(n, count);
    return count === 1 ? n : `${n}-${count}`;
  });
}

/** One worker pool for Xᵀ[[d]] shared by the parties of an in-process job (they hold the same public keys). */
export class SharedMatvecPool {
  readonly #threads: number | undefined;
  #pool: { key: Uint8Array; evaluator: Promise<ParallelEvaluator> } | undefined;

  constructor(threads: number | undefined) {
    this.#threads = threads;
  }

  for(bundle: PublicKeyBundle): Promise<MatvecRunner> {
    if (this.#pool && Buffer.compare(this.#pool.key, bundle.publicKey) !== 0) {
      throw errors.protocol('parties of one job received different public keys');
    }
    this.#pool ??= { key: bundle.publicKey, evaluator: createParallelEvaluator(bundle, { threads: this.#threads }) };
    return this.#pool.evaluator;
  }

  async destroy(): Promise<void> {
    if (this.#pool) await (await this.#pool.evaluator).destroy();
  }
}

/**
 * Runs every governed party's admission gate before any party sends a message: a refusal
 * stops the job with nothing sent; consent filtering shrinks a party's table to the
 * enterprises whose consent covers the job.
 */
async function admitParties(options: TablesTrainingOptions, jobId: string, labelName: string, featureNames: readonly string[]) {
  const governance = options.governance;
  let labelTable = options.label.table;
  let featureTables = options.features.map((f) => f.table);
  if (!governance) return { labelTable, featureTables };
  const institution = (name: string) => governance.parties.get(name)?.institution ?? name;
  const bankGate = governance.parties.get(labelName);
  if (bankGate) {
    const fields = [...labelTable.featureNames, ...(options.label.labelColumn ? [options.label.labelColumn] : [])];
    labelTable = (await admitJob(bankGate, labelTable, { jobId, purpose: governance.purpose, partners: featureNames.map(institution), fields })).table;
  }
  featureTables = await Promise.all(
    featureTables.map(async (table, k) => {
      const gate = governance.parties.get(featureNames[k]!);
      if (!gate) return table;
      return (await admitJob(gate, table, { jobId, purpose: governance.purpose, partners: [institution(labelName)], fields: table.featureNames })).table;
    }),
  );
  return { labelTable, featureTables };
}

/** Each governed party records the alignment and the training it took part in. */
async function auditRun(governance: JobGovernance | undefined, jobId: string, labelName: string, featureNames: readonly string[], label: LabelPartyResult, features: readonly FeaturePartyResult[]) {
  if (!governance) return;
  const bankLog = governance.parties.get(labelName)?.audit;
  await bankLog?.append('psi.run', { job: jobId, partners: [...featureNames], aligned: label.alignedRows.length });
  await bankLog?.append('training.run', { job: jobId, epochs: label.epochsRun, auc: label.metrics.auc, validationRows: label.validation.rows.length });
  for (const [k, name] of featureNames.entries()) {
    const log = governance.parties.get(name)?.audit;
    await log?.append('psi.run', { job: jobId, partners: [labelName], aligned: features[k]!.alignedRows.length });
    await log?.append('training.run', { job: jobId, epochs: features[k]!.epochsRun });
  }
}
