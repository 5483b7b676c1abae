/**
 * (Features) An agency's side of joint scoring: once per session it publishes its register
 * blinded (prepared-set.ts); for each request it answers the bank's blinded query, then
 * computes its partial scores for the records the bank points to from its current data and
 * sends them encrypted under the arbiter's key, laid out in the bank's query order (0, the
 * training mean, where it holds no record).
 *
 * What the agency learns per request: the number of query slots and which of its own
 * records the bank asks it to score — real queries and decoys alike, so with d decoys per
 * query it cannot tell the real one among d + 1, in any session (the bank draws the same
 * decoys for an enterprise every time; with d = 0 it learns the queried enterprises it
 * holds). A record only it holds is not asked for unless its policy allows disclosing its
 * partial score (`disclosePartialScores`). It never sees an ID it does not hold, the bank's scores or other
 * agencies' parts.
 *
 * Between two requests, and before it ends the session, the bank may send its audit anchor
 * (`audit.anchor`); the agency answers with its own, so that a long session anchors both
 * logs as a job's end does (src/jobs/anchors.ts; how often is the bank host's call).
 */
import { errors } from '../errors.ts';
import type { FeatureTable } from '../data/table.ts';
import type { AuditLog } from '../governance/audit.ts';
import type { HeBackend } from '../he/backend.ts';
import type { IdType } from '../ids/normalise.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { ArbiterClient } from '../lr/arbiter-client.ts';
import { encryptedWeightsOf, type ModelSlice } from '../lr/model.ts';
import { loadBackend } from '../psi/backends/index.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import { POINT_BYTES, type BackendName } from '../psi/group.ts';
import type { Channel } from '../protocol/channel.ts';
import { message, type MessageOf } from '../protocol/messages.ts';
import { keptModelRotationSteps } from '../lr/protocol.ts';
import { encryptedPartialScores, partialScores } from './apply.ts';
import { populationStabilityIndex } from './stability.ts';
import { answerQuery, publishPreparedSet } from './prepared-set.ts';

export const ABSENT = 0xffffffff;

export interface AgencyScoringOptions {
  readonly name: string;
  readonly slice: ModelSlice;
  readonly table: FeatureTable;
  readonly bank: Channel;
  readonly arbiter: Channel;
  readonly heBackend: HeBackend;
  readonly psiExecutor: PsiExecutor;
  readonly idType: IdType;
  readonly psiBackend: BackendName;
  /** The agency's own partial scores of its last monitoring run, for its drift index. */
  readonly previousMonitoring?: Float64Array;
  /** Where each scoring request is recorded before it is answered (only its append: a role thread's host keeps the log). */
  readonly audit?: Pick<AuditLog, 'append'>;
  /**
   * Its policy lets the bank see the score of an enterprise only this agency holds, which
   * minus the bank's own part is this agency's partial score (default false: the bank
   * refuses such enterprises instead). Announced to the bank when the session opens.
   */
  readonly disclosePartialScores?: boolean;
  /**
   * (Its host) Keeps the bank's audit anchor the session brought (`audit.anchor`, between two
   * requests and before the session ends) and returns this agency's own, which the bank
   * keeps. Absent: the bank's anchor is not kept and an empty one goes back (no audit log).
   */
  readonly anchors?: (received: AnchorMessage) => Promise<AnchorMessage>;
}

/** The fields of an `audit.anchor` message: a signed log head and the key that signed it (both empty: the sender keeps no log). */
export type AnchorMessage = Omit<MessageOf<'audit.anchor'>, 't' | 'v'>;

export interface AgencyScoringReport {
  readonly requests: number;
  readonly rowsScored: number;
  /** Partial scores of the latest monitoring run (kept locally for the next drift index). */
  readonly monitoring: Float64Array | undefined;
  /**
   * The PSI-index of the latest monitoring run's partial scores against the run before
   * (undefined without a previous run), whether or not the bank was sent it.
   */
  readonly drift: number | undefined;
}

export async function serveScoring(options: AgencyScoringOptions): Promise<AgencyScoringReport> {
  return abortingPeersOnFailure([options.bank, options.arbiter], () => agency(options));
}

async function agency(options: AgencyScoringOptions): Promise<AgencyScoringReport> {
  const { bank, slice, table, name } = options;
  const hello = await bank.receive('score.hello');
  if (hello.modelJobId !== slice.jobId) {
    throw errors.modelInvalid(`model slice of ${name}`, `belongs to job ${slice.jobId}, but the bank scores with the model of job ${hello.modelJobId}`);
  }
  await bank.send(message('score.ready', { modelJobId: slice.jobId }));
  await bank.send(message('score.policy', { disclosesPartialScores: options.disclosePartialScores ?? false }));
  const arbiter = new ArbiterClient(options.arbiter);
  // Weights kept encrypted (keepEncrypted): partial scores are computed on [[w]], under the
  // training key the arbiter restored, with the rotations of the training forward product.
  const encrypted = encryptedWeightsOf(slice);
  const evaluator = await options.heBackend.createEvaluator(await arbiter.requestKeys(encrypted ? keptModelRotationSteps(slice) : []));
  arbiter.use(evaluator);
  const backend = await loadBackend(options.psiBackend);
  const prepared = { channel: bank, executor: options.psiExecutor, backend: options.psiBackend, hashDomain: `${hello.session}/score/${name}`, scalar: backend.randomScalar() };
  const published = await publishPreparedSet(prepared, table, options.idType);
  let requests = 0;
  let rowsScored = 0;
  let monitoring: Float64Array | undefined;
  let drift: number | undefined;
  try {
    for (;;) {
      const next = await bank.next();
      if (next.t === 'audit.anchor') {
        const own = options.anchors ? await options.anchors({ anchor: next.anchor, publicKey: next.publicKey }) : { anchor: {}, publicKey: new Uint8Array(0) };
        await bank.send(message('audit.anchor', own));
        continue;
      }
      if (next.t !== 'score.request') throw errors.protocol(`expected score.request or audit.anchor from the bank, received ${next.t}`);
      const request = next;
      if (request.close) break;
      requests++;
      const query = await bank.receive('score.query');
      // Recorded before the first answer: the reply already tells the bank which slots this agency holds.
      await options.audit?.append('scoring.query', { session: hello.session, request: request.request, slots: query.points.length / POINT_BYTES, monitoring: request.monitor });
      await bank.send(message('score.queryReply', { points: await answerQuery(prepared, query.points) }));
      const { positions } = await bank.receive('score.layout');
      if (positions.byteLength % 4 !== 0) throw errors.protocol('score.layout is not a list of 32-bit positions');
      const view = new DataView(positions.buffer, positions.byteOffset, positions.byteLength);
      const slots = positions.byteLength / 4;
      const slotRows: number[] = [];
      const rows: number[] = [];
      for (let i = 0; i < slots; i++) {
        const p = view.getUint32(i * 4, true);
        if (p === ABSENT) continue;
        if (p >= published.length) throw errors.protocol(`score.layout: position ${p} is outside the ${published.length} published enterprises`);
        slotRows.push(i);
        rows.push(published[p]!);
      }
      await options.audit?.append('scoring.answered', { session: hello.session, request: request.request, scored: rows.length });
      rowsScored += rows.length;
      if (encrypted) {
        // This agency does not know its weights, so neither its partial scores nor their drift.
        await bank.send(message('eval.forward', { scores: encryptedPartialScores(evaluator, slice, encrypted, table, Uint32Array.from(rows), slotRows, slots) }));
        continue;
      }
      const scores = partialScores(slice, table, Uint32Array.from(rows));
      const laidOut = new Float64Array(slots);
      slotRows.forEach((slot, k) => (laidOut[slot] = scores[k]!));
      await bank.send(message('eval.forward', { scores: evaluator.encrypt(laidOut) }));
      if (request.monitor) {
        const previous = monitoring ?? options.previousMonitoring;
        const comparable = previous !== undefined && previous.length > 0 && scores.length > 0;
        drift = comparable ? populationStabilityIndex(previous, scores) : undefined;
        // The drift of this agency's own partial scores over books the bank chooses is a
        // comparison oracle on them (one-enterprise books order two enterprises' partial
        // scores: test/attacks/monitor-drift-order.test.ts): it goes to the bank only where
        // this agency's policy lets the bank see its partial scores anyway.
        if (options.disclosePartialScores) await bank.send(message('monitor.drift', { psiIndex: drift ?? 0, hasPrevious: comparable }));
        monitoring = scores;
      }
    }
    await arbiter.done();
    return { requests, rowsScored, monitoring, drift };
  } finally {
    evaluator.dispose();
  }
}
