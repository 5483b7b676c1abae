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
import type { OprfKey } from '../lookup/oprf-key.ts';
import type { TagFileHeader } from '../lookup/tag-file.ts';
import type { TagSet } from '../lookup/tag-set.ts';
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
  /** (Agency) The tag file of this kind prepared of `table` (unbalanced PSI, verification), with its key (undefined: the table has none). */
  preparedTags?(table: string, kind: PreparedKind): Promise<PreparedTags | undefined>;
  /** (Label) Where it keeps agencies' prepared tags between sessions (absent: fetched at every session). */
  readonly keptTags?: KeptTags;
  /** (Label) The partners whose operators job `jobId` now waits for (empty: none any more). */
  readonly onAwaitingApproval?: (jobId: string, parties: readonly string[]) => void;
}

/** What a prepared tag file is for: unbalanced PSI (`psi prepare`), verification (`psi prepare --field`). */
export type PreparedKind = 'psi' | 'verify';

/** (Agency) A table's tags, prepared once per key period (`jinqiao psi prepare`), and the key they were made with. */
export interface PreparedTags {
  readonly header: TagFileHeader;
  readonly key: OprfKey;
  /** SHA-256 of the sorted tags (tag-file.ts `tagsDigest`). */
  readonly digest: string;
  readonly tags: TagSet;
}

/** (Label) Its copies of agencies' prepared tags, one per agency, table and kind (the latest key period and digest). */
export interface KeptTags {
  /** The copy of `agency`'s tags of this kind for `table` with this key id and digest, if it has it. */
  get(agency: string, table: string, kind: PreparedKind, keyId: string, digest: string): Promise<TagSet | undefined>;
  /** Keeps `tags` (replacing the copies of earlier key periods or digests of that agency's table and kind). */
  put(agency: string, table: string, header: TagFileHeader, digest: string, tags: TagSet): Promise<void>;
}

/** Where the host runs a role's protocol: its worker threads, or this thread. */
export function rolesOf(ctx: PartyJobContext): RoleRunner {
  return ctx.roles ?? inThreadRoles;
}
