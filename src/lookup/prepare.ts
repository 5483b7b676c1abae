/**
 * (Agency, offline) Evaluates the OPRF over a whole register once per key period: hash and
 * multiply on the worker pool, streamed batch by batch, then sort the truncated outputs.
 * One multiply per record; the register is never re-blinded per bank or per job. See
 * oprf.ts for what the published tags reveal (nothing without the key).
 */
import type { OwnIdBatch } from '../psi/ecdh.ts';
import { OrderedPipeline } from '../psi/ecdh.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import { POINT_BYTES } from '../psi/group.ts';
import { GrowableBytes } from '../util/growable-bytes.ts';
import { labelKeyOf, TAG_BYTES, tagOf } from './oprf.ts';
import type { OprfKey } from './oprf-key.ts';
import { oprfHashPrefix } from './online.ts';
import { sealLabel, sealedLabelBytes } from './label.ts';
import { sortTags, TagSet } from './tag-set.ts';

export interface LabelSource {
  /** Longest encoded label; every label is padded to it. */
  readonly plainBytes: number;
  /** The encoded label of a row, or undefined to publish no tag for it (e.g. no consent). */
  plaintext(row: number): Uint8Array | undefined;
}

export interface PreparedTags {
  readonly tags: TagSet;
  /** Records evaluated (rows with a label source that gave no label are not). */
  readonly evaluated: number;
  /** Records whose input repeated an earlier one (dropped). */
  readonly repeats: number;
}

/** (Agency) Tags (and sealed labels) for every input of `inputs` under `key` in `domain`. */
export async function prepareTags(
  config: { readonly executor: PsiExecutor; readonly key: OprfKey; readonly domain: string },
  inputs: AsyncIterable<OwnIdBatch>,
  labels?: LabelSource,
): Promise<PreparedTags> {
  const { executor, key } = config;
  const prefix = oprfHashPrefix(key.keyId, config.domain);
  const tags = new GrowableBytes(1 << 20);
  const sealed = new GrowableBytes(labels ? 1 << 20 : 16);
  const labelBytes = labels ? sealedLabelBytes(labels.plainBytes) : 0;
  const tag = new Uint8Array(TAG_BYTES);
  let evaluated = 0;
  const pipeline = new OrderedPipeline(executor.threads * 4);
  for await (const batch of inputs) {
    await pipeline.push(executor.hashAndBlind(key.backend, prefix, batch.ids, key.scalar), (points) => {
      for (let i = 0; i < batch.rows.length; i++) {
        const evaluation = points.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES);
        if (labels) {
          const plain = labels.plaintext(batch.rows[i]!);
          if (plain === undefined) continue;
          sealed.append(sealLabel(labelKeyOf(evaluation), plain, labels.plainBytes));
        }
        tagOf(evaluation, tag, 0);
        tags.append(tag);
        evaluated++;
      }
    });
  }
  await pipeline.drain();
  const { sorted, origin } = sortTags(tags.bytes());
  let labelSet: { bytes: Uint8Array; each: number } | undefined;
  if (labels) {
    const all = sealed.bytes();
    const bytes = new Uint8Array(origin.length * labelBytes);
    origin.forEach((from, to) => bytes.set(all.subarray(from * labelBytes, (from + 1) * labelBytes), to * labelBytes));
    labelSet = { bytes, each: labelBytes };
  }
  return { tags: new TagSet(sorted, labelSet), evaluated, repeats: evaluated - origin.length };
}
