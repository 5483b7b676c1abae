import { errors } from '../../errors.ts';

/** The most tries `hashOntoCurve` makes: each fails with probability ½, all 256 with 2^-256. */
const MAX_TRIES = 256;
// Reused by every call (one thread each): prefix ‖ id ‖ counter, grown on demand.
let tryInput = new Uint8Array(256);
const digest = new Uint8Array(64);

/**
 * H(x) onto Curve25519 itself, never its twist, by try-and-increment: for c = 0, 1, …, the
 * first 32 bytes of SHA-512(x ‖ c) (c one byte), top bit cleared, read as a u-coordinate
 * (RFC 7748), until that u lies on the curve (a Jacobi symbol, `onTwist`). Each try lands on
 * the curve with probability ½, so 2 tries on average and 256 failures have probability
 * 2^-256. A fixed-length counter at the end keeps (x, c) ↦ x ‖ c one-to-one.
 *
 * Why: a u-coordinate lies on the curve or its twist, a multiple keeps it there and anyone
 * can tell which (the Jacobi symbol), so a hash onto both showed every peer one bit of each
 * input's hash, which it can compute for inputs of its own (test/attacks/oprf-linking.test.ts).
 * On the curve only, that bit is the same for every honest input.
 *
 * The output is uniform over the curve's u-coordinates (each try is a fresh random oracle
 * output, and the first on the curve is taken): a random oracle into the curve up to the
 * sign of v, which the u-only ladder ignores anyway. Not constant-time: the number of tries
 * depends on the input (and the job's prefix) only, and a peer sees no single hash's time,
 * only when a message of a whole batch (hashes and ~31 µs multiplies) arrives. RFC 9380's
 * Elligator 2 would be constant-time but costs 3-4× more here (a native map through Edwards
 * form, or a BigInt field exponentiation in JavaScript) and libsodium's map and noble's differ,
 * so the two backends could not stay byte-identical cheaply
 * (bench/results/2026-12-02-hash-to-curve-micro.json).
 *
 * `sha512Into(data, digest)` writes SHA-512(data) into the 64-byte `digest`.
 */
export function hashOntoCurve(sha512Into: (data: Uint8Array, digest: Uint8Array) => void, input: Uint8Array, out: Uint8Array, offset: number): void {
  if (input.length + 1 > tryInput.length) tryInput = new Uint8Array(2 * (input.length + 1));
  tryInput.set(input, 0);
  const data = tryInput.subarray(0, input.length + 1);
  for (let c = 0; c < MAX_TRIES; c++) {
    data[input.length] = c;
    sha512Into(data, digest);
    out.set(digest.subarray(0, 32), offset);
    out[offset + 31]! &= 0x7f;
    if (onTwist(out, offset) === 0 && !isZeroU(out, offset)) return;
  }
  // Probability 2^-256: a broken hash function, not an input.
  throw new Error(`hashOntoCurve: no curve point in ${MAX_TRIES} tries; SHA-512 is not behaving as a hash`);
}

/** u = 0 (the point of order 2, which `onTwist` reads as the curve): never a usable hash, probability 2^-254 per try. */
function isZeroU(point: Uint8Array, offset: number): boolean {
  let any = 0;
  for (let i = 0; i < 32; i++) any |= point[offset + i]!;
  return any === 0;
}

export function smallOrderResult(): Error {
  return errors.protocol('a received point has small order (all-zero shared value); the peer is faulty or malicious');
}

const P = 2n ** 255n - 19n;
const A = 486662n;
const U64 = 2n ** 64n;

/**
 * 1 when `point` (a u-coordinate as RFC 7748 reads it, top bit ignored) lies on the quadratic
 * twist of Curve25519, 0 when on the curve itself: whether u³ + A·u² + u is a square mod p.
 *
 * `hashOntoCurve` tries until this says curve, and an OPRF client checks each evaluation it
 * receives with it (src/psi/batch.ts `unblind`). Euler's criterion (a 255-bit power) costs
 * ~10 multiplies in JavaScript; the Jacobi symbol by batched divsteps (`jacobi`) costs about
 * a ninth of one X25519 multiply (~4 µs with the field arithmetic before it, against ~35 µs
 * on this machine; the binary algorithm alone took ~13 µs). Not constant-time: it runs on a hash of the party's own input or on a point the peer sent, and
 * an honest point is always on the curve (no secret in the answer).
 * A zero (u = 0 or a point of order 2) reads as the curve: multiplying it fails anyway.
 */
export function onTwist(point: Uint8Array, offset: number): 0 | 1 {
  const view = new DataView(point.buffer, point.byteOffset + offset, 32);
  let u = 0n;
  for (let i = 3; i >= 0; i--) u = u * U64 + view.getBigUint64(i * 8, true);
  u = BigInt.asUintN(255, u) % P;
  const v2 = (u * ((u * u + A * u + 1n) % P)) % P;
  return jacobi(v2, P) === -1 ? 1 : 0;
}

/**
 * The Jacobi symbol runs on 30-bit limbs in int32 arithmetic: a BigInt operation allocates
 * and costs ~100 ns, and a Euclid step takes several; a limb step of the binary algorithm
 * below costs a few ns per limb. Nine limbs hold 270 bits, so any odd n < 2^270.
 */
const LIMB_BITS = 30;
const LIMB_MASK = (1 << LIMB_BITS) - 1;
const LIMBS = 9;
const MAX_MODULUS = 1n << BigInt(LIMB_BITS * LIMBS);
// One spare zero limb past each number: a shift reads limb i + 1. Reused by every call (one thread each).
const limbsA = new Int32Array(LIMBS + 1);
const limbsB = new Int32Array(LIMBS + 1);
const wordBytes = new Uint8Array(48);
const wordView = new DataView(wordBytes.buffer);

/** `v` (0 ≤ v < 2^270) into `out` as little-endian 30-bit limbs; returns how many are in use (0 for zero). */
function toLimbs(v: bigint, out: Int32Array): number {
  for (let w = 0; w < 5; w++, v >>= 64n) wordView.setBigUint64(w * 8, BigInt.asUintN(64, v), true);
  let used = 0;
  for (let i = 0; i < LIMBS; i++) {
    const bit = i * LIMB_BITS;
    const at = bit >> 3;
    // The limb lies within the 5 bytes from `at` (shift ≤ 7, 30 bits: at most 37 bits), 40 bits exact in a double.
    let window = 0;
    for (let k = 4; k >= 0; k--) window = window * 256 + wordBytes[at + k]!;
    const limb = Math.floor(window / 2 ** (bit & 7)) % 2 ** LIMB_BITS;
    out[i] = limb;
    if (limb !== 0) used = i + 1;
  }
  out[LIMBS] = 0;
  return used;
}

/**
 * The Jacobi symbol (a/n) for odd 0 < n < 2^270 and any a: 1, -1, or 0 when they share a
 * factor. By batched divsteps (`jacobiByDivsteps`), which settle every coprime pair met in
 * practice; a pair they leave open (a shared factor, as u = 0 gives) goes to the binary
 * algorithm: take the factors 2 out of a ((2/n) = -1 exactly when
 * n ≡ 3 or 5 mod 8), keep a ≥ n by swapping (reciprocity: the sign flips when both are
 * 3 mod 4), and replace a by a − n, even, whose factors 2 go next. Subtraction and the shift
 * that follows are one pass over the limbs when the difference's factors 2 lie in its low
 * limb (all but 2^-30 of the time).
 */
export function jacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  if (n <= 0n || (n & 1n) === 0n || n >= MAX_MODULUS) throw new RangeError(`jacobi: the modulus must be odd and in (0, 2^${LIMB_BITS * LIMBS})`);
  a %= n;
  if (a < 0n) a += n;
  return jacobiByDivsteps(a, n) ?? jacobiBinary(a, n);
}

/** The binary algorithm above, for 0 ≤ a < n: what `jacobiByDivsteps` falls back to when it does not settle. */
function jacobiBinary(a: bigint, n: bigint): -1 | 0 | 1 {
  let x = limbsA;
  let y = limbsB;
  let nx = toLimbs(a, x);
  let ny = toLimbs(n, y);
  let t: -1 | 1 = 1;
  let even = true;
  for (;;) {
    if (even) {
      if (nx === 0) return ny === 1 && y[0] === 1 ? t : 0;
      // A whole zero limb is 30 factors 2: an even count, the sign stays.
      while (x[0] === 0) {
        x.copyWithin(0, 1, nx + 1);
        nx--;
      }
      const zeros = 31 - Math.clz32(x[0]! & -x[0]!);
      if (zeros > 0) {
        for (let i = 0; i < nx; i++) x[i] = (x[i]! >>> zeros) | ((x[i + 1]! << (LIMB_BITS - zeros)) & LIMB_MASK);
        if (x[nx - 1] === 0) nx--;
        const y8 = y[0]! & 7;
        if ((zeros & 1) === 1 && (y8 === 3 || y8 === 5)) t = t === 1 ? -1 : 1;
      }
    }
    // x and y odd. Equal: their gcd is x, and the symbol 0 unless it is 1.
    let order = nx - ny;
    for (let i = nx - 1; order === 0 && i >= 0; i--) order = x[i]! - y[i]!;
    if (order === 0) return nx === 1 && x[0] === 1 ? t : 0;
    if (order < 0) {
      const swap = x;
      x = y;
      y = swap;
      const swapUsed = nx;
      nx = ny;
      ny = swapUsed;
      if ((x[0]! & 3) === 3 && (y[0]! & 3) === 3) t = t === 1 ? -1 : 1;
    }
    const low = (x[0]! - y[0]!) & LIMB_MASK;
    let borrow = 0;
    if (low === 0) {
      // The difference's factors 2 run past its low limb: subtract only, and strip them next round.
      for (let i = 0; i < nx; i++) {
        const d = x[i]! - (i < ny ? y[i]! : 0) - borrow;
        borrow = d < 0 ? 1 : 0;
        x[i] = d & LIMB_MASK;
      }
      while (nx > 0 && x[nx - 1] === 0) nx--;
      even = true;
      continue;
    }
    // x ← (x − y) / 2^zeros in one pass: each limb of the difference completes the limb below it.
    const zeros = 31 - Math.clz32(low & -low);
    let below = 0;
    for (let i = 0; i < nx; i++) {
      const d = x[i]! - (i < ny ? y[i]! : 0) - borrow;
      borrow = d < 0 ? 1 : 0;
      const limb = d & LIMB_MASK;
      if (i > 0) x[i - 1] = (below >>> zeros) | ((limb << (LIMB_BITS - zeros)) & LIMB_MASK);
      below = limb;
    }
    x[nx - 1] = below >>> zeros;
    while (nx > 0 && x[nx - 1] === 0) nx--;
    const y8 = y[0]! & 7;
    if ((zeros & 1) === 1 && (y8 === 3 || y8 === 5)) t = t === 1 ? -1 : 1;
    even = false;
  }
}

/**
 * The Jacobi symbol by batches of "posdivsteps", after libsecp256k1's
 * `secp256k1_jacobi64_maybe_var` (Wuille, bitcoin-core/secp256k1 #979, on Bernstein–Yang's
 * safegcd, eprint 2019/266): about 4× faster than the binary algorithm here, because every
 * decision of a step reads only the low bits of f and g, so 24 steps run on one 32-bit word
 * each and their effect on the whole numbers is one 2×2 matrix, applied once per batch.
 *
 * A step keeps f odd and both f, g ≥ 0, and tracks (g/f) in the low bit of `jac`: g even is
 * halved ((2/f) = -1 when f ≡ 3, 5 mod 8); when the step counter η goes negative f and g swap
 * (reciprocity: the sign flips when both are 3 mod 4); then a multiple of f that clears up to
 * 6 low bits of g is added to g (no change to (g/f)). The numbers never grow past max(f, g)
 * and reach f = 1, where (g/1) = 1, exactly when gcd(a, n) = 1 (for a 255-bit modulus within
 * ~1,550 steps, as in libsecp256k1). Returns undefined when f has not reached 1 after 1,728
 * steps (a shared factor, or a rare slow input): the caller then runs the binary algorithm.
 *
 * Exactness in doubles: after s steps the matrix rows sum to at most 2^s (each halving
 * follows the addition of fewer than 2^b multiples of the other row and divides by at
 * least 2^b), so with 24-bit limbs and s = 24 each product sum is below 2^49. The low word
 * keeps 32 − s ≥ i + 8 exact bits while i steps remain, more than the 6 a step reads.
 */
function jacobiByDivsteps(a: bigint, n: bigint): -1 | 1 | undefined {
  let len = toLimbs24(n, divF);
  toLimbs24(a, divG);
  let eta = -1;
  let jac = 0;
  for (let batch = 0; batch < DIVSTEP_BATCHES; batch++) {
    // 24 posdivsteps on the low 32 bits of f and g (bitcoin-core/secp256k1 modinv64_impl.h, posdivsteps_62_var).
    let f = divF[0]! | (divF[1]! << LIMB24_BITS);
    let g = divG[0]! | (divG[1]! << LIMB24_BITS);
    let u = 1;
    let v = 0;
    let q = 0;
    let r = 1;
    let i = LIMB24_BITS;
    for (;;) {
      // A sentinel bit stops the count of zeros at the steps left.
      const low = g | (-1 << i);
      const zeros = 31 - Math.clz32(low & -low);
      g >>>= zeros;
      u *= 1 << zeros;
      v *= 1 << zeros;
      eta -= zeros;
      i -= zeros;
      jac ^= zeros & ((f >>> 1) ^ (f >>> 2));
      if (i === 0) break;
      let w: number;
      if (eta < 0) {
        eta = -eta;
        let swap = f;
        f = g;
        g = swap;
        swap = u;
        u = q;
        q = swap;
        swap = v;
        v = r;
        r = swap;
        jac ^= (f & g) >>> 1;
        const limit = eta + 1 > i ? i : eta + 1;
        // The multiple of f that clears the low min(limit, 6) bits of g.
        w = Math.imul(Math.imul(f, g), Math.imul(f, f) - 2) & ((-1 >>> (32 - limit)) & 63);
      } else {
        const limit = eta + 1 > i ? i : eta + 1;
        w = Math.imul(-(f + (((f + 1) & 4) << 1)), g) & ((-1 >>> (32 - limit)) & 15);
      }
      g = (g + Math.imul(f, w)) | 0;
      q += u * w;
      r += v * w;
    }
    // (f, g) ← (u·f + v·g, q·f + r·g) / 2^24, limb by limb.
    // Limbs split by a multiply by 2^-24 and a floor (exact on integers below 2^53): a double's % or / costs several times more.
    let cf = (u * divF[0]! + v * divG[0]!) * LIMB24_INVERSE;
    let cg = (q * divF[0]! + r * divG[0]!) * LIMB24_INVERSE;
    if (cf !== Math.floor(cf) || cg !== Math.floor(cg)) return undefined;
    for (let j = 1; j < len; j++) {
      cf += u * divF[j]! + v * divG[j]!;
      cg += q * divF[j]! + r * divG[j]!;
      const highF = Math.floor(cf * LIMB24_INVERSE);
      const highG = Math.floor(cg * LIMB24_INVERSE);
      divF[j - 1] = cf - highF * LIMB24;
      divG[j - 1] = cg - highG * LIMB24;
      cf = highF;
      cg = highG;
    }
    divF[len - 1] = cf;
    divG[len - 1] = cg;
    if (divF[0] === 1) {
      let rest = 0;
      for (let j = 1; j < len; j++) rest += divF[j]!;
      if (rest === 0) return (jac & 1) === 1 ? -1 : 1;
    }
    if (len > 1 && divF[len - 1] === 0 && divG[len - 1] === 0) len--;
  }
  return undefined;
}

const LIMB24_BITS = 24;
const LIMB24 = 2 ** LIMB24_BITS;
const LIMB24_INVERSE = 2 ** -LIMB24_BITS;
/** 12 limbs of 24 bits hold any modulus below 2^270 (and a spare zero limb is read as f's and g's second limb when one is in use). */
const LIMBS24 = 12;
/** 72 batches of 24 steps: 1,728, past libsecp256k1's 1,550 for 256 bits in proportion to 270. */
const DIVSTEP_BATCHES = 72;
// Reused by every call (one thread each).
const divF = new Float64Array(LIMBS24 + 1);
const divG = new Float64Array(LIMBS24 + 1);

/** `v` (0 ≤ v < 2^270) into `out` as little-endian 24-bit limbs (whole bytes), zero above; returns the limbs in use (at least 1). */
function toLimbs24(v: bigint, out: Float64Array): number {
  for (let w = 0; w < 5; w++, v >>= 64n) wordView.setBigUint64(w * 8, BigInt.asUintN(64, v), true);
  let used = 1;
  for (let i = 0; i < LIMBS24; i++) {
    const limb = wordBytes[3 * i]! | (wordBytes[3 * i + 1]! << 8) | (wordBytes[3 * i + 2]! << 16);
    out[i] = limb;
    if (limb !== 0) used = i + 1;
  }
  out[LIMBS24] = 0;
  return used;
}
