/**
 * When a party fails, every peer must learn it at once rather than wait for a message that
 * will never come: the party tells each peer (with the error code only, since messages may
 * quote data, or with the message too where its code says it cannot: SHAREABLE_CODES) and
 * closes its channels, then rethrows.
 */
import { isJinqiaoError, SHAREABLE_CODES } from '../errors.ts';
import type { Channel } from './channel.ts';
import { message } from './messages.ts';

export async function abortingPeersOnFailure<T>(channels: readonly Channel[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const code = isJinqiaoError(e) ? e.code : 'E_INTERNAL';
    const reason = isJinqiaoError(e) && SHAREABLE_CODES.has(e.code) ? `${code}: ${e.message}` : `the peer stopped (${code})`;
    await Promise.all(
      channels.map(async (channel) => {
        await channel.send(message('job.abort', { reason })).catch(() => {});
        channel.close(`aborted (${code})`);
      }),
    );
    throw e;
  }
}
