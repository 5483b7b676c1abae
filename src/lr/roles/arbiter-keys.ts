/**
 * (Arbiter) The key setup both arbiters (training's scheduled one and scoring's) start
 * with: every party names the rotations its products need, the arbiter makes one CKKS key
 * pair with the union of them and hands every party the public, relinearisation and Galois
 * keys. The secret key never leaves the returned owner.
 */
import { errors } from '../../errors.ts';
import type { HeBackend, HeKeyOwner, HeParams } from '../../he/backend.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message } from '../../protocol/messages.ts';

/** With `secretKey` (a kept training key, src/lr/kept-key.ts) the keys handed out are made from it instead of a fresh pair. */
export async function distributeKeys(backend: HeBackend, params: HeParams, parties: readonly Channel[], secretKey?: Uint8Array): Promise<HeKeyOwner> {
  const requests = await Promise.all(parties.map((c) => c.receive('he.keyRequest')));
  const steps = [...new Set(requests.flatMap((r) => r.rotationSteps))].sort((a, b) => a - b);
  for (const s of steps) {
    if (!Number.isInteger(s)) throw errors.protocol(`rotation step ${s} is not an integer`);
  }
  const owner = await backend.createKeyOwner(params, steps, secretKey);
  try {
    const bundle = owner.publicBundle();
    const keys = message('he.publicKeys', {
      params: JSON.stringify(bundle.params),
      rotationSteps: [...bundle.rotationSteps],
      publicKey: bundle.publicKey,
      relinKeys: bundle.relinKeys,
      galoisKeys: bundle.galoisKeys,
    });
    await Promise.all(parties.map((c) => c.send(keys)));
    return owner;
  } catch (e) {
    owner.dispose();
    throw e;
  }
}
