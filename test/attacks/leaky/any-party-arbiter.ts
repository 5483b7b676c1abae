/**
 * DELIBERATELY LEAKY. The scoring arbiter as it was before it decrypted for the label party
 * only (src/lr/roles/arbiter.ts): it decrypts whatever masked ciphertext any party sends.
 * The positive controls of the attacks that need an agency to read its own products (the
 * gradient-revealing protocol, the decryption-oracle misuse, kept-key weight recovery) run
 * against this one; never reachable from the CLI, the services or the library's exports.
 */
import type { HeBackend, HeParams } from '../../../src/he/backend.ts';
import { distributeKeys } from '../../../src/lr/roles/arbiter-keys.ts';
import type { Channel } from '../../../src/protocol/channel.ts';
import { message } from '../../../src/protocol/messages.ts';

export async function runAnyPartyArbiter(backend: HeBackend, params: HeParams, parties: readonly Channel[], secretKey?: Uint8Array): Promise<void> {
  const owner = await distributeKeys(backend, params, parties, secretKey);
  try {
    await Promise.all(
      parties.map(async (channel) => {
        for (;;) {
          const msg = await channel.next();
          if (msg.t === 'he.done') return;
          if (msg.t !== 'he.decrypt') throw new Error(`the leaky arbiter does not serve ${msg.t}`);
          await channel.send(message('he.decrypted', { request: msg.request, values: owner.decryptMasked(msg.ciphertext, msg.count, msg.boundBits) }));
        }
      }),
    );
  } finally {
    owner.dispose();
  }
}
