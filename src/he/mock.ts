/**
 * INSECURE. A plaintext stand-in for the CKKS backend, for fast protocol tests only.
 *
 * A "ciphertext" here is the tag `JQMOCK01` followed by its slot values as Float64
 * little-endian: anyone holding the bytes reads the values. It exists so that protocol
 * state machines can be tested in milliseconds; it must never be selected for a real
 * job, and the job loader refuses it outside tests.
 *
 * It mirrors the CKKS backend where results matter: same slot count, chunking and slot
 * layout (a matvec leaves Xᵀd in slots 0..F-1), same checks and error codes, and the same
 * masking and rounding (masking.ts), so that results agree within the documented error.
 */
import { errors } from '../errors.ts';
import type { CiphertextBytes, CoefficientRequest, HeBackend, HeEvaluator, HeKeyOwner, HeParams, MaskedPlainBytes, MaskedRequest, MaskSecret, PublicKeyBundle } from './backend.ts';
import { NO_COLUMN } from './backend.ts';
import { checkColumnIndex, checkLayout, checkRowsPerChunk, chunksFor, columnsPerCiphertext, sumCiphertextsFor, sumPosition } from './coefficients.ts';
import { checkMatvecShape, planMatvec } from './diagonals.ts';
import { checkRotationSteps } from './key-owner.ts';
import { boundBitsFor, checkBoundBits, checkCount, checkPeriod, maskBoundFor, replicate, roundMasked, roundMaskedReply, sampleMask, unmaskReply } from './masking.ts';
import { checkParams } from './params.ts';

const TAG = new TextEncoder().encode('JQMOCK01');

function toBytes(slots: Float64Array): CiphertextBytes {
  const bytes = new Uint8Array(TAG.length + 8 * slots.length);
  bytes.set(TAG);
  const view = new DataView(bytes.buffer, TAG.length);
  for (let i = 0; i < slots.length; i++) view.setFloat64(8 * i, slots[i], true);
  return bytes;
}

function fromBytes(bytes: unknown, slotCount: number): Float64Array {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== TAG.length + 8 * slotCount || TAG.some((b, i) => bytes[i] !== b)) {
    throw errors.messageMalformed('the bytes are not a mock ciphertext for this job\'s parameters');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + TAG.length, 8 * slotCount);
  const slots = new Float64Array(slotCount);
  for (let i = 0; i < slotCount; i++) slots[i] = view.getFloat64(8 * i, true);
  return slots;
}

/** A coefficient-packed mock "ciphertext": its own tag, then N coefficients as Float64, unscaled. */
const COEFFICIENT_TAG = new TextEncoder().encode('JQMOCKC1');

function toCoefficientBytes(coefficients: Float64Array): CiphertextBytes {
  const bytes = new Uint8Array(COEFFICIENT_TAG.length + 8 * coefficients.length);
  bytes.set(COEFFICIENT_TAG);
  new Float64Array(bytes.buffer, COEFFICIENT_TAG.length).set(coefficients);
  return bytes;
}

function fromCoefficientBytes(bytes: unknown, N: number): Float64Array {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== COEFFICIENT_TAG.length + 8 * N || COEFFICIENT_TAG.some((b, i) => bytes[i] !== b)) {
    throw errors.messageMalformed("the bytes are not a coefficient-packed mock ciphertext for this job's parameters");
  }
  return new Float64Array(bytes.slice(COEFFICIENT_TAG.length).buffer);
}

function checkCoefficientCount(count: number, rowsPerChunk: number, N: number): void {
  const m = columnsPerCiphertext(N, rowsPerChunk);
  if (!Number.isInteger(count) || count < 1 || count > m) throw errors.optionInvalid('count', `must be an integer in 1..${m}, got ${String(count)}`);
}

/** Masks below 2^40: far above any sum, and integer sums plus masks stay exact in a double. */
const MOCK_MASK = 2 ** 40;

function checkMockParams(params: HeParams): void {
  checkParams(params);
  if (params.scheme !== 'mock') throw errors.paramsInsecure('scheme', `the mock backend needs scheme "mock", got "${params.scheme}"`);
}

/** (Arbiter, INSECURE mock) */
/** The mock's "secret key": no secret at all (its ciphertexts are plaintext), a fixed marker that restoring checks. */
const MOCK_SECRET_KEY = new TextEncoder().encode('jinqiao/mock-he/no-secret');

export async function createMockKeyOwner(params: HeParams, rotationSteps: readonly number[], kept?: Uint8Array): Promise<HeKeyOwner> {
  if (kept !== undefined && Buffer.compare(Buffer.from(kept), Buffer.from(MOCK_SECRET_KEY)) !== 0) {
    throw errors.keyInvalid("the arbiter's kept key", 'its bytes are not a mock-HE key', 'restore the key file the training job wrote (arbiter-key.secret)');
  }
  checkMockParams(params);
  const slotCount = params.polyModulusDegree / 2;
  const steps = checkRotationSteps(rotationSteps, slotCount);
  const empty = new Uint8Array(0);
  const bundle: PublicKeyBundle = Object.freeze({ params, rotationSteps: Object.freeze(steps), publicKey: empty, relinKeys: empty, galoisKeys: empty });
  return {
    params,
    slotCount,
    publicBundle: () => bundle,
    decryptMasked(masked: CiphertextBytes, count: number, boundBits: number): MaskedPlainBytes {
      checkCount(count, slotCount);
      checkBoundBits(params, boundBits);
      return roundMaskedReply(params, fromBytes(masked, slotCount), count, boundBits);
    },
    refreshMasked(masked: CiphertextBytes, period: number, boundBits: number): CiphertextBytes {
      checkPeriod(period, slotCount);
      checkBoundBits(params, boundBits);
      return toBytes(replicate(roundMasked(params, fromBytes(masked, slotCount), period, boundBits), slotCount));
    },
    decryptCoefficients(masked: CiphertextBytes, rowsPerChunk: number, count: number): MaskedPlainBytes {
      const N = params.polyModulusDegree;
      checkRowsPerChunk(rowsPerChunk, N);
      checkCoefficientCount(count, rowsPerChunk, N);
      const coefficients = fromCoefficientBytes(masked, N);
      return new Uint8Array(Float64Array.from({ length: count }, (_, c) => coefficients[sumPosition(c, rowsPerChunk)]!).buffer);
    },
    exportSecretKey: () => MOCK_SECRET_KEY.slice(),
    dispose: () => undefined,
  };
}

/** (Label, Features; INSECURE mock) */
export async function createMockEvaluator(bundle: PublicKeyBundle): Promise<HeEvaluator> {
  checkMockParams(bundle.params);
  const params = bundle.params;
  const S = params.polyModulusDegree / 2;
  const load = (chunks: readonly CiphertextBytes[]) => {
    if (!Array.isArray(chunks) || chunks.length === 0) throw errors.messageMalformed('expected a non-empty list of ciphertexts');
    return chunks.map((bytes) => fromBytes(bytes, S));
  };
  const checkFinite = (field: string, values: Float64Array) => {
    if (!(values instanceof Float64Array) || !values.every(Number.isFinite)) throw errors.optionInvalid(field, 'must be a Float64Array of finite numbers');
  };
  const matvec = (d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number): CiphertextBytes => {
    checkMatvecShape(Array.isArray(d) ? d.length : 0, X, rows, F, S);
    const chunks = load(d);
    const y = new Float64Array(S);
    for (let i = 0; i < rows; i++) {
      const di = chunks[Math.floor(i / S)][i % S];
      for (let j = 0; j < F; j++) y[j] += X[i * F + j] * di;
    }
    // Like the CKKS fold, every slot t holds y[t mod P]: a mask must cover all of them.
    let width = 1;
    while (width < F) width *= 2;
    for (let t = width; t < S; t++) y[t] = y[t % width];
    return toBytes(y);
  };
  return {
    params,
    slotCount: S,
    encrypt(values) {
      checkFinite('values', values);
      const chunks: CiphertextBytes[] = [];
      for (let first = 0; first < Math.max(values.length, 1); first += S) {
        const slots = new Float64Array(S);
        slots.set(values.subarray(first, first + S));
        chunks.push(toBytes(slots));
      }
      return chunks;
    },
    add(a, b) {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
        throw errors.messageMalformed('add: both operands must be lists of the same number of ciphertexts');
      }
      const x = load(a);
      const y = load(b);
      return x.map((slots, c) => toBytes(slots.map((v, i) => v + y[c][i])));
    },
    addPlain(chunks, values) {
      checkFinite('values', values);
      const x = load(chunks);
      if (values.length > x.length * S) throw errors.optionInvalid('values', `${values.length} values do not fit ${x.length} ciphertext(s)`);
      return x.map((slots, c) => toBytes(slots.map((v, i) => v + (values[c * S + i] ?? 0))));
    },
    multiplyScalar(chunks, scalar) {
      if (!Number.isFinite(scalar)) throw errors.optionInvalid('scalar', `must be a finite number, got ${String(scalar)}`);
      return load(chunks).map((slots) => toBytes(slots.map((v) => v * scalar)));
    },
    polyEval(chunks, coeffs) {
      if (!Array.isArray(coeffs) || coeffs.length < 2 || coeffs.length > 4 || !coeffs.every(Number.isFinite)) {
        throw errors.optionInvalid('coeffs', 'must be 2 to 4 finite coefficients [c0, c1, c2?, c3?]');
      }
      const [c0, c1, c2 = 0, c3 = 0] = coeffs;
      if (c1 === 0 && c2 === 0 && c3 === 0) throw errors.optionInvalid('coeffs', 'needs a non-zero coefficient of degree 1 or more');
      return load(chunks).map((slots) => toBytes(slots.map((z) => c0 + z * (c1 + z * (c2 + z * c3)))));
    },
    matvecTransposed: matvec,
    sumSlots(chunks, count) {
      if (!Number.isInteger(count) || count < 1 || !Array.isArray(chunks) || count > chunks.length * S) {
        throw errors.optionInvalid('count', `must be an integer in 1..${(chunks?.length ?? 0) * S}`);
      }
      return matvec(chunks.slice(0, Math.ceil(count / S)), new Float64Array(count).fill(1), count, 1);
    },
    multiplyPlain(chunks, values) {
      checkFinite('values', values);
      const x = load(chunks);
      if (values.length > x.length * S) throw errors.optionInvalid('values', `${values.length} values do not fit ${x.length} ciphertext(s)`);
      return x.map((slots, c) => toBytes(slots.map((v, i) => v * (values[c * S + i] ?? 0))));
    },
    square(chunks) {
      return load(chunks).map((slots) => toBytes(slots.map((z) => z * z)));
    },
    sumAllSlots(chunks) {
      const total = load(chunks).reduce((acc, slots) => acc + slots.reduce((a, v) => a + v, 0), 0);
      return toBytes(new Float64Array(S).fill(total));
    },
    maskForDecryption(ct, count, valueBound): MaskedRequest {
      checkCount(count, S);
      const boundBits = boundBitsFor(params, valueBound);
      const slots = fromBytes(ct, S);
      const mask = sampleMask(S, maskBoundFor(params, boundBits));
      for (let i = 0; i < S; i++) slots[i] += mask[i];
      const secret: MaskSecret = { mask: mask.slice(0, count), count, boundBits };
      return { masked: toBytes(slots), count, boundBits, secret };
    },
    matvecReplicated(w, X, rows, F) {
      checkMatvecShape(Math.ceil(rows / S), X, rows, F, S);
      const slots = fromBytes(w, S);
      const P = planMatvec(F, S).width;
      // What the CKKS diagonals compute, slot for slot: row t meets slot (t + k) mod S.
      const chunks: CiphertextBytes[] = [];
      for (let first = 0; first < rows; first += S) {
        const u = new Float64Array(S);
        for (let t = 0; t < Math.min(S, rows - first); t++) {
          let sum = 0;
          for (let k = 0; k < P; k++) {
            const column = (t + k) & (P - 1);
            if (column < F) sum += X[(first + t) * F + column] * slots[(t + k) & (S - 1)];
          }
          u[t] = sum;
        }
        chunks.push(toBytes(u));
      }
      return chunks;
    },
    maskReplicated(ct, period, valueBound): MaskedRequest {
      checkPeriod(period, S);
      const boundBits = boundBitsFor(params, valueBound);
      const slots = fromBytes(ct, S);
      const mask = sampleMask(period, maskBoundFor(params, boundBits));
      const tiled = replicate(mask, S);
      for (let i = 0; i < S; i++) slots[i] += tiled[i];
      return { masked: toBytes(slots), count: period, boundBits, secret: { mask, count: period, boundBits } };
    },
    unmask: (reply, secret) => unmaskReply(reply, secret),
    encryptCoefficients(values, rowsPerChunk) {
      const N = params.polyModulusDegree;
      if (!(values instanceof Float64Array) || values.length === 0) throw errors.optionInvalid('values', 'must be a non-empty Float64Array');
      values.forEach((v, i) => {
        if (v !== 0 && v !== 1) throw errors.optionInvalid('values', `value ${i} is not 0 or 1`);
      });
      const layout = { rows: values.length, rowsPerChunk };
      checkLayout(layout, N);
      return Array.from({ length: chunksFor(layout) }, (_, k) => {
        const coefficients = new Float64Array(N);
        coefficients.set(values.subarray(k * rowsPerChunk, (k + 1) * rowsPerChunk));
        return toCoefficientBytes(coefficients);
      });
    },
    columnSums(d, rowsPerChunk, columns) {
      const N = params.polyModulusDegree;
      const layout = { rows: columns.rows, rowsPerChunk };
      checkLayout(layout, N);
      checkColumnIndex(columns, columns.rows);
      if (!Array.isArray(d) || d.length !== chunksFor(layout)) throw errors.messageMalformed(`expected ${chunksFor(layout)} label ciphertext(s) of ${rowsPerChunk} rows for ${columns.rows} rows`);
      const chunks = d.map((bytes) => fromCoefficientBytes(bytes, N));
      const sums = new Float64Array(columns.width);
      for (let f = 0; f < columns.fields; f++) {
        for (let row = 0; row < columns.rows; row++) {
          const c = columns.index[f * columns.rows + row]!;
          if (c !== NO_COLUMN) sums[c]! += chunks[Math.floor(row / rowsPerChunk)]![row % rowsPerChunk]!;
        }
      }
      // As CKKS: every other coefficient blinded, every sum flooded by at most 1/16.
      const m = columnsPerCiphertext(N, rowsPerChunk);
      return Array.from({ length: sumCiphertextsFor(columns.width, rowsPerChunk, N) }, (_, g) => {
        const coefficients = Float64Array.from({ length: N }, () => Math.random() * MOCK_MASK);
        for (let c = 0; c < m && g * m + c < columns.width; c++) coefficients[sumPosition(c, rowsPerChunk)] = sums[g * m + c]! + (Math.random() - 0.5) / 8;
        return toCoefficientBytes(coefficients);
      });
    },
    maskCoefficients(ct, layout, count): CoefficientRequest {
      const N = params.polyModulusDegree;
      checkLayout(layout, N);
      checkCoefficientCount(count, layout.rowsPerChunk, N);
      const coefficients = fromCoefficientBytes(ct, N);
      const r = Float64Array.from({ length: N }, () => Math.floor(Math.random() * MOCK_MASK));
      for (let t = 0; t < N; t++) coefficients[t]! += r[t]!;
      const mask = Float64Array.from({ length: count }, (_, c) => r[sumPosition(c, layout.rowsPerChunk)]!);
      return { masked: toCoefficientBytes(coefficients), count, secret: { layout, count, mask } };
    },
    unmaskCoefficients(reply, secret) {
      if (!(reply instanceof Uint8Array) || reply.byteLength !== 8 * secret.count) throw errors.messageMalformed(`a coefficient reply must hold ${secret.count} values`);
      const values = new Float64Array(reply.slice().buffer);
      return values.map((v, c) => v - (secret.mask[c] as number));
    },
    dispose: () => undefined,
  };
}

export const mockBackend: HeBackend = { name: 'mock', createKeyOwner: createMockKeyOwner, createEvaluator: createMockEvaluator };
