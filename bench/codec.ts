/**
 * Wire-format benchmarks: msgpackr frames through the project's codec (encodeMessage /
 * decodeMessage, which validates every field and rejects trailing bytes) for the two
 * frames that dominate the traffic: a full PSI batch of blinded points and one training
 * batch's forward message with real CKKS ciphertext bytes.
 */
import { randomBytes } from 'node:crypto';
import { createCkksEvaluator } from '../src/he/ckks.ts';
import type { PublicKeyBundle } from '../src/he/backend.ts';
import { decodeMessage, encodeMessage } from '../src/transport/codec.ts';
import { message, type Message } from '../src/protocol/messages.ts';
import { measureOps, type OpResult } from './stats.ts';

export interface CodecResult extends OpResult {
  readonly frame: string;
  readonly frameBytes: number;
  /** Payload megabytes per second at the median latency. */
  readonly megabytesPerSecond: number;
}

/**
 * `bundle`: degree-1 public keys; the forward frame carries a batch of `batchRows` rows as
 * the feature party sends it (scores and loss scores, each ⌈batchRows / 4096⌉ ciphertexts).
 */
export async function benchCodec(bundle: PublicKeyBundle, batchRows: number, timeMs: number): Promise<CodecResult[]> {
  const evaluator = await createCkksEvaluator(bundle);
  const u = Float64Array.from({ length: batchRows }, () => Math.random() - 0.5);
  const frames: { frame: string; message: Message }[] = [
    { frame: 'psi.blinded, 16,384 points', message: message('psi.blinded', { seq: 7, points: new Uint8Array(randomBytes(16_384 * 32)), last: false }) },
    {
      frame: `train.forward, ${batchRows} rows (${Math.ceil(batchRows / evaluator.slotCount)} ciphertexts)`,
      message: message('train.forward', { epoch: 0, batch: 3, scores: evaluator.encrypt(u) }),
    },
  ];
  evaluator.dispose();
  const tasks = frames.flatMap(({ frame, message: m }) => {
    const bytes = encodeMessage(m);
    return [
      { op: `encode ${frame}`, fn: () => encodeMessage(m), frame, frameBytes: bytes.byteLength },
      { op: `decode ${frame}`, fn: () => decodeMessage(bytes), frame, frameBytes: bytes.byteLength },
    ];
  });
  const results = await measureOps(tasks, { time: timeMs });
  return results.map((r, i) => ({
    ...r,
    frame: tasks[i]!.frame,
    frameBytes: tasks[i]!.frameBytes,
    megabytesPerSecond: tasks[i]!.frameBytes / r.microseconds.median,
  }));
}
