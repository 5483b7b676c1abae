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
  readonly #fakeBytes: Uint8Array;
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
      ctView.getFloat64(this.#ctData - 40, true) !== ct.scale() ||
      ctView.getBigUint64(this.#ctData - 8, true) !== BigInt(2 * N) ||
      ptView.getFloat64(this.#ptData - 32, true) !== plain.scale() ||
      ptView.getBigUint64(this.#ptData - 8, true) !== BigInt(N)
    ) {
      throw errors.protocol('node-seal serialises ciphertexts or plaintexts in an unexpected layout: coefficient packing cannot run');
    }
    this.#ctHead = ctBytes.slice(0, this.#ctData);
    this.#ptHead = ptBytes.slice(0, this.#ptData);
    this.#fake = scope.add(new seal.Ciphertext());
    this.#fakeBytes = new Uint8Array(ctBytes.length);
    this.#fakeBytes.set(this.#ctHead);
    this.#ptBytes = new Uint8Array(ptBytes.length);
    this.#ptBytes.set(this.#ptHead);
  }

  /** Whether `ct` is at the last level. */
  atLastLevel(ct: Ciphertext, scope: SealScope): boolean {
    return parmsKey(scope.add(ct.parmsId())) === this.#lastParmsKey;
  }

  /**
   * The NTT forms of polynomials `a` and `b` (b may repeat a: a component must not be all
   * zero), as the saved bytes of a ciphertext whose two components they are: read each
   * with `loadPlaintext(bytes, 0 | 1, …)`.
   */
  ntt(a: Uint32Array, b: Uint32Array): Uint8Array {
    const N = this.polyModulusDegree;
    const bytes = this.#fakeBytes;
    bytes[48] = 0;
    new DataView(bytes.buffer).setFloat64(this.#ctData - 40, 1, true);
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, 8 * N), this.#ctData);
    bytes.set(new Uint8Array(b.buffer, b.byteOffset, 8 * N), this.#ctData + 8 * N);
    this.#fake.loadFromArray(this.#context, bytes);
    this.#evaluator.cipherTransformToNttInplace(this.#fake);
    return this.#fake.saveToArray(this.#seal.ComprModeType.none) as Uint8Array;
  }

  /** Component `which` of `ntt`'s bytes as an NTT-form plaintext at the last level with scale `scale`. */
  loadPlaintext(nttBytes: Uint8Array, which: 0 | 1, scale: number, into: Plaintext): void {
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

  /** Plaintexts (scale `scale`) of coefficient polynomials, two NTTs per SEAL call. */
  plaintexts(polys: readonly Uint32Array[], scale: number, scope: SealScope): Plaintext[] {
    const out: Plaintext[] = [];
    for (let p = 0; p < polys.length; p += 2) {
      const bytes = this.ntt(polys[p]!, polys[p + 1] ?? polys[p]!);
      for (let h = 0; h < 2 && p + h < polys.length; h++) {
        const plain = scope.add(new this.#seal.Plaintext());
        this.loadPlaintext(bytes, h as 0 | 1, scale, plain);
        out.push(plain);
      }
    }
    return out;
  }

  /** The coefficients of an NTT-form plaintext at the last level (a decryption), as residues. */
  coefficients(plain: Plaintext): Uint32Array {
    const N = this.polyModulusDegree;
    const saved = plain.saveToArray(this.#seal.ComprModeType.none) as Uint8Array;
    if (saved.length !== this.#ptData + 8 * N) throw errors.protocol('the plaintext is not at the last level');
    const bytes = this.#fakeBytes;
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
