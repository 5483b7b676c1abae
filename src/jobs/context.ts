/**
 * What a host gives a party's job runner: how to reach its partners, its tables and model
 * slices, its governance, its workers and where its outputs and checkpoints go. The
 * in-process host (src/local/) backs it with memory channels and preloaded tables; the
 * party service (src/service/) with TLS channels, its configured tables and its job store.
 * The runners (this folder) do the rest, once, for both.
 */
import type { FeatureTable } from '../data/table.ts';
import type { PartyGovernance } from '../governance/gate.ts';
import type { HeBackend, PublicKeyBundle } from '../he/backend.ts';
import type { ModelSlice } from '../lr/model.ts';
import type { ProgressListener } from '../lr/progress.ts';
import type { MatvecRunner } from '../lr/protocol.ts';
import type { Channel } from '../protocol/channel.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import type { OutputFolder } from './output-folder.ts';
import { inThreadRoles, type RoleRunner } from './role-threads.ts';

export type PartyRole = 'label' | 'features' | 'arbiter';

export interface TableColumns {
  /** Read the table's configured 0/1 outcome column (the label party). */
  readonly withLabel: boolean;
  /** Feature columns to read (default: the table's configured or all columns). */
  readonly features?: readonly string[];
}

export interface LoadedTable extends FeatureTable {
  /** The outcome column's name, when it was read. */
  readonly labelColumn?: string;
}

export interface PartyJobContext {
  /** This party's name, as its partners and their certificates know it. */
  readonly name: string;
  readonly role: PartyRole;
  /** The channel to `partner` for job `jobId`: dialled (label → partners, features → arbiter) or awaited (arbiter). */
  connect(partner: string, jobId: string): Promise<Channel>;
  loadTable(table: string, columns: TableColumns): Promise<LoadedTable>;
  /** This party's slice of the model trained by job `jobId`. */
  loadModelSlice(jobId: string): Promise<ModelSlice>;
  /**
   * (Arbiter) Where it keeps the key of job `jobId`, whose weights were kept encrypted
   * (src/lr/kept-key.ts: `arbiter-key.secret` among that job's outputs).
   */
  keptKeyFile?(jobId: string): string;
  /**
   * The one role this party's configuration binds to `party` (undefined: none). Absent when
   * the host binds no roles (the in-process host runs every party of one job definition).
   */
  roleOf?(party: string): PartyRole | undefined;
  /**
   * Where this party keeps `partner`'s audit anchors (JSON Lines), exchanged at each job's
   * end (anchors.ts); undefined: the host keeps none.
   */
  anchorsFile?(partner: string): string | undefined;
  /** The institution a partner is, as this party's policy names it. */
  institutionOf(party: string): string;
  readonly governance: PartyGovernance | undefined;
  readonly psiExecutor: PsiExecutor;
  /** The HE backend a job asks for; a host may refuse 'mock' (plaintext, for tests only). */
  heBackendFor(kind: 'ckks' | 'mock'): HeBackend;
  /** Worker pools for Xᵀ[[d]] holding a job's public keys (undefined: the party's own evaluator). */
  matvec(jobId: string, threads: number | undefined): ((bundle: PublicKeyBundle) => Promise<MatvecRunner>) | undefined;
  outputs(jobId: string): OutputFolder;
  readonly onProgress?: (jobId: string) => ProgressListener | undefined;
  /**
   * Where each role's protocol runs (role-threads.ts): a service gives each its own worker
   * thread, retired when the role ends, so the job's CKKS memory goes with it. Absent: this thread.
   */
  readonly roles?: RoleRunner;
  /** (Label) The partners whose operators job `jobId` now waits for (empty: none any more). */
  readonly onAwaitingApproval?: (jobId: string, parties: readonly string[]) => void;
}

/** Where the host runs a role's protocol: its worker threads, or this thread. */
export function rolesOf(ctx: PartyJobContext): RoleRunner {
  return ctx.roles ?? inThreadRoles;
}
