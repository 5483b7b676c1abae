/**
 * Baseline: one epoch of FATE-style hetero logistic regression under Paillier, the scheme
 * FATE's coordinated LR uses, for comparison with jinqiao's CKKS protocol.
 *
 * Who learns what (FATE's coordinated LR, honest-but-curious parties): the arbiter makes the
 * Paillier key pair and decrypts every gradient entry. The host (features) masks its
 * gradient before sending it, so the arbiter sees it masked; the guest (label) does not, so
 * the arbiter sees the guest's gradient in the clear — FATE's docs call this mode the less
 * secure one. The guest sees only ciphertexts of the host's scores, the host only
 * ciphertexts of the residuals.
 *
 * Message flow of one mini-batch of b rows (Taylor sigmoid σ(z) ≈ 0.5 + 0.25·z):
 *   1. host → guest   [[u_h,i]] for every row, u_h = X_h·w_h         (b encryptions)
 *   2. guest          [[4·d_i]] = [[u_h,i]] ⊕ (u_g,i + 2 − 4·y_i)    (b plaintext additions)
 *   3. guest → host   [[4·d]]; each party [[G_j]] = Σ_i x_ij ⊗ [[4·d_i]]
 *                                                   (b·F scalar multiplications and additions)
 *      host adds [[r_j]] for a mask r_j uniform mod n              (F_h encryptions)
 *   4. → arbiter → party   G_j (+ r_j), decrypted   (F_g + F_h decryptions); g_j = G_j / (4·b)
 *
 * Fixed point: every real is rounded to a multiple of 2^-40 and negatives are taken mod n.
 * The factor 0.25 is folded into the scale rather than multiplied homomorphically: the
 * guest adds 4·(0.25·u + 0.5 − y) = u + 2 − 4·y, so [[4·d]] carries d at scale 2^42 and
 * the decrypted sum Σ x̂·4d̂ is at scale 2^82 (|sum| < 2^110 for any realistic batch, far
 * below n/2, so it decodes without wrap-around). A negative x_ij raises the precomputed
 * inverse [[−4·d_i]] to |x̂_ij| (FATE inverts per multiplication; one inverse per row and
 * party is cheaper), so every exponent has about 43 bits instead of 2048.
 *
 * Encryption is FATE's: with g = n + 1, g^m = 1 + m·n mod n², so a ciphertext costs one
 * obfuscator r^n mod n² and one multiplication. Decryption uses the CRT (p and q known).
 *
 * What is measured: the protocol runs for real on a slice of one batch (all features), each
 * operation timed; its result is checked against the plaintext gradient. A full epoch is
 * extrapolated from the per-operation means and the operation counts. One core; neither
 * serialisation nor the network is counted (a ciphertext is keyBits/4 bytes on the wire).
 *
 *   node bench/baselines/paillier.ts     (--quick: smaller slices; --json: print the estimates)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { generateRandomKeys, type PrivateKey, type PublicKey } from 'paillier-bigint';
import { errors } from '../../src/errors.ts';
import { SeededRng } from '../../src/util/rng.ts';

export interface PaillierEpochOptions {
  /** Aligned training rows of the epoch to extrapolate to. */
  readonly rows: number;
  readonly guestFeatures: number;
  readonly hostFeatures: number;
  readonly batchSize: number;
  /** Rows of one batch run for real; defaults to 4096 / (guest + host features), in [8, 128]. */
  readonly sliceRows?: number;
  /** Paillier modulus size; 2048 is what FATE deployments use for 112-bit security. */
  readonly keyBits?: number;
  readonly seed?: string;
}

export interface PaillierEpochEstimate {
  readonly keyBits: number;
  /** Key generation, outside the epoch time. */
  readonly keygenSeconds: number;
  readonly sliceRows: number;
  readonly features: { readonly guest: number; readonly host: number };
  /** Wall time of the slice: one batch's protocol on `sliceRows` rows, all features. */
  readonly measuredSeconds: number;
  /** Means over the slice. */
  readonly perOpMicroseconds: {
    readonly encrypt: number;
    readonly scalarMultiply: number;
    readonly add: number;
    readonly decrypt: number;
    /** Plaintext added into a ciphertext (the guest's half of the residual). */
    readonly addPlaintext: number;
    /** Modular inverse of [[4·d_i]], for negative features. */
    readonly negate: number;
  };
  /** Largest |decrypted − plaintext| over the gradient entries of the slice. */
  readonly maxGradientError: number;
  readonly extrapolated: {
    readonly rows: number;
    readonly batches: number;
    readonly epochSeconds: number;
    /** Ciphertexts sent per epoch × their size. */
    readonly wireBytes: number;
    readonly note: string;
  };
}

/** Reals are rounded to multiples of 2^-SCALE_BITS. */
const SCALE_BITS = 40;
const SCALE = 2 ** SCALE_BITS;
/** Decrypted gradients must match the plaintext within this (the rounding error is ~2^-38). */
const GRADIENT_TOLERANCE = 2 ** -30;

type OpName = keyof PaillierEpochEstimate['perOpMicroseconds'];

/** Counts and total milliseconds of each Paillier operation. */
class OpClock {
  readonly totalMs: Record<OpName, number> = { encrypt: 0, scalarMultiply: 0, add: 0, decrypt: 0, addPlaintext: 0, negate: 0 };
  readonly count: Record<OpName, number> = { encrypt: 0, scalarMultiply: 0, add: 0, decrypt: 0, addPlaintext: 0, negate: 0 };

  time<T>(op: OpName, run: () => T): T {
    const started = performance.now();
    const result = run();
    this.totalMs[op] += performance.now() - started;
    this.count[op]++;
    return result;
  }

  meanMicroseconds(op: OpName): number {
    return (this.totalMs[op] / this.count[op]) * 1000;
  }
}

/** One party's columns of the slice, row-major, and its current weights. */
interface PartyData {
  readonly features: Float64Array;
  readonly width: number;
  readonly weights: Float64Array;
}

/**
 * Standardised features (N(0, 1)), labels drawn from a logistic model, and mid-training
 * weights, all from the seed so every run sees the same slice.
 */
function generateSlice(seed: string, rows: number, guestFeatures: number, hostFeatures: number) {
  const rng = SeededRng.fromSeed(seed, 'paillier-baseline');
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
  const party = (width: number): PartyData => ({
    features: Float64Array.from({ length: rows * width }, normal),
    width,
    weights: Float64Array.from({ length: width }, () => (0.3 * normal()) / Math.sqrt(width)),
  });
  const guest = party(guestFeatures);
  const host = party(hostFeatures);
  const guestScores = scores(guest, rows);
  const hostScores = scores(host, rows);
  // The model that drew the labels is the current weights plus noise, so the residuals are realistic.
  const labels = Float64Array.from({ length: rows }, (_, i) => {
    const z = guestScores[i] + hostScores[i] + 0.5 * normal();
    return rng.nextFloat() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  });
  return { guest, host, guestScores, hostScores, labels };
}

function scores(party: PartyData, rows: number): Float64Array {
  const u = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < party.width; j++) s += party.features[i * party.width + j] * party.weights[j];
    u[i] = s;
  }
  return u;
}

const encodeSigned = (value: number): bigint => BigInt(Math.round(value * SCALE));

/** (Any party) FATE's encryption with g = n + 1: (1 + m·n)·r^n mod n², m a signed fixed-point integer. */
function encrypt(publicKey: PublicKey, m: bigint): bigint {
  const n = publicKey.n;
  const obfuscator = publicKey.encrypt(0n); // r^n mod n² for a fresh random r
  return (((1n + (((m % n) + n) % n) * n) % publicKey._n2) * obfuscator) % publicKey._n2;
}

function modInverse(a: bigint, modulus: bigint): bigint {
  let [r0, r1] = [modulus, a % modulus];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  assert.equal(r0, 1n, 'ciphertext not invertible mod n²');
  return t0 < 0n ? t0 + modulus : t0;
}

/** A uniform value mod n from the platform CSPRNG (128 extra bits make the bias negligible). */
function uniformMask(n: bigint, keyBits: number): bigint {
  return BigInt('0x' + randomBytes(keyBits / 8 + 16).toString('hex')) % n;
}

/**
 * (Each party) Σ_i x̂_ij ⊗ [[4·d_i]] for every own feature j; negative x̂ use [[−4·d_i]].
 */
function encryptedGradientSums(publicKey: PublicKey, party: PartyData, residuals: readonly bigint[], clock: OpClock): bigint[] {
  const n2 = publicKey._n2;
  const negated = residuals.map((c) => clock.time('negate', () => modInverse(c, n2)));
  const sums: bigint[] = [];
  for (let j = 0; j < party.width; j++) {
    let sum: bigint | undefined;
    for (let i = 0; i < residuals.length; i++) {
      const x = encodeSigned(party.features[i * party.width + j]);
      const term = clock.time('scalarMultiply', () => (x >= 0n ? publicKey.multiply(residuals[i], x) : publicKey.multiply(negated[i], -x)));
      sum = sum === undefined ? term : clock.time('add', () => (sum! * term) % n2);
    }
    sums.push(sum!);
  }
  return sums;
}

/** (Arbiter) Decrypts every entry it is sent. */
function arbiterDecrypt(privateKey: PrivateKey, ciphertexts: readonly bigint[], clock: OpClock): bigint[] {
  return ciphertexts.map((c) => clock.time('decrypt', () => privateKey.decrypt(c)));
}

/** Signed value of m mod n, read at scale 2^(2·SCALE_BITS + 2) and divided by the batch rows. */
function decodeGradient(m: bigint, n: bigint, rows: number): number {
  const signed = m > n / 2n ? m - n : m;
  return Number(signed) / (SCALE * SCALE * 4) / rows;
}

function checkPositiveInteger(field: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw errors.optionInvalid(field, `must be a positive integer, got ${String(value)}`);
  return value as number;
}

/**
 * Runs one FATE hetero-LR batch under Paillier on a slice of rows, checks the decrypted
 * gradients against the plaintext ones, and extrapolates an epoch by operation counts.
 */
export async function paillierEpoch(options: PaillierEpochOptions): Promise<PaillierEpochEstimate> {
  const rows = checkPositiveInteger('rows', options.rows);
  const guestFeatures = checkPositiveInteger('guestFeatures', options.guestFeatures);
  const hostFeatures = checkPositiveInteger('hostFeatures', options.hostFeatures);
  const batchSize = checkPositiveInteger('batchSize', options.batchSize);
  const features = guestFeatures + hostFeatures;
  const sliceRows = checkPositiveInteger('sliceRows', options.sliceRows ?? Math.min(128, Math.max(8, Math.floor(4096 / features))));
  const keyBits = checkPositiveInteger('keyBits', options.keyBits ?? 2048);
  if (keyBits < 256 || keyBits % 64 !== 0) throw errors.optionInvalid('keyBits', `must be a multiple of 64 of at least 256, got ${keyBits}`);
  const seed = options.seed ?? 'jinqiao-paillier-baseline';

  const keygenStarted = performance.now();
  const { publicKey, privateKey } = await generateRandomKeys(keyBits, true);
  const keygenSeconds = (performance.now() - keygenStarted) / 1000;
  const n = publicKey.n;
  assert.equal(publicKey.g, n + 1n, 'the fast encryption needs g = n + 1');

  const slice = generateSlice(seed, sliceRows, guestFeatures, hostFeatures);
  const clock = new OpClock();
  const started = performance.now();

  // 1. Host: [[u_h]].
  const hostScoresEncrypted = Array.from(slice.hostScores, (u) => clock.time('encrypt', () => encrypt(publicKey, encodeSigned(u))));
  // 2. Guest: [[4·d]] = [[u_h]] ⊕ (u_g + 2 − 4·y).
  const residuals = hostScoresEncrypted.map((c, i) => {
    const own = ((encodeSigned(slice.guestScores[i] + 2 - 4 * slice.labels[i]) % n) + n) % n;
    return clock.time('addPlaintext', () => (c * ((1n + own * n) % publicKey._n2)) % publicKey._n2);
  });
  // 3. Both parties: encrypted gradient sums; the host masks its own.
  const guestSums = encryptedGradientSums(publicKey, slice.guest, residuals, clock);
  const hostMasks = Array.from({ length: hostFeatures }, () => uniformMask(n, keyBits));
  const hostSums = encryptedGradientSums(publicKey, slice.host, residuals, clock).map((c, j) => {
    const mask = clock.time('encrypt', () => encrypt(publicKey, hostMasks[j]));
    return clock.time('add', () => (c * mask) % publicKey._n2);
  });
  // 4. Arbiter decrypts; the host unmasks; both decode.
  const guestGradient = arbiterDecrypt(privateKey, guestSums, clock).map((m) => decodeGradient(m, n, sliceRows));
  const hostGradient = arbiterDecrypt(privateKey, hostSums, clock).map((m, j) => decodeGradient((((m - hostMasks[j]) % n) + n) % n, n, sliceRows));
  const measuredSeconds = (performance.now() - started) / 1000;

  const maxGradientError = Math.max(
    maxDeviation(guestGradient, plaintextGradient(slice.guest, slice.guestScores, slice.hostScores, slice.labels)),
    maxDeviation(hostGradient, plaintextGradient(slice.host, slice.guestScores, slice.hostScores, slice.labels)),
  );
  assert.ok(
    maxGradientError <= GRADIENT_TOLERANCE,
    `Paillier gradient differs from the plaintext gradient by ${maxGradientError} (tolerance ${GRADIENT_TOLERANCE})`,
  );

  const perOpMicroseconds = {
    encrypt: clock.meanMicroseconds('encrypt'),
    scalarMultiply: clock.meanMicroseconds('scalarMultiply'),
    add: clock.meanMicroseconds('add'),
    decrypt: clock.meanMicroseconds('decrypt'),
    addPlaintext: clock.meanMicroseconds('addPlaintext'),
    negate: clock.meanMicroseconds('negate'),
  };
  const batches = Math.ceil(rows / batchSize);
  const epochCounts: Record<OpName, number> = {
    encrypt: rows + batches * hostFeatures,
    addPlaintext: rows,
    negate: 2 * rows,
    scalarMultiply: rows * features,
    add: (rows - batches) * features + batches * hostFeatures,
    decrypt: batches * features,
  };
  const epochSeconds = Object.entries(epochCounts).reduce((s, [op, count]) => s + (count * perOpMicroseconds[op as OpName]) / 1e6, 0);
  const ciphertextBytes = keyBits / 4;
  return {
    keyBits,
    keygenSeconds,
    sliceRows,
    features: { guest: guestFeatures, host: hostFeatures },
    measuredSeconds,
    perOpMicroseconds,
    maxGradientError,
    extrapolated: {
      rows,
      batches,
      epochSeconds,
      wireBytes: (2 * rows + batches * features) * ciphertextBytes,
      note:
        `EXTRAPOLATED from per-operation means over a ${sliceRows}-row slice to ${rows} rows in ${batches} batches: ` +
        `${epochCounts.encrypt} encryptions, ${epochCounts.scalarMultiply} scalar multiplications, ${epochCounts.add} additions, ` +
        `${epochCounts.decrypt} decryptions, ${epochCounts.negate} inversions, ${epochCounts.addPlaintext} plaintext additions; ` +
        'one core, serialisation and network not counted',
    },
  };
}

/** Σ_i x_ij (0.25·z_i + 0.5 − y_i) / b in float64. */
function plaintextGradient(party: PartyData, guestScores: Float64Array, hostScores: Float64Array, labels: Float64Array): number[] {
  const rows = labels.length;
  return Array.from({ length: party.width }, (_, j) => {
    let s = 0;
    for (let i = 0; i < rows; i++) s += party.features[i * party.width + j] * (0.25 * (guestScores[i] + hostScores[i]) + 0.5 - labels[i]);
    return s / rows;
  });
}

function maxDeviation(a: readonly number[], b: readonly number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

const SHAPES = [
  { name: 'default_credit (24,000 rows, 13 + 10 features)', rows: 24_000, guestFeatures: 13, hostFeatures: 10, batchSize: 10_000 },
  { name: '100,000 rows, 30 + 300 features', rows: 100_000, guestFeatures: 30, hostFeatures: 300, batchSize: 10_000 },
];

function formatDuration(seconds: number): string {
  return seconds < 120 ? `${seconds.toFixed(1)} s` : seconds < 7200 ? `${(seconds / 60).toFixed(1)} min` : `${(seconds / 3600).toFixed(2)} h`;
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
  const results: PaillierEpochEstimate[] = [];
  for (const shape of SHAPES) {
    // Per-batch work (F decryptions, F_h mask encryptions) sets a floor on the slice time whatever its rows.
    const sliceRows = args.quick ? Math.min(32, Math.max(4, Math.floor(1024 / (shape.guestFeatures + shape.hostFeatures)))) : undefined;
    const r = await paillierEpoch({ ...shape, sliceRows });
    results.push(r);
    if (args.json) continue;
    const us = r.perOpMicroseconds;
    const ops = (label: string, micros: number) => `${label} ${micros.toFixed(1)} µs (${(1e6 / micros).toFixed(1)} ops/s)`;
    console.log(`Paillier-${r.keyBits}, FATE hetero LR, ${shape.name}, batch ${shape.batchSize}`);
    console.log(`  keygen ${r.keygenSeconds.toFixed(1)} s (outside the epoch)`);
    console.log(`  measured: ${r.sliceRows}-row slice in ${r.measuredSeconds.toFixed(1)} s, max gradient error ${r.maxGradientError.toExponential(1)}`);
    console.log(`  per op: ${ops('encrypt', us.encrypt)}, ${ops('scalar-multiply', us.scalarMultiply)}, ${ops('add', us.add)}, ${ops('decrypt', us.decrypt)}, ${ops('negate', us.negate)}, ${ops('add-plaintext', us.addPlaintext)}`);
    console.log(`  epoch (extrapolated): ${formatDuration(r.extrapolated.epochSeconds)}, ${(r.extrapolated.wireBytes / 2 ** 20).toFixed(1)} MiB of ciphertexts`);
    console.log(`  ${r.extrapolated.note}`);
  }
  if (args.json) console.log(JSON.stringify(results, null, 2));
}

if (import.meta.main) await main();
