/** (Either party, locally) Strings already normalised (IDs, verification inputs) as OPRF batches; rows are their indices. */
import type { OwnIdBatch } from '../psi/ecdh.ts';

const BATCH = 4096;

export async function* inputBatches(inputs: readonly string[], rows?: readonly number[]): AsyncGenerator<OwnIdBatch> {
  for (let start = 0; start < inputs.length; start += BATCH) {
    const end = Math.min(inputs.length, start + BATCH);
    const encoded = inputs.slice(start, end).map((s) => Buffer.from(s, 'utf8'));
    const offsets = new Uint32Array(encoded.length + 1);
    encoded.forEach((e, i) => (offsets[i + 1] = offsets[i]! + e.length));
    const bytes = new Uint8Array(offsets[encoded.length]!);
    encoded.forEach((e, i) => bytes.set(e, offsets[i]!));
    const batchRows = Uint32Array.from({ length: end - start }, (_, i) => rows?.[start + i] ?? start + i);
    yield { ids: { bytes, offsets }, rows: batchRows };
  }
}
