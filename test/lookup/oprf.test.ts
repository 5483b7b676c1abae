import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blindingScalars, TAG_BYTES, tagOf } from '../../src/lookup/oprf.ts';
import { sortTags, TagSet } from '../../src/lookup/tag-set.ts';
import { BACKEND_NAMES, loadBackend } from '../../src/psi/backends/index.ts';
import { jacobi, onTwist } from '../../src/psi/backends/x25519-common.ts';
import { unblind } from '../../src/psi/batch.ts';
import { poolExecutor } from '../../src/psi/executor.ts';

const encoder = new TextEncoder();

describe.each(BACKEND_NAMES)('OPRF on %s', (backend) => {
  it("gives the bank exactly k·H(x) after the agency's single multiply, unblinding every evaluation with one c⁻¹", async () => {
    const group = await loadBackend(backend);
    const k = group.randomScalar();
    const blinding = await blindingScalars(backend);
    const n = 48;
    const direct = new Uint8Array(n * 32);
    const evaluated = new Uint8Array(n * 32);
    for (let i = 0; i < n; i++) {
      const h = new Uint8Array(32);
      group.hashToGroup(encoder.encode(`enterprise-${i}`), h, 0);
      // Every hash lies where the hashes lie (on X25519, the curve): the subgroup says nothing about the input.
      expect(group.subgroupOf(h, 0)).toBe(0);
      group.multiply(h, k, direct, i * 32);
      const blinded = new Uint8Array(32);
      group.multiply(h, blinding.blind, blinded, 0);
      expect(Buffer.from(blinded).equals(Buffer.from(direct.subarray(i * 32, i * 32 + 32)))).toBe(false);
      group.multiply(blinded, k, evaluated, i * 32);
    }
    expect(Buffer.from(unblind(group, evaluated, blinding.unblind)).equals(Buffer.from(direct))).toBe(true);
  });
});

describe.each(['x25519', 'x25519-noble'] as const)('%s hash onto the curve', (backend) => {
  it('puts every hash on the curve, where half the plain SHA-512 u-coordinates of the same inputs lie on the twist', async () => {
    const group = await loadBackend(backend);
    const h = new Uint8Array(32);
    let plainOnTwist = 0;
    for (let i = 0; i < 400; i++) {
      const input = encoder.encode(`jinqiao/psi/v1 enterprise-${i}`);
      group.hashToGroup(input, h, 0);
      expect(onTwist(h, 0)).toBe(0);
      expect(h[31]! & 0x80).toBe(0);
      // The hash is the first try's u when that lies on the curve: SHA-512(input ‖ 0x00), top bit cleared.
      const first = new Uint8Array(createHash('sha512').update(input).update(Uint8Array.of(0)).digest().subarray(0, 32));
      first[31]! &= 0x7f;
      if (onTwist(first, 0) === 0) expect(Buffer.from(h).equals(Buffer.from(first))).toBe(true);
      else expect(Buffer.from(h).equals(Buffer.from(first))).toBe(false);
      const plain = new Uint8Array(createHash('sha512').update(input).digest().subarray(0, 32));
      plainOnTwist += onTwist(plain, 0);
    }
    // The control: the former hash (no counter, no check) lands on the twist about half the time.
    expect(plainOnTwist).toBeGreaterThan(140);
    expect(plainOnTwist).toBeLessThan(260);
  });

  it('refuses to unblind an evaluation on the twist (a deviating agency) with a protocol error naming the point', async () => {
    const group = await loadBackend(backend);
    const blinding = await blindingScalars(backend);
    const points = new Uint8Array(64);
    group.hashToGroup(encoder.encode('enterprise-1'), points, 0);
    // A twist point: the first u-coordinate from 2 upwards that is not on the curve.
    for (let u = 2; ; u++) {
      points.fill(0, 32);
      points[32] = u;
      if (onTwist(points, 32) === 1) break;
    }
    expect(() => unblind(group, points, blinding.unblind)).toThrow(/protocol violation: evaluated point 1 lies on the twist of Curve25519/);
    // The same from a worker thread, still a protocol error (its class does not cross the thread by itself).
    const pool = poolExecutor({ threads: 1 });
    try {
      await expect(pool.unblind(backend, points, blinding.unblind)).rejects.toMatchObject({ code: 'E_PROTOCOL', message: expect.stringMatching(/evaluated point 1 lies on the twist/) });
    } finally {
      await pool.close();
    }
  });
});

describe('X25519 subgroup test', () => {
  const P = 2n ** 255n - 19n;
  const euler = (a: bigint) => {
    let [x, b, e] = [1n, a % P, (P - 1n) / 2n];
    for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) x = (x * b) % P;
    return x === 0n ? 0 : x === 1n ? 1 : -1;
  };
  const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

  it("agrees with Euler's criterion on u³ + A·u² + u, and puts the base point on the curve", () => {
    expect(onTwist(le(9n), 0)).toBe(0);
    let twist = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = new Uint8Array(randomBytes(32));
      let u = 0n;
      for (let j = 31; j >= 0; j--) u = (u << 8n) | BigInt(bytes[j]!);
      u = (u & ((1n << 255n) - 1n)) % P;
      const expected = euler((u * ((u * u + 486662n * u + 1n) % P)) % P) === -1 ? 1 : 0;
      // At an offset inside a larger buffer, top bit set or not (RFC 7748 ignores it).
      const padded = new Uint8Array(40);
      padded.set(bytes, 5);
      expect(onTwist(padded, 5)).toBe(expected);
      twist += expected;
    }
    expect(twist).toBeGreaterThan(100);
    expect(twist).toBeLessThan(200);
  });

  it('computes the Jacobi symbol of small cases as the table has it', () => {
    // (a/n) for n = 15, a = 0..14 (n composite: 0 where gcd > 1).
    expect(Array.from({ length: 15 }, (_, a) => jacobi(BigInt(a), 15n))).toEqual([0, 1, 1, 0, 1, 0, 0, -1, 1, 0, 0, -1, 0, -1, -1]);
    expect(jacobi(1001n, 9907n)).toBe(-1);
  });

  it('agrees with the product of Legendre symbols for composite moduli, with whole zero limbs and odd counts of factors 2', () => {
    const legendre = (a: bigint, p: bigint) => {
      let [x, b, e] = [1n, ((a % p) + p) % p, (p - 1n) / 2n];
      for (; e > 0n; e >>= 1n, b = (b * b) % p) if (e & 1n) x = (x * b) % p;
      return x === 0n ? 0 : x === 1n ? 1 : -1;
    };
    // Primes from 14 to 255 bits (2^61 - 1, 2^89 - 1 and 2^127 - 1 are Mersenne primes); products stay below 2^270.
    const primes = [9907n, 1000003n, 2n ** 61n - 1n, 2n ** 89n - 1n, 2n ** 127n - 1n];
    const pairs = [...primes.flatMap((p) => primes.map((q) => [p, q] as const)), [P, 9907n] as const, [P, 1n] as const];
    let checked = 0;
    for (const [p, q] of pairs) {
      const n = p * q;
      for (let i = 0; i < 40; i++) {
        let a = 0n;
        for (const byte of randomBytes(40)) a = (a << 8n) | BigInt(byte);
        // Shifted by 0 to 116 bits: whole zero limbs and odd counts of factors 2.
        a = (a << BigInt(i * 3 - (i % 2))) % n;
        const expected = legendre(a, p) * (q === 1n ? 1 : legendre(a, q)) || 0;
        expect(jacobi(a, n)).toBe(expected);
        checked++;
      }
    }
    expect(checked).toBe(27 * 40);
  });

  it('agrees with the Euclid-and-reciprocity definition on random odd moduli up to 2^270, and refuses others', () => {
    // The textbook algorithm on BigInts (what the limb version replaced), as the reference.
    const reference = (a: bigint, n: bigint) => {
      let t = 1;
      a = ((a % n) + n) % n;
      while (a !== 0n) {
        while ((a & 1n) === 0n) {
          a >>= 1n;
          if ((n & 7n) === 3n || (n & 7n) === 5n) t = -t;
        }
        if ((a & 3n) === 3n && (n & 3n) === 3n) t = -t;
        [a, n] = [n % a, a];
      }
      return n === 1n ? t : 0;
    };
    const random = (bytes: number) => randomBytes(bytes).reduce((v, b) => (v << 8n) | BigInt(b), 0n);
    for (let i = 0; i < 3000; i++) {
      const n = (random(1 + (i % 34)) & ((1n << 270n) - 1n)) | 1n;
      const a = (random(1 + ((i * 7) % 34)) << BigInt(i % 100)) * (i % 3 === 0 ? -1n : 1n);
      expect(jacobi(a, n)).toBe(reference(a, n));
    }
    // A shared factor gives 0; n = 1 gives 1.
    expect(jacobi(3n * 2n ** 200n, 3n * (2n ** 127n - 1n))).toBe(0);
    expect(jacobi(12345n, 1n)).toBe(1);
    for (const bad of [0n, -3n, 10n, 2n ** 270n + 1n]) expect(() => jacobi(1n, bad)).toThrow(RangeError);
  });
});

describe('tag set', () => {
  it('sorts tags, drops repeats keeping the first, and finds every tag and nothing else', () => {
    const n = 5000;
    const tags = new Uint8Array(n * TAG_BYTES);
    for (let i = 0; i < n; i++) tagOf(encoder.encode(`point-${i % 4000}`.padEnd(32, '.')), tags, i * TAG_BYTES);
    const { sorted, origin } = sortTags(tags);
    expect(origin.length).toBe(4000);
    expect([...origin].every((o) => o < 4000)).toBe(true);
    for (let i = 1; i < origin.length; i++) expect(Buffer.compare(Buffer.from(sorted.subarray((i - 1) * TAG_BYTES, i * TAG_BYTES)), Buffer.from(sorted.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES)))).toBe(-1);
    const set = new TagSet(sorted);
    for (let i = 0; i < 4000; i++) expect(origin[set.indexOf(tags, i * TAG_BYTES)]).toBe(i);
    const absent = new Uint8Array(TAG_BYTES);
    tagOf(encoder.encode('never-published'.padEnd(32, '.')), absent, 0);
    expect(set.indexOf(absent, 0)).toBe(-1);
  });
});
