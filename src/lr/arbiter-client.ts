/**
 * (Label, Features) A party's side of the arbiter: asking for the public keys, and
 * revealing a ciphertext the party holds through masked decryption.
 *
 * Precision: the arbiter can only round to a grid 2^-9 of the declared bound (masks are
 * 2^40 times larger than the values and SEAL decodes through doubles, see he/masking.ts).
 * So `reveal` takes two passes: the coarse value v1, then the ciphertext minus v1, whose
 * magnitude is within one grid step, masked against that much smaller bound (never below
 * 2^-3). The result is exact to that second bound's grid: 2^-12 when the first bound is at
 * most 64, and 2^-18 of the first bound otherwise (2^-10 for scores, bounded by 256). That
 * is the reveal's own rounding: a revealed score also carries the CKKS error of computing it
 * (test/cli/monitor.test.ts sees up to 1.5 × 2^-10 against a logit worked out by hand). Both
 * passes hide their value behind 40-bit statistical masks, so the arbiter learns nothing
 * from either; the party learns only the value it is entitled to.
 */
import { errors } from '../errors.ts';
import type { CiphertextBytes, CoefficientLayout, HeEvaluator, HeParams, PublicKeyBundle } from '../he/backend.ts';
import { gridFor } from '../he/masking.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';

/** The smallest bound the arbiter accepts; its grid is the finest it rounds to. */
const FINEST_BOUND_BITS = -3;

export class ArbiterClient {
  readonly #channel: Channel;
  #nextRequest = 0;
  #evaluator: HeEvaluator | undefined;

  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** Asks the arbiter for keys that allow `rotationSteps`, and waits for the bundle every party receives. */
  async requestKeys(rotationSteps: readonly number[]): Promise<PublicKeyBundle> {
    await this.#channel.send(message('he.keyRequest', { rotationSteps: [...rotationSteps] }));
    const keys = await this.#channel.receive('he.publicKeys');
    let params: HeParams;
    try {
      params = JSON.parse(keys.params) as HeParams;
    } catch {
      throw errors.messageMalformed('he.publicKeys: params is not JSON');
    }
    return { params, rotationSteps: keys.rotationSteps, publicKey: keys.publicKey, relinKeys: keys.relinKeys, galoisKeys: keys.galoisKeys };
  }

  use(evaluator: HeEvaluator): void {
    this.#evaluator = evaluator;
  }

  /** The first `count` values of `ct`, |values| <= bound, to the arbiter's finest grid. */
  async reveal(ct: CiphertextBytes, count: number, bound: number): Promise<Float64Array> {
    const evaluator = this.#evaluator;
    if (!evaluator) throw errors.protocol('reveal before the keys arrived');
    const coarse = await this.#once(evaluator, ct, count, bound);
    const firstBits = Math.max(Math.ceil(Math.log2(bound)), FINEST_BOUND_BITS);
    const remainderBound = 2 ** Math.max(Math.ceil(Math.log2(2 * gridFor(evaluator.params, firstBits))), FINEST_BOUND_BITS);
    const negated = new Float64Array(count);
    for (let i = 0; i < count; i++) negated[i] = -coarse[i]!;
    const [remainderCt] = evaluator.addPlain([ct], negated);
    const remainder = await this.#once(evaluator, remainderCt!, count, remainderBound);
    for (let i = 0; i < count; i++) coarse[i]! += remainder[i]!;
    return coarse;
  }

  /**
   * The first `count` column sums of a coefficient-packed `ct` (he/coefficients.ts), each
   * within 1/8 of its integer: one pass, the mask uniform over every coefficient.
   */
  async revealCoefficients(ct: CiphertextBytes, layout: CoefficientLayout, count: number): Promise<Float64Array> {
    const evaluator = this.#evaluator;
    if (!evaluator) throw errors.protocol('reveal before the keys arrived');
    const request = this.#nextRequest++;
    const masked = evaluator.maskCoefficients(ct, layout, count);
    await this.#channel.send(message('he.decryptCoefficients', { request, ciphertext: masked.masked, rowsPerChunk: layout.rowsPerChunk, count }));
    const reply = await this.#channel.receive('he.decrypted');
    if (reply.request !== request) throw errors.protocol(`the arbiter answered request ${reply.request}, expected ${request}`);
    return evaluator.unmaskCoefficients(reply.values, masked.secret);
  }

  async done(): Promise<void> {
    await this.#channel.send(message('he.done', {}));
  }

  async #once(evaluator: HeEvaluator, ct: CiphertextBytes, count: number, bound: number): Promise<Float64Array> {
    const request = this.#nextRequest++;
    const masked = evaluator.maskForDecryption(ct, count, bound);
    await this.#channel.send(message('he.decrypt', { request, ciphertext: masked.masked, count, boundBits: masked.boundBits }));
    const reply = await this.#channel.receive('he.decrypted');
    if (reply.request !== request) throw errors.protocol(`the arbiter answered request ${reply.request}, expected ${request}`);
    return evaluator.unmask(reply.values, masked.secret);
  }
}
