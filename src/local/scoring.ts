/**
 * Joint scoring with every party in one process: the bank, its agencies and the arbiter,
 * each with the model slice it kept from training and its current records, behind
 * encoded in-memory channels, each running the same session runner (src/jobs/scoring.ts)
 * as a party service would. A session stays open across requests (keys made once);
 * `close()` ends every party.
 */
import type { RoleRunner } from '../jobs/role-threads.ts';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { loadFeatureTable, partyNameOf } from '../data/table.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { resolveTrainingConfig } from '../lr/config.ts';
import { KEPT_KEY_FILE } from '../lr/kept-key.ts';
import { loadModelSlice, type ModelSlice } from '../lr/model.ts';
import { inlineExecutor, poolExecutor } from '../psi/executor.ts';
import type { FrameTap } from '../transport/memory.ts';
import type { PartyRole } from '../jobs/context.ts';
import { joinJob, type PartnerOutcome } from '../jobs/partner.ts';
import { openScoringAsBank, type AnchorSchedule } from '../jobs/scoring.ts';
import type { AgencyScoringReport } from '../score/agency.ts';
import type { MonitoringScores, EnterpriseScore, ScoreRequestOptions } from '../score/bank.ts';
import { settleParties } from './settle.ts';
import { binIndicatorTable, type BinningFile } from '../binning/scorecard.ts';
import { memoryPartyContext, MemoryWiring, type JobGovernance } from './training.ts';

export interface ScoringPartySpec {
  readonly file: string;
  readonly idColumn: string;
  /** Party name; must match a model slice's `party` (default: the file's base name, as in training). */
  readonly name?: string;
}

export interface LocalScoringOptions {
  /** A training output folder: model-<party>.json files. */
  readonly modelDir: string;
  readonly bank: ScoringPartySpec;
  readonly agencies: readonly ScoringPartySpec[];
  readonly idType?: IdTypeOption;
  /** 'mock' is INSECURE and for protocol tests only. */
  readonly he?: 'ckks' | 'mock';
  readonly threads?: number;
  readonly tap?: FrameTap;
  /** The bank's persistent decoy key (32 bytes, `loadOrCreateDecoyKey`): needed for requests with decoys. */
  readonly decoyKey?: Uint8Array;
  /**
   * Agencies (by name) whose operators allow the bank to see scores that reveal their
   * partial score (enterprises only they hold), standing in for their policies when the
   * session is not governed; a governed agency's policy decides (`disclosePartialScores`).
   */
  readonly disclosePartialScores?: readonly string[];
  /** Purpose and per-party gates: checked before the session sends anything; queries are audited. */
  readonly governance?: JobGovernance;
  /** Agencies' partial scores of their previous monitoring run, by agency name. */
  readonly previousAgencyMonitoring?: ReadonlyMap<string, Float64Array>;
  /**
   * The binning.json a scorecard model was trained on: each party encodes its own current
   * records as the same bin indicators (its own part only), as in training.
   */
  readonly binning?: BinningFile;
  /** Where every party's part of the session runs (default: this thread; tests give role threads). */
  readonly roles?: RoleRunner;
  /** How often the session exchanges audit anchors besides at its close (default `ANCHOR_EVERY`: 100 requests, 5 minutes). */
  readonly anchorEvery?: AnchorSchedule;
}

export interface LocalScoringSession {
  score(ids: readonly string[], options?: ScoreRequestOptions): Promise<readonly EnterpriseScore[]>;
  monitor(): Promise<MonitoringScores>;
  /** Ends every party; returns each agency's report (its last monitoring partials stay with it). */
  close(): Promise<ReadonlyMap<string, AgencyScoringReport>>;
}

const BANK = 'bank';
const ARBITER = 'arbiter';

export async function openLocalScoringSession(options: LocalScoringOptions): Promise<LocalScoringSession> {
  const slices = await loadSlices(options.modelDir);
  const bankSlice = slices.find((s) => s.role === 'label');
  if (!bankSlice) throw errors.modelInvalid(options.modelDir, 'holds no model slice of a label party (model-*.json with role "label")');
  const agencyNames = options.agencies.map((a) => a.name ?? partyNameOf(a.file));
  const sliceOf = (name: string, role: ModelSlice['role']): ModelSlice => {
    const slice = role === 'label' ? bankSlice : slices.find((s) => s.role === 'features' && s.party === name);
    if (!slice) throw errors.modelInvalid(options.modelDir, `holds no model slice for agency "${name}" (slices: ${slices.map((s) => s.party).join(', ')})`);
    if (slice.jobId !== bankSlice.jobId) throw errors.modelInvalid(options.modelDir, `the slice of ${slice.party} belongs to job ${slice.jobId}, the bank's to job ${bankSlice.jobId}`);
    return slice;
  };
  for (const name of agencyNames) sliceOf(name, 'features');
  // Slices written before the label's slice named its partners: every agency slice in the folder is a partner.
  const partners = bankSlice.partners ?? slices.filter((s) => s.role === 'features').map((s) => s.party);
  const missing = partners.filter((p) => !agencyNames.includes(p));
  if (missing.length > 0) {
    throw errors.optionInvalid('--features', `the model in ${options.modelDir} was trained with ${partners.join(', ')}; missing: ${missing.join(', ')}`, 'give every agency of the training job (a missing agency would silently change every score)');
  }
  const files = new Map<string, { file: string; idColumn: string }>([[BANK, options.bank], ...agencyNames.map((name, k): [string, { file: string; idColumn: string }] => [name, options.agencies[k]!])]);
  const config = resolveTrainingConfig({ jobId: bankSlice.jobId, idType: options.idType ?? 'auto', he: options.he ?? 'ckks', threads: options.threads });
  const psiExecutor = options.threads === 0 ? inlineExecutor() : poolExecutor({ threads: options.threads });
  const wiring = new MemoryWiring(options.tap);
  const host = (name: string, role: PartyRole) =>
    memoryPartyContext({
      name,
      role,
      wiring,
      loadTable: async (table, columns) => {
        const source = files.get(table)!;
        const party = table === BANK ? bankSlice.party : table;
        const binned = options.binning?.get(party);
        if (!binned) return loadFeatureTable(source.file, { idColumn: source.idColumn, features: columns.features });
        const encoded = binIndicatorTable(await loadFeatureTable(source.file, { idColumn: source.idColumn, features: binned.map((f) => f.name) }), binned, party);
        if (columns.features && columns.features.join('\n') !== encoded.featureNames.join('\n')) {
          throw errors.modelInvalid(options.modelDir, `the model of ${party} was not trained on the bins of this binning.json (its features: ${columns.features.slice(0, 5).join(', ')}…)`);
        }
        return encoded;
      },
      loadModelSlice: async () => sliceOf(name, role === 'label' ? 'label' : 'features'),
      // Every party is this process: the key the arbiter kept is in the model folder (kept-key.ts).
      keptKeyFile: () => join(options.modelDir, KEPT_KEY_FILE),
      governance: options.governance,
      psiExecutor,
      ...(options.roles && { roles: options.roles }),
    });
  const sessionId = `scoring/${bankSlice.jobId}`;
  const partnerRuns = [
    ...agencyNames.map((name) => joinJob(host(name, 'features'), wiring.end(name, BANK), { previousMonitoring: options.previousAgencyMonitoring?.get(name), disclosePartialScores: options.disclosePartialScores?.includes(name) ?? false })),
    joinJob(host(ARBITER, 'arbiter'), wiring.end(ARBITER, BANK)),
  ];
  const everyone = settleParties<PartnerOutcome[]>(partnerRuns);
  everyone.catch(() => {});
  // A request refused before any message (a malformed ID) leaves the session open; a failed
  // protocol step ends every party, and the error reported is the root cause among them.
  const rootCause = async (e: unknown): Promise<never> => {
    wiring.closeAll('the bank stopped');
    await psiExecutor.close();
    throw await everyone.then(() => e, (cause: unknown) => cause);
  };
  const bank = await openScoringAsBank(host(BANK, 'label'), {
    sessionId,
    modelJobId: bankSlice.jobId,
    purpose: options.governance?.purpose,
    labelTable: BANK,
    features: agencyNames.map((party) => ({ party, table: party })),
    arbiter: ARBITER,
    config,
    decoyKey: options.decoyKey,
    ...(options.anchorEvery && { anchorEvery: options.anchorEvery }),
  }).catch(rootCause);
  const failed = (e: unknown): Promise<never> => (bank.failed ? rootCause(e) : Promise.reject(e));
  return {
    score: (ids, requestOptions) => bank.score(ids, requestOptions).catch(failed),
    monitor: () => bank.monitor().catch(failed),
    async close() {
      await bank.close();
      const outcomes = await everyone;
      await psiExecutor.close();
      return new Map(outcomes.flatMap((o) => (o.role === 'features' && o.kind === 'scoring' ? [[o.spec.table, o.report] as const] : [])));
    },
  };
}

async function loadSlices(dir: string): Promise<ModelSlice[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => /^model-.*\.json$/.test(f));
  } catch {
    throw errors.modelInvalid(dir, 'no such model folder (the --out folder of a training job)');
  }
  if (files.length === 0) throw errors.modelInvalid(dir, 'holds no model-*.json slice; train first');
  return Promise.all(files.map((f) => loadModelSlice(join(dir, f))));
}
