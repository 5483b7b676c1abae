/**
 * Coefficient packing under CKKS (the scheme, sizes and who learns what: coefficients.ts),
 * at the last level of the job's parameters: one prime, no rescale, no Galois key.
 *
 * (Label) `encrypt` the 0/1 vector; (Features) `columnSums` over its rows, blinded and
 * flooded; (Label) `mask` a result uniformly mod q and `unmask` the arbiter's reply;
 * (Arbiter) `decryptCoefficients`, rounded to the grid.
 */
import { webcrypto } from 'node:crypto';
import type { Ciphertext, CKKSEncoder, Decryptor, Encryptor, Evaluator, Plaintext, SEALContext } from 'node-seal';
import { errors } from '../errors.ts';
import type { CiphertextBytes, CoefficientLayout, CoefficientRequest, CoefficientSecret, ColumnIndex, MaskedPlainBytes } from './backend.ts';
import { checkColumnIndex, checkLayout, checkRowsPerChunk, chunksFor, coefficientScaleBits, columnsPerCiphertext, fillMembership, sumCiphertextsFor, sumPosition } from './coefficients.ts';
import { LastLevelPolys, MAX_PER_CALL } from './seal-polys.ts';
import { guarded, scoped, type Seal, type SealScope } from './seal.ts';

/**
 * The key owner rounds revealed sums to 2^28: the decryption noise of a sum was at most
 * 2^14.8 over 2,700 sums of 100k rows (300 features × 9 product columns, N = 8192, flood and
 * grid switched off for the measurement), 13 bits below the grid; Δ is at least 2^33
 * (coefficientScaleBits), so grid, flood and noise together stay below Δ/4.
 */
export const COEFFICIENT_GRID_BITS = 28;

/** Refuses anything larger than a ciphertext at the last level of N = 32768 (two components). */
const MAX_BYTES = 2 * 32768 * 8 + 4096;

export class CkksCoefficients {
  readonly polys: LastLevelPolys;
  readonly #seal: Seal;
  readonly #context: SEALContext;
  readonly #encryptor: Encryptor;
  readonly #evaluator: Evaluator;
  readonly #N: number;

  constructor(seal: Seal, context: SEALContext, encoder: CKKSEncoder, encryptor: Encryptor, evaluator: Evaluator, scope: SealScope) {
    this.#seal = seal;
    this.#context = context;
    this.#encryptor = encryptor;
    this.#evaluator = evaluator;
    this.polys = new LastLevelPolys(seal, context, encoder, encryptor, evaluator, scope);
    this.#N = this.polys.polyModulusDegree;
  }

  /** Δ = 2^bits for a vector of `rows` values. */
  scale(rows: number): number {
    return 2 ** coefficientScaleBits(rows, this.polys.modulusBits, COEFFICIENT_GRID_BITS);
  }

  encrypt(values: Float64Array, rowsPerChunk: number): CiphertextBytes[] {
    if (!(values instanceof Float64Array) || values.length === 0) throw errors.optionInvalid('values', 'must be a non-empty Float64Array');
    for (let i = 0; i < values.length; i++) if (values[i] !== 0 && values[i] !== 1) throw errors.optionInvalid('values', `value ${i} is not 0 or 1`);
    const layout = { rows: values.length, rowsPerChunk };
    checkLayout(layout, this.#N);
    const scale = this.scale(layout.rows);
    const delta = BigInt(scale);
    const chunks = chunksFor(layout);
    const out: CiphertextBytes[] = [];
    for (let first = 0; first < chunks; first += MAX_PER_CALL) {
      const polys = Array.from({ length: Math.min(MAX_PER_CALL, chunks - first) }, (_, j) => first + j).map((k) => {
        const poly = new Uint32Array(2 * this.#N);
        for (let i = 0; i < rowsPerChunk && k * rowsPerChunk + i < values.length; i++) {
          if (values[k * rowsPerChunk + i] === 1) LastLevelPolys.setWord(poly, i, delta);
        }
        return poly;
      });
      scoped((scope) => {
        // An all-zero chunk still encrypts (as zero): only the NTT refuses an all-zero pair.
        const live = polys.filter((p) => p.some((w) => w !== 0));
        const plains = live.length === 0 ? [] : this.polys.plaintexts(live, scale, scope);
        for (const poly of polys) {
          const plain = live.includes(poly) ? plains[live.indexOf(poly)]! : this.#zero(scale, scope);
          const ct = scope.add(new this.#seal.Ciphertext());
          this.#encryptor.encrypt(plain, ct);
          out.push(this.#save(ct));
        }
      });
    }
    return out;
  }

  /**
   * Result ciphertexts [firstGroup, endGroup) of Σ_i d[i] per column (all of them by
   * default), blinded but for the sums and each sum flooded (coefficients.ts).
   */
  columnSums(d: readonly CiphertextBytes[], rowsPerChunk: number, columns: ColumnIndex, firstGroup = 0, endGroup?: number): CiphertextBytes[] {
    const N = this.#N;
    const layout = { rows: columns.rows, rowsPerChunk };
    checkLayout(layout, N);
    checkColumnIndex(columns, columns.rows);
    if (!Array.isArray(d) || d.length !== chunksFor(layout)) throw errors.messageMalformed(`expected ${chunksFor(layout)} label ciphertext(s) of ${rowsPerChunk} rows for ${columns.rows} rows`);
    const total = sumCiphertextsFor(columns.width, rowsPerChunk, N);
    const end = endGroup ?? total;
    if (!Number.isInteger(firstGroup) || !Number.isInteger(end) || firstGroup < 0 || end > total || firstGroup >= end) throw errors.optionInvalid('groups', `must be a range within 0..${total}`);
    const groups = end - firstGroup;
    const scale = this.scale(layout.rows);
    const ev = this.#evaluator;
    return scoped((scope) => {
      const sums: (Ciphertext | undefined)[] = new Array(groups).fill(undefined);
      const polys = new Uint8Array(groups * N);
      const touched = new Uint8Array(groups);
      const words = Array.from({ length: MAX_PER_CALL }, () => new Uint32Array(2 * N));
      const plain = scope.add(new this.#seal.Plaintext());
      const product = scope.add(new this.#seal.Ciphertext());
      for (let chunk = 0; chunk < d.length; chunk++) {
        scoped((chunkScope) => {
          const y = this.load(d[chunk], chunkScope, scale);
          polys.fill(0);
          touched.fill(0);
          fillMembership(polys, touched, columns, layout, N, chunk, firstGroup, end);
          const live: number[] = [];
          for (let g = 0; g < groups; g++) if (touched[g]) live.push(g);
          // The membership polynomials' NTTs, MAX_PER_CALL per SEAL call, then one product each.
          for (let p = 0; p < live.length; p += MAX_PER_CALL) {
            const batch = live.slice(p, p + MAX_PER_CALL);
            batch.forEach((g, k) => {
              const w = words[k]!;
              w.fill(0);
              for (let t = 0, base = g * N; t < N; t++) w[2 * t] = polys[base + t]!;
            });
            const ntt = this.polys.ntt(words.slice(0, batch.length));
            batch.forEach((g, k) => {
              this.polys.loadPlaintext(ntt, k, 1, plain);
              const sum = sums[g];
              if (sum === undefined) {
                sums[g] = scope.add(new this.#seal.Ciphertext());
                ev.multiplyPlain(y, plain, sums[g]!);
              } else {
                ev.multiplyPlain(y, plain, product);
                ev.addInplace(sum, product);
              }
            });
          }
        });
      }
      // A group no row reached sums to zero: a fresh encryption of zero, blinded like the others.
      for (let g = 0; g < groups; g++) {
        if (sums[g] !== undefined) continue;
        sums[g] = scope.add(new this.#seal.Ciphertext());
        this.#encryptor.encrypt(this.#zero(scale, scope), sums[g]!);
      }
      const m = columnsPerCiphertext(N, rowsPerChunk);
      const blinds = sums.map((_, g) => this.#blinding(rowsPerChunk, Math.min(m, columns.width - (firstGroup + g) * m), scale));
      const plains = this.polys.plaintexts(blinds, scale, scope);
      for (const b of blinds) b.fill(0);
      return sums.map((sum, g) => {
        ev.addPlainInplace(sum!, plains[g]!);
        return this.#save(sum!);
      });
    });
  }

  /** Masks every coefficient of a `columnSums` result uniformly mod q; keeps the masks of the first `count` sums. */
  mask(ct: CiphertextBytes, layout: CoefficientLayout, count: number): CoefficientRequest {
    checkLayout(layout, this.#N);
    checkCount(count, layout.rowsPerChunk, this.#N);
    const scale = this.scale(layout.rows);
    return scoped((scope) => {
      const target = this.load(ct, scope, scale);
      const r = new Uint32Array(2 * this.#N);
      this.polys.uniform(r);
      const mask: bigint[] = [];
      for (let c = 0; c < count; c++) mask.push(LastLevelPolys.word(r, sumPosition(c, layout.rowsPerChunk)));
      const [plain] = this.polys.plaintexts([r], scale, scope);
      r.fill(0);
      this.#evaluator.addPlainInplace(target, plain!);
      const secret: CoefficientSecret = { layout, count, mask };
      return { masked: this.#save(target), count, secret };
    });
  }

  /** (v − r) mod q, centred, over Δ: each sum within 1/8 of its integer. */
  unmask(reply: MaskedPlainBytes, secret: CoefficientSecret): Float64Array {
    const { count, mask } = secret;
    if (!(reply instanceof Uint8Array) || reply.byteLength !== 8 * count) throw errors.messageMalformed(`a coefficient reply must hold ${count} 64-bit residues`);
    if (!Array.isArray(mask) || mask.length !== count) throw errors.protocol('the coefficient mask does not match the request');
    const q = this.polys.modulus;
    const scale = this.scale(secret.layout.rows);
    const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
    const out = new Float64Array(count);
    for (let c = 0; c < count; c++) {
      const v = view.getBigUint64(8 * c, true);
      if (v >= q) throw errors.messageMalformed('a coefficient reply holds a value outside the modulus');
      let x = (v - (mask[c] as bigint) + q) % q;
      if (x > q / 2n) x -= q;
      out[c] = Number(x) / scale;
    }
    return out;
  }

  /** Loads untrusted bytes as a two-component NTT-form ciphertext at the last level (with scale `scale` when given). */
  load(bytes: unknown, scope: SealScope, scale?: number): Ciphertext {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0 || bytes.byteLength > MAX_BYTES) throw errors.messageMalformed("a ciphertext must be non-empty bytes of at most one ciphertext's size");
    const ct = scope.add(new this.#seal.Ciphertext());
    guarded(
      this.#seal,
      () => ct.loadFromArray(this.#context, bytes),
      () => errors.messageMalformed("the bytes are not a SEAL ciphertext for this job's parameters"),
    );
    if (ct.size() !== 2 || !ct.isNttForm() || !this.polys.atLastLevel(ct, scope)) throw errors.messageMalformed('the ciphertext is not a coefficient-packed one (two components, last level)');
    if (scale !== undefined && ct.scale() !== scale) throw errors.messageMalformed(`the ciphertext's scale 2^${Math.log2(ct.scale()).toFixed(1)} is not the 2^${Math.log2(scale)} its row count fixes`);
    return ct;
  }

  /** (Arbiter) Decrypts with `decryptor` and returns the first `count` sums of the layout, rounded to the grid, as 64-bit residues. */
  decrypt(decryptor: Decryptor, masked: CiphertextBytes, rowsPerChunk: number, count: number): MaskedPlainBytes {
    checkRowsPerChunk(rowsPerChunk, this.#N);
    checkCount(count, rowsPerChunk, this.#N);
    return scoped((scope) => {
      const ct = this.load(masked, scope);
      if (!(ct.scale() >= 2 ** (COEFFICIENT_GRID_BITS + 5))) throw errors.messageMalformed('the ciphertext is not at a coefficient-packing scale');
      const plain = scope.add(new this.#seal.Plaintext());
      decryptor.decrypt(ct, plain);
      const coefficients = this.polys.coefficients(plain);
      const q = this.polys.modulus;
      const grid = BigInt(COEFFICIENT_GRID_BITS);
      const reply = new Uint8Array(8 * count);
      const view = new DataView(reply.buffer);
      for (let c = 0; c < count; c++) {
        const v = LastLevelPolys.word(coefficients, sumPosition(c, rowsPerChunk));
        let rounded = ((v + (1n << (grid - 1n))) >> grid) << grid;
        if (rounded >= q) rounded -= q;
        view.setBigUint64(8 * c, rounded, true);
      }
      coefficients.fill(0);
      return reply;
    });
  }

  /** A uniform polynomial but for the `count` sums of the layout, each a flood in [−Δ/16, Δ/16]. */
  #blinding(rowsPerChunk: number, count: number, scale: number): Uint32Array {
    const poly = new Uint32Array(2 * this.#N);
    this.polys.uniform(poly);
    const q = this.polys.modulus;
    const flood = BigInt(scale / 16);
    for (let c = 0; c < count; c++) {
      const f = uniformBelow(2n * flood + 1n) - flood;
      LastLevelPolys.setWord(poly, sumPosition(c, rowsPerChunk), f >= 0n ? f : q + f);
    }
    return poly;
  }

  #zero(scale: number, scope: SealScope): Plaintext {
    const plain = scope.add(new this.#seal.Plaintext());
    this.polys.zeroPlaintext(scale, plain);
    return plain;
  }

  #save(ct: Ciphertext): CiphertextBytes {
    return ct.saveToArray(this.#seal.ComprModeType.none) as Uint8Array;
  }
}

function checkCount(count: number, rowsPerChunk: number, N: number): void {
  const m = columnsPerCiphertext(N, rowsPerChunk);
  if (!Number.isInteger(count) || count < 1 || count > m) throw errors.optionInvalid('count', `must be an integer in 1..${m}, got ${String(count)}`);
}

/** A uniform bigint in [0, bound) from the OS CSPRNG (rejection sampling). */
function uniformBelow(bound: bigint): bigint {
  const bits = bound.toString(2).length;
  const words = new Uint32Array(Math.ceil(bits / 32));
  for (;;) {
    webcrypto.getRandomValues(words);
    let v = 0n;
    for (const w of words) v = (v << 32n) | BigInt(w);
    v &= (1n << BigInt(bits)) - 1n;
    if (v < bound) return v;
  }
}
