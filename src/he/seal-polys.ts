/**
 * Raw polynomials at the last level of a CKKS context, for coefficient packing
 * (coefficients.ts). node-seal encodes CKKS plaintexts only from slot values; a plaintext
 * from integer coefficients needs their NTT, which SEAL exposes for ciphertexts only. So a
 * pair of coefficient polynomials is written as the two components of a ciphertext in
 * coefficient form (SEAL's own serialisation, the header taken from a template saved at
 * construction), transformed to NTT form by SEAL, and each component read back as an
 * NTT-form plaintext. The reverse (a decrypted plaintext's coefficients) goes the same way.
 *
 * A polynomial is `Uint32Array(2N)`: each coefficient a residue mod q as a little-endian
 * 64-bit word (low, high), the layout of SEAL's data. Every offset into SEAL's format is
 * checked against the template, so a node-seal whose format differs fails at construction
 * (E_PROTOCOL), never silently.
 */
import type { Ciphertext, CKKSEncoder, Encryptor, Evaluator, Plaintext, SEALContext } from 'node-seal';
import { webcrypto } from 'node:crypto';
import { errors } from '../errors.ts';
import { guarded, type Seal, type SealScope } from './seal.ts';

/** Components of one ciphertext SEAL accepts (SEAL_CIPHERTEXT_SIZE_MAX): NTTs done per call. */
export const MAX_PER_CALL = 16;

export class LastLevelPolys {
  readonly polyModulusDegree: number;
  /** The last level's one prime. */
  readonly modulus: bigint;
  readonly modulusBits: number;
  readonly #seal: Seal;
  readonly #context: SEALContext;
  readonly #evaluator: Evaluator;
  readonly #lastParmsKey: string;
  /** A ciphertext's bytes up to its data, and where its flag, scale and data sit. */
  readonly #ctHead: Uint8Array;
  readonly #ctData: number;
  /** A plaintext's bytes up to its data, and where its scale sits. */
  readonly #ptHead: Uint8Array;
  readonly #ptData: number;
  readonly #fake: Ciphertext;
  /** A ciphertext of k components in coefficient form, by k: its bytes, header filled in. */
  readonly #fakeBytes = new Map<number, Uint8Array>();
  readonly #ptBytes: Uint8Array;
  readonly #qHi: number;
  readonly #qLo: number;
  readonly #hiMask: number;

  constructor(seal: Seal, context: SEALContext, encoder: CKKSEncoder, encryptor: Encryptor, evaluator: Evaluator, scope: SealScope) {
    this.#seal = seal;
    this.#context = context;
    this.#evaluator = evaluator;
    const N = (this.polyModulusDegree = encoder.slotCount() * 2);
    const last = scope.add(context.lastParmsId());
    this.#lastParmsKey = parmsKey(last);
    const data = scope.add(context.getContextData(last));
    const moduli = scope.add(scope.add(data.parms()).coeffModulus());
    if (moduli.size() !== 1) throw errors.protocol('coefficient packing needs a last level of one prime');
    this.modulus = BigInt(scope.add(moduli.get(0)!).value());
    this.modulusBits = this.modulus.toString(2).length;
    if (this.modulusBits > 62) throw errors.protocol('coefficient packing needs a prime of at most 62 bits');
    this.#qHi = Number(this.modulus >> 32n);
    this.#qLo = Number(this.modulus & 0xffffffffn);
    this.#hiMask = 2 ** (this.modulusBits - 32) - 1;

    // Templates: a plaintext and a ciphertext at the last level, their scales known.
    const plain = scope.add(new seal.Plaintext());
    encoder.encode(new Float64Array(N / 2), 2 ** 20, plain);
    evaluator.plainModSwitchToInplace(plain, last);
    const ct = scope.add(new seal.Ciphertext());
    encryptor.encrypt(plain, ct);
    const ctBytes = ct.saveToArray(seal.ComprModeType.none) as Uint8Array;
    const ptBytes = plain.saveToArray(seal.ComprModeType.none) as Uint8Array;
    this.#ctData = ctBytes.length - 2 * N * 8;
    this.#ptData = ptBytes.length - N * 8;
    // Ciphertext: header 16, parms id 32, NTT flag 1, size, N, primes (3 × u64), scale f64, correction u64, data header 16, count u64, data.
    const ctView = new DataView(ctBytes.buffer, ctBytes.byteOffset);
    const ptView = new DataView(ptBytes.buffer, ptBytes.byteOffset);
    if (
      ctBytes[48] !== 1 ||
      ctView.getBigUint64(8, true) !== BigInt(ctBytes.length) ||
      ctView.getBigUint64(49, true) !== 2n ||
      ctView.getFloat64(this.#ctData - 40, true) !== ct.scale() ||
      ctView.getBigUint64(this.#ctData - 16, true) !== BigInt(24 + 2 * N * 8) ||
      ctView.getBigUint64(this.#ctData - 8, true) !== BigInt(2 * N) ||
      ptView.getFloat64(this.#ptData - 32, true) !== plain.scale() ||
      ptView.getBigUint64(this.#ptData - 8, true) !== BigInt(N)
    ) {
      throw errors.protocol('node-seal serialises ciphertexts or plaintexts in an unexpected layout: coefficient packing cannot run');
    }
    this.#ctHead = ctBytes.slice(0, this.#ctData);
    this.#ptHead = ptBytes.slice(0, this.#ptData);
    this.#fake = scope.add(new seal.Ciphertext());
    this.#ptBytes = new Uint8Array(ptBytes.length);
    this.#ptBytes.set(this.#ptHead);
  }

  /** Whether `ct` is at the last level. */
  atLastLevel(ct: Ciphertext, scope: SealScope): boolean {
    return parmsKey(scope.add(ct.parmsId())) === this.#lastParmsKey;
  }

  /**
   * The NTT forms of 1..MAX_PER_CALL polynomials, as the saved bytes of a ciphertext whose
   * components they are (one SEAL call for them all: the load, transform and save overhead
   * is shared): read each with `loadPlaintext(bytes, k, …)`. One polynomial is sent twice,
   * since SEAL refuses a ciphertext whose components past the first are all zero.
   */
  ntt(polys: readonly Uint32Array[]): Uint8Array {
    const N = this.polyModulusDegree;
    if (polys.length < 1 || polys.length > MAX_PER_CALL) throw errors.protocol(`ntt takes 1 to ${MAX_PER_CALL} polynomials`);
    const components = polys.length === 1 ? [polys[0]!, polys[0]!] : polys;
    const bytes = this.#fakeFor(components.length);
    new DataView(bytes.buffer).setFloat64(this.#ctData - 40, 1, true);
    components.forEach((poly, k) => bytes.set(new Uint8Array(poly.buffer, poly.byteOffset, 8 * N), this.#ctData + k * 8 * N));
    this.#fake.loadFromArray(this.#context, bytes);
    this.#evaluator.cipherTransformToNttInplace(this.#fake);
    return this.#fake.saveToArray(this.#seal.ComprModeType.none) as Uint8Array;
  }

  /** The bytes of a k-component ciphertext in coefficient form at the last level (its sizes written into the template's header). */
  #fakeFor(k: number): Uint8Array {
    let bytes = this.#fakeBytes.get(k);
    if (bytes) return bytes;
    const N = this.polyModulusDegree;
    bytes = new Uint8Array(this.#ctData + k * N * 8);
    bytes.set(this.#ctHead);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(8, BigInt(bytes.length), true);
    bytes[48] = 0;
    view.setBigUint64(49, BigInt(k), true);
    view.setBigUint64(this.#ctData - 16, BigInt(24 + k * N * 8), true);
    view.setBigUint64(this.#ctData - 8, BigInt(k * N), true);
    this.#fakeBytes.set(k, bytes);
    return bytes;
  }

  /** Component `which` of `ntt`'s bytes as an NTT-form plaintext at the last level with scale `scale`. */
  loadPlaintext(nttBytes: Uint8Array, which: number, scale: number, into: Plaintext): void {
    const N = this.polyModulusDegree;
    const bytes = this.#ptBytes;
    new DataView(bytes.buffer).setFloat64(this.#ptData - 32, scale, true);
    const from = this.#ctData + which * 8 * N;
    bytes.set(nttBytes.subarray(from, from + 8 * N), this.#ptData);
    into.loadFromArray(this.#context, bytes);
  }

  /** The zero polynomial as a plaintext (its NTT is zero too). */
  zeroPlaintext(scale: number, into: Plaintext): void {
    const bytes = this.#ptBytes;
    new DataView(bytes.buffer).setFloat64(this.#ptData - 32, scale, true);
    bytes.fill(0, this.#ptData);
    into.loadFromArray(this.#context, bytes);
  }

  /** Plaintexts (scale `scale`) of coefficient polynomials, up to MAX_PER_CALL NTTs per SEAL call. */
  plaintexts(polys: readonly Uint32Array[], scale: number, scope: SealScope): Plaintext[] {
    const out: Plaintext[] = [];
    for (let p = 0; p < polys.length; p += MAX_PER_CALL) {
      const batch = polys.slice(p, p + MAX_PER_CALL);
      const bytes = this.ntt(batch);
      batch.forEach((_, k) => {
        const plain = scope.add(new this.#seal.Plaintext());
        this.loadPlaintext(bytes, k, scale, plain);
        out.push(plain);
      });
    }
    return out;
  }

  /** The coefficients of an NTT-form plaintext at the last level (a decryption), as residues. */
  coefficients(plain: Plaintext): Uint32Array {
    const N = this.polyModulusDegree;
    const saved = plain.saveToArray(this.#seal.ComprModeType.none) as Uint8Array;
    if (saved.length !== this.#ptData + 8 * N) throw errors.protocol('the plaintext is not at the last level');
    const bytes = this.#fakeFor(2).slice();
    bytes[48] = 1;
    new DataView(bytes.buffer).setFloat64(this.#ctData - 40, plain.scale(), true);
    const data = saved.subarray(this.#ptData);
    bytes.set(data, this.#ctData);
    bytes.set(data, this.#ctData + 8 * N);
    guarded(
      this.#seal,
      () => this.#fake.loadFromArray(this.#context, bytes),
      () => errors.protocol('a decryption could not be read back as coefficients'),
    );
    this.#evaluator.cipherTransformFromNttInplace(this.#fake);
    const back = this.#fake.saveToArray(this.#seal.ComprModeType.none) as Uint8Array;
    const out = new Uint32Array(2 * N);
    new Uint8Array(out.buffer).set(back.subarray(this.#ctData, this.#ctData + 8 * N));
    return out;
  }

  /** Residue t of a polynomial as a bigint. */
  static word(poly: Uint32Array, t: number): bigint {
    return (BigInt(poly[2 * t + 1]!) << 32n) | BigInt(poly[2 * t]!);
  }

  /** Writes residue `value` (0 <= value < q) at coefficient t. */
  static setWord(poly: Uint32Array, t: number, value: bigint): void {
    poly[2 * t] = Number(value & 0xffffffffn);
    poly[2 * t + 1] = Number(value >> 32n);
  }

  /** Fills `poly` with residues uniform mod q from the OS CSPRNG (rejection sampling on the top word). */
  uniform(poly: Uint32Array): void {
    const N = this.polyModulusDegree;
    const words = new Uint32Array(2 * N);
    webcrypto.getRandomValues(words);
    const spare = new Uint32Array(2);
    for (let t = 0; t < N; t++) {
      let lo = words[2 * t]!;
      let hi = words[2 * t + 1]! & this.#hiMask;
      while (hi > this.#qHi || (hi === this.#qHi && lo >= this.#qLo)) {
        webcrypto.getRandomValues(spare);
        lo = spare[0]!;
        hi = spare[1]! & this.#hiMask;
      }
      poly[2 * t] = lo;
      poly[2 * t + 1] = hi;
    }
    words.fill(0);
  }
}

function parmsKey(parmsId: { values(): unknown }): string {
  return Array.from(parmsId.values() as BigUint64Array).join(':');
}
