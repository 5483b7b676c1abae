/**
 * (Label, Features) The CKKS evaluator: computes on ciphertexts with the arbiter's public
 * bundle (public, relinearisation and Galois keys), never the secret key.
 *
 * What it achieves: the label party forms [[z]] = Σ[[u_k]] + X_L·w_L and [[d]] = [[σ̃(z) − y]]
 * without seeing any u_k; each party forms [[Xᵀd]] without seeing d; a party learns a
 * value only through masked decryption (masking.ts), the arbiter only masked values.
 *
 * Known weaknesses: CKKS is approximate (results carry ~2^-20 absolute noise at scale
 * 2^40, and masked decryption rounds far coarser, see masking.ts); decryptions returned
 * unrounded would leak the key (Li–Micciancio), which is why only `decryptMasked` exists.
 * Ciphertexts are not authenticated: a malicious peer can send a valid ciphertext of
 * anything. The model is honest-but-curious parties and a non-colluding arbiter.
 *
 * Levels: every output is relinearised and rescaled, so its scale stays ≈ 2^scaleBits.
 * `multiplyScalar`, `matvecTransposed` and `sumSlots` spend one level, `polyEval` one
 * (degree 1) or two; `add` and `addPlain` none.
 */
import type { Ciphertext, CKKSEncoder, ComprModeType, Evaluator, GaloisKeys, ParmsIdType, Plaintext, RelinKeys, SEALContext, Encryptor } from 'node-seal';
import { errors } from '../errors.ts';
import type { CiphertextBytes, CoefficientLayout, CoefficientRequest, CoefficientSecret, ColumnIndex, HeBackend, HeEvaluator, HeParams, KeepDiagonals, KeptDiagonals, MaskedPlainBytes, MaskedRequest, MaskSecret, PublicKeyBundle } from './backend.ts';
import { CkksCoefficients } from './ckks-coefficients.ts';
import { checkMatvecShape, fillDiagonal, fillForwardDiagonal, foldSteps, MAX_KEEP_EXPONENT, MIN_KEPT_MULTIPLIER, planMatvec, type MatvecPlan } from './diagonals.ts';
import { createCkksKeyOwner } from './key-owner.ts';
import { boundBitsFor, checkCount, checkDecryptionRoom, checkPeriod, maskBoundFor, replicate, sampleMask, unmaskReply } from './masking.ts';
import { createContext, guarded, levelModulusBits, levelsLeft, loadChunks, loadCiphertext, loadSeal, SealScope, scoped, type Seal } from './seal.ts';

export interface CkksEvaluatorOptions {
  /**
   * Serialisation of output ciphertexts. Default none: CKKS coefficients are uniform mod q,
   * so zstd saves only the unused top bits of each 64-bit word (~20% of the bytes), yet
   * costs 10–20× the time of an addition (measured at N = 8192), and encrypted-model
   * training chains many cheap operations per batch.
   */
  readonly compression?: 'zstd' | 'none';
}

/** Scales within this relative distance are the same scale computed in another order. */
const SCALE_TOLERANCE = 2 ** -10;

/**
 * Bytes of kept diagonals (KeepDiagonals) this thread holds at most, over every evaluator:
 * SEAL's WebAssembly heap is one per thread and cannot pass 4 GiB. A forward product whose
 * diagonals would not fit keeps none, and its gradient product encodes them as before.
 */
const KEPT_BYTES_LIMIT = 768 * 2 ** 20;
/** Batches whose diagonals one evaluator keeps at most (one per party is the use). */
const KEPT_ENTRIES_LIMIT = 4;
let keptBytes = 0;
/** A larger K multiplies the residual's noise by as much; such a product encodes X instead. */
const MAX_KEPT_MULTIPLIER = 2 ** 24;

/** One batch's plaintext diagonals kept from its forward product (`matvecReplicated` with `keep`). */
interface KeptEntry {
  readonly scope: SealScope;
  readonly rows: number;
  readonly F: number;
  readonly exponent: number;
  readonly bytes: number;
  /** [chunk][g·b + k]: the diagonal of `fillDiagonal(…, chunk, g, k)`, undefined when all zero. */
  readonly plains: (Plaintext | undefined)[][];
}

export async function createCkksEvaluator(bundle: PublicKeyBundle, options: CkksEvaluatorOptions = {}): Promise<CkksEvaluator> {
  checkBundleShape(bundle);
  const seal = await loadSeal();
  const scope = new SealScope();
  try {
    return new CkksEvaluator(seal, bundle, scope, options.compression ?? 'none');
  } catch (e) {
    scope.dispose();
    throw e;
  }
}

function checkBundleShape(bundle: PublicKeyBundle): void {
  const b = bundle as Partial<PublicKeyBundle> | null;
  if (typeof b !== 'object' || b === null) throw errors.messageMalformed('the public key bundle must be an object');
  for (const field of ['publicKey', 'relinKeys', 'galoisKeys'] as const) {
    if (!(b[field] instanceof Uint8Array)) throw errors.messageMalformed(`public key bundle: ${field} must be bytes`);
  }
  if (!Array.isArray(b.rotationSteps) || !b.rotationSteps.every((s) => Number.isInteger(s))) {
    throw errors.messageMalformed('public key bundle: rotationSteps must be a list of integers');
  }
}

export class CkksEvaluator implements HeEvaluator {
  readonly params: HeParams;
  readonly slotCount: number;
  readonly rotationSteps: readonly number[];
  readonly #seal: Seal;
  readonly #scope: SealScope;
  readonly #context: SEALContext;
  readonly #encoder: CKKSEncoder;
  readonly #encryptor: Encryptor;
  readonly #evaluator: Evaluator;
  readonly #relinKeys: RelinKeys;
  readonly #galoisKeys: GaloisKeys;
  readonly #compression: ComprModeType;
  readonly #scale: number;
  /** Encoders whose first level is a lower level of ours, keyed by parms id. */
  readonly #levelEncoders = new Map<string, CKKSEncoder>();
  /** Coefficient packing at the last level, made on first use. */
  #coefficients: CkksCoefficients | undefined;
  /** Diagonals kept by forward products for their batches' gradient products, oldest first. */
  readonly #kept = new Map<string, KeptEntry>();

  constructor(seal: Seal, bundle: PublicKeyBundle, scope: SealScope, compression: 'zstd' | 'none') {
    this.#seal = seal;
    this.#scope = scope;
    this.params = bundle.params;
    this.rotationSteps = Object.freeze([...bundle.rotationSteps]);
    this.#context = createContext(seal, bundle.params, scope);
    const context = this.#context;
    const load = <T extends { loadFromArray(c: SEALContext, b: Uint8Array): void }>(key: T, bytes: Uint8Array, what: string): T =>
      guarded(seal, () => (key.loadFromArray(context, bytes), key), () => errors.messageMalformed(`public key bundle: ${what} is not valid for its parameters`));
    const publicKey = load(scope.add(new seal.PublicKey()), bundle.publicKey, 'publicKey');
    this.#relinKeys = load(scope.add(new seal.RelinKeys()), bundle.relinKeys, 'relinKeys');
    this.#galoisKeys = scope.add(new seal.GaloisKeys());
    if (bundle.galoisKeys.byteLength > 0) load(this.#galoisKeys, bundle.galoisKeys, 'galoisKeys');
    this.#encoder = scope.add(new seal.CKKSEncoder(context));
    this.#encryptor = scope.add(new seal.Encryptor(context, publicKey));
    this.#evaluator = scope.add(new seal.Evaluator(context));
    this.#compression = compression === 'zstd' ? seal.ComprModeType.zstd : seal.ComprModeType.none;
    this.#scale = 2 ** bundle.params.scaleBits;
    this.slotCount = this.#encoder.slotCount();
  }

  encrypt(values: Float64Array): CiphertextBytes[] {
    checkValues('values', values);
    const S = this.slotCount;
    const chunks: CiphertextBytes[] = [];
    const slots = new Float64Array(S);
    for (let first = 0; first < Math.max(values.length, 1); first += S) {
      slots.fill(0);
      slots.set(values.subarray(first, first + S));
      chunks.push(
        scoped((scope) => {
          const ct = scope.add(new this.#seal.Ciphertext());
          this.#encryptor.encrypt(this.#encodeAt(slots, this.#scale, scope.add(this.#context.firstParmsId()), scope), ct);
          return this.#save(ct);
        }),
      );
    }
    return chunks;
  }

  add(a: readonly CiphertextBytes[], b: readonly CiphertextBytes[]): CiphertextBytes[] {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
      throw errors.messageMalformed('add: both operands must be lists of the same number of ciphertexts');
    }
    return a.map((bytes, i) =>
      scoped((scope) => {
        const x = this.#load(bytes, scope);
        const y = this.#load(b[i], scope);
        this.#addInto(x, y, scope);
        return this.#save(x);
      }),
    );
  }

  addPlain(chunks: readonly CiphertextBytes[], values: Float64Array): CiphertextBytes[] {
    checkValues('values', values);
    const S = this.slotCount;
    if (!Array.isArray(chunks) || values.length > chunks.length * S) {
      throw errors.optionInvalid('values', `${values.length} values do not fit ${chunks.length} ciphertext(s) of ${S} slots`);
    }
    const slots = new Float64Array(S);
    return chunks.map((bytes, c) =>
      scoped((scope) => {
        const ct = this.#load(bytes, scope);
        slots.fill(0);
        slots.set(values.subarray(c * S, (c + 1) * S));
        const plain = this.#encodeAt(slots, ct.scale(), scope.add(ct.parmsId()), scope);
        this.#evaluator.addPlainInplace(ct, plain);
        return this.#save(ct);
      }),
    );
  }

  multiplyScalar(chunks: readonly CiphertextBytes[], scalar: number): CiphertextBytes[] {
    if (!Number.isFinite(scalar)) throw errors.optionInvalid('scalar', `must be a finite number, got ${String(scalar)}`);
    const constant = new Float64Array(this.slotCount).fill(scalar);
    return this.#loadAll(chunks).map((bytes) =>
      scoped((scope) => {
        const ct = this.#load(bytes, scope);
        this.#requireLevels('multiplyScalar', ct, 1, scope);
        if (scalar === 0) return this.#save(this.#zeroAfterRescale(ct, scope));
        this.#multiplyPlainRescale(ct, constant, this.#scale, scope);
        return this.#save(ct);
      }),
    );
  }

  polyEval(chunks: readonly CiphertextBytes[], coeffs: readonly number[]): CiphertextBytes[] {
    if (!Array.isArray(coeffs) || coeffs.length < 2 || coeffs.length > 4 || !coeffs.every(Number.isFinite)) {
      throw errors.optionInvalid('coeffs', 'must be 2 to 4 finite coefficients [c0, c1, c2?, c3?]');
    }
    const c = [0, 1, 2, 3].map((i) => coeffs[i] ?? 0);
    const degree = c[3] !== 0 ? 3 : c[2] !== 0 ? 2 : c[1] !== 0 ? 1 : 0;
    if (degree === 0) throw errors.optionInvalid('coeffs', 'needs a non-zero coefficient of degree 1 or more');
    return this.#loadAll(chunks).map((bytes) => scoped((scope) => this.#save(this.#poly(this.#load(bytes, scope), c, degree, scope))));
  }

  matvecTransposed(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, kept?: KeptDiagonals): CiphertextBytes {
    return scoped((scope) => {
      const partial = this.#partialUsing(d, X, rows, F, kept, scope);
      this.#fold(partial, planMatvec(F, this.slotCount), scope);
      return this.#save(partial);
    });
  }

  /**
   * (Pool worker) Xᵀd up to the giant steps, before the fold: the pool sums the partials of
   * its workers and folds once (`combinePartials`). X and d cover this worker's rows only.
   */
  matvecPartial(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, kept?: KeptDiagonals): CiphertextBytes {
    return scoped((scope) => this.#save(this.#partialUsing(d, X, rows, F, kept, scope)));
  }

  /** Sums the workers' partial products and folds them into Xᵀd. */
  combinePartials(partials: readonly CiphertextBytes[], F: number): CiphertextBytes {
    const plan = planMatvec(F, this.slotCount);
    return scoped((scope) => {
      const [sum, ...rest] = loadChunks(this.#seal, this.#context, this.params, partials, scope);
      for (const partial of rest) this.#addInto(sum, partial, scope);
      this.#fold(sum, plan, scope);
      return this.#save(sum);
    });
  }

  sumSlots(chunks: readonly CiphertextBytes[], count: number): CiphertextBytes {
    if (!Number.isInteger(count) || count < 1 || !Array.isArray(chunks) || count > chunks.length * this.slotCount) {
      throw errors.optionInvalid('count', `must be an integer in 1..${(chunks?.length ?? 0) * this.slotCount}`);
    }
    // Σ d[i] is Xᵀd for the all-ones column; its single diagonal also zeroes the slots past `count`.
    const used = chunks.slice(0, Math.ceil(count / this.slotCount));
    return this.matvecTransposed(used, new Float64Array(count).fill(1), count, 1);
  }

  multiplyPlain(chunks: readonly CiphertextBytes[], values: Float64Array): CiphertextBytes[] {
    checkValues('values', values);
    const S = this.slotCount;
    if (values.length > this.#loadAll(chunks).length * S) {
      throw errors.optionInvalid('values', `${values.length} values do not fit ${chunks.length} ciphertext(s) of ${S} slots`);
    }
    const slots = new Float64Array(S);
    return chunks.map((bytes, c) =>
      scoped((scope) => {
        const ct = this.#load(bytes, scope);
        this.#requireLevels('multiplyPlain', ct, 1, scope);
        slots.fill(0);
        slots.set(values.subarray(c * S, (c + 1) * S));
        if (!slots.some((v) => v !== 0)) return this.#save(this.#zeroAfterRescale(ct, scope));
        this.#multiplyPlainRescale(ct, slots, this.#scale, scope);
        return this.#save(ct);
      }),
    );
  }

  square(chunks: readonly CiphertextBytes[]): CiphertextBytes[] {
    return this.#loadAll(chunks).map((bytes) =>
      scoped((scope) => {
        const z = this.#load(bytes, scope);
        this.#requireLevels('square', z, 1, scope);
        this.#evaluator.squareInplace(z);
        this.#evaluator.relinearizeInplace(z, this.#relinKeys);
        this.#evaluator.rescaleToNextInplace(z);
        return this.#save(z);
      }),
    );
  }

  sumAllSlots(chunks: readonly CiphertextBytes[]): CiphertextBytes {
    return scoped((scope) => {
      const [sum, ...rest] = this.#loadAll(chunks).map((bytes) => this.#load(bytes, scope));
      for (const chunk of rest) this.#addInto(sum, chunk, scope);
      this.#fold(sum, planMatvec(1, this.slotCount), scope);
      return this.#save(sum);
    });
  }

  maskForDecryption(ct: CiphertextBytes, count: number, valueBound: number): MaskedRequest {
    checkCount(count, this.slotCount);
    const boundBits = boundBitsFor(this.params, valueBound);
    return scoped((scope) => {
      const target = this.#load(ct, scope);
      checkDecryptionRoom(this.params, levelModulusBits(this.#context, target, scope), target.scale(), boundBits);
      const mask = sampleMask(this.slotCount, maskBoundFor(this.params, boundBits));
      const plain = this.#encodeAt(mask, target.scale(), scope.add(target.parmsId()), scope);
      this.#evaluator.addPlainInplace(target, plain);
      const secret: MaskSecret = { mask: mask.slice(0, count), count, boundBits };
      mask.fill(0);
      return { masked: this.#save(target), count, boundBits, secret };
    });
  }

  matvecReplicated(w: CiphertextBytes, X: Float64Array, rows: number, F: number, keep?: KeepDiagonals): CiphertextBytes[] {
    checkMatvecShape(Math.ceil(rows / this.slotCount), X, rows, F, this.slotCount);
    const plan = planMatvec(F, this.slotCount);
    if (keep !== undefined) {
      const kept = this.#forwardKeeping({ w }, X, rows, plan, keep);
      if (kept !== undefined) return kept;
    }
    const ev = this.#evaluator;
    const diagonal = new Float64Array(this.slotCount);
    return scoped((scope) => {
      const w0 = this.#load(w, scope);
      this.#requireLevels('matvecReplicated', w0, 1, scope);
      const parmsId = scope.add(w0.parmsId());
      // The baby-step rotations of w serve every chunk of rows.
      const babies = [w0];
      for (let k = 1; k < plan.baby; k++) {
        const rotated = scope.add(new this.#seal.Ciphertext());
        this.#rotate(w0, k, rotated);
        babies.push(rotated);
      }
      const plain = scope.add(new this.#seal.Plaintext());
      const chunks: CiphertextBytes[] = [];
      for (let chunk = 0; chunk * this.slotCount < rows; chunk++) {
        chunks.push(
          scoped((chunkScope) => {
            const product = chunkScope.add(new this.#seal.Ciphertext());
            let total: Ciphertext | undefined;
            for (let g = 0; g < plan.giant; g++) {
              let inner: Ciphertext | undefined;
              for (let j = 0; j < plan.baby; j++) {
                if (!fillForwardDiagonal(diagonal, plan, X, rows, chunk, g, j)) continue;
                this.#encodeInto(diagonal, this.#scale, parmsId, plain);
                if (inner === undefined) {
                  inner = chunkScope.add(new this.#seal.Ciphertext());
                  ev.multiplyPlain(babies[j], plain, inner);
                } else {
                  ev.multiplyPlain(babies[j], plain, product);
                  ev.addInplace(inner, product);
                }
              }
              if (inner === undefined) continue;
              ev.rescaleToNextInplace(inner);
              if (g > 0) {
                const rotated = chunkScope.add(new this.#seal.Ciphertext());
                this.#rotate(inner, g * plan.baby, rotated);
                inner = rotated;
              }
              if (total === undefined) total = inner;
              else this.#addInto(total, inner, chunkScope);
            }
            return this.#save(total ?? this.#zeroAfterRescale(w0, chunkScope));
          }),
        );
      }
      return chunks;
    });
  }

  maskReplicated(ct: CiphertextBytes, period: number, valueBound: number): MaskedRequest {
    checkPeriod(period, this.slotCount);
    const boundBits = boundBitsFor(this.params, valueBound);
    return scoped((scope) => {
      const target = this.#load(ct, scope);
      checkDecryptionRoom(this.params, levelModulusBits(this.#context, target, scope), target.scale(), boundBits);
      const mask = sampleMask(period, maskBoundFor(this.params, boundBits));
      const tiled = replicate(mask, this.slotCount);
      this.#evaluator.addPlainInplace(target, this.#encodeAt(tiled, target.scale(), scope.add(target.parmsId()), scope));
      tiled.fill(0);
      return { masked: this.#save(target), count: period, boundBits, secret: { mask, count: period, boundBits } };
    });
  }

  unmask(reply: MaskedPlainBytes, secret: MaskSecret): Float64Array {
    return unmaskReply(reply, secret);
  }

  encryptCoefficients(values: Float64Array, rowsPerChunk: number): CiphertextBytes[] {
    return this.#packing().encrypt(values, rowsPerChunk);
  }

  columnSums(d: readonly CiphertextBytes[], rowsPerChunk: number, columns: ColumnIndex): CiphertextBytes[] {
    return this.#packing().columnSums(d, rowsPerChunk, columns);
  }

  /** (Pool worker) Result ciphertexts [firstGroup, endGroup) of `columnSums`, each complete (blinded): the pool only collects them. */
  columnSumsRange(d: readonly CiphertextBytes[], rowsPerChunk: number, columns: ColumnIndex, firstGroup: number, endGroup: number): CiphertextBytes[] {
    return this.#packing().columnSums(d, rowsPerChunk, columns, firstGroup, endGroup);
  }

  maskCoefficients(ct: CiphertextBytes, layout: CoefficientLayout, count: number): CoefficientRequest {
    return this.#packing().mask(ct, layout, count);
  }

  unmaskCoefficients(reply: MaskedPlainBytes, secret: CoefficientSecret): Float64Array {
    return this.#packing().unmask(reply, secret);
  }

  #packing(): CkksCoefficients {
    this.#coefficients ??= new CkksCoefficients(this.#seal, this.#context, this.#encoder, this.#encryptor, this.#evaluator, this.#scope);
    return this.#coefficients;
  }

  dispose(): void {
    for (const handle of [...this.#kept.keys()]) this.#dropKept(handle);
    this.#levelEncoders.clear();
    this.#scope.dispose();
  }

  #load(bytes: unknown, scope: SealScope): Ciphertext {
    return loadCiphertext(this.#seal, this.#context, this.params, bytes, scope);
  }

  #loadAll(chunks: readonly CiphertextBytes[]): readonly CiphertextBytes[] {
    if (!Array.isArray(chunks) || chunks.length === 0) throw errors.messageMalformed('expected a non-empty list of ciphertexts');
    return chunks;
  }

  #save(ct: Ciphertext): CiphertextBytes {
    return ct.saveToArray(this.#compression) as Uint8Array;
  }

  #requireLevels(operation: string, ct: Ciphertext, needed: number, scope: SealScope): void {
    const left = levelsLeft(this.#context, ct, scope);
    if (left < needed) throw errors.heDepthExhausted(operation, left, needed);
  }

  /**
   * An encoder for `parmsId`. Encoding at the top level and mod-switching down pays for
   * NTTs over primes the plaintext then drops; an encoder on a context whose first level
   * is `parmsId` (same primes, so the same parms id) encodes there directly.
   */
  #encoderFor(parmsId: ParmsIdType): CKKSEncoder {
    const key = Array.from(parmsId.values() as BigUint64Array).join(':');
    const cached = this.#levelEncoders.get(key);
    if (cached) return cached;
    const encoder = scoped((scope) => {
      const first = scope.add(this.#context.firstParmsId());
      if (Array.from(first.values() as BigUint64Array).join(':') === key) return this.#encoder;
      const seal = this.#seal;
      const level = scope.add(scope.add(this.#context.getContextData(parmsId)).parms());
      const levelModuli = scope.add(level.coeffModulus());
      const keyModuli = scope.add(scope.add(scope.add(this.#context.keyContextData()).parms()).coeffModulus());
      const moduli = scope.add(new seal.VectorModulus());
      for (let i = 0; i < levelModuli.size(); i++) moduli.push_back(scope.add(levelModuli.get(i)!));
      moduli.push_back(scope.add(keyModuli.get(keyModuli.size() - 1)!));
      const parms = scope.add(new seal.EncryptionParameters(seal.SchemeType.ckks));
      parms.setPolyModulusDegree(this.params.polyModulusDegree);
      parms.setCoeffModulus(moduli);
      const context = this.#scope.add(new seal.SEALContext(parms, true, seal.SecLevelType.tc128));
      const levelFirst = scope.add(context.firstParmsId());
      if (Array.from(levelFirst.values() as BigUint64Array).join(':') !== key) return undefined;
      return this.#scope.add(new seal.CKKSEncoder(context));
    });
    if (encoder === undefined) throw errors.protocol('cannot build an encoder for a ciphertext level');
    this.#levelEncoders.set(key, encoder);
    return encoder;
  }

  #encodeInto(values: Float64Array, scale: number, parmsId: ParmsIdType, plain: Plaintext): void {
    this.#encoderFor(parmsId).encode(values, scale, plain);
  }

  #encodeAt(values: Float64Array, scale: number, parmsId: ParmsIdType, scope: SealScope): Plaintext {
    const plain = scope.add(new this.#seal.Plaintext());
    this.#encodeInto(values, scale, parmsId, plain);
    return plain;
  }

  /** A fresh encryption of zeros where a product of `ct` would land (SEAL refuses zero products). */
  #zeroAfterRescale(ct: Ciphertext, resultScope: SealScope): Ciphertext {
    const zero = resultScope.add(new this.#seal.Ciphertext());
    scoped((scope) => {
      const data = scope.add(this.#context.getContextData(scope.add(ct.parmsId())));
      const next = scope.add(scope.add(data.nextContextData()).parmsId());
      this.#encryptor.encrypt(this.#encodeAt(new Float64Array(this.slotCount), ct.scale(), next, scope), zero);
    });
    return zero;
  }

  #multiplyPlainRescale(ct: Ciphertext, values: Float64Array, plainScale: number, scope: SealScope): void {
    const plain = this.#encodeAt(values, plainScale, scope.add(ct.parmsId()), scope);
    this.#evaluator.multiplyPlainInplace(ct, plain);
    this.#evaluator.rescaleToNextInplace(ct);
  }

  /** Brings `ct` to `scale` when it differs only by the rounding of another evaluation order. */
  #alignScale(ct: Ciphertext, scale: number): void {
    if (ct.scale() === scale) return;
    if (Math.abs(ct.scale() / scale - 1) > SCALE_TOLERANCE) {
      throw errors.protocol(`ciphertexts at scales 2^${Math.log2(ct.scale()).toFixed(2)} and 2^${Math.log2(scale).toFixed(2)} cannot be added`);
    }
    ct.setScale(scale);
  }

  /** x += y, mod-switching the higher of the two down to the other's level. */
  #addInto(x: Ciphertext, y: Ciphertext, scope: SealScope): void {
    const xLeft = levelsLeft(this.#context, x, scope);
    const yLeft = levelsLeft(this.#context, y, scope);
    if (xLeft > yLeft) this.#evaluator.cipherModSwitchToInplace(x, scope.add(y.parmsId()));
    if (yLeft > xLeft) this.#evaluator.cipherModSwitchToInplace(y, scope.add(x.parmsId()));
    this.#alignScale(y, x.scale());
    this.#evaluator.addInplace(x, y);
  }

  /**
   * c0 + c1 z + c2 z² + c3 z³ in depth 2, every term landing at the same level with the
   * same scale computed by the same floating-point operations (so SEAL's exact scale check
   * passes): with s the scale of z and s2 = s·s/q1 that of z², all terms end at s2·s2/q2.
   */
  #poly(z: Ciphertext, c: readonly number[], degree: number, scope: SealScope): Ciphertext {
    const ev = this.#evaluator;
    const S = this.slotCount;
    const constant = (value: number) => new Float64Array(S).fill(value);
    if (degree === 1) {
      this.#requireLevels('polyEval', z, 1, scope);
      const t1 = scope.add(z.copy());
      this.#multiplyPlainRescale(t1, constant(c[1]), this.#scale, scope);
      ev.addPlainInplace(t1, this.#encodeAt(constant(c[0]), t1.scale(), scope.add(t1.parmsId()), scope));
      return t1;
    }
    this.#requireLevels('polyEval', z, 2, scope);
    const s = z.scale();
    const z2 = scope.add(new this.#seal.Ciphertext());
    ev.square(z, z2);
    ev.relinearizeInplace(z2, this.#relinKeys);
    ev.rescaleToNextInplace(z2);
    const s2 = z2.scale();
    const terms: Ciphertext[] = [];
    if (c[3] !== 0) {
      const t3 = scope.add(z.copy());
      this.#multiplyPlainRescale(t3, constant(c[3]), s, scope);
      this.#alignScale(t3, s2);
      ev.multiplyInplace(t3, z2);
      ev.relinearizeInplace(t3, this.#relinKeys);
      ev.rescaleToNextInplace(t3);
      terms.push(t3);
    }
    if (c[2] !== 0) {
      const t2 = scope.add(z2.copy());
      this.#multiplyPlainRescale(t2, constant(c[2]), s2, scope);
      terms.push(t2);
    }
    if (c[1] !== 0) {
      const t1 = scope.add(z.copy());
      ev.cipherModSwitchToNextInplace(t1);
      this.#multiplyPlainRescale(t1, constant(c[1]), (s2 * s2) / s, scope);
      terms.push(t1);
    }
    const [sum, ...rest] = terms;
    for (const term of rest) this.#addInto(sum, term, scope);
    ev.addPlainInplace(sum, this.#encodeAt(constant(c[0]), sum.scale(), scope.add(sum.parmsId()), scope));
    return sum;
  }

  #rotate(source: Ciphertext, step: number, destination: Ciphertext): void {
    guarded(
      this.#seal,
      () => this.#evaluator.rotateVector(source, step, this.#galoisKeys, destination),
      () => errors.protocol(`no Galois key for rotation step ${step}: the arbiter must create keys for rotationSteps(F, ${this.slotCount})`),
    );
  }

  /** Σ over the chunks and giant steps, before the fold (see diagonals.ts). */
  #matvecPartial(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, outer: SealScope): Ciphertext {
    if (!Array.isArray(d)) throw errors.messageMalformed('d must be a list of ciphertexts');
    checkMatvecShape(d.length, X, rows, F, this.slotCount);
    const plan = planMatvec(F, this.slotCount);
    const diagonal = new Float64Array(this.slotCount);
    return scoped((scope) => {
      const plain = scope.add(new this.#seal.Plaintext());
      return this.#bsgsPartial(d, plan, 1, outer, (chunk, g, k, parmsId) => {
        if (!fillDiagonal(diagonal, plan, X, rows, chunk, g, k)) return undefined;
        this.#encodeInto(diagonal, this.#scale, parmsId, plain);
        return plain;
      });
    });
  }

  /**
   * The baby-step/giant-step sum both partial products share: per chunk of [[d]] (all at one
   * level), d times the integer `multiplier` (1: unchanged), its baby-step rotations, each
   * times the plaintext `plainAt` gives for (chunk, g, k) (undefined: an all-zero diagonal,
   * skipped), summed per giant step, rescaled, rotated by g·b and added up. Nothing to
   * multiply gives a zero at the level a product would reach; `finish` sees only a real sum.
   */
  #bsgsPartial(
    d: readonly CiphertextBytes[],
    plan: MatvecPlan,
    multiplier: number,
    outer: SealScope,
    plainAt: (chunk: number, g: number, k: number, parmsId: ParmsIdType) => Plaintext | undefined,
    finish?: (total: Ciphertext) => void,
  ): Ciphertext {
    const ev = this.#evaluator;
    const inner: (Ciphertext | undefined)[] = new Array(plan.giant).fill(undefined);
    let levelOf: { scale: number; key: string } | undefined;
    return scoped((scope) => {
      const product = scope.add(new this.#seal.Ciphertext());
      for (let chunk = 0; chunk < d.length; chunk++) {
        scoped((chunkScope) => {
          const d0 = this.#load(d[chunk], chunkScope);
          this.#requireLevels('matvecTransposed', d0, 1, chunkScope);
          const parmsId = chunkScope.add(d0.parmsId());
          const key = Array.from(parmsId.values() as BigUint64Array).join(':');
          levelOf ??= { scale: d0.scale(), key };
          if (levelOf.key !== key || levelOf.scale !== d0.scale()) throw errors.protocol('the chunks of d are at different levels');
          this.#multiplyByInteger(d0, multiplier, chunkScope);
          const babies = [d0];
          for (let k = 1; k < plan.baby; k++) {
            const rotated = chunkScope.add(new this.#seal.Ciphertext());
            this.#rotate(d0, k, rotated);
            babies.push(rotated);
          }
          for (let g = 0; g < plan.giant; g++) {
            for (let k = 0; k < plan.baby; k++) {
              const plain = plainAt(chunk, g, k, parmsId);
              if (plain === undefined) continue;
              const sum = inner[g];
              if (sum === undefined) {
                inner[g] = scope.add(new this.#seal.Ciphertext());
                ev.multiplyPlain(babies[k]!, plain, inner[g]!);
              } else {
                ev.multiplyPlain(babies[k]!, plain, product);
                ev.addInplace(sum, product);
              }
            }
          }
        });
      }
      if (inner.every((sum) => sum === undefined)) {
        return scoped((last) => this.#zeroAfterRescale(this.#load(d[d.length - 1], last), outer));
      }
      let total: Ciphertext | undefined;
      for (let g = 0; g < plan.giant; g++) {
        const sum = inner[g];
        if (sum === undefined) continue;
        ev.rescaleToNextInplace(sum);
        const term = g === 0 ? sum : (this.#rotate(sum, g * plan.baby, product), product);
        if (total === undefined) total = outer.add(term.copy());
        else this.#addInto(total, term, scope);
      }
      finish?.(total!);
      return total!;
    });
  }

  /**
   * X·[[w]] that keeps its plaintext diagonals for the batch's gradient product (backend.ts
   * KeepDiagonals). The diagonals are Xᵀd's (`fillDiagonal`), so the same plaintexts serve
   * both products: with diag_i[t] = X[t+i, t mod P], X·w = Σ_i rot(diag_i ⊙ w, −i), and with
   * i = g·b + k and p_{g,k} = rot(diag_{gb+k}, −gb) (Xᵀd's pre-rotated plaintexts),
   *   X·w = Σ_k rot(Σ_g p_{g,k} ⊙ rot(w, −gb), −k) = I_0 + rot(Σ_{k≥1} rot(I_k, b − k), −b),
   * where rot(w, −gb) = rot(w, (G − g)·b) as w has period P = G·b. Rotations: G − 1 of w,
   * then b per chunk (the last by −b, which the bundle must hold: `keptForwardStep`).
   * Scale: [[w]]·2^m (an integer product, no level) times plaintexts at scale 2^(40−m) gives
   * exactly the scale of `matvecReplicated` without keeping. Returns undefined (keep
   * nothing) when the bundle lacks the step or the diagonals would not fit the memory limit.
   */
  #forwardKeeping(source: { readonly w: CiphertextBytes } | { readonly giants: readonly CiphertextBytes[] }, X: Float64Array, rows: number, plan: MatvecPlan, keep: KeepDiagonals): CiphertextBytes[] | undefined {
    const { baby: b, giant: G } = plan;
    checkKeep(keep);
    if (!this.#canKeep(plan)) return undefined;
    const S = this.slotCount;
    const ev = this.#evaluator;
    const diagonal = new Float64Array(S);
    this.#dropKept(keep.handle);
    return scoped((scope) => {
      let giants: Ciphertext[];
      if ('giants' in source) {
        if (!Array.isArray(source.giants) || source.giants.length !== G) throw errors.messageMalformed(`expected ${G} rotations of [[w]]`);
        // Sent at the job's scale (loading checks it), so scaled by 2^m here.
        giants = source.giants.map((bytes) => this.#scaledBy(this.#load(bytes, scope), keep.exponent, scope));
      } else {
        giants = this.#giantsOf(this.#load(source.w, scope), plan, keep.exponent, scope);
      }
      // [[w]]·2^m: its level, and (for an all-zero chunk) a ciphertext to zero.
      const w0 = giants[0]!;
      this.#requireLevels('matvecReplicated', w0, 1, scope);
      const parmsId = scope.add(w0.parmsId());
      const chunkCount = Math.ceil(rows / S);
      // A plaintext at w's level: N coefficients per prime, 8 bytes each (chain index + 1 primes).
      const bytes = chunkCount * plan.width * this.params.polyModulusDegree * 8 * (levelsLeft(this.#context, w0, scope) + 1);
      if (keptBytes + bytes > KEPT_BYTES_LIMIT) return undefined;
      while (this.#kept.size >= KEPT_ENTRIES_LIMIT) this.#dropKept(this.#kept.keys().next().value!);
      const entry: KeptEntry = { scope: new SealScope(), rows, F: plan.features, exponent: keep.exponent, bytes, plains: [] };
      keptBytes += bytes;
      this.#kept.set(keep.handle, entry);
      try {
        const plainScale = this.#scale / 2 ** keep.exponent;
        const chunks: CiphertextBytes[] = [];
        for (let chunk = 0; chunk < chunkCount; chunk++) {
          const plains: (Plaintext | undefined)[] = new Array(plan.width).fill(undefined);
          entry.plains.push(plains);
          chunks.push(
            scoped((chunkScope) => {
              const product = chunkScope.add(new this.#seal.Ciphertext());
              const inner: (Ciphertext | undefined)[] = new Array(b).fill(undefined);
              for (let g = 0; g < G; g++) {
                for (let k = 0; k < b; k++) {
                  if (!fillDiagonal(diagonal, plan, X, rows, chunk, g, k)) continue;
                  const plain = entry.scope.add(new this.#seal.Plaintext());
                  this.#encodeInto(diagonal, plainScale, parmsId, plain);
                  plains[g * b + k] = plain;
                  const sum = inner[k];
                  if (sum === undefined) {
                    inner[k] = chunkScope.add(new this.#seal.Ciphertext());
                    ev.multiplyPlain(giants[g]!, plain, inner[k]!);
                  } else {
                    ev.multiplyPlain(giants[g]!, plain, product);
                    ev.addInplace(sum, product);
                  }
                }
              }
              let shifted: Ciphertext | undefined;
              for (let k = 1; k < b; k++) {
                const term = inner[k];
                if (term === undefined) continue;
                ev.rescaleToNextInplace(term);
                const rotated = chunkScope.add(new this.#seal.Ciphertext());
                this.#rotate(term, b - k, rotated);
                if (shifted === undefined) shifted = rotated;
                else this.#addInto(shifted, rotated, chunkScope);
              }
              let total = inner[0];
              if (total !== undefined) ev.rescaleToNextInplace(total);
              if (shifted !== undefined) {
                const back = chunkScope.add(new this.#seal.Ciphertext());
                this.#rotate(shifted, -b, back);
                if (total === undefined) total = back;
                else this.#addInto(total, back, chunkScope);
              }
              return this.#save(total ?? this.#zeroAfterRescale(w0, chunkScope));
            }),
          );
        }
        return chunks;
      } catch (e) {
        this.#dropKept(keep.handle);
        throw e;
      }
    });
  }

  /**
   * (Pool) The rotations rot([[w]], −g·b), g < G, that every share of a keeping forward
   * product needs: made once and sent to the workers, rather than made by each. Undefined
   * when this bundle cannot keep (no −b key).
   */
  keptForwardGiants(w: CiphertextBytes, F: number, exponent: number): CiphertextBytes[] | undefined {
    const plan = planMatvec(F, this.slotCount);
    checkKeep({ handle: '', exponent });
    if (!this.#canKeep(plan)) return undefined;
    return scoped((scope) => {
      const w0 = this.#load(w, scope);
      this.#requireLevels('matvecReplicated', w0, 1, scope);
      return this.#giantsOf(w0, plan, 0, scope).map((ct) => this.#save(ct));
    });
  }

  /** (Pool worker) `matvecReplicated` with `keep`, from `keptForwardGiants`' rotations; undefined when it cannot keep (then call it with [[w]]). */
  matvecReplicatedFromGiants(giants: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, keep: KeepDiagonals): CiphertextBytes[] | undefined {
    checkMatvecShape(Math.ceil(rows / this.slotCount), X, rows, F, this.slotCount);
    return this.#forwardKeeping({ giants }, X, rows, planMatvec(F, this.slotCount), keep);
  }

  #canKeep(plan: MatvecPlan): boolean {
    return plan.baby === 1 || this.rotationSteps.includes(-plan.baby);
  }

  /** rot([[w]]·2^m, −g·b) = rot(·, (G − g)·b) for g < G (w has period P = G·b), at scale s_w·2^m. */
  #giantsOf(w0: Ciphertext, plan: MatvecPlan, exponent: number, scope: SealScope): Ciphertext[] {
    const scaled = this.#scaledBy(scope.add(w0.copy()), exponent, scope);
    const giants = [scaled];
    for (let g = 1; g < plan.giant; g++) {
      const rotated = scope.add(new this.#seal.Ciphertext());
      this.#rotate(scaled, (plan.giant - g) * plan.baby, rotated);
      giants.push(rotated);
    }
    return giants;
  }

  /** Xᵀd before the fold: from the diagonals kept for `kept`, when this evaluator has them for these shapes, else encoded from X. */
  #partialUsing(d: readonly CiphertextBytes[], X: Float64Array, rows: number, F: number, kept: KeptDiagonals | undefined, scope: SealScope): Ciphertext {
    const entry = kept === undefined ? undefined : this.#kept.get(kept.handle);
    if (kept === undefined || entry === undefined) return this.#matvecPartial(d, X, rows, F, scope);
    try {
      if (!Array.isArray(d)) throw errors.messageMalformed('d must be a list of ciphertexts');
      checkMatvecShape(d.length, X, rows, F, this.slotCount);
      const usable = entry.rows === rows && entry.F === F && entry.plains.length === d.length && entry.exponent === kept.exponent;
      const K = (2 ** kept.exponent * Math.abs(kept.factor)) / kept.alpha;
      if (!usable || !(K >= MIN_KEPT_MULTIPLIER && K <= MAX_KEPT_MULTIPLIER) || kept.factor === 0) return this.#matvecPartial(d, X, rows, F, scope);
      return this.#matvecPartialKept(d, entry, Math.round(K), kept.factor < 0, scope);
    } finally {
      this.#dropKept(kept.handle);
    }
  }

  /**
   * `#matvecPartial` on kept diagonals p = round(2^(40−m)·α·X): [[d]] is multiplied by the
   * integer K = round(2^m·|c|/α) (no level), the products land at scale s_d·2^(40−m) where
   * the plain path has s_d·2^40, so the partial, declared at 2^m times its scale, holds
   * (K/(2^m/α))·Xᵀd = |c|·Xᵀd to a relative 1/(2K) (K >= MIN_KEPT_MULTIPLIER), negated
   * for c < 0; its scale is the plain path's, bit for bit.
   */
  #matvecPartialKept(d: readonly CiphertextBytes[], entry: KeptEntry, K: number, negate: boolean, outer: SealScope): Ciphertext {
    const plan = planMatvec(entry.F, this.slotCount);
    const ev = this.#evaluator;
    const plainAt = (chunk: number, g: number, k: number, parmsId: ParmsIdType) => {
      const plain = entry.plains[chunk]![g * plan.baby + k];
      if (plain === undefined) return undefined;
      guarded(
        this.#seal,
        () => ev.plainModSwitchToInplace(plain, parmsId),
        () => errors.protocol('the residual is at a level above the kept diagonals'),
      );
      return plain;
    };
    return this.#bsgsPartial(d, plan, K, outer, plainAt, (total) => {
      total.setScale(total.scale() * 2 ** entry.exponent);
      if (negate) ev.negateInplace(total);
    });
  }

  /** ct·2^m, declared at 2^m times its scale: the same values, at the scale the kept diagonals (2^(40−m)) need. */
  #scaledBy(ct: Ciphertext, exponent: number, scope: SealScope): Ciphertext {
    this.#multiplyByInteger(ct, 2 ** exponent, scope);
    ct.setScale(ct.scale() * 2 ** exponent);
    return ct;
  }

  /** ct ← k·ct for a positive integer k, keeping its scale (so it holds k times its value); no level, noise times k. */
  #multiplyByInteger(ct: Ciphertext, k: number, scope: SealScope): void {
    if (k === 1) return;
    const constant = new Float64Array(this.slotCount).fill(k);
    this.#evaluator.multiplyPlainInplace(ct, this.#encodeAt(constant, 1, scope.add(ct.parmsId()), scope));
  }

  #dropKept(handle: string): void {
    const entry = this.#kept.get(handle);
    if (entry === undefined) return;
    this.#kept.delete(handle);
    keptBytes -= entry.bytes;
    entry.scope.dispose();
  }

  #fold(ct: Ciphertext, plan: MatvecPlan, scope: SealScope): void {
    const rotated = scope.add(new this.#seal.Ciphertext());
    for (const step of foldSteps(plan)) {
      this.#rotate(ct, step, rotated);
      this.#evaluator.addInplace(ct, rotated);
    }
  }
}

function checkKeep(keep: KeepDiagonals): void {
  if (!Number.isInteger(keep.exponent) || keep.exponent < 0 || keep.exponent > MAX_KEEP_EXPONENT || typeof keep.handle !== 'string') {
    throw errors.optionInvalid('keep', `exponent must be an integer in 0..${MAX_KEEP_EXPONENT} and handle a string`);
  }
}

function checkValues(field: string, values: Float64Array): void {
  if (!(values instanceof Float64Array)) throw errors.optionInvalid(field, 'must be a Float64Array');
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw errors.optionInvalid(field, `value ${i} is not finite`);
  }
}

export const ckksBackend: HeBackend = {
  name: 'ckks',
  createKeyOwner: createCkksKeyOwner,
  createEvaluator: (bundle) => createCkksEvaluator(bundle),
};
