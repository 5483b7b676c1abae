import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBackend } from '../../src/psi/backends/index.ts';
import { hashAndBlind } from '../../src/psi/batch.ts';
import { inlineExecutor, poolExecutor, type PsiExecutor } from '../../src/psi/executor.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { jobHashPrefix, type BackendName } from '../../src/psi/group.ts';
import { runLocalPsi, type LocalPsiOptions } from '../../src/local/psi.ts';
import { idCsv, uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-psi-'));
let fileNo = 0;
function csv(ids: readonly string[]): string {
  const path = join(dir, `t${fileNo++}.csv`);
  writeFileSync(path, idCsv(ids));
  return path;
}

const pool = poolExecutor({ threads: 2 });
afterAll(() => pool.close());

async function psi(left: readonly string[], right: readonly string[], extra: Partial<LocalPsiOptions> = {}) {
  return runLocalPsi({ left: { file: csv(left), idColumn: 'id' }, right: { file: csv(right), idColumn: 'id' }, executor: pool, ...extra });
}

/** The IDs of `ids` (by 1-based data row → line = index + 2) at the given lines. */
function idsAt(ids: readonly string[], lines: Uint32Array | undefined): string[] {
  return Array.from(lines ?? [], (line) => ids[line - 2]!.trim());
}

const BACKENDS: { name: BackendName; size: number }[] = [
  { name: 'x25519', size: 3000 },
  { name: 'x25519-noble', size: 150 },
  { name: 'ristretto255-noble', size: 60 },
];

describe.each(BACKENDS)('ECDH-PSI on $name', ({ name, size }) => {
  const left = Array.from({ length: size }, (_, i) => uscc(i));
  const right = Array.from({ length: size }, (_, i) => uscc(i + Math.floor(size / 3)));
  const expected = new Set(left.filter((id) => right.includes(id)));

  it('finds exactly the plain set intersection, on both sides', async () => {
    const r = await psi(left, right, { backend: name });
    expect(r.intersection).toBe(expected.size);
    expect(new Set(idsAt(left, r.leftLines))).toEqual(expected);
    expect(new Set(idsAt(right, r.rightLines))).toEqual(expected);
  });

  it('gives both sides the intersection in the same canonical order', async () => {
    const r = await psi(left, right, { backend: name });
    expect(idsAt(left, r.leftLines)).toEqual(idsAt(right, r.rightLines));
  });
});

describe('ECDH-PSI', () => {
  it('gives the same intersection on every backend', async () => {
    const left = Array.from({ length: 40 }, (_, i) => uscc(i * 3));
    const right = Array.from({ length: 40 }, (_, i) => uscc(i * 2));
    const results = await Promise.all(BACKENDS.map((b) => psi(left, right, { backend: b.name })));
    const sets = results.map((r) => idsAt(left, r.leftLines).sort());
    for (const s of sets) expect(s).toEqual(sets[0]);
    expect(sets[0]!.length).toBe(14);
  });

  it('native and pure-JavaScript X25519 blind identically, byte for byte', async () => {
    const [native, noble] = await Promise.all([loadBackend('x25519'), loadBackend('x25519-noble')]);
    const scalar = native.randomScalar();
    const ids = ['91350100M000100Y43', '12345', '统一'];
    const enc = new TextEncoder();
    const bytes = enc.encode(ids.join(''));
    const offsets = Uint32Array.from([0, 18, 23, bytes.length]);
    const prefix = jobHashPrefix('job-1');
    expect(hashAndBlind(native, prefix, { bytes, offsets }, scalar)).toEqual(hashAndBlind(noble, prefix, { bytes, offsets }, scalar));
  });

  it('handles empty sets, no overlap and full overlap', async () => {
    const a = Array.from({ length: 20 }, (_, i) => uscc(i));
    const b = Array.from({ length: 20 }, (_, i) => uscc(i + 100));
    expect((await psi([], a, { idType: 'uscc' })).intersection).toBe(0);
    expect((await psi([], [], { idType: 'uscc' })).intersection).toBe(0);
    expect((await psi(a, b)).intersection).toBe(0);
    expect((await psi(a, [...a].reverse())).intersection).toBe(20);
  });

  it('skips and counts invalid, empty and repeated IDs with their line numbers', async () => {
    const left = [uscc(1), '', uscc(2), '91350100M000100Y44', uscc(1), ` ${uscc(3).toLowerCase()}\u3000`];
    const r = await psi(left, [uscc(1), uscc(2), uscc(3)]);
    expect(r.intersection).toBe(3);
    expect(r.left).toMatchObject({ rowsRead: 6, invalid: 2, invalidLines: [3, 5], duplicates: 1, duplicateLines: [6] });
  });

  it('under strict, stops at the first invalid or repeated ID, naming file, line and column', async () => {
    const bad = csv([uscc(1), '91350100M000100Y44']);
    await expect(
      runLocalPsi({ left: { file: bad, idColumn: 'id' }, right: { file: csv([uscc(1)]), idColumn: 'id' }, strict: true, executor: pool }),
    ).rejects.toMatchObject({ code: 'E_ID_INVALID', location: { file: bad, line: 3, column: 1 } });
    const dup = csv([uscc(1), uscc(1)]);
    await expect(
      runLocalPsi({ left: { file: dup, idColumn: 'id' }, right: { file: csv([uscc(1)]), idColumn: 'id' }, strict: true, executor: pool }),
    ).rejects.toMatchObject({ code: 'E_ID_DUPLICATE', location: { file: dup, line: 3 } });
  });

  it('matches plain integer IDs (FATE data) without any flag', async () => {
    const left = Array.from({ length: 100 }, (_, i) => String(i));
    const right = Array.from({ length: 100 }, (_, i) => String(i + 50));
    const r = await psi(left, right);
    expect(r.idType).toBe('plain');
    expect(r.intersection).toBe(50);
  });

  it('refuses to match a USCC table against a plain one unless told how', async () => {
    await expect(psi([uscc(1), uscc(2)], ['1', '2'])).rejects.toMatchObject({ code: 'E_OPTION_INVALID' });
  });

  it("reveals the intersection only to the left side in 'left' mode", async () => {
    const ids = Array.from({ length: 30 }, (_, i) => uscc(i));
    const frames: { from: string; to: string; t: string; points: number }[] = [];
    const tap = (from: string, to: string, frame: Uint8Array) => {
      const m = decodeMessage(frame);
      frames.push({ from, to, t: m.t, points: 'points' in m ? (m.points as Uint8Array).length / 32 : 0 });
    };
    const r = await psi(ids, ids.slice(10), { reveal: 'left', tap });
    expect(r.leftLines?.length).toBe(20);
    expect(r.rightLines).toBeUndefined();
    // On the wire: the right side receives the left's blinded values, never a re-blinded
    // value of its own; the left receives all 30 of its own back.
    const count = (from: string, t: string) => frames.filter((f) => f.from === from && f.t === t).reduce((a, f) => a + f.points, 0);
    expect(count('left', 'psi.blinded')).toBe(30);
    expect(count('right', 'psi.blinded')).toBe(20);
    expect(count('right', 'psi.reblinded')).toBe(30);
    expect(frames.filter((f) => f.from === 'left' && f.t === 'psi.reblinded')).toEqual([]);
  });

  it("reveals only the size in 'cardinality' mode, replies in an order unrelated to the request", async () => {
    const n = 400;
    const ids = Array.from({ length: n }, (_, i) => uscc(i));
    const { executor, scalars } = recordingExecutor();
    const sent: Record<string, Buffer[]> = { left: [], right: [] };
    const replied: Record<string, Buffer[]> = { left: [], right: [] };
    const tap = (from: string, _to: string, frame: Uint8Array) => {
      const m = decodeMessage(frame);
      if (m.t === 'psi.blinded') sent[from]!.push(Buffer.from(m.points));
      if (m.t === 'psi.reblinded') replied[from]!.push(Buffer.from(m.points));
    };
    const run = (reveal: 'both' | 'cardinality') => {
      for (const k of ['left', 'right']) sent[k] = [];
      for (const k of ['left', 'right']) replied[k] = [];
      scalars.length = 0;
      return runLocalPsi({ left: { file: csv(ids), idColumn: 'id' }, right: { file: csv(ids.slice(n / 4)), idColumn: 'id' }, backend: 'x25519', executor, reveal, tap });
    };
    /** Where each request value comes back: reply position of request i, found by re-blinding it with the replier's scalar. */
    const replyPositions = async (requester: 'left' | 'right') => {
      const replier = requester === 'left' ? 'right' : 'left';
      const group = await loadBackend('x25519');
      const request = Buffer.concat(sent[requester]!);
      const reply = Buffer.concat(replied[replier]!);
      expect(reply.length).toBe(request.length);
      const index = new Map<string, number>();
      for (let j = 0; j < reply.length / 32; j++) index.set(reply.subarray(j * 32, j * 32 + 32).toString('hex'), j);
      // The replier's scalar is whichever of the two re-blinds request 0 into a reply value.
      const out = new Uint8Array(32);
      const k = scalars.find((s) => {
        group.multiply(request.subarray(0, 32), s, out, 0);
        return index.has(Buffer.from(out).toString('hex'));
      })!;
      expect(k).toBeDefined();
      return Array.from({ length: request.length / 32 }, (_, i) => {
        group.multiply(request.subarray(i * 32, i * 32 + 32), k, out, 0);
        return index.get(Buffer.from(out).toString('hex'))!;
      });
    };

    // Positive control: in 'both' mode every reply comes back at its request's position.
    await run('both');
    for (const side of ['left', 'right'] as const) {
      const positions = await replyPositions(side);
      expect(positions).toEqual(positions.map((_, i) => i));
    }

    const r = await run('cardinality');
    expect(r.intersection).toBe((3 * n) / 4);
    expect(r.leftLines).toBeUndefined();
    expect(r.rightLines).toBeUndefined();
    for (const side of ['left', 'right'] as const) {
      const positions = await replyPositions(side);
      expect(new Set(positions).size).toBe(positions.length);
      // A uniform permutation has ~1 fixed point (Poisson(1): more than 8 with probability
      // 1e-6) and a rank correlation ~N(0, 1/√(m−1)) (|ρ| > 0.3 is a 5σ event here).
      expect(positions.filter((p, i) => p === i).length).toBeLessThanOrEqual(8);
      expect(Math.abs(rankCorrelation(positions))).toBeLessThan(0.3);
    }
  });

  it('runs inline without a worker pool', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => uscc(i));
    const r = await runLocalPsi({ left: { file: csv(ids), idColumn: 'id' }, right: { file: csv(ids.slice(25)), idColumn: 'id' }, executor: inlineExecutor() });
    expect(r.intersection).toBe(25);
  });
});

/** The inline executor, remembering every scalar the parties use. */
function recordingExecutor(): { executor: PsiExecutor; scalars: Uint8Array[] } {
  const inner = inlineExecutor();
  const scalars: Uint8Array[] = [];
  const remember = (scalar: Uint8Array) => {
    if (!scalars.some((s) => Buffer.from(s).equals(scalar))) scalars.push(new Uint8Array(scalar));
  };
  return {
    scalars,
    executor: {
      threads: inner.threads,
      hashAndBlind: (backend, prefix, batch, scalar) => (remember(scalar), inner.hashAndBlind(backend, prefix, batch, scalar)),
      reblind: (backend, points, scalar) => (remember(scalar), inner.reblind(backend, points, scalar)),
      unblind: (backend, points, scalar) => (remember(scalar), inner.unblind(backend, points, scalar)),
      close: () => inner.close(),
    },
  };
}

/** Spearman's ρ between positions 0..m-1 and a permutation of them. */
function rankCorrelation(permutation: readonly number[]): number {
  const m = permutation.length;
  const d2 = permutation.reduce((a, p, i) => a + (p - i) ** 2, 0);
  return 1 - (6 * d2) / (m * (m * m - 1));
}
