/**
 * Every party of a binning job in one process: the bank (label), one or more agencies
 * (features) and the platform (arbiter), each behind encoded in-memory channels with its
 * own keys, data and state, each running the job runner of its role (src/jobs/binning.ts)
 * as a training job's parties run theirs (src/local/training.ts): with `governance`, every
 * party's admission gate decides before any data-derived message moves. What `jinqiao bin`
 * and a job file's `binning:` section run, and what tests and benchmarks use.
 *
 * The result joins what each party holds: an agency's edges and feature names come from
 * the agency's own result, its bins' counts and WOE from the bank's. In production each
 * party keeps its own part; only this in-process host sees both.
 */
import { randomUUID } from 'node:crypto';
import { agreeOnIdType, loadFeatureTable, partyNameOf, type FeatureTable } from '../data/table.ts';
import { errors } from '../errors.ts';
import { SharedMatvecPool } from '../he/pool.ts';
import type { IdType } from '../ids/normalise.ts';
import { binAsLabel, type LabelBinningResult } from '../jobs/binning.ts';
import type { LoadedTable, PartyRole } from '../jobs/context.ts';
import { joinJob, type PartnerOutcome } from '../jobs/partner.ts';
import { inlineExecutor, poolExecutor } from '../psi/executor.ts';
import { settleParties } from '../local/settle.ts';
import { MemoryWiring, memoryPartyContext, type JobGovernance } from '../local/training.ts';
import type { FrameTap } from '../transport/memory.ts';
import { resolveBinningConfig, type BinningConfig } from './config.ts';
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
  /** The declared purpose and each party's gate: the job is admitted as a training job is (src/jobs/admission.ts). */
  readonly governance?: JobGovernance;
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
  return binTables({ label: { table: labelTable, name: options.label.name }, features: featureTables.map((table, k) => ({ table, name: options.features[k]!.name })), config: options.config, tap: options.tap, governance: options.governance, started });
}

export interface TablesBinningOptions {
  readonly label: { readonly table: FeatureTable; readonly name?: string };
  readonly features: readonly { readonly table: FeatureTable; readonly name?: string }[];
  readonly config?: InProcessBinningOptions['config'];
  readonly tap?: FrameTap;
  readonly governance?: JobGovernance;
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
  const tables = new Map<string, LoadedTable>([[labelName, labelTable], ...featureNames.map((name, k): [string, LoadedTable] => [name, featureTables[k]!])]);
  const threads = config.threads;
  const psiExecutor = threads === 0 ? inlineExecutor() : poolExecutor({ threads });
  const pools = config.he === 'ckks' && threads !== 0 ? new SharedMatvecPool(threads) : undefined;
  const wiring = new MemoryWiring(options.tap);
  try {
    const host = (name: string, role: PartyRole) =>
      memoryPartyContext({
        name,
        role,
        wiring,
        loadTable: async (table) => tables.get(table) ?? Promise.reject(errors.optionInvalid('table', `no table ${table}`)),
        loadModelSlice: () => Promise.reject(errors.protocol('a binning job loads no model slice')),
        governance: options.governance,
        psiExecutor,
        matvec: pools && ((b) => pools.for(b)),
      });
    // Every party reads IDs by the rule agreed above, as `jinqiao bin` always has.
    const labelRun = binAsLabel(host(labelName, 'label'), { config: { ...config, idType }, purpose: options.governance?.purpose, labelTable: labelName, features: featureNames.map((party) => ({ party, table: party })), arbiter: ARBITER });
    // The label may stop before it has told anyone of the job (its own gate refused): the partners must not wait for it.
    labelRun.catch(() => wiring.closeAll('the label party stopped'));
    const [label, ...partners] = await settleParties<[LabelBinningResult, ...PartnerOutcome[]]>([
      labelRun,
      ...featureNames.map((name) => joinJob(host(name, 'features'), wiring.end(name, labelName))),
      joinJob(host(ARBITER, 'arbiter'), wiring.end(ARBITER, labelName)),
    ]);
    const agencies = partners.flatMap((p) => (p.role === 'features' && p.kind === 'binning' ? [p.result.protocol] : []));
    const own = label.protocol.own;
    const parties: BinnedParty[] = [
      { party: labelName, role: 'label', features: own.map(({ name, bins, evidence }) => ({ name, edges: bins.edges, ...evidence })) },
      ...featureNames.map((party, k): BinnedParty => {
        const evidence = label.protocol.agencies.get(party)!;
        return { party, role: 'features', features: agencies[k]!.features.map(({ name, bins }, j) => ({ name, edges: bins.edges, ...evidence[j]! })) };
      }),
    ];
    return {
      config,
      idType,
      rows: label.protocol.alignedRows.length,
      bads: label.protocol.bads,
      parties,
      bankScreening: screenBankFeatures(label.table, label.protocol.alignedRows, own.map(({ name }) => name)),
      bytesSent: [labelName, ...featureNames, ARBITER].reduce((s, name) => s + wiring.bytesSentBy(name), 0),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await psiExecutor.close();
    await pools?.destroy();
  }
}

/** The arbiter's name in an in-process job. */
const ARBITER = 'arbiter';

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
