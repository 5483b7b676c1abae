/** Waiting for the parties of an in-process job, reporting the failure that caused the others. */
import { isJinqiaoError } from '../errors.ts';

/**
 * Waits for every party; when one fails, the others fail too (their channel closes), so
 * the error reported is the first that is not merely a consequence of another's.
 */
export async function settleParties<T extends unknown[]>(parties: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(parties);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  if (failures.length > 0) {
    const consequence = (e: unknown) => isJinqiaoError(e) && (e.code === 'E_CHANNEL_CLOSED' || 'causedByPeer' in e);
    throw failures.find((e) => !consequence(e)) ?? failures[0];
  }
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as T;
}
