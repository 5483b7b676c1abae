/**
 * The online phase of unbalanced PSI, verification and blind lookup: the bank obtains the
 * agency's OPRF at its own inputs (see oprf.ts for the construction and who learns what).
 *
 *   bank → agency   oprf.hello      key id, backend and domain the bank's tag file was made for
 *   bank → agency   oprf.blinded    c·H1(x) for the bank's distinct inputs, in batches
 *   agency → bank   oprf.evaluated  k·(c·H1(x)), batch by batch in the order received
 *
 * The agency refuses a session for another key or domain than it serves, and one that asks
 * for more evaluations than its limit (`maxEvaluations`, the rate limit the audit log
 * records). Memory on the bank side is the tag set plus one batch per worker in flight; the
 * agency holds nothing per session but the count.
 */
import { errors, isJinqiaoError } from '../errors.ts';
import { OrderedPipeline, type OwnIdBatch } from '../psi/ecdh.ts';
import { inlineExecutor, type PsiExecutor } from '../psi/executor.ts';
import { jobHashPrefix, POINT_BYTES, type BackendName } from '../psi/group.ts';
import { PointSet } from '../psi/point-set.ts';
import type { Channel } from '../protocol/channel.ts';
import { message, type MessageOf } from '../protocol/messages.ts';
import { blindingScalars, TAG_BYTES, tagOf, type BlindingScalars } from './oprf.ts';
import type { OprfKey } from './oprf-key.ts';
import type { TagSet } from './tag-set.ts';

// Small enough that the agency starts while the bank still hashes; each batch is split across workers.
const POINTS_PER_MESSAGE = 4096;

/**
 * `run` over every point, split across the pool's workers (one message would otherwise
 * occupy one); each part gets a buffer of its own, which the pool transfers.
 */
function splitOnPool(executor: PsiExecutor, points: Uint8Array, run: (part: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array> {
  const count = points.length / POINT_BYTES;
  const per = Math.max(256, Math.ceil(count / executor.threads));
  if (count <= per) return run(new Uint8Array(points));
  const parts: Promise<Uint8Array>[] = [];
  for (let start = 0; start < count; start += per) parts.push(run(points.slice(start * POINT_BYTES, Math.min(count, start + per) * POINT_BYTES)));
  return Promise.all(parts).then((done) => {
    const out = new Uint8Array(points.length);
    let at = 0;
    for (const part of done) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  });
}

/** The hash prefix of one key period and one use (`psi`, `verify`, `lookup:<purpose>`). */
export function oprfHashPrefix(keyId: string, domain: string): Uint8Array {
  return jobHashPrefix(`oprf/v1/${keyId}/${domain}`);
}

export interface BankOnlineConfig {
  readonly channel: Channel;
  readonly executor: PsiExecutor;
  readonly backend: BackendName;
  readonly keyId: string;
  readonly domain: string;
  /** The agency's tags, or their promise: needed from the first answer on, so a tag file can still be loading while the bank hashes. */
  readonly tags: TagSet | Promise<TagSet>;
  /** This session's blinding scalars, drawn ahead of time (fresh for every session; never reuse one). */
  readonly blinding?: BlindingScalars;
}

/** One of the bank's inputs found among the agency's tags. */
export interface OnlineMatch {
  /** The caller's row for the input (a file line, a claim index). */
  readonly row: number;
  /** The index of the tag in the tag set (its label, in a labeled set). */
  readonly tagIndex: number;
  /** k·H1(x): the key to the record's label. */
  readonly evaluation: Uint8Array;
}

export interface BankOnlineResult {
  /** Distinct inputs evaluated (what the agency counted). */
  readonly evaluated: number;
  /** Inputs dropped as repeats of an earlier one: (row, first row). */
  readonly repeats: readonly (readonly [number, number])[];
}

/** (Bank) Evaluates the agency's OPRF at `inputs` and reports each that hits a tag. */
export async function queryTags(config: BankOnlineConfig, inputs: AsyncIterable<OwnIdBatch>, onMatch: (match: OnlineMatch) => void): Promise<BankOnlineResult> {
  const { channel, executor, backend } = config;
  const blinding = config.blinding ?? (await blindingScalars(backend));
  const prefix = oprfHashPrefix(config.keyId, config.domain);
  await channel.send(message('oprf.hello', { keyId: config.keyId, backend, domain: config.domain }));
  const seen = new PointSet();
  const repeats: [number, number][] = [];
  const pending: Uint32Array[] = [];
  let evaluated = 0;
  let sentAll = false;
  let sentBatches = 0;

  const send = async () => {
    const pipeline = new OrderedPipeline(executor.threads * 2);
    let points = new Uint8Array(POINTS_PER_MESSAGE * POINT_BYTES);
    let rows = new Uint32Array(POINTS_PER_MESSAGE);
    let fill = 0;
    const flush = async (last: boolean) => {
      pending.push(rows.slice(0, fill));
      await channel.send(message('oprf.blinded', { seq: sentBatches++, points: points.slice(0, fill * POINT_BYTES), last }));
      fill = 0;
    };
    for await (const batch of inputs) {
      await pipeline.push(executor.hashAndBlind(backend, prefix, batch.ids, blinding.blind), async (blinded) => {
        for (let i = 0; i < batch.rows.length; i++) {
          const first = seen.addOrGet(blinded, i * POINT_BYTES, batch.rows[i]!);
          if (first >= 0) {
            repeats.push([batch.rows[i]!, first]);
            continue;
          }
          points.set(blinded.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES), fill * POINT_BYTES);
          rows[fill++] = batch.rows[i]!;
          evaluated++;
          if (fill === POINTS_PER_MESSAGE) {
            await flush(false);
            points = new Uint8Array(POINTS_PER_MESSAGE * POINT_BYTES);
            rows = new Uint32Array(POINTS_PER_MESSAGE);
          }
        }
      });
    }
    await pipeline.drain();
    await flush(true);
    sentAll = true;
  };

  const receive = async () => {
    const pipeline = new OrderedPipeline(executor.threads * 2);
    for (let seq = 0; ; seq++) {
      const reply = await channel.receive('oprf.evaluated');
      if (reply.seq !== seq) throw errors.protocol(`oprf.evaluated batch ${reply.seq} out of order (expected ${seq})`);
      const rows = pending.shift();
      if (rows === undefined || reply.points.length !== rows.length * POINT_BYTES) throw errors.protocol(`oprf.evaluated batch ${seq} does not answer the batch sent`);
      // One multiply per input (c⁻¹); a twist point, which no honest agency sends, is refused.
      const unblinded = splitOnPool(executor, reply.points, (part) => executor.unblind(backend, part, blinding.unblind));
      await pipeline.push(unblinded, async (evaluations) => {
        const tags = await config.tags;
        const tag = new Uint8Array(TAG_BYTES);
        for (let i = 0; i < rows.length; i++) {
          const evaluation = evaluations.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES);
          tagOf(evaluation, tag, 0);
          const tagIndex = tags.indexOf(tag, 0);
          if (tagIndex >= 0) onMatch({ row: rows[i]!, tagIndex, evaluation });
        }
      });
      if (reply.last) {
        if (!sentAll || pending.length > 0) throw errors.protocol('the agency ended the session before answering every batch');
        break;
      }
    }
    await pipeline.drain();
  };

  await Promise.all([send(), receive()]);
  return { evaluated, repeats };
}

export interface AgencyOnlineConfig {
  readonly channel: Channel;
  readonly executor: PsiExecutor;
  readonly key: OprfKey;
  /** The domains this agency answers (those it published tags for). */
  readonly domains: readonly string[];
  /** Most evaluations it grants one session. */
  readonly maxEvaluations: number;
  /** The session's `oprf.hello`, when the caller has already received it (a service dispatching on the message type). */
  readonly hello?: MessageOf<'oprf.hello'>;
  /** Called with each batch's count before it is evaluated: an agency appends to its audit log here, so no answer leaves unrecorded. */
  readonly beforeAnswer?: (batch: { readonly seq: number; readonly evaluations: number; readonly total: number; readonly last: boolean }) => Promise<void>;
}

/** (Agency) Answers one session: k·B for every blinded B, one multiply each; returns the count. */
export async function answerTagQueries(config: AgencyOnlineConfig): Promise<{ evaluations: number; domain: string }> {
  const { channel, executor, key } = config;
  const hello = config.hello ?? (await channel.receive('oprf.hello'));
  if (hello.keyId !== key.keyId) throw errors.oprfKeyMismatch(hello.keyId, key.keyId);
  if (hello.backend !== key.backend) throw errors.protocol(`the bank asks for backend ${hello.backend}; the key is for ${key.backend}`);
  if (!config.domains.includes(hello.domain)) throw errors.protocol(`this agency does not answer domain ${JSON.stringify(hello.domain)}`);
  let evaluations = 0;
  const pipeline = new OrderedPipeline(executor.threads * 2);
  for (let seq = 0; ; seq++) {
    const batch = await channel.receive('oprf.blinded');
    if (batch.seq !== seq) throw errors.protocol(`oprf.blinded batch ${batch.seq} out of order (expected ${seq})`);
    if (batch.points.length % POINT_BYTES !== 0) throw errors.protocol('oprf.blinded points are not whole 32-byte values');
    evaluations += batch.points.length / POINT_BYTES;
    if (evaluations > config.maxEvaluations) throw errors.oprfLimitExceeded(config.maxEvaluations);
    const last = batch.last;
    await config.beforeAnswer?.({ seq, evaluations: batch.points.length / POINT_BYTES, total: evaluations, last });
    await pipeline.push(splitOnPool(executor, batch.points, (part) => executor.reblind(key.backend, part, key.scalar)), (points) =>
      channel.send(message('oprf.evaluated', { seq, points, last })),
    );
    if (last) break;
  }
  await pipeline.drain();
  return { evaluations, domain: hello.domain };
}

/**
 * Both ends of an in-process session: their results, or the failure that ended it. When one
 * end fails, the other then fails too on the closed channel; that second failure is only an
 * echo, so the first end's error (an agency's refusal, a bank's bad input) is what is thrown.
 */
export async function bothEnds<B, A>(bank: Promise<B>, agency: Promise<A>): Promise<[B, A]> {
  const [b, a] = await Promise.allSettled([bank, agency]);
  if (b.status === 'fulfilled' && a.status === 'fulfilled') return [b.value, a.value];
  const failures = [b, a].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  throw failures.find((e) => !isJinqiaoError(e) || e.code !== 'E_CHANNEL_CLOSED') ?? failures[0];
}

/**
 * An executor that keeps small jobs (a call about one enterprise) on the calling thread and
 * sends larger ones to `pool`: a worker's round trip costs more than a few group operations.
 */
export function smallJobsInline(pool: PsiExecutor, maxInlinePoints = 64): PsiExecutor {
  const inline = inlineExecutor();
  return {
    threads: pool.threads,
    hashAndBlind: (backend, prefix, batch, scalar) => (batch.offsets.length - 1 <= maxInlinePoints ? inline : pool).hashAndBlind(backend, prefix, batch, scalar),
    reblind: (backend, points, scalar) => (points.length / POINT_BYTES <= maxInlinePoints ? inline : pool).reblind(backend, points, scalar),
    unblind: (backend, points, scalar) => (points.length / POINT_BYTES <= maxInlinePoints ? inline : pool).unblind(backend, points, scalar),
    close: () => Promise.resolve(),
  };
}
