/**
 * Every party of a binning job in one process: the bank (label), one or more agencies
 * (features) and the platform (arbiter), each behind encoded in-memory channels with its
 * own keys, data and state, wired as training wires them (../lr/local.ts). What
 * `jinqiao bin` runs, and what tests and benchmarks use.
 *
 * The result joins what each party holds: an agency's edges and feature names come from
 * the agency's own result, its bins' counts and WOE from the bank's. In production each
 * party keeps its own part; only this in-process host sees both.
 */
import { randomUUID } from 'node:crypto';
import { agreeOnIdType, loadFeatureTable, partyNameOf, type FeatureTable } from '../data/table.ts';
import { errors } from '../errors.ts';
import { ckksBackend } from '../he/ckks.ts';
import { mockBackend } from '../he/mock.ts';
import type { PublicKeyBundle } from '../he/backend.ts';
import type { IdType } from '../ids/normalise.ts';
import { SharedMatvecPool } from '../he/pool.ts';
import { runArbiter } from '../lr/roles/arbiter.ts';
import { inlineExecutor, poolExecutor } from '../psi/executor.ts';
import { settleParties } from '../local/settle.ts';
import { memoryChannelPair, type FrameTap, type MemoryChannel } from '../transport/memory.ts';
import { binningParams, resolveBinningConfig, type BinningConfig } from './config.ts';
import { runBinningFeatureParty, type BinningFeaturePartyResult } from './roles/features.ts';
import { runBinningLabelParty, type BinningLabelPartyResult } from './roles/label.ts';
import { screenBankFeatures, type BankScreening } from './screening.ts';
import type { BinStatistics } from './woe.ts';

export interface BinningTableSpec {
  readonly file: string;
  readonly idColumn: string;
  readonly features?: readonly string[];
  readonly name?: string;
}

export interface InProcessBinningOptions {
  readonly label: BinningTableSpec & { readonly labelColumn: string };
  readonly features: readonly BinningTableSpec[];
  readonly config?: Partial<Omit<BinningConfig, 'rule'>> & { rule?: Partial<BinningConfig['rule']> };
  /** Sees every frame on every channel (leak canaries, attacks, byte counts). */
  readonly tap?: FrameTap;
}

export interface BinnedFeature {
  readonly name: string;
  /** bins + 1 edges, −∞ and +∞ at the ends. */
  readonly edges: readonly number[];
  readonly bins: readonly BinStatistics[];
  readonly missing: BinStatistics | null;
  readonly iv: number;
}

export interface BinnedParty {
  readonly party: string;
  readonly role: 'label' | 'features';
  readonly features: readonly BinnedFeature[];
}

export interface BinningResult {
  readonly config: BinningConfig;
  readonly idType: IdType;
  readonly rows: number;
  readonly bads: number;
  readonly parties: readonly BinnedParty[];
  /** Correlation and VIF among the bank's own features (computed in the clear, by the bank). */
  readonly bankScreening: BankScreening;
  /** What each agency learnt back: the IV of each of its features. */
  readonly ivSentToAgencies: ReadonlyMap<string, readonly number[]>;
  readonly bytesSent: number;
  readonly seconds: number;
}

export async function runBinningInProcess(options: InProcessBinningOptions): Promise<BinningResult> {
  const started = performance.now();
  if (options.features.length === 0) throw errors.optionInvalid('--features', 'at least one feature party is needed');
  const [labelTable, ...featureTables] = await Promise.all([
    loadFeatureTable(options.label.file, { idColumn: options.label.idColumn, labelColumn: options.label.labelColumn, features: options.label.features }),
    ...options.features.map((f) => loadFeatureTable(f.file, { idColumn: f.idColumn, features: f.features })),
  ]);
  return binTables({ label: { table: labelTable, name: options.label.name }, features: featureTables.map((table, k) => ({ table, name: options.features[k]!.name })), config: options.config, tap: options.tap, started });
}

export interface TablesBinningOptions {
  readonly label: { readonly table: FeatureTable; readonly name?: string };
  readonly features: readonly { readonly table: FeatureTable; readonly name?: string }[];
  readonly config?: InProcessBinningOptions['config'];
  readonly tap?: FrameTap;
  readonly started?: number;
}

/** The same job on tables already in memory (benchmarks, integrators). */
export async function binTables(options: TablesBinningOptions): Promise<BinningResult> {
  const started = options.started ?? performance.now();
  const config = resolveBinningConfig({ ...options.config, jobId: options.config?.jobId ?? randomUUID() });
  const labelTable = options.label.table;
  const featureTables = options.features.map((f) => f.table);
  const labelName = options.label.name ?? 'label';
  const featureNames = partyNames(options.features.map((f) => ({ name: f.name, file: f.table.file })));
  const idType = agreeOnIdType(config.idType, [labelTable, ...featureTables]);
  const heBackend = config.he === 'mock' ? mockBackend : ckksBackend;

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
    const common = { config, idType, psiExecutor, heBackend };
    const [label, ...rest] = await settleParties<[BinningLabelPartyResult, ...unknown[]]>([
      runBinningLabelParty({ ...common, table: labelTable, features: toFeatures, arbiter: partyToArbiter[0]! }),
      ...featureNames.map((name, k) =>
        runBinningFeatureParty({ ...common, name, table: featureTables[k]!, label: featureSides[k]!, arbiter: partyToArbiter[k + 1]!, matvec: pools && ((b: PublicKeyBundle) => pools.for(b)) }),
      ),
      runArbiter({ backend: heBackend, params: binningParams(config), parties: arbiterSides }),
    ]);
    const agencies = rest.slice(0, featureNames.length) as BinningFeaturePartyResult[];
    const parties: BinnedParty[] = [
      {
        party: labelName,
        role: 'label',
        features: label.own.map(({ name, bins, evidence }) => ({ name, edges: bins.edges, ...evidence })),
      },
      ...featureNames.map((party, k): BinnedParty => {
        const evidence = label.agencies.get(party)!;
        return { party, role: 'features', features: agencies[k]!.features.map(({ name, bins }, j) => ({ name, edges: bins.edges, ...evidence[j]! })) };
      }),
    ];
    return {
      config,
      idType,
      rows: label.alignedRows.length,
      bads: label.bads,
      parties,
      bankScreening: screenBankFeatures(labelTable, label.alignedRows, label.own.map(({ name }) => name)),
      ivSentToAgencies: new Map(featureNames.map((name, k) => [name, agencies[k]!.iv])),
      bytesSent: [...toFeatures.values(), ...featureSides, ...partyToArbiter].reduce((s, c) => s + c.bytesSent, 0),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await psiExecutor.close();
    await pools?.destroy();
  }
}

/** Parties named as training names them (a file's base name, `-2` on a repeat), so a scorecard job finds its bins. */
export function partyNames(features: readonly { name?: string; file: string }[]): string[] {
  const names = features.map((f, k) => f.name ?? (partyNameOf(f.file) || `agency-${k + 1}`));
  const seen = new Map<string, number>();
  return names.map((n) => {
    const count = (seen.get(n) ?? 0) + 1;
    seen.set(n, count);
    return count === 1 ? n : `${n}-${count}`;
  });
}
