/**
 * (Label, Features) A party's weights during training: the optimiser's iterate and, with
 * tail averaging, the average of the iterates over the second half of the epochs run
 * (Polyak–Ruppert), which removes most of the mini-batch noise from the model kept.
 */
import type { TrainingConfig } from './config.ts';
import { Optimiser } from './optimiser.ts';

export class PartyWeights {
  readonly current: Float64Array;
  readonly optimiser: Optimiser;
  readonly #epochMeans: Float64Array[] = [];
  #sum: Float64Array;
  #steps = 0;
  readonly #averaging: boolean;

  constructor(width: number, config: TrainingConfig, interceptIndex?: number) {
    this.current = new Float64Array(width);
    this.optimiser = Optimiser.create(width, {
      method: config.optimiser,
      learningRate: config.learningRate,
      schedule: config.schedule,
      l2: config.l2,
      ...(interceptIndex === undefined ? {} : { interceptIndex }),
    });
    this.#sum = new Float64Array(width);
    this.#averaging = config.averaging === 'tail';
  }

  step(gradient: Float64Array): void {
    this.optimiser.step(this.current, gradient);
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
}
