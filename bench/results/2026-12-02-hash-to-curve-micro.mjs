// Per-hash cost of the ways to hash an ID onto Curve25519 (not its twist), one core, CPU time
// (process.cpuUsage) per hash over N inputs after a warm-up. Run from the repository root:
//   npx node bench/results/2026-12-02-hash-to-curve-micro.mjs 4000 > bench/results/2026-12-02-hash-to-curve-micro.json
// Written for the curve-only change (branch curveonly); the numbers decided try-and-increment.
import sodium from 'sodium-native';
import { _map_to_curve_elligator2_curve25519, ed25519_hasher } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { loadBackend } from '../../src/psi/backends/index.ts';
import { onTwist } from '../../src/psi/backends/x25519-common.ts';

const N = Number(process.argv[2] ?? 3000);
const inputs = Array.from({ length: N + 200 }, (_, i) => Buffer.from(`jinqiao/psi/v1\0\0\0\x0ebench-job-0001 91350100MA${String(i).padStart(8, '0')}`));
const d = Buffer.alloc(64), out = Buffer.alloc(32), ed = Buffer.alloc(32), ed2 = Buffer.alloc(32), shared = Buffer.alloc(32);
const P = 2n ** 255n - 19n;
const scalar = Buffer.alloc(32);
sodium.randombytes_buf(scalar);
const results = [];
function cpu(name, f, n = N) {
  for (let r = 0; r < 5; r++) for (let i = 0; i < 200; i++) f(inputs[N + i]);
  const t = process.cpuUsage();
  const w = performance.now();
  for (let i = 0; i < n; i++) f(inputs[i]);
  const c = process.cpuUsage(t);
  results.push({ name, n, cpuMicrosecondsPerHash: (c.user + c.system) / n, wallMicrosecondsPerHash: ((performance.now() - w) * 1000) / n });
}
const sodiumBackend = await loadBackend('x25519');
const nobleBackend = await loadBackend('x25519-noble');
const plainU = (x) => { sodium.crypto_hash_sha512(d, x); d.copy(out, 0, 0, 32); out[31] &= 0x7f; };
cpu('former hash: SHA-512 → u (curve or twist), sodium, no check', plainU);
cpu('for scale: one X25519 multiply (sodium)', (x) => { plainU(x); sodium.crypto_scalarmult(shared, scalar, out); });
cpu('for scale: one Jacobi symbol (onTwist)', (x) => { plainU(x); onTwist(out, 0); });
let tries = 0;
cpu('try-and-increment as x25519 hashToGroup (sodium SHA-512 + Jacobi)', (x) => sodiumBackend.hashToGroup(x, out, 0));
cpu('try-and-increment as x25519-noble hashToGroup (noble SHA-512 + Jacobi)', (x) => nobleBackend.hashToGroup(x, out, 0));
const tryCount = (x) => { const s = Buffer.concat([x, Buffer.alloc(1)]); for (let c = 0; ; c++) { s[x.length] = c; tries++; plainU(s); if (onTwist(out, 0) === 0) return; } };
for (const x of inputs.slice(0, N)) tryCount(x);
cpu('Elligator 2 (RFC 9380 map, NU), noble BigInt, map only', (x) => { sodium.crypto_hash_sha512(d, x); let r = 0n; for (let i = 63; i >= 0; i--) r = (r << 8n) | BigInt(d[i]); _map_to_curve_elligator2_curve25519(r % P); }, Math.min(N, 1000));
cpu('Elligator 2 NU, native: sodium ed25519_from_uniform → u', (x) => { sodium.crypto_hash_sha512(d, x); sodium.crypto_core_ed25519_from_uniform(ed, d.subarray(0, 32)); sodium.crypto_sign_ed25519_pk_to_curve25519(out, ed); });
cpu('Elligator 2 RO, native: 2 × from_uniform + add → u', (x) => { sodium.crypto_hash_sha512(d, x); sodium.crypto_core_ed25519_from_uniform(ed, d.subarray(0, 32)); sodium.crypto_core_ed25519_from_uniform(ed2, d.subarray(32, 64)); sodium.crypto_core_ed25519_add(ed, ed, ed2); sodium.crypto_sign_ed25519_pk_to_curve25519(out, ed); });
cpu('RFC 9380 edwards25519_XMD:SHA-512_ELL2_RO_, noble', (x) => { ed25519_hasher.hashToCurve(x, { DST: 'jinqiao-bench' }); }, Math.min(N, 500));
console.log(JSON.stringify({ date: new Date().toISOString(), command: `npx node bench/results/2026-12-02-hash-to-curve-micro.mjs ${N}`, node: process.version, loadAverage: (await import('node:os')).loadavg()[0], meanTriesPerHash: tries / N, results }, null, 2));
