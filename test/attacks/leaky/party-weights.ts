/**
 * (Label, Features) A party's weights during training: the optimiser's iterate and, with
 * tail averaging, the average of the iterates over the second half of the epochs run
 * (Polyak–Ruppert), which removes most of the mini-batch noise from the model kept.
 *
 * Between epochs the whole state is the iterate, the optimiser and one mean per finished
 * epoch; `toJSON` / `fromJSON` carry exactly that into and out of a party's checkpoint.
 */
import { errors } from '../../../src/errors.ts';
import type { TrainingConfig } from '../../../src/lr/config.ts';
import { Optimiser, type OptimiserJson } from '../../../src/lr/optimiser.ts';

/** A party's weights as its checkpoint keeps them. */
export interface PartyWeightsJson {
  /** The current iterate. */
  readonly weights: number[];
  readonly optimiser: OptimiserJson;
  /** Mean iterate of each finished epoch, for tail averaging. */
  readonly epochMeans: number[][];
}

export class PartyWeights {
  readonly current: Float64Array;
  #optimiser: Optimiser;
  readonly #epochMeans: Float64Array[];
  #sum: Float64Array;
  #steps = 0;
  readonly #averaging: boolean;

  constructor(width: number, config: TrainingConfig, interceptIndex?: number) {
    this.current = new Float64Array(width);
    this.#optimiser = Optimiser.create(width, optimiserOptions(config, interceptIndex));
    this.#epochMeans = [];
    this.#sum = new Float64Array(width);
    this.#averaging = config.averaging === 'tail';
  }

  step(gradient: Float64Array): void {
    this.#optimiser.step(this.current, gradient);
    for (let j = 0; j < this.current.length; j++) this.#sum[j]! += this.current[j]!;
    this.#steps++;
  }

  endEpoch(): void {
    const mean = this.#sum.map((v) => v / Math.max(this.#steps, 1));
    this.#epochMeans.push(mean);
    this.#sum = new Float64Array(this.current.length);
    this.#steps = 0;
  }

  /** The weights the party keeps: the mean over the last half of the epochs run, or the last iterate. */
  final(): Float64Array {
    if (!this.#averaging || this.#epochMeans.length === 0) return this.current.slice();
    const tail = this.#epochMeans.slice(Math.floor(this.#epochMeans.length / 2));
    const out = new Float64Array(this.current.length);
    for (const mean of tail) for (let j = 0; j < out.length; j++) out[j]! += mean[j]! / tail.length;
    return out;
  }

  /**
   * The state after `endEpoch`. Checkpoints are taken only there, where the running sum of
   * the epoch in progress is empty, so nothing else is needed to continue exactly.
   */
  toJSON(): PartyWeightsJson {
    return {
      weights: Array.from(this.current),
      optimiser: this.#optimiser.toJSON(),
      epochMeans: this.#epochMeans.map((mean) => Array.from(mean)),
    };
  }

  /**
   * Restores weights saved by `toJSON` for a job with this `config`; `source` names the
   * checkpoint in errors. The width and the optimiser's settings must be those this party
   * would start with, so a checkpoint of another job or another configuration is refused
   * rather than silently continued with different hyperparameters.
   */
  static fromJSON(json: unknown, source: string, width: number, config: TrainingConfig, interceptIndex?: number): PartyWeights {
    const record = json as Partial<PartyWeightsJson> | null;
    if (typeof record !== 'object' || record === null) throw errors.modelInvalid(source, 'weights state must be an object');
    if (!isFiniteArray(record.weights, width)) throw errors.modelInvalid(source, `weights must be ${width} finite numbers`);
    if (!Array.isArray(record.epochMeans) || !record.epochMeans.every((mean) => isFiniteArray(mean, width))) {
      throw errors.modelInvalid(source, `epochMeans must be a list of ${width} finite numbers per finished epoch`);
    }
    const optimiser = Optimiser.fromJSON(record.optimiser, source);
    const expected = Optimiser.create(width, optimiserOptions(config, interceptIndex)).options;
    if (optimiser.weightCount !== width || JSON.stringify(optimiser.options) !== JSON.stringify(expected)) {
      throw errors.modelInvalid(source, `the optimiser was saved with other settings (${JSON.stringify(optimiser.options)}) than this job's (${JSON.stringify(expected)})`);
    }
    const restored = new PartyWeights(width, config, interceptIndex);
    restored.current.set(record.weights);
    restored.#epochMeans.push(...record.epochMeans.map((mean) => Float64Array.from(mean)));
    restored.#optimiser = optimiser;
    return restored;
  }
}

function optimiserOptions(config: TrainingConfig, interceptIndex: number | undefined) {
  return {
    method: config.optimiser,
    learningRate: config.learningRate,
    schedule: config.schedule,
    l2: config.l2,
    ...(interceptIndex === undefined ? {} : { interceptIndex }),
  };
}

function isFiniteArray(value: unknown, length: number): value is number[] {
  return Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}
