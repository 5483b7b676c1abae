/**
 * When a party fails, every peer must learn it at once rather than wait for a message that
 * will never come: the party tells each peer (with the error code only, since messages may
 * quote data) and closes its channels, then rethrows.
 */
import { isJinqiaoError } from '../errors.ts';
import type { Channel } from './channel.ts';
import { message } from './messages.ts';

export async function abortingPeersOnFailure<T>(channels: readonly Channel[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const code = isJinqiaoError(e) ? e.code : 'E_INTERNAL';
    await Promise.all(
      channels.map(async (channel) => {
        await channel.send(message('job.abort', { reason: `the peer stopped (${code})` })).catch(() => {});
        channel.close(`aborted (${code})`);
      }),
    );
    throw e;
  }
}
