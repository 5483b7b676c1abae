/**
 * (Label) The bank's side of joint scoring: the probability of default of enterprises —
 * new applicants or the whole loan book — from its own records and every agency's current
 * records, through the model slices each party kept from training.
 *
 * Message flow. Once per session, every agency publishes its register blinded
 * (prepared-set.ts). Per request, with every agency k:
 *
 *   bank → k   score.request    (a request follows)
 *   bank → k   score.query      a·H(x) for the query slots: the real IDs plus d decoys each
 *   k → bank   score.queryReply b·a·H(x): the bank finds each slot in k's prepared register
 *   bank → k   score.layout     for each slot, the position in k's register, or absent
 *   k → bank   eval.forward     [[u_k]] in the bank's slot order, 0 (the training mean) where absent
 *   bank ↔ arbiter              masked decryption of z = Σ u_k + u_bank, slot chunk by chunk
 *
 * What the bank learns: z for every query slot (decoys included) and which agencies hold
 * each enterprise (needed to flag fallbacks), never a single agency's partial score when two
 * or more agencies take part (only their sum inside z). Decoys are drawn with the operating
 * system's randomness from a pool the bank chooses (by default its own table).
 */
import { randomUUID } from 'node:crypto';
import { errors, shownValue } from '../errors.ts';
import type { FeatureTable } from '../data/table.ts';
import type { AuditLog } from '../governance/audit.ts';
import type { HeBackend, HeEvaluator } from '../he/backend.ts';
import { normaliseId, type IdType } from '../ids/normalise.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { ArbiterClient } from '../lr/arbiter-client.ts';
import type { ModelSlice } from '../lr/model.ts';
import { SCORE_BOUND } from '../lr/protocol.ts';
import { sigmoid } from '../lr/sigmoid.ts';
import { loadBackend } from '../psi/backends/index.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import { POINT_BYTES, type BackendName } from '../psi/group.ts';
import type { PointSet } from '../psi/point-set.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';
import { SeededRng } from '../util/rng.ts';
import { securePermutation } from '../util/secure-shuffle.ts';
import { ABSENT } from './agency.ts';
import { partialScores } from './apply.ts';
import { blindQuery, receivePreparedSet, type PreparedSetContext } from './prepared-set.ts';

export interface BankScoringOptions {
  readonly slice: ModelSlice;
  /** The bank's current records: every enterprise it scores needs a row here. */
  readonly table: FeatureTable;
  readonly agencies: ReadonlyMap<string, Channel>;
  readonly arbiter: Channel;
  readonly heBackend: HeBackend;
  readonly psiExecutor: PsiExecutor;
  readonly idType: IdType;
  readonly psiBackend: BackendName;
  /** Where each request is recorded (IDs as salted hashes) before anything is sent. */
  readonly audit?: AuditLog;
}

export interface EnterpriseScore {
  /** The ID as the bank's table spells it. */
  readonly id: string;
  /** Probability of default, from the exact logistic function of z. */
  readonly probability: number;
  readonly z: number;
  /** Agencies that hold no record of the enterprise: their part is the training mean (0). */
  readonly fallbacks: readonly string[];
}

export interface ScoreRequestOptions {
  /** Decoys per real ID (default 0): the agencies cannot tell the real one among d + 1. */
  readonly decoys?: number;
  /** IDs to draw decoys from (default: the bank's own table). */
  readonly decoyPool?: readonly string[];
}

export interface BankScoringSecrets {
  /**
   * Secret that fixes which decoys accompany each enterprise. An agency sees which of its
   * records it scores; were decoys drawn afresh, asking for the same enterprise twice would
   * expose it as the one record common to both requests. Keep this key across sessions
   * (default: random per session, which protects repeated queries within one session only).
   */
  readonly decoyKey?: string;
}

export interface MonitoringScores {
  readonly scores: readonly EnterpriseScore[];
  /** Per agency: PSI-index of its own partial scores against its previous run (undefined on a first run). */
  readonly agencyDrift: ReadonlyMap<string, number | undefined>;
}

export class BankScoringSession {
  readonly #options: BankScoringOptions;
  readonly #session = randomUUID();
  readonly #rowOf = new Map<string, number>();
  #arbiter: ArbiterClient | undefined;
  #evaluator: HeEvaluator | undefined;
  #requests = 0;
  /** Per agency: its prepared register, keyed to positions, and the bank's session key for it. */
  readonly #registers = new Map<string, { context: PreparedSetContext; set: PointSet; size: number }>();

  readonly #decoyKey: string;

  constructor(options: BankScoringOptions & BankScoringSecrets) {
    this.#options = options;
    this.#decoyKey = options.decoyKey ?? randomUUID();
    options.table.ids.forEach((raw, row) => {
      const n = normaliseId(raw, options.idType);
      if (n.ok && !this.#rowOf.has(n.id)) this.#rowOf.set(n.id, row);
    });
  }

  /** Checks that every agency holds a slice of the same model, and gets the arbiter's keys. */
  async open(): Promise<void> {
    await this.#guard(async () => {
      const { slice, agencies } = this.#options;
      await Promise.all([...agencies.values()].map((c) => c.send(message('score.hello', { modelJobId: slice.jobId, session: this.#session }))));
      for (const [name, channel] of agencies) {
        const ready = await channel.receive('score.ready');
        if (ready.modelJobId !== slice.jobId) throw errors.modelInvalid(`model slice of ${name}`, `belongs to job ${ready.modelJobId}, not ${slice.jobId}`);
      }
      this.#arbiter = new ArbiterClient(this.#options.arbiter);
      this.#evaluator = await this.#options.heBackend.createEvaluator(await this.#arbiter.requestKeys([]));
      this.#arbiter.use(this.#evaluator);
      const backend = await loadBackend(this.#options.psiBackend);
      await Promise.all(
        [...agencies].map(async ([name, channel]) => {
          const context = { channel, executor: this.#options.psiExecutor, backend: this.#options.psiBackend, hashDomain: `${this.#session}/score/${name}`, scalar: backend.randomScalar() };
          this.#registers.set(name, { context, ...(await receivePreparedSet(context)) });
        }),
      );
    });
  }

  /** Scores `ids` (as the caller spells them; each must have a row in the bank's table). */
  async score(ids: readonly string[], options: ScoreRequestOptions = {}): Promise<readonly EnterpriseScore[]> {
    return (await this.#request(ids, options, false)).scores;
  }

  /** Rescores every enterprise of the bank's table (the loan book); agencies report their drift. */
  async monitor(): Promise<MonitoringScores> {
    return this.#request(this.#options.table.ids, {}, true);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#options.agencies.values()].map((c) => c.send(message('score.request', { request: this.#requests, close: true, monitor: false }))));
    await this.#arbiter?.done();
    this.#evaluator?.dispose();
  }

  async #request(ids: readonly string[], options: ScoreRequestOptions, monitor: boolean): Promise<MonitoringScores> {
    const evaluator = this.#evaluator;
    const arbiter = this.#arbiter;
    if (!evaluator || !arbiter) throw errors.protocol('score before open()');
    const { table, agencies, slice, idType } = this.#options;
    const queries = ids.map((raw) => {
      const n = normaliseId(raw, idType);
      if (!n.ok) throw errors.optionInvalid('ids', `${shownValue(raw)} is not a valid ${idType === 'uscc' ? 'unified social credit code' : 'ID'}: ${n.why}`);
      const row = this.#rowOf.get(n.id);
      if (row === undefined) throw errors.optionInvalid('ids', `${shownValue(raw)} has no row in ${table.file}`, "the bank's own features are needed to score an enterprise: add its row to the bank's table");
      return { id: n.id, row };
    });
    if (queries.length === 0) throw errors.optionInvalid('ids', 'no enterprise to score');
    const slots = withDecoys(queries, options, this.#rowOf, idType, this.#decoyKey);
    const request = this.#requests++;
    const audit = this.#options.audit;
    await audit?.append('scoring.query', {
      session: this.#session,
      request,
      enterprises: monitor ? queries.length : queries.map((q) => audit.hashId(q.id)),
      decoys: slots.length - new Set(queries.map((q) => q.id)).size,
      monitoring: monitor,
    });

    return this.#guard(async () => {
      const slotIds = slots.map((s) => s.id);
      const parts = await Promise.all(
        [...agencies].map(async ([name, channel]) => {
          const register = this.#registers.get(name)!;
          await channel.send(message('score.request', { request, close: false, monitor }));
          await channel.send(message('score.query', { points: await blindQuery(register.context, slotIds, idType) }));
          const { points } = await channel.receive('score.queryReply');
          if (points.length !== slots.length * POINT_BYTES) throw errors.protocol(`${name} answered ${points.length / POINT_BYTES} of ${slots.length} query slots`);
          const positions = new Uint32Array(slots.length).fill(ABSENT);
          for (let i = 0; i < slots.length; i++) {
            const p = register.set.get(points, i * POINT_BYTES);
            if (p >= 0) positions[i] = p;
          }
          await channel.send(message('score.layout', { positions: new Uint8Array(positions.buffer) }));
          const { scores } = await channel.receive('eval.forward');
          const drift = monitor ? await channel.receive('monitor.drift') : undefined;
          return { name, positions, scores, drift: drift?.hasPrevious ? drift.psiIndex : undefined };
        }),
      );
      let total = parts[0]!.scores;
      for (const part of parts.slice(1)) total = evaluator.add(total, part.scores);
      total = evaluator.addPlain(total, partialScores(slice, table, Uint32Array.from(slots, (s) => s.row)));
      const z = new Float64Array(slots.length);
      const S = evaluator.slotCount;
      for (let c = 0; c < total.length; c++) {
        const count = Math.min(S, slots.length - c * S);
        z.set(await arbiter.reveal(total[c]!, count, SCORE_BOUND), c * S);
      }
      const slotOf = new Map(slots.map((slot, i) => [slot.id, i]));
      const scores = queries.map((q, qi): EnterpriseScore => {
        const i = slotOf.get(q.id)!;
        return { id: ids[qi]!, probability: sigmoid(z[i]!), z: z[i]!, fallbacks: parts.filter((p) => p.positions[i] === ABSENT).map((p) => p.name) };
      });
      return { scores, agencyDrift: new Map(parts.map((p) => [p.name, p.drift])) };
    });
  }

  /** True once a protocol step failed: every peer has been told and the session is over. */
  get failed(): boolean {
    return this.#failed;
  }

  #failed = false;

  async #guard<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await abortingPeersOnFailure([...this.#options.agencies.values(), this.#options.arbiter], body);
    } catch (e) {
      this.#failed = true;
      throw e;
    }
  }
}

interface Slot {
  readonly id: string;
  readonly row: number;
}

/**
 * The query set: every real ID plus `decoys` others per real ID, the same others whenever
 * the same enterprise is asked for (chosen by a PRF of the decoy key and the ID), in a
 * uniformly random order.
 */
function withDecoys(queries: readonly { id: string; row: number }[], options: ScoreRequestOptions, rowOf: ReadonlyMap<string, number>, idType: IdType, decoyKey: string): Slot[] {
  const decoys = options.decoys ?? 0;
  if (!Number.isInteger(decoys) || decoys < 0) throw errors.optionInvalid('decoys', `must be a whole number, got ${decoys}`);
  const slots: Slot[] = [];
  const taken = new Set<string>();
  for (const q of queries) {
    if (taken.has(q.id)) continue;
    taken.add(q.id);
    slots.push(q);
  }
  if (decoys > 0) {
    const pool = (options.decoyPool ?? [...rowOf.keys()]).flatMap((raw) => {
      const n = normaliseId(raw, idType);
      const row = n.ok ? rowOf.get(n.id) : undefined;
      return n.ok && row !== undefined && !taken.has(n.id) ? [{ id: n.id, row }] : [];
    });
    const wanted = decoys * slots.length;
    if (pool.length < wanted) throw errors.optionInvalid('decoys', `${wanted} decoys are needed but only ${pool.length} other enterprises are available`);
    pool.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const real of slots.slice()) {
      const rng = SeededRng.fromSeed(decoyKey, 'jinqiao/score/decoys', real.id);
      for (let k = 0; k < decoys; ) {
        const candidate = pool[rng.nextBelow(pool.length)]!;
        if (taken.has(candidate.id)) continue;
        taken.add(candidate.id);
        slots.push(candidate);
        k++;
      }
    }
  }
  const shuffle = securePermutation(slots.length);
  return Array.from(shuffle, (i) => slots[i]!);
}
