/**
 * (Arbiter) The financing credit service platform's role in encrypted-model training
 * (../encrypted-model.ts): it makes the CKKS key pair, hands every party the public keys,
 * refreshes masked weight vectors into FRESH CIPHERTEXTS, and decrypts only what the
 * schedule allows, to the party it belongs to.
 *
 * Schedule (from train.plan; the label's plan is the job's, each agency's must agree):
 * - per batch of an epoch < epochs: at most two refreshes per party and vector (the two
 *   passes of its weights, and of its velocity with momentum, each of exactly its period),
 *   and for the label two `loss` decryptions of one value;
 * - at the end (epoch = epochs): two refreshes per party (its Polyak average), the label's
 *   `validation` decryptions (two passes over at most `validationRows` values), and each
 *   party's `weights` decryption (two passes of exactly its weight count), once per job and
 *   never with `keepEncrypted` (then the arbiter returns its secret key in the report, for its host to keep: kept-key.ts).
 * Anything else — another purpose, a size that is not the party's, an agency asking for a
 * plaintext before the end, a batch out of order, a second final reveal — is refused, and
 * the job fails (E_PROTOCOL). Every decryption is reported to `onDecryption` (the audit
 * hook) with the SHA-256 of the ciphertext before it is performed.
 *
 * What it learns: the plan, the counts and sizes of requests, and masked values v + r with
 * r uniform over 2^40 times the declared bound: statistically nothing (distance <= 2^-40).
 * Assumption: it does not collude with any party.
 */
import { createHash } from 'node:crypto';
import { errors } from '../../errors.ts';
import type { HeBackend, HeKeyOwner, HeParams } from '../../he/backend.ts';
import { nextPowerOfTwo } from '../../he/diagonals.ts';
import { unlessAborted, type Channel } from '../../protocol/channel.ts';
import { message, type Message, type MessageOf } from '../../protocol/messages.ts';
import { distributeKeys } from './arbiter-keys.ts';
import { abortingPeersOnFailure } from '../../protocol/abort.ts';
import type { TrainingPlan } from '../encrypted-model.ts';

/** One decryption as the arbiter's audit log records it. */
export interface DecryptionRecord {
  /** Position of the party's channel: 0 is the label. */
  readonly party: number;
  readonly peer: string;
  readonly kind: 'refresh' | 'loss' | 'validation' | 'weights';
  readonly epoch: number;
  readonly batch: number;
  readonly pass: number;
  readonly count: number;
  readonly boundBits: number;
  /** SHA-256 of the ciphertext as received, hex. */
  readonly ciphertextSha256: string;
}

export interface TrainingArbiterOptions {
  readonly backend: HeBackend;
  readonly params: HeParams;
  /** One channel per party, label first. */
  readonly parties: readonly Channel[];
  /** Called before every decryption; an audit log's append, or a test's recorder. */
  readonly onDecryption?: (record: DecryptionRecord) => unknown;
}

export interface TrainingArbiterReport {
  readonly decryptions: number;
  readonly refreshes: number;
  /**
   * With `keepEncrypted`: the job's secret key, for its host to keep (src/lr/kept-key.ts) so
   * that the encrypted model can be scored; absent otherwise, and the key dies with the job.
   */
  readonly keptSecretKey?: Uint8Array;
}

export async function runTrainingArbiter(options: TrainingArbiterOptions): Promise<TrainingArbiterReport> {
  return abortingPeersOnFailure(options.parties, () => arbiter(options));
}

async function arbiter(options: TrainingArbiterOptions): Promise<TrainingArbiterReport> {
  const { parties } = options;
  const owner: HeKeyOwner = await distributeKeys(options.backend, options.params, parties);
  const counts = { decryptions: 0, refreshes: 0 };
  let keptSecretKey: Uint8Array | undefined;
  try {
    const plans = await Promise.all(parties.map((c) => c.receive('train.plan')));
    const plan = checkPlans(plans);
    await Promise.all(
      parties.map(async (channel, party) => {
        const schedule = new PartySchedule(plan, party, channel.peer);
        for (;;) {
          const msg = unlessAborted(await channel.next(), channel.peer);
          if (msg.t === 'he.done') return;
          const record = schedule.admit(msg);
          await options.onDecryption?.(record);
          if (msg.t === 'he.refresh') {
            const ciphertext = owner.refreshMasked(msg.ciphertext, msg.period, msg.boundBits);
            counts.refreshes++;
            await channel.send(message('he.refreshed', { request: msg.request, ciphertext }));
          } else if (msg.t === 'train.decrypt') {
            const reply = owner.decryptMasked(msg.ciphertext, msg.count, msg.boundBits);
            counts.decryptions++;
            const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
            const values = Array.from({ length: msg.count }, (_, i) => view.getFloat64(8 * i, true));
            await channel.send(message('train.decrypted', { request: msg.request, values }));
          }
        }
      }),
    );
    // Only once every party has ended its part: a failed job keeps no key.
    if (plan.keepEncrypted) keptSecretKey = owner.exportSecretKey();
  } finally {
    owner.dispose();
  }
  return { ...counts, ...(keptSecretKey && { keptSecretKey }) };
}

/** The label's plan, once every agency's agrees with it and names its own width. */
function checkPlans(plans: readonly MessageOf<'train.plan'>[]): TrainingPlan {
  const [label, ...agencies] = plans;
  const plan: TrainingPlan = { epochs: label!.epochs, batchesPerEpoch: label!.batchesPerEpoch, validationRows: label!.validationRows, widths: label!.widths, vectors: label!.vectors, keepEncrypted: label!.keepEncrypted };
  if (plan.vectors !== 1 && plan.vectors !== 2) throw errors.protocol(`the label's plan refreshes ${plan.vectors} vectors per batch; 1 or 2 (with momentum)`);
  if (plan.widths.length !== plans.length || !plan.widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw errors.protocol(`the label's plan names ${plan.widths.length} widths for ${plans.length} parties`);
  }
  agencies.forEach((p, k) => {
    const same = p.epochs === plan.epochs && p.batchesPerEpoch === plan.batchesPerEpoch && p.validationRows === plan.validationRows && p.vectors === plan.vectors && p.keepEncrypted === plan.keepEncrypted;
    if (!same || p.widths.length !== 1 || p.widths[0] !== plan.widths[k + 1]) {
      throw errors.protocol(`party ${k + 1}'s training plan differs from the label's`);
    }
  });
  return plan;
}

/** What one party may still ask for; `admit` refuses anything else. */
class PartySchedule {
  readonly #plan: TrainingPlan;
  readonly #party: number;
  readonly #peer: string;
  readonly #period: number;
  /** Requests per (kind, epoch, batch). */
  readonly #used = new Map<string, number>();
  /** Position of the last training batch served, as epoch·batchesPerEpoch + batch. */
  #lastBatch = -1;
  #validationValues = 0;

  constructor(plan: TrainingPlan, party: number, peer: string) {
    this.#plan = plan;
    this.#party = party;
    this.#peer = peer;
    this.#period = nextPowerOfTwo(plan.widths[party]!);
  }

  admit(msg: Message): DecryptionRecord {
    if (msg.t !== 'he.refresh' && msg.t !== 'train.decrypt') throw errors.protocol(`the arbiter does not serve ${msg.t}`);
    const { epoch, batch, pass } = msg;
    const final = epoch === this.#plan.epochs;
    if (!(epoch <= this.#plan.epochs && (final ? batch === 0 : batch < this.#plan.batchesPerEpoch)) || (pass !== 0 && pass !== 1)) {
      this.#refuse(`batch ${epoch}/${batch} pass ${pass} is outside the plan of ${this.#plan.epochs} epochs × ${this.#plan.batchesPerEpoch} batches`);
    }
    const position = epoch * this.#plan.batchesPerEpoch + batch;
    if (position < this.#lastBatch) this.#refuse(`batch ${epoch}/${batch} comes after a later batch`);
    this.#lastBatch = position;
    const kind: DecryptionRecord['kind'] = msg.t === 'he.refresh' ? 'refresh' : (msg.purpose as DecryptionRecord['kind']);
    const count = msg.t === 'he.refresh' ? msg.period : msg.count;
    const label = this.#party === 0;
    switch (kind) {
      case 'refresh':
        if (count !== this.#period) this.#refuse(`a refresh of ${count} values; this party's weights have period ${this.#period}`);
        this.#use(kind, epoch, batch, final ? 2 : 2 * this.#plan.vectors);
        break;
      case 'loss':
        if (!label || final || count !== 1) this.#refuse('a loss decryption is one value per training batch, for the label only');
        this.#use(kind, epoch, batch, 2);
        break;
      case 'validation':
        if (!label || !final) this.#refuse('validation scores are decrypted for the label only, after training');
        this.#validationValues += count;
        if (this.#validationValues > 2 * this.#plan.validationRows) this.#refuse(`more than two passes over the ${this.#plan.validationRows} validation rows`);
        break;
      case 'weights':
        if (!final || this.#plan.keepEncrypted) this.#refuse('final weights are decrypted only after training, and never when they are kept encrypted');
        if (count !== this.#plan.widths[this.#party]) this.#refuse(`a final reveal of ${count} values; this party has ${this.#plan.widths[this.#party]} weights`);
        this.#use(kind, epoch, 0, 2);
        break;
      default:
        this.#refuse(`unknown decryption purpose ${String(kind)}`);
    }
    return {
      party: this.#party,
      peer: this.#peer,
      kind,
      epoch,
      batch,
      pass,
      count,
      boundBits: msg.boundBits,
      ciphertextSha256: createHash('sha256').update(msg.ciphertext).digest('hex'),
    };
  }

  #use(kind: string, epoch: number, batch: number, allowed: number): void {
    const key = `${kind}/${epoch}/${batch}`;
    const used = (this.#used.get(key) ?? 0) + 1;
    if (used > allowed) this.#refuse(`${kind} request ${used} for batch ${epoch}/${batch}; the plan allows ${allowed}`);
    this.#used.set(key, used);
  }

  #refuse(why: string): never {
    throw errors.protocol(`the arbiter refuses ${this.#peer}: ${why}`);
  }
}
