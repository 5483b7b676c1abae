/**
 * ECDH-PSI: two parties learn which enterprise IDs they share, and nothing else.
 *
 * Each party draws a fresh secret scalar per job. For an ID x, H(x) hashes the job id and
 * the normalised ID into the group (group.ts, domain-separated, so values from two jobs
 * cannot be linked). Message flow, run symmetrically by both parties:
 *
 *   A → B  psi.hello      job id, backend, ID type, reveal mode (must match exactly)
 *   A → B  psi.blinded    a·H(x) for every distinct x of A, in a fresh random order
 *   B → A  psi.reblinded  b·(a·H(x)), batch by batch in the order received
 *   (and the same from B to A)
 *
 * A compares b·a·H(x) for its own x with a·b·H(y) for B's y (which it computed itself by
 * re-blinding B's points): equal values mark the intersection.
 *
 * Who learns what (honest-but-curious parties, DDH hard in the group, H a random oracle):
 * - both: the size of the other's set (the number of points received);
 * - reveal 'both': each its own rows in the intersection; 'left': only the left party does,
 *   the right party gets nothing back; 'cardinality': re-blinded values are returned
 *   shuffled, so each learns only the intersection's size;
 * - nothing about IDs outside the intersection: a·H(x) for x not in the other's set is a
 *   pseudo-random group element to the other side.
 * Known limits: set sizes are revealed, unless a party pads its set (`padTo`: dummy
 * values, random inputs hashed and blinded exactly like IDs, so the peer sees only
 * max(size, padTo) pseudo-random values; dummies never match and never reach a result); a
 * malicious party can substitute a different input set, as in every DH-PSI without input
 * certification.
 *
 * The intersection's canonical order, identical on both sides, is the order of the
 * doubly-blinded values (random to everyone, fixed for the job).
 */
import { randomBytes } from 'node:crypto';
import { errors, isJinqiaoError, type JinqiaoError } from '../errors.ts';
import type { IdType } from '../ids/normalise.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';
import { securePermutation, secureShuffle } from '../util/secure-shuffle.ts';
import { batchSize, type IdBatch } from './batch.ts';
import { canonicalOrder } from './canonical-order.ts';
import type { PsiExecutor } from './executor.ts';
import { jobHashPrefix, POINT_BYTES, type BackendName } from './group.ts';
import { PointSet } from './point-set.ts';
import { GrowableBytes } from '../util/growable-bytes.ts';

export type Reveal = 'both' | 'left' | 'cardinality';
export type PsiSide = 'left' | 'right';

/** A batch of a party's valid, normalised IDs with the row number (e.g. file line) of each. */
export interface OwnIdBatch {
  readonly ids: IdBatch;
  readonly rows: Uint32Array;
}

export interface PsiPartyConfig {
  readonly channel: Channel;
  readonly jobId: string;
  readonly backend: BackendName;
  readonly idType: IdType;
  readonly reveal: Reveal;
  readonly side: PsiSide;
  readonly executor: PsiExecutor;
  /** Points per message (default 16,384: 512 KiB frames). */
  readonly pointsPerMessage?: number;
  /** Called for each repeated ID; throw from it to make duplicates an error (--strict). */
  readonly onDuplicate?: (row: number, firstRow: number) => void;
  /**
   * Send at least this many values, dummies making up the difference, so that the peer
   * learns max(distinct IDs, padTo) instead of the set size. A set larger than padTo is
   * refused (E_OPTION_INVALID, `--pad-to`).
   */
  readonly padTo?: number;
}

/** The largest --pad-to: 32 bytes sent and 16 kept per value, 1.6 GB of values at this size. */
export const MAX_PAD_TO = 50_000_000;
/** The row number of a dummy value (never a file line: lines are 1-based and below 2^32 − 1). */
const DUMMY_ROW = 0xffffffff;
/** Dummy values are blinded in batches of this many. */
const DUMMY_BATCH = 4096;

export interface PsiPartyResult {
  /** Distinct IDs this party contributed. */
  readonly ownCount: number;
  /** Values this party sent: ownCount, or its padTo when larger. */
  readonly sentCount: number;
  /** Values the peer sent (revealed by the protocol): its distinct IDs, or its padded size. */
  readonly peerCount: number;
  /** Size of the intersection, when this side learns it. */
  readonly intersectionSize: number | undefined;
  /** This party's rows in the intersection, in canonical order, when this side learns them. */
  readonly rows: Uint32Array | undefined;
  readonly duplicates: number;
}

const DEFAULT_POINTS_PER_MESSAGE = 16384;

/** (Either party) Runs one side of ECDH-PSI over `channel` with the IDs of `own`. */
export async function runPsiParty(config: PsiPartyConfig, own: AsyncIterable<OwnIdBatch>): Promise<PsiPartyResult> {
  try {
    return await psiParty(config, own);
  } catch (e) {
    // The peer learns only the error code: messages may quote an ID or a file path.
    const code = isJinqiaoError(e) ? (e as JinqiaoError).code : 'E_INTERNAL';
    await config.channel.send(message('job.abort', { reason: `the peer stopped (${code})` })).catch(() => {});
    config.channel.close(`aborted (${code})`);
    throw e;
  }
}

async function psiParty(config: PsiPartyConfig, own: AsyncIterable<OwnIdBatch>): Promise<PsiPartyResult> {
  const { channel, executor, backend, reveal, side } = config;
  const perMessage = config.pointsPerMessage ?? DEFAULT_POINTS_PER_MESSAGE;
  const scalar = await freshScalar(backend);
  const hello = { jobId: config.jobId, backend, idType: config.idType, reveal };
  await channel.send(message('psi.hello', hello));
  const peerHello = await channel.receive('psi.hello');
  for (const key of Object.keys(hello) as (keyof typeof hello)[]) {
    if (peerHello[key] !== hello[key]) {
      throw errors.protocol(`the peer runs with ${key} "${peerHello[key]}", this party with "${hello[key]}"`);
    }
  }

  const learnsOwn = reveal !== 'left' || side === 'left';
  const peerLearns = reveal !== 'left' || side === 'right';
  const shuffleReplies = reveal === 'cardinality';

  // Own side: blind, de-duplicate, pad, shuffle, send. `ownDouble` receives b·a·H(x)
  // prefixes. `ownCount` counts the values sent (dummies included), `realCount` the IDs.
  let ownCount = -1;
  let realCount = -1;
  let ownRowsInSendOrder: Uint32Array | undefined;
  let ownDouble: Uint8Array | undefined;
  let duplicates = 0;
  const ownSide = (async () => {
    const blinded = await padded(config, await blindOwn(config, own, scalar, () => duplicates++), scalar);
    realCount = blinded.realCount;
    ownCount = blinded.rows.length;
    const order = securePermutation(ownCount);
    ownRowsInSendOrder = new Uint32Array(ownCount);
    for (let i = 0; i < ownCount; i++) ownRowsInSendOrder[i] = blinded.rows[order[i]!]!;
    ownDouble = new Uint8Array(ownCount * 16);
    for (let seq = 0, start = 0; start < ownCount || seq === 0; seq++, start += perMessage) {
      const end = Math.min(ownCount, start + perMessage);
      const points = new Uint8Array((end - start) * POINT_BYTES);
      for (let i = start; i < end; i++) {
        const from = order[i]! * POINT_BYTES;
        points.set(blinded.points.subarray(from, from + POINT_BYTES), (i - start) * POINT_BYTES);
      }
      await channel.send(message('psi.blinded', { seq, points, last: end >= ownCount }));
    }
  })();
  // A local failure (bad input under --strict, a worker crash) must not leave the reader
  // below waiting for a peer that is itself waiting: close the channel and report it.
  let ownFailure: unknown;
  ownSide.catch((e) => {
    ownFailure = e;
    channel.close('local failure');
  });
  const next = () =>
    channel.next().catch((e) => {
      throw ownFailure ?? e;
    });

  // Peer side: re-blind what the peer sends, remember it, answer in order (or shuffled).
  const peerSet = new PointSet();
  let peerCount = 0;
  let peerDone = false;
  let ownReceived = 0;
  let ownRepliesDone = !learnsOwn;
  const held = shuffleReplies ? new GrowableBytes() : undefined;
  let replySeq = 0;
  const pipeline = new OrderedPipeline(executor.threads * 4);

  const reply = async (points: Uint8Array, last: boolean) => {
    for (let off = 0; off < points.length; off += POINT_BYTES) peerSet.addOrGet(points, off, 0);
    if (!peerLearns) return;
    if (held) {
      held.append(points);
      if (last) await sendShuffled(channel, held.bytes(), perMessage);
      return;
    }
    await channel.send(message('psi.reblinded', { seq: replySeq++, points, last }));
  };

  let expectedPeerSeq = 0;
  while (!peerDone || !ownRepliesDone) {
    const msg = await next();
    if (msg.t === 'psi.blinded') {
      if (peerDone) throw errors.protocol('psi.blinded after the last batch');
      if (msg.seq !== expectedPeerSeq++) throw errors.protocol(`psi.blinded batch ${msg.seq} out of order`);
      if (msg.points.length % POINT_BYTES !== 0) throw errors.protocol('psi.blinded points are not whole 32-byte values');
      peerCount += msg.points.length / POINT_BYTES;
      peerDone = msg.last;
      const last = msg.last;
      await pipeline.push(executor.reblind(backend, copyOf(msg.points), scalar), (points) => reply(points, last));
    } else if (msg.t === 'psi.reblinded') {
      if (!learnsOwn) throw errors.protocol('received psi.reblinded in a mode where this side learns nothing');
      await ownSide;
      if (msg.points.length % POINT_BYTES !== 0) throw errors.protocol('psi.reblinded points are not whole 32-byte values');
      const count = msg.points.length / POINT_BYTES;
      if (ownReceived + count > ownCount) throw errors.protocol('the peer returned more values than this party sent');
      for (let i = 0; i < count; i++) {
        ownDouble!.set(msg.points.subarray(i * POINT_BYTES, i * POINT_BYTES + 16), (ownReceived + i) * 16);
      }
      ownReceived += count;
      if (msg.last) {
        if (ownReceived !== ownCount) throw errors.protocol(`the peer returned ${ownReceived} of ${ownCount} values`);
        ownRepliesDone = true;
      }
    } else {
      throw errors.protocol(`unexpected ${msg.t} during PSI`);
    }
  }
  await pipeline.drain();
  await ownSide;

  const counts = { ownCount: realCount, sentCount: ownCount, peerCount, duplicates };
  if (!learnsOwn) return { ...counts, intersectionSize: undefined, rows: undefined };
  const hits: number[] = [];
  // Under 'cardinality' the replies are shuffled, so position i is not send position i: no
  // dummy can match anyway (random inputs); otherwise they are skipped by their row.
  const isDummy = (i: number) => !shuffleReplies && ownRowsInSendOrder![i] === DUMMY_ROW;
  for (let i = 0; i < ownCount; i++) if (!isDummy(i) && peerSet.has(ownDouble!, i * 16)) hits.push(i);
  if (shuffleReplies) return { ...counts, intersectionSize: hits.length, rows: undefined };
  const order = canonicalOrder(ownDouble!, Uint32Array.from(hits));
  const rows = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) rows[i] = ownRowsInSendOrder![order[i]!]!;
  return { ...counts, intersectionSize: rows.length, rows };
}

/**
 * The blinded IDs followed by dummies up to `padTo`: random 32-byte inputs, hashed with the
 * job's prefix and blinded with the party's scalar on the same executor, so on the wire a
 * dummy is a pseudo-random group element like any blinded ID. Their row is DUMMY_ROW.
 */
async function padded(
  config: PsiPartyConfig,
  blinded: { points: Uint8Array; rows: Uint32Array },
  scalar: Uint8Array,
): Promise<{ points: Uint8Array; rows: Uint32Array; realCount: number }> {
  const realCount = blinded.rows.length;
  const padTo = config.padTo;
  if (padTo === undefined) return { ...blinded, realCount };
  checkPadTo(padTo);
  if (padTo < realCount) {
    throw errors.optionInvalid(
      '--pad-to',
      `${padTo} is smaller than the ${realCount} distinct IDs of the ${config.side} side`,
      `pass --pad-to ${realCount} or more (padding can hide a set's size, not shrink it), or leave it out`,
    );
  }
  if (padTo === realCount) return { ...blinded, realCount };
  const points = new Uint8Array(padTo * POINT_BYTES);
  points.set(blinded.points);
  const prefix = jobHashPrefix(config.jobId);
  const pipeline = new OrderedPipeline(config.executor.threads * 4);
  for (let first = realCount; first < padTo; first += DUMMY_BATCH) {
    const count = Math.min(DUMMY_BATCH, padTo - first);
    const ids = { bytes: new Uint8Array(randomBytes(count * 32)), offsets: Uint32Array.from({ length: count + 1 }, (_, i) => i * 32) };
    await pipeline.push(config.executor.hashAndBlind(config.backend, prefix, ids, scalar), (dummies) => {
      points.set(dummies, first * POINT_BYTES);
    });
  }
  await pipeline.drain();
  const rows = new Uint32Array(padTo).fill(DUMMY_ROW);
  rows.set(blinded.rows);
  return { points, rows, realCount };
}

/** Refuses a --pad-to that is not a whole number in 1..MAX_PAD_TO. */
export function checkPadTo(padTo: number): number {
  if (!Number.isInteger(padTo) || padTo < 1 || padTo > MAX_PAD_TO) {
    throw errors.optionInvalid('--pad-to', `must be a whole number from 1 to ${MAX_PAD_TO.toLocaleString('en')}, got ${String(padTo)}`);
  }
  return padTo;
}

/** Blinds every own ID on the executor, keeping batch order, and drops repeated IDs. */
async function blindOwn(
  config: PsiPartyConfig,
  own: AsyncIterable<OwnIdBatch>,
  scalar: Uint8Array,
  countDuplicate: () => void,
): Promise<{ points: Uint8Array; rows: Uint32Array }> {
  const prefix = jobHashPrefix(config.jobId);
  const seen = new PointSet();
  const points = new GrowableBytes();
  const rows: number[] = [];
  const pipeline = new OrderedPipeline(config.executor.threads * 4);
  for await (const batch of own) {
    if (batchSize(batch.ids) === 0) continue;
    const batchRows = batch.rows;
    await pipeline.push(config.executor.hashAndBlind(config.backend, prefix, batch.ids, scalar), async (blinded) => {
      for (let i = 0; i < batchRows.length; i++) {
        const first = seen.addOrGet(blinded, i * POINT_BYTES, batchRows[i]!);
        if (first >= 0) {
          countDuplicate();
          config.onDuplicate?.(batchRows[i]!, first);
          continue;
        }
        points.append(blinded.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES));
        rows.push(batchRows[i]!);
      }
    });
  }
  await pipeline.drain();
  return { points: points.bytes(), rows: Uint32Array.from(rows) };
}

async function sendShuffled(channel: Channel, points: Uint8Array, perMessage: number): Promise<void> {
  const n = points.length / POINT_BYTES;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  secureShuffle(order);
  for (let seq = 0, start = 0; start < n || seq === 0; seq++, start += perMessage) {
    const end = Math.min(n, start + perMessage);
    const batch = new Uint8Array((end - start) * POINT_BYTES);
    for (let i = start; i < end; i++) {
      batch.set(points.subarray(order[i]! * POINT_BYTES, (order[i]! + 1) * POINT_BYTES), (i - start) * POINT_BYTES);
    }
    await channel.send(message('psi.reblinded', { seq, points: batch, last: end >= n }));
  }
}

async function freshScalar(backend: BackendName): Promise<Uint8Array> {
  const { loadBackend } = await import('./backends/index.ts');
  return (await loadBackend(backend)).randomScalar();
}

/** A decoded frame's bytes may view a larger buffer; workers need one they can own. */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * Runs tasks concurrently but hands their results on in submission order, with at most
 * `limit` in flight: `push` waits while the pipeline is full, which is the backpressure
 * that keeps a 10M-ID stream in bounded memory.
 */
export class OrderedPipeline {
  private tail: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly limit: number;
  private failure: unknown;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  async push<T>(task: Promise<T>, consume: (value: T) => Promise<void> | void): Promise<void> {
    // Handled before anything can throw: a task refused after a failure (e.g. by a pool
    // that the other party's failure terminated) must not become an unhandled rejection.
    task.catch(() => {});
    if (this.failure !== undefined) throw this.failure;
    this.inFlight++;
    this.tail = this.tail
      .then(async () => consume(await task))
      .catch((e) => {
        this.failure ??= e;
      })
      .finally(() => {
        this.inFlight--;
        this.waiters.shift()?.();
      });
    while (this.inFlight >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure !== undefined) throw this.failure;
  }

  async drain(): Promise<void> {
    await this.tail;
    if (this.failure !== undefined) throw this.failure;
  }
}
