/**
 * Per-operation costs of the CKKS layer at N=8192 (degree-1 parameters), and the hot spot
 * of a training epoch: Xᵀ[[d]] over 100,000 rows × 300 features on the worker pool.
 *
 *   node bench/he.ts            (add --quick to skip the 100k-row run)
 */
import { Bench } from 'tinybench';
import { createCkksEvaluator } from '../src/he/ckks.ts';
import { rotationSteps } from '../src/he/diagonals.ts';
import { createCkksKeyOwner } from '../src/he/key-owner.ts';
import { DEGREE1_PARAMS } from '../src/he/params.ts';
import { createParallelEvaluator } from '../src/he/pool.ts';
import { loadSeal } from '../src/he/seal.ts';

function uniform(n: number, scale: number): Float64Array {
  return Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);
}

const S = DEGREE1_PARAMS.polyModulusDegree / 2;
const steps = [...new Set([...rotationSteps(13, S), ...rotationSteps(300, S)])];
let started = performance.now();
const owner = await createCkksKeyOwner(DEGREE1_PARAMS, steps);
const bundle = owner.publicBundle();
console.log(`keygen (${steps.length} Galois steps): ${(performance.now() - started).toFixed(0)} ms, Galois keys ${(bundle.galoisKeys.byteLength / 2 ** 20).toFixed(1)} MiB`);
const evaluator = await createCkksEvaluator(bundle);

// Raw SEAL ops, for the cost model.
const seal = await loadSeal();
const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
parms.setPolyModulusDegree(DEGREE1_PARAMS.polyModulusDegree);
const moduli = seal.CoeffModulus.Create(DEGREE1_PARAMS.polyModulusDegree, Int32Array.from(DEGREE1_PARAMS.coeffModBits));
parms.setCoeffModulus(moduli);
const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
const keygen = new seal.KeyGenerator(context);
const publicKey = keygen.createPublicKey();
const galois = keygen.createGaloisKeysWithSteps(Int32Array.from([1]));
const encoder = new seal.CKKSEncoder(context);
const encryptor = new seal.Encryptor(context, publicKey);
const sealEvaluator = new seal.Evaluator(context);
const plain = new seal.Plaintext();
const ct = new seal.Ciphertext();
const out = new seal.Ciphertext();
const slots = uniform(S, 1);
encoder.encode(slots, 2 ** 40, plain);
encryptor.encrypt(plain, ct);

const rows = 4096;
const d = evaluator.encrypt(uniform(rows, 1));
const X13 = uniform(rows * 13, 1 / rows);
const X300 = uniform(rows * 300, 1 / rows);
const gradient = evaluator.matvecTransposed(d, X13, rows, 13);

const bench = new Bench({ iterations: 5, time: 500 });
bench
  .add('encode (4096 slots)', () => encoder.encode(slots, 2 ** 40, plain))
  .add('encrypt (public key)', () => encryptor.encrypt(plain, ct))
  .add('multiply_plain', () => sealEvaluator.multiplyPlain(ct, plain, out))
  .add('rotate', () => sealEvaluator.rotateVector(ct, 1, galois, out))
  .add('matvec 4096 × 13', () => {
    evaluator.matvecTransposed(d, X13, rows, 13);
  })
  .add('matvec 4096 × 300', () => {
    evaluator.matvecTransposed(d, X300, rows, 300);
  })
  .add('mask + arbiter decrypt + unmask (13)', () => {
    const request = evaluator.maskForDecryption(gradient, 13, 1);
    evaluator.unmask(owner.decryptMasked(request.masked, 13, request.boundBits), request.secret);
  });
await bench.run();
console.table(
  bench.tasks.map((task) => {
    const latency = task.result && 'latency' in task.result ? task.result.latency : undefined;
    return { op: task.name, 'mean ms': latency?.mean.toFixed(2), 'p99 ms': latency?.p99?.toFixed(2), samples: latency?.samplesCount };
  }),
);
for (const object of [plain, ct, out, sealEvaluator, encryptor, encoder, galois, publicKey, keygen, context, moduli, parms]) object.delete();

if (!process.argv.includes('--quick')) {
  const bigRows = 100_000;
  const F = 300;
  const X = new Float64Array(new SharedArrayBuffer(bigRows * F * 8));
  for (let i = 0; i < X.length; i++) X[i] = (Math.random() * 2 - 1) / bigRows;
  const bigD = evaluator.encrypt(uniform(bigRows, 1));
  const parallel = await createParallelEvaluator(bundle);
  await parallel.matvecTransposed(bigD.slice(0, parallel.threads), X.subarray(0, parallel.threads * S * F), parallel.threads * S, F);
  started = performance.now();
  await parallel.matvecTransposed(bigD, X, bigRows, F);
  const pooled = performance.now() - started;
  console.log(`matvec ${bigRows} × ${F} (${bigD.length} chunks) on ${parallel.threads} workers: ${(pooled / 1000).toFixed(1)} s (target <= 60 s per epoch)`);
  await parallel.destroy();
}
evaluator.dispose();
owner.dispose();
