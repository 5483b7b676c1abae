import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBackend } from '../../src/psi/backends/index.ts';
import { hashAndBlind } from '../../src/psi/batch.ts';
import { inlineExecutor, poolExecutor } from '../../src/psi/executor.ts';
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
    const r = await psi(ids, ids.slice(10), { reveal: 'left' });
    expect(r.leftLines?.length).toBe(20);
    expect(r.rightLines).toBeUndefined();
  });

  it("reveals only the size in 'cardinality' mode", async () => {
    const ids = Array.from({ length: 30 }, (_, i) => uscc(i));
    const r = await psi(ids, ids.slice(10), { reveal: 'cardinality' });
    expect(r.intersection).toBe(20);
    expect(r.leftLines).toBeUndefined();
    expect(r.rightLines).toBeUndefined();
  });

  it('runs inline without a worker pool', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => uscc(i));
    const r = await runLocalPsi({ left: { file: csv(ids), idColumn: 'id' }, right: { file: csv(ids.slice(25)), idColumn: 'id' }, executor: inlineExecutor() });
    expect(r.intersection).toBe(25);
  });
});
