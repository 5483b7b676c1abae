/**
 * Homomorphic-encryption benchmarks, one core unless stated:
 * - CKKS core operations (raw node-seal) for each of the project's parameter sets
 *   (DEGREE1_PARAMS at N = 8192, DEGREE3_PARAMS at N = 16384), the cost model of DESIGN.md;
 * - the same core operations under BFV (N = 8192, BFVDefault modulus, 50-bit batching plain
 *   modulus), which DESIGN.md asks to measure next to CKKS for the degree-1 path;
 * - protocol-level operations through the project's evaluator (bytes in, bytes out, so
 *   serialisation is included): Xᵀ[[d]] on one chunk, masked decryption round trip;
 * - Xᵀ[[d]] on the worker pool with 1..cores threads.
 */
import { availableParallelism } from 'node:os';
import type { HeParams, PublicKeyBundle } from '../src/he/backend.ts';
import { createCkksEvaluator } from '../src/he/ckks.ts';
import { rotationSteps } from '../src/he/diagonals.ts';
import { createCkksKeyOwner } from '../src/he/key-owner.ts';
import { DEGREE1_PARAMS, DEGREE3_PARAMS } from '../src/he/params.ts';
import { createParallelEvaluator } from '../src/he/pool.ts';
import { createContext, loadSeal, SealScope } from '../src/he/seal.ts';
import { interleavedScaling, type ScalingPoint } from './psi.ts';
import { measureOps, type OpResult } from './stats.ts';

export interface HeOpsResult {
  readonly scheme: 'ckks' | 'bfv';
  /** `DEGREE1_PARAMS`, `DEGREE3_PARAMS` or a description of the BFV set. */
  readonly parameterSet: string;
  readonly polyModulusDegree: number;
  readonly coeffModBits: readonly number[];
  readonly plainModulusBits?: number;
  readonly slots: number;
  readonly keygenSeconds: number;
  readonly galoisKeyBytes: number;
  /** A fresh public-key ciphertext, serialised with zstd. */
  readonly ciphertextBytes: number;
  readonly ops: readonly OpResult[];
}

function uniform(n: number, scale: number): Float64Array {
  return Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);
}

const powersOfTwo = (below: number) => Array.from({ length: Math.log2(below) }, (_, i) => 2 ** i);

/** CKKS core operations for one parameter set. */
export async function benchCkksOps(name: string, params: HeParams, timeMs: number): Promise<HeOpsResult> {
  const seal = await loadSeal();
  const scope = new SealScope();
  try {
    const context = createContext(seal, params, scope);
    const encoder = scope.add(new seal.CKKSEncoder(context));
    const S = encoder.slotCount();
    const started = performance.now();
    const keygen = scope.add(new seal.KeyGenerator(context));
    const publicKey = scope.add(keygen.createPublicKey());
    const relinKeys = scope.add(keygen.createRelinKeys());
    const galois = scope.add(keygen.createGaloisKeysWithSteps(Int32Array.from(powersOfTwo(S))));
    const keygenSeconds = (performance.now() - started) / 1000;
    const encryptor = scope.add(new seal.Encryptor(context, publicKey));
    const decryptor = scope.add(new seal.Decryptor(context, keygen.secretKey()));
    const evaluator = scope.add(new seal.Evaluator(context));
    const scale = 2 ** params.scaleBits;
    const slots = uniform(S, 1);
    const plain = scope.add(new seal.Plaintext());
    const decrypted = scope.add(new seal.Plaintext());
    const ct = scope.add(new seal.Ciphertext());
    const out = scope.add(new seal.Ciphertext());
    const acc = scope.add(new seal.Ciphertext());
    const tmp = scope.add(new seal.Ciphertext());
    const loaded = scope.add(new seal.Ciphertext());
    encoder.encode(slots, scale, plain);
    encryptor.encrypt(plain, ct);
    const bytes = ct.saveToArray(seal.ComprModeType.zstd) as Uint8Array;
    const ops = await measureOps(
      [
        { op: 'encode', fn: () => encoder.encode(slots, scale, plain) },
        { op: 'encrypt (public key)', fn: () => encryptor.encrypt(plain, ct) },
        { op: 'multiply_plain', fn: () => evaluator.multiplyPlain(ct, plain, out) },
        {
          op: 'multiply + relinearize + rescale',
          fn: () => {
            evaluator.multiply(ct, ct, out);
            evaluator.relinearizeInplace(out, relinKeys);
            evaluator.rescaleToNextInplace(out);
          },
        },
        { op: 'rotate (1 step)', fn: () => evaluator.rotateVector(ct, 1, galois, out) },
        {
          op: `slot-sum (${Math.log2(S)} rotations + adds)`,
          fn: () => {
            acc.assign(ct);
            for (let step = 1; step < S; step *= 2) {
              evaluator.rotateVector(acc, step, galois, tmp);
              evaluator.addInplace(acc, tmp);
            }
          },
        },
        { op: 'decrypt', fn: () => decryptor.decrypt(ct, decrypted) },
        { op: 'decode', fn: () => encoder.decodeFloat64(plain) },
        { op: 'serialise (zstd)', fn: () => ct.saveToArray(seal.ComprModeType.zstd) },
        { op: 'deserialise', fn: () => loaded.loadFromArray(context, bytes) },
      ],
      { time: timeMs, iterations: 5 },
    );
    return {
      scheme: 'ckks',
      parameterSet: name,
      polyModulusDegree: params.polyModulusDegree,
      coeffModBits: params.coeffModBits,
      slots: S,
      keygenSeconds,
      galoisKeyBytes: (galois.saveToArray(seal.ComprModeType.zstd) as Uint8Array).byteLength,
      ciphertextBytes: bytes.byteLength,
      ops,
    };
  } finally {
    scope.dispose();
  }
}

/** BFV core operations at N = 8192 with SEAL's default modulus and a 50-bit batching plain modulus. */
export async function benchBfvOps(timeMs: number): Promise<HeOpsResult> {
  const seal = await loadSeal();
  const scope = new SealScope();
  const N = 8192;
  const plainBits = 50;
  try {
    const parms = scope.add(new seal.EncryptionParameters(seal.SchemeType.bfv));
    parms.setPolyModulusDegree(N);
    const moduli = scope.add(seal.CoeffModulus.BFVDefault(N, seal.SecLevelType.tc128));
    parms.setCoeffModulus(moduli);
    const plainModulus = scope.add(seal.PlainModulus.Batching(N, plainBits));
    parms.setPlainModulus(plainModulus);
    const context = scope.add(new seal.SEALContext(parms, true, seal.SecLevelType.tc128));
    if (!context.parametersSet()) throw new Error('SEAL refuses the BFV benchmark parameters');
    const coeffModBits = Array.from({ length: moduli.size() }, (_, i) => scope.add(moduli.get(i)!).bitCount());
    const encoder = scope.add(new seal.BatchEncoder(context));
    const S = encoder.slotCount();
    const started = performance.now();
    const keygen = scope.add(new seal.KeyGenerator(context));
    const publicKey = scope.add(keygen.createPublicKey());
    const galois = scope.add(keygen.createGaloisKeysWithSteps(Int32Array.from([1])));
    const keygenSeconds = (performance.now() - started) / 1000;
    const encryptor = scope.add(new seal.Encryptor(context, publicKey));
    const decryptor = scope.add(new seal.Decryptor(context, keygen.secretKey()));
    const evaluator = scope.add(new seal.Evaluator(context));
    const values = BigUint64Array.from({ length: S }, () => BigInt(Math.floor(Math.random() * 2 ** 30)));
    const plain = scope.add(new seal.Plaintext());
    const decrypted = scope.add(new seal.Plaintext());
    const ct = scope.add(new seal.Ciphertext());
    const out = scope.add(new seal.Ciphertext());
    encoder.encode(values, plain);
    encryptor.encrypt(plain, ct);
    const ops = await measureOps(
      [
        { op: 'encode', fn: () => encoder.encode(values, plain) },
        { op: 'encrypt (public key)', fn: () => encryptor.encrypt(plain, ct) },
        { op: 'multiply_plain', fn: () => evaluator.multiplyPlain(ct, plain, out) },
        { op: 'rotate (rotate_rows, 1 step)', fn: () => evaluator.rotateRows(ct, 1, galois, out) },
        { op: 'decrypt', fn: () => decryptor.decrypt(ct, decrypted) },
      ],
      { time: timeMs, iterations: 5 },
    );
    return {
      scheme: 'bfv',
      parameterSet: `BFVDefault(8192), t = ${plainBits}-bit batching prime`,
      polyModulusDegree: N,
      coeffModBits,
      plainModulusBits: plainModulus.bitCount(),
      slots: S,
      keygenSeconds,
      galoisKeyBytes: (galois.saveToArray(seal.ComprModeType.zstd) as Uint8Array).byteLength,
      ciphertextBytes: (ct.saveToArray(seal.ComprModeType.zstd) as Uint8Array).byteLength,
      ops,
    };
  } finally {
    scope.dispose();
  }
}

/** BFV µs / CKKS µs for the operations both schemes share. */
export function bfvVsCkks(bfv: HeOpsResult, ckks: HeOpsResult): { op: string; ckksMicroseconds: number; bfvMicroseconds: number; ratio: number }[] {
  const key = (op: string) => op.split(' ')[0]!;
  return bfv.ops.flatMap((b) => {
    const c = ckks.ops.find((o) => key(o.op) === key(b.op));
    return c ? [{ op: key(b.op), ckksMicroseconds: c.microseconds.median, bfvMicroseconds: b.microseconds.median, ratio: b.microseconds.median / c.microseconds.median }] : [];
  });
}

export interface ProtocolOps {
  readonly parameterSet: string;
  readonly ops: readonly OpResult[];
}

interface Degree1Keys {
  readonly bundle: PublicKeyBundle;
  readonly owner: Awaited<ReturnType<typeof createCkksKeyOwner>>;
}

/** The arbiter's keys for a degree-1 job with up to 300 features, as training creates them. */
export async function degree1Keys(): Promise<Degree1Keys> {
  const S = DEGREE1_PARAMS.polyModulusDegree / 2;
  const steps = [...new Set([...rotationSteps(13, S), ...rotationSteps(300, S)])];
  const owner = await createCkksKeyOwner(DEGREE1_PARAMS, steps);
  return { owner, bundle: owner.publicBundle() };
}

/**
 * Operations of the training protocol through the project's evaluator: bytes in, bytes out.
 * `wide` adds Xᵀ[[d]] with 300 features (about a second per call).
 */
export async function benchProtocolOps(keys: Degree1Keys, timeMs: number, wide: boolean): Promise<ProtocolOps> {
  const evaluator = await createCkksEvaluator(keys.bundle);
  const S = evaluator.slotCount;
  try {
    const d = evaluator.encrypt(uniform(S, 1));
    const X13 = uniform(S * 13, 1 / S);
    const X300 = uniform(S * 300, 1 / S);
    const gradient = evaluator.matvecTransposed(d, X13, S, 13);
    const ops = await measureOps(
      [
        { op: `encrypt ${S} values (to bytes)`, fn: () => evaluator.encrypt(uniform(S, 1)) },
        { op: `Xᵀ[[d]], ${S} rows × 13`, fn: () => evaluator.matvecTransposed(d, X13, S, 13) },
        ...(wide ? [{ op: `Xᵀ[[d]], ${S} rows × 300`, fn: () => evaluator.matvecTransposed(d, X300, S, 300) }] : []),
        {
          op: 'mask + arbiter decrypt + unmask (13 values)',
          fn: () => {
            const request = evaluator.maskForDecryption(gradient, 13, 1);
            evaluator.unmask(keys.owner.decryptMasked(request.masked, 13, request.boundBits), request.secret);
          },
        },
      ],
      { time: timeMs, iterations: 3 },
    );
    return { parameterSet: 'DEGREE1_PARAMS', ops };
  } finally {
    evaluator.dispose();
  }
}

/**
 * Xᵀ[[d]] for `chunks` × 4096 rows and F features on createParallelEvaluator with each
 * thread count; X in a SharedArrayBuffer as the training roles pass it.
 */
export async function benchMatvecScaling(keys: Degree1Keys, threadCounts: readonly number[], chunks: number, F: number, runs: number): Promise<ScalingPoint[]> {
  const S = DEGREE1_PARAMS.polyModulusDegree / 2;
  const rows = chunks * S;
  const X = new Float64Array(new SharedArrayBuffer(rows * F * 8));
  for (let i = 0; i < X.length; i++) X[i] = (Math.random() * 2 - 1) / rows;
  const encryptor = await createCkksEvaluator(keys.bundle);
  const d = encryptor.encrypt(uniform(rows, 1));
  encryptor.dispose();
  return interleavedScaling(threadCounts, runs, rows, {
    async start(threads) {
      const parallel = await createParallelEvaluator(keys.bundle, { threads });
      // Every worker parses the bundle and builds its context once, before timing.
      await parallel.matvecTransposed(d.slice(0, threads), X.subarray(0, threads * S * F), threads * S, F);
      return parallel;
    },
    prepare: async () => undefined,
    async run(parallel) {
      await parallel.matvecTransposed(d, X, rows, F);
    },
    stop: (parallel) => parallel.destroy(),
  });
}

export const HE_PARAMETER_SETS = [
  { name: 'DEGREE1_PARAMS', params: DEGREE1_PARAMS },
  { name: 'DEGREE3_PARAMS', params: DEGREE3_PARAMS },
] as const;

export const defaultThreadCounts = (): number[] => Array.from({ length: availableParallelism() }, (_, i) => i + 1);
