/**
 * (Arbiter) The financing credit service platform's role in scoring sessions: it makes the
 * CKKS key pair, hands every party the public, relinearisation and Galois keys, and decrypts
 * masked ciphertexts on request. Training uses the scheduled arbiter (training-arbiter.ts),
 * which never returns a plaintext outside the schedule.
 *
 * What it learns: the parties' rotation needs (which reveal the power of two above each
 * party's feature count), the number and size of decryption requests, and masked values
 * g + r with r uniform over 2^40 times the declared bound, rounded: statistically nothing
 * about g (distance <= 2^-40). It never sees a feature value, label, ID, score or gradient.
 * Assumption: it does not collude with any party; a colluding arbiter and label party would
 * unmask everything. It decrypts for the label party (the first channel) only.
 */
import { errors } from '../../errors.ts';
import type { HeBackend, HeKeyOwner, HeParams } from '../../he/backend.ts';
import type { Channel } from '../../protocol/channel.ts';
import { message } from '../../protocol/messages.ts';
import { distributeKeys } from './arbiter-keys.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';

export interface ArbiterOptions {
  readonly backend: HeBackend;
  readonly params: HeParams;
  /** One channel per party, label first. */
  readonly parties: readonly Channel[];
  /** Serve `he.decryptCoefficients` (binning's coefficient-packed sums); refused otherwise. */
  readonly coefficients?: boolean;
  /**
   * Scoring a model whose weights were kept encrypted: the training job's kept secret key
   * (src/lr/kept-key.ts), under which those weights are; `params` must be the ones it names.
   */
  readonly secretKey?: Uint8Array;
}

export interface ArbiterReport {
  readonly decryptions: number;
}

export async function runArbiter(options: ArbiterOptions): Promise<ArbiterReport> {
  return abortingPeersOnFailure(options.parties, () => arbiter(options));
}

async function arbiter(options: ArbiterOptions): Promise<ArbiterReport> {
  const { parties } = options;
  const owner: HeKeyOwner = await distributeKeys(options.backend, options.params, parties, options.secretKey);
  let decryptions = 0;
  try {
    await Promise.all(
      parties.map(async (channel, party) => {
        for (;;) {
          const msg = await channel.next();
          if (msg.t === 'he.done') return;
          // Scoring and binning reveal to the label party alone. An agency has nothing to
          // decrypt; one that asks would read its own products, and under a kept training key
          // X·[[w]] for an X it chooses is its weights (test/attacks/kept-key-agency-decrypt.test.ts).
          if (party !== 0) throw errors.protocol(`the arbiter decrypts for the label party only; ${channel.peer} asked for ${msg.t}`);
          let values: Uint8Array;
          if (msg.t === 'he.decryptCoefficients' && options.coefficients) {
            // Coefficient packing (binning): masked uniformly over every coefficient, rounded to the grid.
            values = owner.decryptCoefficients(msg.ciphertext, msg.rowsPerChunk, msg.count);
          } else {
            if (msg.t !== 'he.decrypt') throw errors.protocol(`the arbiter does not serve ${msg.t}`);
            if (!Number.isInteger(msg.boundBits)) throw errors.protocol('he.decrypt: boundBits must be an integer');
            values = owner.decryptMasked(msg.ciphertext, msg.count, msg.boundBits);
          }
          decryptions++;
          await channel.send(message('he.decrypted', { request: msg.request, values }));
        }
      }),
    );
  } finally {
    owner.dispose();
  }
  return { decryptions };
}
