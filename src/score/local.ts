/**
 * Joint scoring with every party in one process: the bank, its agencies and the arbiter,
 * each with the model slice it kept from training and its current records, behind
 * encoded in-memory channels. A session stays open across requests (keys made once), as a
 * party service would; `close()` ends every party.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { agreeOnIdType, loadFeatureTable, partyNameOf } from '../data/table.ts';
import { ckksBackend } from '../he/ckks.ts';
import { mockBackend } from '../he/mock.ts';
import { DEGREE1_PARAMS } from '../he/params.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { loadModelSlice, type ModelSlice } from '../lr/model.ts';
import { runArbiter } from '../lr/roles/arbiter.ts';
import { inlineExecutor, poolExecutor } from '../psi/executor.ts';
import { DEFAULT_BACKEND } from '../psi/backends/index.ts';
import { settleParties } from '../psi/local.ts';
import { memoryChannelPair, type FrameTap, type MemoryChannel } from '../transport/memory.ts';
import { admitJob } from '../governance/gate.ts';
import type { JobGovernance } from '../lr/local.ts';
import { serveScoring, type AgencyScoringReport } from './agency.ts';
import { BankScoringSession, type MonitoringScores, type EnterpriseScore, type ScoreRequestOptions } from './bank.ts';

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
}

export interface LocalScoringSession {
  score(ids: readonly string[], options?: ScoreRequestOptions): Promise<readonly EnterpriseScore[]>;
  monitor(): Promise<MonitoringScores>;
  /** Ends every party; returns each agency's report (its last monitoring partials stay with it). */
  close(): Promise<ReadonlyMap<string, AgencyScoringReport>>;
}

export async function openLocalScoringSession(options: LocalScoringOptions): Promise<LocalScoringSession> {
  const slices = await loadSlices(options.modelDir);
  const bankSlice = slices.find((s) => s.role === 'label');
  if (!bankSlice) throw errors.modelInvalid(options.modelDir, 'holds no model slice of a label party (model-*.json with role "label")');
  const agencyNames = options.agencies.map((a) => a.name ?? partyNameOf(a.file));
  const agencySlices = agencyNames.map((name) => {
    const slice = slices.find((s) => s.role === 'features' && s.party === name);
    if (!slice) throw errors.modelInvalid(options.modelDir, `holds no model slice for agency "${name}" (slices: ${slices.map((s) => s.party).join(', ')})`);
    return slice;
  });
  for (const slice of agencySlices) {
    if (slice.jobId !== bankSlice.jobId) throw errors.modelInvalid(options.modelDir, `the slice of ${slice.party} belongs to job ${slice.jobId}, the bank's to job ${bankSlice.jobId}`);
  }
  const [bankTable, ...agencyTables] = await Promise.all([
    loadFeatureTable(options.bank.file, { idColumn: options.bank.idColumn, features: bankSlice.featureNames }),
    ...options.agencies.map((a, k) => loadFeatureTable(a.file, { idColumn: a.idColumn, features: agencySlices[k]!.featureNames })),
  ]);
  const idType = agreeOnIdType(options.idType ?? 'auto', [bankTable, ...agencyTables]);
  const governance = options.governance;
  const gate = (name: string) => governance?.parties.get(name);
  const institution = (name: string) => gate(name)?.institution ?? name;
  const discloses = agencyNames.map((name) => options.disclosePartialScores?.includes(name) ?? false);
  if (governance) {
    const session = `scoring/${bankSlice.jobId}`;
    const bankGate = gate('bank');
    if (bankGate) await admitJob(bankGate, bankTable, { jobId: session, purpose: governance.purpose, partners: agencyNames.map(institution), fields: bankSlice.featureNames });
    for (const [k, name] of agencyNames.entries()) {
      const agencyGate = gate(name);
      const participants = ['bank', ...agencyNames.filter((_, other) => other !== k)].map(institution);
      if (!agencyGate) continue;
      const admitted = await admitJob(agencyGate, agencyTables[k]!, { jobId: session, purpose: governance.purpose, partners: [institution('bank')], participants, fields: agencySlices[k]!.featureNames });
      agencyTables[k] = admitted.table;
      discloses[k] = admitted.disclosePartialScores;
    }
  }
  const heBackend = options.he === 'mock' ? mockBackend : ckksBackend;
  const psiExecutor = options.threads === 0 ? inlineExecutor() : poolExecutor({ threads: options.threads });
  const toAgencies = new Map<string, MemoryChannel>();
  const arbiterSides: MemoryChannel[] = [];
  const partyToArbiter: MemoryChannel[] = [];
  for (const name of ['bank', ...agencyNames]) {
    const [party, arbiter] = memoryChannelPair(name, 'arbiter', options.tap);
    partyToArbiter.push(party);
    arbiterSides.push(arbiter);
  }
  const agencyRuns = agencyNames.map((name, k) => {
    const [bankSide, agencySide] = memoryChannelPair('bank', name, options.tap);
    toAgencies.set(name, bankSide);
    return serveScoring({
      name,
      slice: agencySlices[k]!,
      table: agencyTables[k]!,
      bank: agencySide,
      arbiter: partyToArbiter[k + 1]!,
      heBackend,
      psiExecutor,
      idType,
      psiBackend: DEFAULT_BACKEND,
      previousMonitoring: options.previousAgencyMonitoring?.get(name),
      audit: gate(name)?.audit,
      disclosePartialScores: discloses[k],
    });
  });
  const params = { ...DEGREE1_PARAMS, scheme: heBackend.name };
  const arbiterRun = runArbiter({ backend: heBackend, params, parties: arbiterSides });
  const everyone = settleParties([...agencyRuns, arbiterRun]);
  everyone.catch(() => {});
  const bank = new BankScoringSession({ slice: bankSlice, table: bankTable, agencies: toAgencies, arbiter: partyToArbiter[0]!, heBackend, psiExecutor, idType, psiBackend: DEFAULT_BACKEND, decoyKey: options.decoyKey, audit: gate('bank')?.audit });
  // A request refused before any message (a malformed ID) leaves the session open; a failed
  // protocol step ends every party, and the error reported is the root cause among them.
  const failed = async (e: unknown): Promise<never> => {
    if (!bank.failed) throw e;
    await psiExecutor.close();
    throw await everyone.then(() => e, (rootCause: unknown) => rootCause);
  };
  await bank.open().catch(failed);
  return {
    score: (ids, requestOptions) => bank.score(ids, requestOptions).catch(failed),
    monitor: () => bank.monitor().catch(failed),
    async close() {
      await bank.close();
      const results = (await everyone) as AgencyScoringReport[];
      await psiExecutor.close();
      return new Map(agencyNames.map((name, k) => [name, results[k]!]));
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
