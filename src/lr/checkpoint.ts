/**
 * (Label, Features) Checkpoints of a training job, so that a job stopped by a crash or a
 * lost connection resumes from the last epoch every party completed, with the result an
 * uninterrupted run would have given.
 *
 * What a checkpoint holds: one party's own state after one completed epoch — its current
 * weights, its optimiser (step count, moments), the mean weights of each finished epoch
 * (for tail averaging) and, for the label party only, the loss curve and the early-stopping
 * state. Who keeps it: each party, in its own store. A checkpoint never holds another
 * party's data, never crosses the network and is never a result: only epoch numbers are
 * exchanged (train.resumeFrom, train.start), and a model is written only when the job ends.
 * A checkpoint is as sensitive as the party's model slice and is kept alongside it.
 *
 * Why every epoch is kept: the parties save at slightly different moments, so after a crash
 * one may be an epoch ahead of another. All resume after the last epoch every party
 * completed, which the party ahead must still hold. They are a few kilobytes each.
 *
 * What is not kept: the alignment and the prepared data. The PSI is rerun, and the row
 * order, the split and the mini-batches follow from the job's seed, so they come out the
 * same.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { replaceDurably } from '../util/durable.ts';
import type { TrainingConfig } from './config.ts';
import { Optimiser } from './optimiser.ts';
import { PartyWeights, type PartyWeightsJson } from './weights.ts';

export const CHECKPOINT_KIND = 'jinqiao.checkpoint';
export const CHECKPOINT_VERSION = 1;

/** (Label) What the label party needs beyond its weights to continue training. */
export interface LabelTrainingState {
  /** Mean loss of each completed epoch. */
  readonly lossCurve: number[];
  /** Lowest loss so far for early stopping; null before the first improvement is recorded. */
  readonly best: number | null;
  /** Epochs since the loss last fell by minDelta. */
  readonly sinceBest: number;
  /** Early stopping ended training at this epoch: a resumed job goes straight to evaluation. */
  readonly stopped: boolean;
}

export interface Checkpoint extends PartyWeightsJson {
  readonly kind: typeof CHECKPOINT_KIND;
  readonly version: typeof CHECKPOINT_VERSION;
  readonly jobId: string;
  /** The party that saved it, and only it may load it. */
  readonly party: string;
  readonly role: 'label' | 'features';
  /** The epoch this checkpoint completes (0-based). */
  readonly epoch: number;
  /** The label party's training state; null for feature parties. */
  readonly label: LabelTrainingState | null;
}

/** One party's checkpoints of one job. Each party service gives each of its jobs its own. */
export interface CheckpointStore {
  /** The last epoch held, or -1 when there is none. */
  latestEpoch(): Promise<number>;
  /** The checkpoint of `epoch`, checked; undefined when the store holds none. */
  load(epoch: number): Promise<Checkpoint | undefined>;
  /** Keeps `checkpoint`, replacing one of the same epoch; resolves once it is durable. */
  save(checkpoint: Checkpoint): Promise<void>;
  /** Forgets the epochs after `epoch`: they belong to a run that is being redone. */
  discardAfter(epoch: number): Promise<void>;
}

export function checkpoint(fields: Omit<Checkpoint, 'kind' | 'version'>): Checkpoint {
  return { kind: CHECKPOINT_KIND, version: CHECKPOINT_VERSION, ...fields };
}

/** Checks a checkpoint read back from storage; every problem names `source` and what is wrong. */
export function parseCheckpoint(json: unknown, source: string): Checkpoint {
  const c = json as Partial<Checkpoint> | null;
  if (typeof c !== 'object' || c === null || c.kind !== CHECKPOINT_KIND) throw errors.modelInvalid(source, 'not a jinqiao checkpoint');
  if (c.version !== CHECKPOINT_VERSION) {
    throw errors.modelInvalid(source, `checkpoint version ${String(c.version)} is not supported (this jinqiao reads version ${CHECKPOINT_VERSION})`);
  }
  if (typeof c.jobId !== 'string' || c.jobId === '') throw errors.modelInvalid(source, 'jobId must be a non-empty string');
  if (typeof c.party !== 'string' || c.party === '') throw errors.modelInvalid(source, 'party must be a non-empty string');
  if (c.role !== 'label' && c.role !== 'features') throw errors.modelInvalid(source, 'role must be label or features');
  if (!isCount(c.epoch)) throw errors.modelInvalid(source, 'epoch must be an integer >= 0');
  const epochs = c.epoch + 1;
  if (!isFiniteArray(c.weights) || c.weights.length === 0) throw errors.modelInvalid(source, 'weights must be a non-empty list of finite numbers');
  const width = c.weights.length;
  if (!Array.isArray(c.epochMeans) || c.epochMeans.length !== epochs || !c.epochMeans.every((m) => isFiniteArray(m) && m.length === width)) {
    throw errors.modelInvalid(source, `epochMeans must hold ${epochs} lists of ${width} finite numbers, one per completed epoch`);
  }
  if (Optimiser.fromJSON(c.optimiser, source).weightCount !== width) throw errors.modelInvalid(source, `the optimiser must be over the ${width} weights`);
  if (c.role === 'features') {
    if (c.label !== null) throw errors.modelInvalid(source, 'a feature party checkpoint holds no label state');
  } else {
    checkLabelState(c.label, epochs, source);
  }
  return c as Checkpoint;
}

function checkLabelState(state: LabelTrainingState | null | undefined, epochs: number, source: string): void {
  if (typeof state !== 'object' || state === null) throw errors.modelInvalid(source, 'the label party checkpoint needs its label state');
  if (!isFiniteArray(state.lossCurve) || state.lossCurve.length !== epochs) {
    throw errors.modelInvalid(source, `label.lossCurve must hold ${epochs} finite numbers, one per completed epoch`);
  }
  if (state.best !== null && !(typeof state.best === 'number' && Number.isFinite(state.best))) throw errors.modelInvalid(source, 'label.best must be a finite number or null');
  if (!isCount(state.sinceBest)) throw errors.modelInvalid(source, 'label.sinceBest must be an integer >= 0');
  if (typeof state.stopped !== 'boolean') throw errors.modelInvalid(source, 'label.stopped must be true or false');
}

/**
 * (Label, Features) Makes a party ready to train from epoch `start`, the epoch the parties
 * agreed on: its weights (and, for the label, its training state) as its own checkpoint of
 * epoch start − 1 left them, or fresh ones when `start` is 0. Checkpoints of later epochs
 * are forgotten, since those epochs are run again. A missing checkpoint, or one of another
 * job, party or configuration, is refused rather than resumed from.
 */
export async function resumeTraining(
  store: CheckpointStore | undefined,
  start: number,
  party: { readonly name: string; readonly role: Checkpoint['role']; readonly config: TrainingConfig; readonly width: number; readonly interceptIndex?: number },
): Promise<{ weights: PartyWeights; label: LabelTrainingState | null }> {
  const { name, role, config, width, interceptIndex } = party;
  if (start === 0) {
    await store?.discardAfter(-1);
    return { weights: new PartyWeights(width, config, interceptIndex), label: null };
  }
  const epoch = start - 1;
  const source = `${name}'s checkpoint of epoch ${epoch}`;
  const c = await store?.load(epoch);
  if (!c) throw errors.modelInvalid(source, 'the checkpoint store does not hold it');
  if (c.epoch !== epoch) throw errors.modelInvalid(source, `holds epoch ${c.epoch}`);
  if (epoch >= config.epochs) throw errors.modelInvalid(source, `the job trains only ${config.epochs} epochs`);
  if (c.jobId !== config.jobId) throw errors.modelInvalid(source, `belongs to job ${c.jobId}, not ${config.jobId}`);
  if (c.party !== name || c.role !== role) throw errors.modelInvalid(source, `was saved by ${c.party} (${c.role})`);
  const weights = PartyWeights.fromJSON(c, source, width, config, interceptIndex);
  // Only once the restore has succeeded: a failed resume must not cost the later epochs.
  await store?.discardAfter(epoch);
  return { weights, label: c.label };
}

/**
 * A store in a folder of its own, one JSON file per epoch. Each file is written to a
 * temporary name, synced and renamed into place, so a crash while saving leaves the
 * previous epochs intact and never a partial file under a checkpoint's name.
 */
export function fileCheckpointStore(dir: string): CheckpointStore {
  const fileOf = (epoch: number) => join(dir, `epoch-${String(epoch).padStart(6, '0')}.json`);
  const epochsHeld = async (): Promise<number[]> => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw errors.fileUnreadable(dir, (e as Error).message);
    }
    return names.flatMap((name) => {
      const match = /^epoch-(\d{6})\.json$/.exec(name);
      return match ? [Number(match[1])] : [];
    });
  };
  return {
    async latestEpoch() {
      return Math.max(-1, ...(await epochsHeld()));
    },
    async load(epoch) {
      const file = fileOf(epoch);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw errors.fileUnreadable(file, (e as Error).message);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw errors.modelInvalid(file, `not JSON (${(e as Error).message})`);
      }
      return parseCheckpoint(json, file);
    },
    async save(c) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (e) {
        throw errors.outputUnwritable(dir, (e as Error).message);
      }
      await replaceDurably(fileOf(c.epoch), JSON.stringify(c) + '\n');
    },
    async discardAfter(epoch) {
      for (const e of await epochsHeld()) if (e > epoch) await rm(fileOf(e), { force: true });
    },
  };
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

function isFiniteArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}
