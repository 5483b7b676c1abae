/**
 * A party's optimiser: after unmasking its own gradient, each party (label, features) updates
 * only its own slice of the weights here; no other party sees the weights or this state.
 *
 * Methods: plain SGD, Adam and RMSprop (FATE's default_credit benchmark runs rmsprop, learning
 * rate 0.15, L2 alpha 0.1). The learning rate follows a schedule over t, the number of updates
 * already applied (one per mini-batch): constant, inverse-time `lr / (1 + decay·t)`,
 * inverse-sqrt `lr / sqrt(1 + decay·t)` (FATE's default, decay_sqrt), or step
 * `lr · factor^floor(t / every)`. FATE advances t once per epoch, not per batch: to match its
 * decay, divide its decay by the number of batches per epoch.
 *
 * L2: alpha·w is added to the gradient before the method sees it, as FATE does, so the
 * adaptive methods scale the penalty too. The intercept is exempt: penalising it would pull
 * the predicted default rate towards 1/2. Only the label party holds an intercept, and it
 * names its position with `interceptIndex`.
 *
 * State (hyperparameters, t, moment estimates) serialises with `toJSON` so that a job resumed
 * from a checkpoint continues with exactly the updates it would have made.
 */
import { errors } from '../errors.ts';

export type OptimiserMethod = 'sgd' | 'adam' | 'rmsprop';

export type LearningRateSchedule =
  | { readonly kind: 'constant' }
  | { readonly kind: 'inverse-time'; readonly decay: number }
  | { readonly kind: 'inverse-sqrt'; readonly decay: number }
  | { readonly kind: 'step'; readonly every: number; readonly factor: number };

export interface OptimiserOptions {
  readonly method: OptimiserMethod;
  readonly learningRate: number;
  /** Default: constant. */
  readonly schedule?: LearningRateSchedule;
  /** L2 penalty alpha >= 0; default 0. */
  readonly l2?: number;
  /** (Label) Position of the intercept in the weights, exempt from L2. */
  readonly interceptIndex?: number;
  /** Adam's first-moment decay; default 0.9. */
  readonly beta1?: number;
  /** Adam's second-moment decay; default 0.999. */
  readonly beta2?: number;
  /** RMSprop's squared-gradient decay; default 0.99 (FATE's). */
  readonly rho?: number;
  /** Added to the root-mean-square before dividing; default 1e-8. */
  readonly epsilon?: number;
}

/** Every option resolved, as saved in a checkpoint. */
export interface ResolvedOptimiserOptions {
  readonly method: OptimiserMethod;
  readonly learningRate: number;
  readonly schedule: LearningRateSchedule;
  readonly l2: number;
  readonly interceptIndex: number | null;
  readonly beta1: number;
  readonly beta2: number;
  readonly rho: number;
  readonly epsilon: number;
}

export interface OptimiserJson {
  readonly kind: 'jinqiao.optimiser';
  readonly version: 1;
  readonly options: ResolvedOptimiserOptions;
  readonly weightCount: number;
  readonly updates: number;
  /** Adam's first moments; empty for the other methods. */
  readonly firstMoments: number[];
  /** Adam's and RMSprop's second moments; empty for SGD. */
  readonly secondMoments: number[];
}

export class Optimiser {
  readonly options: ResolvedOptimiserOptions;
  readonly weightCount: number;
  #updates: number;
  readonly #firstMoments: Float64Array;
  readonly #secondMoments: Float64Array;
  readonly #penalisedGradient: Float64Array;

  private constructor(options: ResolvedOptimiserOptions, weightCount: number, updates: number, first: Float64Array, second: Float64Array) {
    this.options = options;
    this.weightCount = weightCount;
    this.#updates = updates;
    this.#firstMoments = first;
    this.#secondMoments = second;
    this.#penalisedGradient = new Float64Array(weightCount);
  }

  /** (Label, Features) An optimiser for a slice of `weightCount` weights. */
  static create(weightCount: number, options: OptimiserOptions): Optimiser {
    if (!Number.isInteger(weightCount) || weightCount < 1) {
      throw errors.optionInvalid('weightCount', `must be an integer >= 1, got ${weightCount}`);
    }
    const resolved = resolveOptions(options, weightCount);
    const { first, second } = momentSizes(resolved.method, weightCount);
    return new Optimiser(resolved, weightCount, 0, new Float64Array(first), new Float64Array(second));
  }

  /** Updates applied so far (t in the schedule). */
  get updates(): number {
    return this.#updates;
  }

  /** The learning rate of update number `t` (0-based). */
  learningRateAt(t: number): number {
    const { learningRate, schedule } = this.options;
    switch (schedule.kind) {
      case 'constant':
        return learningRate;
      case 'inverse-time':
        return learningRate / (1 + schedule.decay * t);
      case 'inverse-sqrt':
        return learningRate / Math.sqrt(1 + schedule.decay * t);
      case 'step':
        return learningRate * schedule.factor ** Math.floor(t / schedule.every);
    }
  }

  /** (Label, Features) Applies one update to `weights` in place from this batch's `gradient`. */
  step(weights: Float64Array, gradient: Float64Array): void {
    if (weights.length !== this.weightCount || gradient.length !== this.weightCount) {
      throw errors.valuesInvalid('gradient', `weights and gradient must both hold ${this.weightCount} values, got ${weights.length} and ${gradient.length}`);
    }
    const { method, l2, interceptIndex, beta1, beta2, rho, epsilon } = this.options;
    const g = this.#penalisedGradient;
    for (let j = 0; j < g.length; j++) {
      if (!Number.isFinite(gradient[j])) throw errors.valuesInvalid('gradient', `entry ${j} is ${gradient[j]}`);
      g[j] = j === interceptIndex ? gradient[j] : gradient[j] + l2 * weights[j];
    }
    const rate = this.learningRateAt(this.#updates);
    this.#updates++;
    const m = this.#firstMoments;
    const v = this.#secondMoments;
    switch (method) {
      case 'sgd':
        for (let j = 0; j < g.length; j++) weights[j] -= rate * g[j];
        break;
      case 'rmsprop':
        for (let j = 0; j < g.length; j++) {
          v[j] = rho * v[j] + (1 - rho) * g[j] * g[j];
          weights[j] -= (rate * g[j]) / (Math.sqrt(v[j]) + epsilon);
        }
        break;
      case 'adam': {
        // Bias corrections undo the zero initialisation of the moments in early updates.
        const firstCorrection = 1 - beta1 ** this.#updates;
        const secondCorrection = 1 - beta2 ** this.#updates;
        for (let j = 0; j < g.length; j++) {
          m[j] = beta1 * m[j] + (1 - beta1) * g[j];
          v[j] = beta2 * v[j] + (1 - beta2) * g[j] * g[j];
          weights[j] -= (rate * (m[j] / firstCorrection)) / (Math.sqrt(v[j] / secondCorrection) + epsilon);
        }
        break;
      }
    }
  }

  toJSON(): OptimiserJson {
    return {
      kind: 'jinqiao.optimiser',
      version: 1,
      options: this.options,
      weightCount: this.weightCount,
      updates: this.#updates,
      firstMoments: Array.from(this.#firstMoments),
      secondMoments: Array.from(this.#secondMoments),
    };
  }

  /** Restores a checkpointed optimiser; `source` names where it came from in errors. */
  static fromJSON(json: unknown, source = 'optimiser state'): Optimiser {
    const record = json as Partial<OptimiserJson> | null;
    if (typeof record !== 'object' || record === null || record.kind !== 'jinqiao.optimiser') {
      throw errors.modelInvalid(source, 'not a jinqiao optimiser state');
    }
    if (record.version !== 1) throw errors.modelInvalid(source, `optimiser state version ${String(record.version)} is not supported (expected 1)`);
    const { weightCount, updates, firstMoments, secondMoments } = record;
    if (!Number.isInteger(weightCount) || (weightCount as number) < 1 || !Number.isInteger(updates) || (updates as number) < 0) {
      throw errors.modelInvalid(source, 'optimiser weightCount and updates must be non-negative integers');
    }
    let options: ResolvedOptimiserOptions;
    try {
      options = resolveOptions(
        { ...record.options, interceptIndex: record.options?.interceptIndex ?? undefined } as OptimiserOptions,
        weightCount as number,
      );
    } catch (e) {
      throw errors.modelInvalid(source, `optimiser options are invalid: ${(e as Error).message}`);
    }
    const sizes = momentSizes(options.method, weightCount as number);
    if (!isFiniteArray(firstMoments, sizes.first) || !isFiniteArray(secondMoments, sizes.second)) {
      throw errors.modelInvalid(source, `optimiser moments do not fit ${options.method} over ${String(weightCount)} weights`);
    }
    return new Optimiser(options, weightCount as number, updates as number, Float64Array.from(firstMoments), Float64Array.from(secondMoments));
  }
}

function resolveOptions(options: OptimiserOptions, weightCount: number): ResolvedOptimiserOptions {
  if (typeof options !== 'object' || options === null) throw errors.optionInvalid('optimiser', 'must be an object');
  const { method, learningRate } = options;
  if (method !== 'sgd' && method !== 'adam' && method !== 'rmsprop') {
    throw errors.optionInvalid('optimiser.method', `must be "sgd", "adam" or "rmsprop", got ${JSON.stringify(method)}`);
  }
  if (!(learningRate > 0 && Number.isFinite(learningRate))) {
    throw errors.optionInvalid('optimiser.learningRate', `must be a positive number, got ${learningRate}`);
  }
  const l2 = options.l2 ?? 0;
  if (!(l2 >= 0 && Number.isFinite(l2))) throw errors.optionInvalid('optimiser.l2', `must be a number >= 0, got ${l2}`);
  const interceptIndex = options.interceptIndex ?? null;
  if (interceptIndex !== null && !(Number.isInteger(interceptIndex) && interceptIndex >= 0 && interceptIndex < weightCount)) {
    throw errors.optionInvalid('optimiser.interceptIndex', `must be an index into the ${weightCount} weights, got ${interceptIndex}`);
  }
  const beta1 = checkDecay('optimiser.beta1', options.beta1 ?? 0.9);
  const beta2 = checkDecay('optimiser.beta2', options.beta2 ?? 0.999);
  const rho = checkDecay('optimiser.rho', options.rho ?? 0.99);
  const epsilon = options.epsilon ?? 1e-8;
  if (!(epsilon > 0 && Number.isFinite(epsilon))) throw errors.optionInvalid('optimiser.epsilon', `must be a positive number, got ${epsilon}`);
  return { method, learningRate, schedule: checkSchedule(options.schedule ?? { kind: 'constant' }), l2, interceptIndex, beta1, beta2, rho, epsilon };
}

function checkSchedule(schedule: LearningRateSchedule): LearningRateSchedule {
  switch (schedule?.kind) {
    case 'constant':
      return { kind: 'constant' };
    case 'inverse-time':
    case 'inverse-sqrt':
      if (!(schedule.decay >= 0 && Number.isFinite(schedule.decay))) {
        throw errors.optionInvalid('optimiser.schedule.decay', `must be a number >= 0, got ${schedule.decay}`);
      }
      return { kind: schedule.kind, decay: schedule.decay };
    case 'step':
      if (!(Number.isInteger(schedule.every) && schedule.every >= 1)) {
        throw errors.optionInvalid('optimiser.schedule.every', `must be an integer >= 1, got ${schedule.every}`);
      }
      if (!(schedule.factor > 0 && schedule.factor <= 1)) {
        throw errors.optionInvalid('optimiser.schedule.factor', `must be in (0, 1], got ${schedule.factor}`);
      }
      return { kind: 'step', every: schedule.every, factor: schedule.factor };
    default:
      throw errors.optionInvalid('optimiser.schedule.kind', `must be "constant", "inverse-time", "inverse-sqrt" or "step", got ${JSON.stringify((schedule as { kind?: unknown })?.kind)}`);
  }
}

function checkDecay(field: string, value: number): number {
  if (!(value >= 0 && value < 1)) throw errors.optionInvalid(field, `must be in [0, 1), got ${value}`);
  return value;
}

function momentSizes(method: OptimiserMethod, weightCount: number): { first: number; second: number } {
  return { first: method === 'adam' ? weightCount : 0, second: method === 'sgd' ? 0 : weightCount };
}

function isFiniteArray(value: unknown, length: number): value is number[] {
  return Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}
