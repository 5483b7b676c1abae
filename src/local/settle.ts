/** Waiting for the parties of an in-process job, reporting the failure that caused the others. */
import { isJinqiaoError } from '../errors.ts';

/**
 * Waits for every party; when one fails, the others fail too (their channel closes, their
 * worker tasks are refused, a peer's reason arrives), so the error reported is the cause
 * rather than a consequence.
 */
export async function settleParties<T extends unknown[]>(parties: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(parties);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  if (failures.length > 0) {
    // A catalogued cause first, then an uncatalogued one (a bug), then a consequence.
    const consequence = (e: unknown) => isJinqiaoError(e) && (e.code === 'E_CHANNEL_CLOSED' || 'causedByPeer' in e);
    throw failures.find((e) => isJinqiaoError(e) && !consequence(e)) ?? failures.find((e) => !isJinqiaoError(e)) ?? failures[0];
  }
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as T;
}
