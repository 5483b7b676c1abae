/**
 * Encrypted-model vertical logistic regression: no party ever sees a gradient.
 *
 * Every party p (the bank as `label`, each agency as `features`) keeps its weights [[w_p]]
 * encrypted under the arbiter's CKKS key, replicated over the slots (slot t holds
 * w_p[t mod P_p], P_p = its weight count rounded up to a power of two), and updates them
 * homomorphically. Message flow of one mini-batch B (rows known to all from the shared seed,
 * n = |B|, η_t the scheduled learning rate, α the forward factor of the job's sigmoid:
 * a/√n for taylor1 (a = ¼), √c2/n^¼ for poly2; see `forwardFactor`, `batchResidual`):
 *
 *   agency k → label      train.forward   [[α·u_k]], u_k = X_k[B]·[[w_k]] (diagonal BSGS)
 *   label → agency k      train.residual  [[d/√n]], d = σ̃(z) − y, z = Σ_k u_k + u_L:
 *                                         taylor1 σ̃ = ½ + a·z; poly2 σ̃ = c0 + c1·z + c2·z²
 *   every party p         (local)         [[w_p]] ← (1 − η_t λ)[[w_p]] − η_t X_p[B]ᵀ[[d]]/n
 *   party p → arbiter     he.refresh      [[w_p + r]] twice (coarse, then the remainder)
 *   arbiter → party p     he.refreshed    a FRESH ciphertext of the rounded w_p + r, replicated
 *   label → arbiter       train.decrypt   one masked value, twice: the batch's Taylor loss
 *                                         log 2 − ½·mean(y′z) + ⅛·mean(z²), scaled
 *
 * After the last epoch: each party refreshes its Polyak average (the mean of its iterates
 * over the second half of the epochs run) once more; agencies send [[u_k]] of the validation
 * rows, the bank reveals the total scores z; each party has its own final weights decrypted
 * (exactly P_p masked values, twice), or keeps them encrypted (`keepEncrypted`).
 *
 * Each batch's rows are encoded once: the forward product keeps its plaintext diagonals
 * (Xᵀd's diagonals, arranged so X·[[w]] can use them) and the gradient product reuses them,
 * X scaled by α standing for X scaled by −η/√n through an integer factor on [[d]] (he/ckks.ts
 * `#forwardKeeping`, `#matvecPartialKept`; `keepExponent`). That factor rounds η by at most
 * 2^-13 of itself; nothing else changes, and the parties still see only ciphertexts.
 *
 * The factors α and η/√n are folded into the plaintext X of each product, so no level is
 * spent on them: X·[[w]] and Xᵀ[[d]] take one level each; taylor1's residual takes none
 * (parameters `ENCRYPTED_MODEL_PARAMS`, N = 8192), poly2's one more for [[α·z]]² = [[c2·z²/√n]]
 * (`ENCRYPTED_MODEL_POLY2_PARAMS`, N = 16384: three levels over the 90-bit refresh bottom do
 * not fit N = 8192). Any degree-1 σ̃ only rescales the least-squares direction, so better
 * accuracy needs a square; a cubic would need yet another level.
 *
 * Who learns what (honest-but-curious parties, non-colluding arbiter, CKKS IND-CPA):
 * - agency: ciphertexts only during training; at the end its own weights.
 * - bank: ciphertexts, the loss per batch, the total score of each validation row, its own
 *   weights. With a single agency the total minus the bank's own part is that agency's
 *   partial score, so such a job needs `allowPartialScoreDisclosure`.
 * - arbiter: masked values w + r with r uniform over 2^40 times the declared bound (and the
 *   schedule: counts and sizes). It returns plaintext only for the scheduled loss,
 *   validation and final-weights decryptions, and refuses anything else (training-arbiter.ts).
 *
 * Known weaknesses, stated: a party that deviates can spend its one final-weights
 * decryption on another ciphertext it holds (an agency on [[d]], after a selection product:
 * P_p residuals of one batch) instead of its model; the arbiter cannot tell ciphertexts
 * apart, only limit how many values each party gets. Refreshes return only ciphertexts, so
 * sending [[d]] as a refresh reveals nothing. Precision: each refresh rounds the weights to
 * 2^-12 (two passes, as arbiter-client.ts); the error adds up over batches as a random walk
 * (√(batches)·2^-13 at most ~0.01 after 10^4 batches), below the mini-batch noise.
 */
import { randomUUID } from 'node:crypto';
import { errors } from '../errors.ts';
import type { CiphertextBytes, HeEvaluator, KeptDiagonals } from '../he/backend.ts';
import { MAX_KEEP_EXPONENT, MIN_KEPT_MULTIPLIER, nextPowerOfTwo } from '../he/diagonals.ts';
import { gridFor, replicate } from '../he/masking.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';
import type { TrainingConfig } from './config.ts';
import { Optimiser } from './optimiser.ts';
import type { MatvecRunner } from './protocol.ts';
import { POLY2, TAYLOR1 } from './sigmoid.ts';

/** |w| bound of a refresh: the bottom level holds a 40-bit mask over 2^4 at scale 2^40. */
export const WEIGHT_BOUND = 16;
/** Bound on the revealed mean(t² − y′t), t = z/4 (a loss of log 2 + 2·16 at most). */
export const LOSS_TERM_BOUND = 16;
/** The smallest bound the arbiter accepts; its grid is the finest it rounds to. */
const FINEST_BOUND_BITS = -3;

/** The schedule the arbiter enforces (train.plan). */
export interface TrainingPlan {
  readonly epochs: number;
  readonly batchesPerEpoch: number;
  readonly validationRows: number;
  /** Weight counts: every party's (label first) in the label's plan, the agency's own in its plan. */
  readonly widths: readonly number[];
  /** Encrypted vectors each party refreshes per batch: 1, or 2 with momentum. */
  readonly vectors: number;
  readonly keepEncrypted: boolean;
}

export type DecryptPurpose = 'loss' | 'validation' | 'weights';

/** Batches of an epoch over `trainRows` rows (split.ts cuts them near-equal). */
export function batchesPerEpoch(trainRows: number, batchSize: number): number {
  return Math.ceil(trainRows / batchSize);
}

/** The smallest batch of an epoch: near-equal batches differ by at most one row. */
export function smallestBatch(trainRows: number, batchSize: number): number {
  return Math.floor(trainRows / batchesPerEpoch(trainRows, batchSize));
}

/** Slope a of the degree-1 sigmoid and its constant ½. */
export const SLOPE = TAYLOR1.coefficients[1]!;
export const OFFSET = TAYLOR1.coefficients[0]!;

/**
 * The factor every party folds into the plaintext X of its batch's forward product X·[[w]],
 * so that the label party turns the sum [[T]] = [[α·z]] into the residual without a scalar
 * multiply: taylor1 α = a/√n (T itself is the residual's score part); poly2 α = √c2 / n^¼,
 * so that [[T]]² = [[c2·z²/√n]] is the quadratic term of d/√n directly.
 */
export function forwardFactor(sigmoid: TrainingConfig['sigmoid'], n: number): number {
  return sigmoid === 'poly2' ? Math.sqrt(POLY2.coefficients[2]) / n ** 0.25 : SLOPE / Math.sqrt(n);
}

/** What the label party sends on and reveals, from the summed forward products. */
export interface BatchResidual {
  /** [[d/√n]], d = σ̃(z) − y, for the parties' gradient products. */
  readonly residual: CiphertextBytes[];
  /** The encrypted loss term the arbiter reveals (one value, |value| <= lossBound). */
  readonly lossTerm: CiphertextBytes;
  readonly lossBound: number;
  /** The Taylor loss log 2 − ½·mean(y′z) + ⅛·mean(z²) from the revealed loss term. */
  loss(revealed: number): number;
}

/**
 * (Label) [[d/√n]] and the loss term of a batch from [[T]] = [[α·z]] (α = forwardFactor):
 * - taylor1: d/√n = T + (½ − y)/√n, no level; loss term mean(t² − y′t), t = z/4, from
 *   Σ T² + Σ T·(−y′/√n).
 * - poly2: d/√n = T² + (c1/(α√n))·T + (c0 − y)/√n, one level (the square; the plaintext
 *   multiply lands on the same level); loss term R = Σ T² − Σ T·γy′ with γ = 4c2/(α√n),
 *   i.e. R = c2√n·(mean z² − 4·mean(y′z)), so the loss is log 2 + R/(8c2√n).
 */
export function batchResidual(evaluator: HeEvaluator, sigmoid: TrainingConfig['sigmoid'], scaledT: CiphertextBytes[], labels: Float64Array): BatchResidual {
  const n = labels.length;
  const root = Math.sqrt(n);
  const signed = (factor: number) => labels.map((v) => factor * (2 * v - 1));
  if (sigmoid !== 'poly2') {
    const residual = evaluator.addPlain(scaledT, labels.map((v) => (OFFSET - v) / root));
    const lossTerms = evaluator.add(evaluator.square(scaledT), evaluator.multiplyPlain(scaledT, signed(-1 / root)));
    return { residual, lossTerm: evaluator.sumAllSlots(lossTerms), lossBound: LOSS_TERM_BOUND, loss: (meanTerm) => Math.LN2 + 2 * meanTerm };
  }
  const [c0, c1, c2] = POLY2.coefficients;
  const alpha = forwardFactor(sigmoid, n);
  const squared = evaluator.square(scaledT);
  const linear = evaluator.multiplyPlain(scaledT, new Float64Array(n).fill(c1 / (alpha * root)));
  const residual = evaluator.addPlain(evaluator.add(squared, linear), labels.map((v) => (c0 - v) / root));
  const lossTerms = evaluator.add(squared, evaluator.multiplyPlain(scaledT, signed((-4 * c2) / (alpha * root))));
  // The same range of losses as taylor1's bound allows: |R| <= 16·c2·√n·LOSS_TERM_BOUND.
  const scale = 16 * c2 * root;
  return { residual, lossTerm: evaluator.sumAllSlots(lossTerms), lossBound: LOSS_TERM_BOUND * scale, loss: (r) => Math.LN2 + (2 * r) / scale };
}

/**
 * (Label, Features) A party's side of the arbiter in encrypted-model training: the plan,
 * refreshes (ciphertext in, fresh ciphertext out) and the scheduled masked decryptions.
 */
export class TrainingArbiterSession {
  readonly #channel: Channel;
  readonly #evaluator: HeEvaluator;
  #nextRequest = 0;

  constructor(channel: Channel, evaluator: HeEvaluator) {
    this.#channel = channel;
    this.#evaluator = evaluator;
  }

  async plan(plan: TrainingPlan): Promise<void> {
    await this.#channel.send(message('train.plan', { ...plan, widths: [...plan.widths] }));
  }

  /**
   * A fresh top-level ciphertext of the vector in `ct` (`period` values replicated, |v| <=
   * WEIGHT_BOUND), to 2^-12: pass 0 refreshes v + r1 and gives [[v + e1]], pass 1 refreshes
   * the remainder [[v]] − [[v + e1]] = [[−e1]] against a bound one grid step wide.
   */
  async refresh(ct: CiphertextBytes, period: number, epoch: number, batch: number): Promise<CiphertextBytes> {
    const ev = this.#evaluator;
    const coarse = await this.#refreshOnce(ct, period, WEIGHT_BOUND, epoch, batch, 0);
    const negated = ev.multiplyScalar([coarse], -1);
    const [remainder] = ev.add([ct], negated);
    const firstBits = Math.ceil(Math.log2(WEIGHT_BOUND));
    const fine = await this.#refreshOnce(remainder!, period, remainderBound(ev, firstBits), epoch, batch, 1);
    return ev.add([coarse], [fine])[0]!;
  }

  /** The first `count` values of `ct`, |values| <= bound, to the arbiter's finest grid (two passes). */
  async reveal(purpose: DecryptPurpose, ct: CiphertextBytes, count: number, bound: number, epoch: number, batch: number): Promise<Float64Array> {
    const ev = this.#evaluator;
    const coarse = await this.#decryptOnce(purpose, ct, count, bound, epoch, batch, 0);
    const firstBits = Math.max(Math.ceil(Math.log2(bound)), FINEST_BOUND_BITS);
    const negated = new Float64Array(count);
    for (let i = 0; i < count; i++) negated[i] = -coarse[i]!;
    const [remainderCt] = ev.addPlain([ct], negated);
    const remainder = await this.#decryptOnce(purpose, remainderCt!, count, remainderBound(ev, firstBits), epoch, batch, 1);
    for (let i = 0; i < count; i++) coarse[i]! += remainder[i]!;
    return coarse;
  }

  async done(): Promise<void> {
    await this.#channel.send(message('he.done', {}));
  }

  async #refreshOnce(ct: CiphertextBytes, period: number, bound: number, epoch: number, batch: number, pass: number): Promise<CiphertextBytes> {
    const ev = this.#evaluator;
    const request = this.#nextRequest++;
    const masked = ev.maskReplicated(ct, period, bound);
    await this.#channel.send(message('he.refresh', { request, epoch, batch, pass, ciphertext: masked.masked, period, boundBits: masked.boundBits }));
    const reply = await this.#channel.receive('he.refreshed');
    if (reply.request !== request) throw errors.protocol(`the arbiter answered request ${reply.request}, expected ${request}`);
    const minusMask = replicate(masked.secret.mask.map((r) => -r), ev.slotCount);
    const [unmasked] = ev.addPlain([reply.ciphertext], minusMask);
    return unmasked!;
  }

  async #decryptOnce(purpose: DecryptPurpose, ct: CiphertextBytes, count: number, bound: number, epoch: number, batch: number, pass: number): Promise<Float64Array> {
    const ev = this.#evaluator;
    const request = this.#nextRequest++;
    const masked = ev.maskForDecryption(ct, count, bound);
    await this.#channel.send(message('train.decrypt', { request, purpose, epoch, batch, pass, ciphertext: masked.masked, count, boundBits: masked.boundBits }));
    const reply = await this.#channel.receive('train.decrypted');
    if (reply.request !== request) throw errors.protocol(`the arbiter answered request ${reply.request}, expected ${request}`);
    if (!Array.isArray(reply.values) || reply.values.length !== count) throw errors.messageMalformed(`train.decrypted must hold ${count} values`);
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) values[i] = reply.values[i]! - masked.secret.mask[i]!;
    return values;
  }
}

/** The bound of the second pass: one grid step of the first, raised to the finest bound. */
function remainderBound(ev: HeEvaluator, firstBits: number): number {
  return 2 ** Math.max(Math.ceil(Math.log2(2 * gridFor(ev.params, firstBits))), FINEST_BOUND_BITS);
}

/**
 * (Label, Features) A party's encrypted weights: the iterate [[w]] (fresh after every
 * refresh), the update rule (SGD with momentum, a learning-rate schedule and L2: what stays
 * linear in the weights) and the Polyak–Ruppert average over the second half of the epochs
 * run, kept as one encrypted sum per epoch.
 */
export class EncryptedWeights {
  readonly width: number;
  /** P: the period of the replicated layout. */
  readonly period: number;
  #current: CiphertextBytes;
  readonly #evaluator: HeEvaluator;
  readonly #schedule: Optimiser;
  readonly #l2: number;
  readonly #momentum: number;
  readonly #nesterov: boolean;
  /** −η·velocity (heavy ball), fresh after every refresh; undefined before the first update. */
  #velocity: CiphertextBytes | undefined;
  #lastRate = 0;
  readonly #interceptIndex: number | undefined;
  readonly #averaging: boolean;
  #updates = 0;
  #epochSum: CiphertextBytes | undefined;
  #epochSteps = 0;
  readonly #epochs: { readonly sum: CiphertextBytes; readonly steps: number }[] = [];
  /** What the last `forward` asked the evaluator to keep for `gradient`. */
  #kept: KeptDiagonals | undefined;

  constructor(evaluator: HeEvaluator, width: number, config: TrainingConfig, interceptIndex?: number) {
    this.#evaluator = evaluator;
    this.width = width;
    this.period = nextPowerOfTwo(width);
    this.#current = evaluator.encrypt(new Float64Array(evaluator.slotCount))[0]!;
    this.#schedule = Optimiser.create(width, { method: 'sgd', learningRate: config.learningRate, schedule: config.schedule });
    this.#l2 = config.l2;
    this.#momentum = config.momentum;
    this.#nesterov = config.nesterov;
    this.#interceptIndex = interceptIndex;
    this.#averaging = config.averaging === 'tail';
  }

  /**
   * [[X[rows]·w]] with X's rows already gathered and scaled by `alpha` (forwardFactor) by the
   * caller. The evaluator keeps the batch's encoded diagonals for `gradient` (backend.ts
   * KeepDiagonals): both products use the same plaintexts, encoded once per batch.
   */
  forward(matvec: MatvecRunner, X: Float64Array, rows: number, alpha: number): Promise<CiphertextBytes[]> {
    const factor = this.gradientFactor(rows);
    const exponent = keepExponent(alpha, factor);
    this.#kept = exponent === undefined ? undefined : { handle: randomUUID(), exponent, alpha, factor };
    return matvec.matvecReplicated(this.#current, X, rows, this.width, this.#kept && { handle: this.#kept.handle, exponent: this.#kept.exponent });
  }

  /** The factor c = −η/√n of the gradient product's plaintext X, for a batch of `rows`. */
  gradientFactor(rows: number): number {
    return -this.learningRate / Math.sqrt(rows);
  }

  /** c·X[rows]ᵀ[[d/√n]] = −η·Xᵀd/n, on the diagonals the batch's `forward` kept; X (scaled by `gradientFactor`) where they are gone. */
  gradient(matvec: MatvecRunner, residual: readonly CiphertextBytes[], X: Float64Array, rows: number): Promise<CiphertextBytes> {
    const kept = this.#kept;
    this.#kept = undefined;
    return matvec.matvecTransposed(residual, X, rows, this.width, kept);
  }

  /**
   * The learning rate of the next update; the caller folds −η/√n into the plaintext of the
   * gradient product, so `step` receives −η·Xᵀd/n.
   */
  get learningRate(): number {
    return this.#schedule.learningRateAt(this.#updates);
  }

  /** Encrypted vectors refreshed per batch: the weights, and the velocity with momentum. */
  get vectors(): number {
    return this.#momentum > 0 ? 2 : 1;
  }

  /**
   * One update from gradientStep = −η·Xᵀd/n, then a refresh of every encrypted vector:
   * with M = −η·velocity (heavy ball, PyTorch's form, M rescaled when η changes),
   * M ← μ·(η_t/η_{t−1})·M + G with G = gradientStep − η_t·λ·w (intercept exempt from L2),
   * then w ← w + M (heavy ball) or, with Nesterov, w ← w + G + μ·M, the new M taken fresh
   * from its refresh (which comes before the weights' in either case), so that μ·M costs the
   * level of a fresh ciphertext and G none more. Every term is linear in the ciphertexts;
   * each costs at most one level.
   */
  async step(gradientStep: CiphertextBytes, refresh: (ct: CiphertextBytes) => Promise<CiphertextBytes>): Promise<void> {
    const ev = this.#evaluator;
    const eta = this.learningRate;
    let gradient = [gradientStep];
    if (this.#l2 > 0) {
      const decay = new Float64Array(this.period).fill(-eta * this.#l2);
      if (this.#interceptIndex !== undefined) decay[this.#interceptIndex] = 0;
      gradient = ev.add(gradient, ev.multiplyPlain([this.#current], replicate(decay, ev.slotCount)));
    }
    let delta = gradient;
    if (this.#momentum > 0 && this.#velocity !== undefined) {
      delta = ev.add(delta, ev.multiplyScalar([this.#velocity], (this.#momentum * eta) / this.#lastRate));
    }
    this.#updates++;
    this.#lastRate = eta;
    if (this.#momentum > 0) this.#velocity = await refresh(delta[0]!);
    const next = this.#nesterov ? ev.add(ev.add([this.#current], gradient), ev.multiplyScalar([this.#velocity!], this.#momentum))[0]! : ev.add([this.#current], delta)[0]!;
    this.#accept(await refresh(next));
  }

  /** Takes the refreshed iterate and adds it to the epoch's running sum. */
  #accept(fresh: CiphertextBytes): void {
    this.#current = fresh;
    if (!this.#averaging) return;
    this.#epochSum = this.#epochSum === undefined ? fresh : this.#evaluator.add([this.#epochSum], [fresh])[0]!;
    this.#epochSteps++;
  }

  endEpoch(): void {
    if (this.#epochSum !== undefined) this.#epochs.push({ sum: this.#epochSum, steps: this.#epochSteps });
    this.#epochSum = undefined;
    this.#epochSteps = 0;
  }

  /** Whether `final` needs a refresh (the average is one level down). */
  get averaged(): boolean {
    return this.#averaging && this.#epochs.length > 0;
  }

  /** The model kept: the mean of the epoch means over the second half of the epochs run, or the last iterate. */
  final(): CiphertextBytes {
    if (!this.averaged) return this.#current;
    const ev = this.#evaluator;
    const tail = this.#epochs.slice(Math.floor(this.#epochs.length / 2));
    const parts = tail.map(({ sum, steps }) => ev.multiplyScalar([sum], 1 / (steps * tail.length)));
    return parts.reduce((total, part) => ev.add(total, part))[0]!;
  }
}

/**
 * The exponent m with which a batch keeps its diagonals (backend.ts KeepDiagonals): the
 * gradient product then multiplies [[d]] by K = round(2^m·|c|/α), and the smallest m that
 * makes K >= MIN_KEPT_MULTIPLIER keeps the most bits of the plaintexts (encoded at 2^(40−m)).
 * Undefined (encode the gradient's X anew) when no m up to MAX_KEEP_EXPONENT reaches it.
 */
export function keepExponent(alpha: number, factor: number): number | undefined {
  const ratio = Math.abs(factor) / alpha;
  if (!(ratio > 0 && Number.isFinite(ratio))) return undefined;
  const m = Math.max(0, Math.ceil(Math.log2(MIN_KEPT_MULTIPLIER / ratio)));
  return m <= MAX_KEEP_EXPONENT ? m : undefined;
}
