/**
 * Unbalanced ECDH-PSI for scoring: an agency's whole register is blinded once per session,
 * so that each request costs a handful of group operations instead of a pass over millions
 * of enterprises.
 *
 *   agency → bank   score.prepared     b·H(y) for every enterprise y it holds, shuffled (once)
 *   bank            a·(b·H(y)) for all of them, kept as a set keyed to positions (once)
 *   bank → agency   score.query        a·H(x) for the query slots (per request)
 *   agency → bank   score.queryReply   b·(a·H(x)) in the same order (per request)
 *
 * The bank learns, per query slot, whether and where the agency holds the enterprise (the
 * position in the shuffled list), and the size of the agency's register; nothing about any
 * enterprise it does not ask for. The agency learns the number of query slots and, because
 * the bank's key is fixed for the session, when the same enterprise is asked twice in a
 * session. The scalars are fresh per session and per pair, hashes bound to the session.
 */
import { errors } from '../errors.ts';
import type { IdType } from '../ids/normalise.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import { jobHashPrefix, POINT_BYTES, type BackendName } from '../psi/group.ts';
import { PointSet } from '../psi/point-set.ts';
import { idBatchesFromTable } from '../psi/source.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';
import { GrowableBytes } from '../util/growable-bytes.ts';
import { securePermutation } from '../util/secure-shuffle.ts';

const POINTS_PER_MESSAGE = 16384;

export interface PreparedSetContext {
  readonly channel: Channel;
  readonly executor: PsiExecutor;
  readonly backend: BackendName;
  /** Binds every hash to the session and the pair. */
  readonly hashDomain: string;
  readonly scalar: Uint8Array;
}

type IdTable = { readonly file: string; readonly ids: readonly string[]; readonly lines: Uint32Array };

/** (Agency) Blinds and publishes its register; returns the table row of each published position. */
export async function publishPreparedSet(context: PreparedSetContext, table: IdTable, idType: IdType): Promise<Uint32Array> {
  const { points, rows } = await blindTable(context, table, idType);
  const seen = new PointSet(rows.length);
  const distinct: number[] = [];
  for (let i = 0; i < rows.length; i++) if (seen.addOrGet(points, i * POINT_BYTES, i) < 0) distinct.push(i);
  const order = securePermutation(distinct.length);
  const rowsInOrder = Uint32Array.from(order, (k) => rows[distinct[k]!]!);
  for (let seq = 0, start = 0; start < order.length || seq === 0; seq++, start += POINTS_PER_MESSAGE) {
    const end = Math.min(order.length, start + POINTS_PER_MESSAGE);
    const batch = new Uint8Array((end - start) * POINT_BYTES);
    for (let i = start; i < end; i++) {
      const from = distinct[order[i]!]! * POINT_BYTES;
      batch.set(points.subarray(from, from + POINT_BYTES), (i - start) * POINT_BYTES);
    }
    await context.channel.send(message('score.prepared', { seq, points: batch, last: end >= order.length }));
  }
  return rowsInOrder;
}

/** (Bank) Receives an agency's prepared register and keys a·b·H(y) to its positions. */
export async function receivePreparedSet(context: PreparedSetContext): Promise<{ set: PointSet; size: number }> {
  const set = new PointSet();
  let size = 0;
  for (let seq = 0; ; seq++) {
    const batch = await context.channel.receive('score.prepared');
    if (batch.seq !== seq) throw errors.protocol(`score.prepared batch ${batch.seq} out of order`);
    if (batch.points.length % POINT_BYTES !== 0) throw errors.protocol('score.prepared points are not whole 32-byte values');
    const doubled = await context.executor.reblind(context.backend, new Uint8Array(batch.points), context.scalar);
    for (let off = 0; off < doubled.length; off += POINT_BYTES) set.addOrGet(doubled, off, size++);
    if (batch.last) return { set, size };
  }
}

/** (Bank) a·H(x) for every query ID, in order. */
export async function blindQuery(context: PreparedSetContext, ids: readonly string[], idType: IdType): Promise<Uint8Array> {
  const table = { file: 'query', ids, lines: Uint32Array.from(ids, (_, i) => i + 1) };
  const { points, rows } = await blindTable(context, table, idType);
  if (rows.length !== ids.length) throw errors.protocol('a query ID did not normalise');
  return points;
}

/** (Agency) b·(a·H(x)) for the bank's query points, in order. */
export async function answerQuery(context: PreparedSetContext, points: Uint8Array): Promise<Uint8Array> {
  if (points.length % POINT_BYTES !== 0) throw errors.protocol('score.query points are not whole 32-byte values');
  return context.executor.reblind(context.backend, new Uint8Array(points), context.scalar);
}

async function blindTable(context: PreparedSetContext, table: IdTable, idType: IdType): Promise<{ points: Uint8Array; rows: number[] }> {
  const prefix = jobHashPrefix(context.hashDomain);
  const points = new GrowableBytes();
  const rows: number[] = [];
  for await (const batch of idBatchesFromTable(table, idType).batches) {
    if (batch.rows.length === 0) continue;
    points.append(await context.executor.hashAndBlind(context.backend, prefix, batch.ids, context.scalar));
    rows.push(...batch.rows);
  }
  return { points: points.bytes().slice(), rows };
}
