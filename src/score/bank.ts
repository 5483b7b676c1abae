/**
 * (Label) The bank's side of joint scoring: the probability of default of enterprises —
 * new applicants or the whole loan book — from its own records and every agency's current
 * records, through the model slices each party kept from training.
 *
 * Message flow. Once per session, every agency says whether its policy lets the bank see
 * scores that reveal its partial score (score.policy) and publishes its register blinded
 * (prepared-set.ts). Per request, with every agency k:
 *
 *   bank → k   score.request    (a request follows)
 *   bank → k   score.query      a·H(x) for the query slots: the real IDs plus d decoys each
 *   k → bank   score.queryReply b·a·H(x): the bank finds each slot in k's prepared register
 *   bank → k   score.layout     for each slot, the position in k's register, or absent
 *   k → bank   eval.forward     [[u_k]] in the bank's slot order, 0 (the training mean) where absent
 *   bank ↔ arbiter              masked decryption of z = Σ u_k + u_bank, slot chunk by chunk
 *
 * Between requests, when its host asks (`exchangeAnchors`): bank → k audit.anchor, k → bank
 * audit.anchor, each party's signed audit head for the other to keep.
 *
 * What the bank learns: z for every query slot (decoys included) and which agencies hold
 * each enterprise (needed to flag fallbacks). Where two or more agencies hold a slot, z
 * minus its own part is their sum, never one agency's partial score. Where exactly one
 * does, that difference would be its partial score: unless that agency's policy allows
 * it (`disclosePartialScores`), the bank marks the slot absent in that agency's layout
 * (the agency contributes 0 and does not score the record) and answers the enterprise as
 * refused (`partial-score.single-holder`). An ID outside the bank's book is answered as
 * unknown (`id.unknown`); the rest of the request is scored.
 *
 * What an agency learns: per request, which of its own records it scores. Decoys hide the
 * real enterprise among d + 1 — but only if the same enterprise always comes with the same
 * decoys, whatever session or request it is asked in; otherwise the agency intersects the
 * sets of two requests and is left with the real one. So an enterprise's decoys are the d
 * enterprises of the bank's whole book that rank first under a PRF keyed by the bank's
 * persistent decoy key and the enterprise's ID alone: rank(y | x) = AES-128_{k_x}(t_y),
 * with k_x = HMAC-SHA-256(key, "decoy-key" ‖ x) and t_y = SHA-256("decoy-tag" ‖ y), both
 * truncated to 16 bytes (t_y needs no secret: AES under the secret k_x is the PRF). Adding or removing one enterprise of the book changes an
 * enterprise's decoy set only when it enters or leaves that set. Remaining weaknesses: the
 * number of slots tells an agency how many enterprises (about slots / (d + 1)) a request
 * asks for; an agency that learns an enterprise's decoy set some other way (the enterprise
 * itself asked twice with d = 0) learns which record is real; the key is only as safe as
 * the bank's key folder. Cost: the tags once per session, at the first request with
 * decoys (one SHA-256 per enterprise of the book), then one AES pass over them per real ID
 * (measured 60–120 ms per million enterprises on a loaded 2-core machine).
 */
import { createCipheriv, createHmac, hash, randomUUID } from 'node:crypto';
import { errors, isJinqiaoError, shownValue } from '../errors.ts';
import type { FeatureTable } from '../data/table.ts';
import type { AuditLog } from '../governance/audit.ts';
import type { HeBackend, HeEvaluator } from '../he/backend.ts';
import { normaliseId, type IdType } from '../ids/normalise.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { ArbiterClient } from '../lr/arbiter-client.ts';
import { encryptedWeightsOf, type ModelSlice } from '../lr/model.ts';
import { keptModelRotationSteps, SCORE_BOUND } from '../lr/protocol.ts';
import { sigmoid } from '../lr/sigmoid.ts';
import { loadBackend } from '../psi/backends/index.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import { POINT_BYTES, type BackendName } from '../psi/group.ts';
import type { PointSet } from '../psi/point-set.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';
import { securePermutation } from '../util/secure-shuffle.ts';
import { ABSENT, type AnchorMessage } from './agency.ts';
import { encryptedPartialScores, partialScores } from './apply.ts';
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
  /** Where each request is recorded (IDs as salted hashes) before anything is sent (a role thread's host keeps the log). */
  readonly audit?: Pick<AuditLog, 'append' | 'hashId' | 'salt'>;
  /**
   * The bank's persistent decoy key, 32 bytes (see `loadOrCreateDecoyKey` in
   * governance/keys.ts): needed for requests with decoys. It fixes which decoys accompany
   * each enterprise, in every session; a key drawn per session would let agencies peel the
   * decoys off by intersecting sessions.
   */
  readonly decoyKey?: Uint8Array;
}

/**
 * An open session as its host holds it: the session itself, or its stand-in while the
 * session runs in a role thread (src/jobs/role-threads.ts), with the same contract.
 */
export interface BankSession {
  open(): Promise<void>;
  score(ids: readonly string[], options?: ScoreRequestOptions): Promise<readonly EnterpriseScore[]>;
  monitor(): Promise<MonitoringScores>;
  scoreTogether(requests: readonly { readonly ids: readonly string[]; readonly options?: ScoreRequestOptions }[]): Promise<(readonly EnterpriseScore[] | Error)[]>;
  /**
   * Sends `own` (this bank's signed audit head, from its host) to every agency between two
   * requests, and returns each agency's, for the host to check and keep.
   */
  exchangeAnchors(own: AnchorMessage): Promise<readonly ReceivedAnchor[]>;
  close(): Promise<void>;
  /** True once a protocol step failed: every peer has been told and the session is over. */
  readonly failed: boolean;
}

/** An agency's audit anchor as it came in a scoring session. */
export interface ReceivedAnchor extends AnchorMessage {
  readonly party: string;
}

/** What the bank gets for one requested ID: its score, or why it was not scored. */
export type EnterpriseScore = ScoredEnterprise | UnscoredEnterprise;

export interface ScoredEnterprise {
  readonly status: 'scored';
  /** The ID as the caller spelled it. */
  readonly id: string;
  /** Probability of default, from the exact logistic function of z. */
  readonly probability: number;
  readonly z: number;
  /** Agencies that hold no record of the enterprise: their part is the training mean (0). */
  readonly fallbacks: readonly string[];
}

/** Why an enterprise of a request was not scored, by rule id (`errors.scoreRefused`). */
export const SCORE_REFUSALS = {
  'id.unknown': "the enterprise has no row in the bank's book, whose features every score needs",
  'partial-score.single-holder': "one agency alone holds the enterprise and its policy does not allow disclosing its partial score, which the score minus the bank's own part would be",
} as const;
export type ScoreRefusalRule = keyof typeof SCORE_REFUSALS;

export interface UnscoredEnterprise {
  /** `unknown`: not in the bank's book; `refused`: scoring it would disclose an agency's partial score. */
  readonly status: 'unknown' | 'refused';
  readonly id: string;
  readonly code: 'E_SCORE_REFUSED';
  readonly rule: ScoreRefusalRule;
  readonly reason: string;
  readonly probability?: undefined;
  readonly z?: undefined;
  /** For a refused enterprise, the agencies holding no record of it; empty for an unknown one (nobody was asked). */
  readonly fallbacks: readonly string[];
}

export interface ScoreRequestOptions {
  /** Decoys per real ID (default 0): the agencies cannot tell the real one among d + 1. Needs the decoy key. */
  readonly decoys?: number;
}

export type AgencyDrift = number | undefined | 'withheld';

export interface MonitoringScores {
  readonly scores: readonly EnterpriseScore[];
  /**
   * Per agency: PSI-index of its own partial scores against its previous run (undefined on a
   * first run), or 'withheld' where the agency's policy does not disclose partial scores (the
   * drift over books the bank chooses would order them, agency.ts) or the model is kept
   * encrypted (the agency knows no partial score).
   */
  readonly agencyDrift: ReadonlyMap<string, AgencyDrift>;
}

export class BankScoringSession implements BankSession {
  readonly #options: BankScoringOptions;
  readonly #session = randomUUID();
  readonly #rowOf = new Map<string, number>();
  #arbiter: ArbiterClient | undefined;
  #evaluator: HeEvaluator | undefined;
  /** [[w]] of a model kept encrypted (keepEncrypted): the bank's part is computed on it. */
  #weights: Uint8Array | undefined;
  #requests = 0;
  /** Per agency: its prepared register, keyed to positions, and the bank's session key for it. */
  readonly #registers = new Map<string, { context: PreparedSetContext; set: PointSet; size: number }>();
  /** Per agency: its policy allows scores that reveal its partial score. */
  readonly #discloses = new Map<string, boolean>();
  #book: DecoyBook | undefined;

  constructor(options: BankScoringOptions) {
    if (options.decoyKey !== undefined && (!(options.decoyKey instanceof Uint8Array) || options.decoyKey.length !== 32)) {
      throw errors.optionInvalid('decoyKey', 'must be 32 bytes (loadOrCreateDecoyKey makes and keeps one)');
    }
    this.#options = options;
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
        this.#discloses.set(name, (await channel.receive('score.policy')).disclosesPartialScores);
      }
      this.#arbiter = new ArbiterClient(this.#options.arbiter);
      this.#weights = encryptedWeightsOf(this.#options.slice);
      this.#evaluator = await this.#options.heBackend.createEvaluator(await this.#arbiter.requestKeys(this.#weights ? keptModelRotationSteps(this.#options.slice) : []));
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

  /**
   * Scores `ids` (as the caller spells them), one answer per ID in the same order: an ID
   * outside the bank's book, or one that only a non-disclosing agency holds, is answered
   * as not scored and the others are scored. A malformed ID refuses the whole request.
   */
  async score(ids: readonly string[], options: ScoreRequestOptions = {}): Promise<readonly EnterpriseScore[]> {
    return (await this.#request(ids, options, false)).scores;
  }

  /** Rescores every enterprise of the bank's table (the loan book); agencies report their drift. */
  async monitor(): Promise<MonitoringScores> {
    return this.#request(this.#options.table.ids, {}, true);
  }

  async exchangeAnchors(own: AnchorMessage): Promise<readonly ReceivedAnchor[]> {
    return this.#guard(async () => {
      const { agencies } = this.#options;
      await Promise.all([...agencies.values()].map((c) => c.send(message('audit.anchor', own))));
      const received: ReceivedAnchor[] = [];
      for (const [party, channel] of agencies) {
        const { anchor, publicKey } = await channel.receive('audit.anchor');
        received.push({ party, anchor, publicKey });
      }
      return received;
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.#options.agencies.values()].map((c) => c.send(message('score.request', { request: this.#requests, close: true, monitor: false }))));
    await this.#arbiter?.done();
    this.#evaluator?.dispose();
  }

  /**
   * Several callers' requests answered in one round with the agencies: each is checked and
   * recorded in the audit log on its own (under the same request number), and the agencies
   * see the union of their query slots — each enterprise once, with the decoys it always
   * comes with — in one random order, so they learn no more than from the requests one by
   * one (less: not which slots came together). One answer per request, in order: its scores,
   * or the error that refused it (a malformed ID refuses its own request only). A protocol
   * failure rejects them all and ends the session (`failed`).
   */
  async scoreTogether(requests: readonly { readonly ids: readonly string[]; readonly options?: ScoreRequestOptions }[]): Promise<(readonly EnterpriseScore[] | Error)[]> {
    const { evaluator, arbiter } = this.#ready();
    const prepared = requests.map((r) => {
      try {
        return this.#prepare(r.ids, r.options ?? {});
      } catch (e) {
        if (isJinqiaoError(e)) return e;
        throw e;
      }
    });
    const valid = prepared.filter((p): p is Prepared => !(p instanceof Error));
    if (valid.length === 0) return prepared as Error[];
    const request = this.#requests++;
    for (const p of valid) await this.#audit(p, request, false);
    const union = new Map<string, Slot>();
    for (const p of valid) for (const slot of p.slots) union.set(slot.id, slot);
    const all = [...union.values()];
    const slots = Array.from(securePermutation(all.length), (i) => all[i]!);
    const answered = slots.length === 0 ? new Map<string, SlotAnswer>() : (await this.#guard(() => this.#scoreSlots(slots, request, false, evaluator, arbiter))).bySlot;
    return prepared.map((p) => (p instanceof Error ? p : answers(p.requested, answered)));
  }

  #ready(): { evaluator: HeEvaluator; arbiter: ArbiterClient } {
    const evaluator = this.#evaluator;
    const arbiter = this.#arbiter;
    if (!evaluator || !arbiter) throw errors.protocol('score before open()');
    return { evaluator, arbiter };
  }

  /** A request's IDs normalised and looked up, and its query slots; throws on a malformed ID or option. */
  #prepare(ids: readonly string[], options: ScoreRequestOptions): Prepared {
    const { idType } = this.#options;
    const decoys = options.decoys ?? 0;
    if (!Number.isInteger(decoys) || decoys < 0) throw errors.optionInvalid('decoys', `must be a whole number, got ${decoys}`);
    if (decoys > 0 && this.#options.decoyKey === undefined) {
      throw errors.optionInvalid('decoys', "decoys need the bank's persistent decoy key", 'give the session its decoyKey (jinqiao score --keys <dir>); a key per session would let agencies peel the decoys off');
    }
    const requested = ids.map((raw) => {
      const n = normaliseId(raw, idType);
      // The message names the ID, never the server's files.
      if (!n.ok) throw errors.optionInvalid('ids', `${shownValue(raw)} is not a valid ${idType === 'uscc' ? 'unified social credit code' : 'ID'}: ${n.why}`);
      return { raw, id: n.id, row: this.#rowOf.get(n.id) };
    });
    if (requested.length === 0) throw errors.optionInvalid('ids', 'no enterprise to score');
    const known = [...new Map(requested.flatMap((q) => (q.row === undefined ? [] : [[q.id, { id: q.id, row: q.row }] as const]))).values()];
    return { requested, known, slots: this.#withDecoys(known, decoys) };
  }

  async #audit(p: Prepared, request: number, monitor: boolean): Promise<void> {
    const audit = this.#options.audit;
    await audit?.append('scoring.query', {
      session: this.#session,
      request,
      enterprises: monitor ? p.requested.length : p.requested.map((q) => audit.hashId(q.id)),
      unknown: p.requested.filter((q) => q.row === undefined).length,
      decoys: p.slots.length - p.known.length,
      monitoring: monitor,
    });
  }

  async #request(ids: readonly string[], options: ScoreRequestOptions, monitor: boolean): Promise<MonitoringScores> {
    const { evaluator, arbiter } = this.#ready();
    const p = this.#prepare(ids, options);
    const request = this.#requests++;
    await this.#audit(p, request, monitor);
    const answered = p.slots.length === 0 ? { bySlot: new Map<string, SlotAnswer>(), drift: new Map<string, AgencyDrift>() } : await this.#guard(() => this.#scoreSlots(p.slots, request, monitor, evaluator, arbiter));
    return { scores: answers(p.requested, answered.bySlot), agencyDrift: answered.drift };
  }

  async #scoreSlots(slots: readonly Slot[], request: number, monitor: boolean, evaluator: HeEvaluator, arbiter: ArbiterClient): Promise<{ bySlot: Map<string, SlotAnswer>; drift: Map<string, AgencyDrift> }> {
    const { agencies, slice, table, idType } = this.#options;
    const slotIds = slots.map((s) => s.id);
    const looked = await Promise.all(
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
        return { name, channel, holds: positions.map((p) => (p === ABSENT ? 0 : 1)), positions };
      }),
    );
    // A slot only one agency holds would reveal that agency's partial score: unless its policy
    // allows it, the agency is told it holds nothing there, so it adds 0 and scores nothing.
    const withheldBy = new Map<number, string>();
    for (let i = 0; i < slots.length; i++) {
      const holders = looked.filter((a) => a.holds[i] === 1);
      if (holders.length === 1 && !this.#discloses.get(holders[0]!.name)) {
        holders[0]!.positions[i] = ABSENT;
        withheldBy.set(i, holders[0]!.name);
      }
    }
    const parts = await Promise.all(
      looked.map(async (agency) => {
        await agency.channel.send(message('score.layout', { positions: new Uint8Array(agency.positions.buffer) }));
        const { scores } = await agency.channel.receive('eval.forward');
        if (!monitor) return { ...agency, scores, drift: undefined };
        // An agency whose weights are encrypted has no partial scores to compare: nothing comes.
        if (!this.#discloses.get(agency.name) || this.#weights) return { ...agency, scores, drift: 'withheld' as const };
        const drift = await agency.channel.receive('monitor.drift');
        return { ...agency, scores, drift: drift.hasPrevious ? drift.psiIndex : undefined };
      }),
    );
    let total = parts[0]!.scores;
    for (const part of parts.slice(1)) total = evaluator.add(total, part.scores);
    const rows = Uint32Array.from(slots, (s) => s.row);
    total = this.#weights
      ? evaluator.add(total, encryptedPartialScores(evaluator, slice, this.#weights, table, rows, Array.from(rows.keys()), slots.length))
      : evaluator.addPlain(total, partialScores(slice, table, rows));
    const z = new Float64Array(slots.length);
    const S = evaluator.slotCount;
    for (let c = 0; c < total.length; c++) {
      const count = Math.min(S, slots.length - c * S);
      z.set(await arbiter.reveal(total[c]!, count, SCORE_BOUND), c * S);
    }
    const bySlot = new Map<string, SlotAnswer>(
      slots.map((slot, i) => [slot.id, { z: z[i]!, fallbacks: parts.filter((p) => p.holds[i] === 0).map((p) => p.name), withheldBy: withheldBy.get(i) }]),
    );
    return { bySlot, drift: new Map(parts.map((p) => [p.name, p.drift])) };
  }

  /**
   * The query slots: every real ID with its `decoys` decoys (see the file comment), each
   * enterprise once, in a uniformly random order.
   */
  #withDecoys(real: readonly Slot[], decoys: number): Slot[] {
    const slots = new Map<string, Slot>(real.map((q) => [q.id, q]));
    if (decoys > 0 && real.length > 0) {
      const book = (this.#book ??= decoyBook(this.#rowOf));
      if (book.ids.length < decoys + 1) throw errors.optionInvalid('decoys', `${decoys} decoys per enterprise need at least ${decoys + 1} enterprises in the bank's book; it holds ${book.ids.length}`);
      for (const q of real) {
        for (const i of decoyIndices(book, this.#options.decoyKey!, q.id, decoys)) slots.set(book.ids[i]!, { id: book.ids[i]!, row: book.rows[i]! });
      }
    }
    const all = [...slots.values()];
    return Array.from(securePermutation(all.length), (i) => all[i]!);
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

interface Prepared {
  /** Every ID as asked, normalised, with its row in the bank's book (undefined: not in it). */
  readonly requested: readonly { readonly raw: string; readonly id: string; readonly row: number | undefined }[];
  readonly known: readonly Slot[];
  readonly slots: readonly Slot[];
}

/** The answer to each requested ID from the answers per slot. */
function answers(requested: Prepared['requested'], bySlot: ReadonlyMap<string, SlotAnswer>): EnterpriseScore[] {
  return requested.map((q): EnterpriseScore => {
    const answer = bySlot.get(q.id);
    if (answer === undefined) return unscored('unknown', q.raw, 'id.unknown', `${JSON.stringify(q.raw)} is not in the bank's book`, []);
    if (answer.withheldBy !== undefined) {
      return unscored('refused', q.raw, 'partial-score.single-holder', `${JSON.stringify(q.raw)} is held by ${answer.withheldBy} alone, whose policy does not allow disclosing its partial score`, answer.fallbacks);
    }
    return { status: 'scored', id: q.raw, probability: sigmoid(answer.z), z: answer.z, fallbacks: answer.fallbacks };
  });
}

interface SlotAnswer {
  readonly z: number;
  readonly fallbacks: readonly string[];
  /** The agency whose partial score this slot would reveal, when its policy forbids it. */
  readonly withheldBy: string | undefined;
}

function unscored(status: UnscoredEnterprise['status'], id: string, rule: ScoreRefusalRule, why: string, fallbacks: readonly string[]): UnscoredEnterprise {
  const refusal = errors.scoreRefused(rule, why);
  return { status, id, code: 'E_SCORE_REFUSED', rule, reason: refusal.message, fallbacks };
}

/** The bank's book as decoys are drawn from it: normalised IDs, their rows, and their PRF tags. */
interface DecoyBook {
  readonly ids: readonly string[];
  readonly rows: readonly number[];
  /** 16 bytes per ID: SHA-256("decoy-tag" ‖ id), truncated. */
  readonly tags: Buffer;
  readonly indexOf: ReadonlyMap<string, number>;
}

const TAG_DOMAIN = 'jinqiao/score/decoy-tag/v1\0';
const RANK_DOMAIN = 'jinqiao/score/decoy-key/v1\0';

function decoyBook(rowOf: ReadonlyMap<string, number>): DecoyBook {
  const ids = [...rowOf.keys()];
  const tags = Buffer.alloc(ids.length * 16);
  ids.forEach((id, i) => hash('sha256', TAG_DOMAIN + id, 'buffer').copy(tags, i * 16, 0, 16));
  return { ids, rows: ids.map((id) => rowOf.get(id)!), tags, indexOf: new Map(ids.map((id, i) => [id, i])) };
}

/**
 * The book indices of the `d` decoys of enterprise `id`: the d others of lowest rank
 * AES-128_{k_id}(t_y), compared on the first 8 bytes (ties, at 2^-64, by book order).
 */
function decoyIndices(book: DecoyBook, key: Uint8Array, id: string, d: number): number[] {
  const rankKey = createHmac('sha256', key).update(RANK_DOMAIN).update(id).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ecb', rankKey, null).setAutoPadding(false);
  const ranks = cipher.update(book.tags);
  const self = book.indexOf.get(id);
  const view = new DataView(ranks.buffer, ranks.byteOffset, ranks.byteLength);
  // The d best so far, in ascending rank: a small sorted array, since d is small.
  const best: { hi: number; lo: number; i: number }[] = [];
  for (let i = 0; i < book.ids.length; i++) {
    if (i === self) continue;
    const hi = view.getUint32(i * 16);
    if (best.length === d) {
      const worst = best[d - 1]!;
      if (hi > worst.hi) continue;
      const lo = view.getUint32(i * 16 + 4);
      if (hi === worst.hi && lo >= worst.lo) continue;
      best.pop();
      insertByRank(best, { hi, lo, i });
    } else {
      insertByRank(best, { hi, lo: view.getUint32(i * 16 + 4), i });
    }
  }
  return best.map((b) => b.i);
}

function insertByRank(best: { hi: number; lo: number; i: number }[], entry: { hi: number; lo: number; i: number }): void {
  let at = best.length;
  while (at > 0 && (best[at - 1]!.hi > entry.hi || (best[at - 1]!.hi === entry.hi && best[at - 1]!.lo > entry.lo))) at--;
  best.splice(at, 0, entry);
}
