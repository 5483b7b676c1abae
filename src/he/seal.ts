/**
 * node-seal plumbing: one WASM module per thread, scoped release of SEAL objects, and
 * loading of untrusted bytes into SEAL objects.
 *
 * The WASM heap never shrinks, so every SEAL object is registered with a `SealScope` and
 * deleted when the scope closes, exceptions included. `liveSealObjects()` counts the
 * registered objects still alive; the tests use it to prove that nothing leaks.
 */
import sealInit from 'node-seal';
import type { Ciphertext, SEALContext } from 'node-seal';
import { errors } from '../errors.ts';
import type { HeParams } from './backend.ts';
import { checkParams } from './params.ts';

export type Seal = Awaited<ReturnType<typeof sealInit>>;

let sealModule: Promise<Seal> | undefined;

/** Whether this thread has loaded node-seal (and with it a WASM heap that never shrinks). */
export function sealLoaded(): boolean {
  return sealModule !== undefined;
}

/** The node-seal module of this thread (compiled once: ~60 ms). */
export function loadSeal(): Promise<Seal> {
  sealModule ??= sealInit();
  return sealModule;
}

interface Deletable {
  delete(): void;
}

let live = 0;

/** SEAL objects registered with a scope and not deleted yet, in this thread. */
export function liveSealObjects(): number {
  return live;
}

export class SealScope {
  #objects: Deletable[] = [];

  add<T extends Deletable>(object: T): T {
    this.#objects.push(object);
    live++;
    return object;
  }

  dispose(): void {
    const objects = this.#objects;
    this.#objects = [];
    for (let i = objects.length - 1; i >= 0; i--) {
      objects[i].delete();
      live--;
    }
  }
}

/** Runs `fn` with a fresh scope that is released when `fn` returns or throws. */
export function scoped<T>(fn: (scope: SealScope) => T): T {
  const scope = new SealScope();
  try {
    return fn(scope);
  } finally {
    scope.dispose();
  }
}

/**
 * Runs a SEAL call that may throw a C++ exception, frees the exception (it lives on the
 * WASM heap) and rethrows `replacement()` instead, so no raw SEAL error reaches a caller.
 */
export function guarded<T>(seal: Seal, call: () => T, replacement: () => Error): T {
  try {
    return call();
  } catch (e) {
    if (WasmException !== undefined && e instanceof WasmException) (seal as unknown as ExceptionRefcounts).decrementExceptionRefcount(e);
    throw replacement();
  }
}

interface ExceptionRefcounts {
  decrementExceptionRefcount(exception: unknown): void;
}

/** WebAssembly is a Node global, but not in the ES library typings this project uses. */
const WasmException = (globalThis as { WebAssembly?: { Exception?: abstract new () => object } }).WebAssembly?.Exception;

/**
 * Builds the SEAL context for `params`, refusing (E_PARAMS_INSECURE) any set SEAL does
 * not accept at 128-bit security. The context is registered with `scope`.
 */
export function createContext(seal: Seal, params: HeParams, scope: SealScope): SEALContext {
  checkParams(params);
  if (params.scheme !== 'ckks') throw errors.paramsInsecure('scheme', `the CKKS backend cannot use "${params.scheme}" parameters`);
  const parms = scope.add(new seal.EncryptionParameters(seal.SchemeType.ckks));
  parms.setPolyModulusDegree(params.polyModulusDegree);
  const moduli = guarded(
    seal,
    () => scope.add(seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModBits))),
    () => errors.paramsInsecure('coeffModBits', `SEAL finds no primes of sizes [${params.coeffModBits.join(',')}] for N=${params.polyModulusDegree}`),
  );
  parms.setCoeffModulus(moduli);
  const context = guarded(
    seal,
    () => scope.add(new seal.SEALContext(parms, true, seal.SecLevelType.tc128)),
    () => errors.paramsInsecure('coeffModBits', 'SEAL refuses the parameter set'),
  );
  if (!context.parametersSet()) {
    const total = params.coeffModBits.reduce((a, b) => a + b, 0);
    throw errors.paramsInsecure(
      'coeffModBits',
      `SEAL refuses ${total} modulus bits at N=${params.polyModulusDegree} for 128-bit security (max ${seal.CoeffModulus.MaxBitCount(params.polyModulusDegree, seal.SecLevelType.tc128)})`,
    );
  }
  return context;
}

/** Largest ciphertext we accept: 2 polynomials × N × 6 primes × 8 bytes plus headers. */
function maxCiphertextBytes(params: HeParams): number {
  return 2 * params.polyModulusDegree * params.coeffModBits.length * 8 + 4096;
}

/**
 * Loads untrusted ciphertext bytes. SEAL checks that the data is valid for `context`
 * (a known parameter level, coefficients reduced); we add that the ciphertext is
 * relinearised (2 polynomials) and carries a scale near 2^scaleBits, as every ciphertext
 * this layer emits does.
 */
export function loadCiphertext(seal: Seal, context: SEALContext, params: HeParams, bytes: unknown, scope: SealScope): Ciphertext {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0 || bytes.byteLength > maxCiphertextBytes(params)) {
    throw errors.messageMalformed('a ciphertext must be non-empty bytes of at most one ciphertext\'s size');
  }
  const ct = scope.add(new seal.Ciphertext());
  guarded(
    seal,
    () => ct.loadFromArray(context, bytes),
    () => errors.messageMalformed('the bytes are not a SEAL ciphertext for this job\'s parameters'),
  );
  if (ct.size() !== 2 || !ct.isNttForm() || Math.abs(Math.log2(ct.scale()) - params.scaleBits) > 1) {
    throw errors.messageMalformed('the ciphertext is not relinearised and rescaled to the job\'s scale');
  }
  return ct;
}

/** Loads a list of chunks, rejecting a non-array or an empty list. */
export function loadChunks(
  seal: Seal,
  context: SEALContext,
  params: HeParams,
  chunks: readonly unknown[],
  scope: SealScope,
): Ciphertext[] {
  if (!Array.isArray(chunks) || chunks.length === 0) throw errors.messageMalformed('expected a non-empty list of ciphertexts');
  return chunks.map((bytes) => loadCiphertext(seal, context, params, bytes, scope));
}

/** log2 of the coefficient modulus at a ciphertext's level, from its primes. */
export function levelModulusBits(context: SEALContext, ct: Ciphertext, scope: SealScope): number {
  const parmsId = scope.add(ct.parmsId());
  const data = scope.add(context.getContextData(parmsId));
  const parms = scope.add(data.parms());
  const moduli = scope.add(parms.coeffModulus());
  let bits = 0;
  for (let i = 0; i < moduli.size(); i++) {
    const q = scope.add(moduli.get(i)!);
    bits += Math.log2(Number(q.value()));
  }
  return bits;
}

/** Rescales left before a ciphertext reaches the last level. */
export function levelsLeft(context: SEALContext, ct: Ciphertext, scope: SealScope): number {
  const parmsId = scope.add(ct.parmsId());
  const data = scope.add(context.getContextData(parmsId));
  return data.chainIndex();
}
