/**
 * `padTo` (`jinqiao psi --pad-to n`): each side sends n values, dummies making up the
 * difference, so the peer learns n instead of the set size. Dummies must be
 * indistinguishable on the wire (same messages, same sizes, pseudo-random group elements)
 * and must never reach a result.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_PAD_TO } from '../../src/psi/ecdh.ts';
import { inlineExecutor } from '../../src/psi/executor.ts';
import { runLocalPsi, type LocalPsiOptions } from '../../src/local/psi.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { idCsv, uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-pad-'));
let fileNo = 0;
function csv(ids: readonly string[]): string {
  const path = join(dir, `p${fileNo++}.csv`);
  writeFileSync(path, idCsv(ids));
  return path;
}

interface Tapped {
  /** Each frame as sender, type and byte length: what a network observer sees. */
  readonly shape: string[];
  readonly blinded: Record<string, Buffer[]>;
  readonly reblinded: Record<string, Buffer[]>;
}

async function psi(left: readonly string[], right: readonly string[], extra: Partial<LocalPsiOptions> = {}) {
  const tapped: Tapped = { shape: [], blinded: { left: [], right: [] }, reblinded: { left: [], right: [] } };
  const r = await runLocalPsi({
    left: { file: csv(left), idColumn: 'id' },
    right: { file: csv(right), idColumn: 'id' },
    backend: 'x25519',
    jobId: 'pad-job',
    executor: inlineExecutor(),
    tap: (from, _to, frame) => {
      const m = decodeMessage(frame);
      tapped.shape.push(`${from} ${m.t} ${frame.length}`);
      if (m.t === 'psi.blinded') tapped.blinded[from]!.push(Buffer.from(m.points));
      if (m.t === 'psi.reblinded') tapped.reblinded[from]!.push(Buffer.from(m.points));
    },
    ...extra,
  });
  return { r, tapped };
}

const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => uscc(from + i));
const idsAt = (list: readonly string[], lines: Uint32Array | undefined) => Array.from(lines ?? [], (line) => list[line - 2]!);

describe('PSI padding (--pad-to)', () => {
  it('sends exactly padTo values per side and keeps dummies out of the result', async () => {
    const left = ids(0, 20);
    const right = ids(5, 30);
    const { r, tapped } = await psi(left, right, { padTo: 64 });
    for (const side of ['left', 'right']) {
      expect(Buffer.concat(tapped.blinded[side]!).length).toBe(64 * 32);
      expect(Buffer.concat(tapped.reblinded[side]!).length).toBe(64 * 32);
    }
    // The result is the plain intersection, nothing more: no dummy row, the same canonical order.
    expect(r.intersection).toBe(15);
    expect(idsAt(left, r.leftLines).sort()).toEqual(ids(5, 15).sort());
    expect(idsAt(left, r.leftLines)).toEqual(idsAt(right, r.rightLines));
    expect(r.left.rowsRead).toBe(20);
    // Every value sent is a distinct group element (a constant or repeated dummy would show).
    for (const side of ['left', 'right']) {
      const all = Buffer.concat(tapped.blinded[side]!);
      const distinct = new Set(Array.from({ length: 64 }, (_, i) => all.subarray(i * 32, i * 32 + 32).toString('hex')));
      expect(distinct.size).toBe(64);
    }
  });

  it('makes two sets of different sizes look the same on the wire', async () => {
    const small = await psi(ids(0, 3), ids(1, 40), { padTo: 50 });
    const large = await psi(ids(0, 50), ids(100, 7), { padTo: 50 });
    // Each side's frames: same types, counts and lengths, the observer's whole view but for
    // the pseudo-random values themselves (the order a side's own batches and its replies
    // interleave in is timing, which padding does not claim to hide).
    for (const side of ['left', 'right']) {
      const of = (t: Tapped) => t.shape.filter((f) => f.startsWith(`${side} `)).sort();
      expect(of(small.tapped)).toEqual(of(large.tapped));
    }
    expect(small.r.intersection).toBe(2);
    expect(large.r.intersection).toBe(0);
    // Without padding the sizes show.
    const plain = await psi(ids(0, 3), ids(1, 40));
    expect(Buffer.concat(plain.tapped.blinded.left!).length).toBe(3 * 32);
  });

  it('counts only real IDs under every reveal mode', async () => {
    for (const reveal of ['both', 'left', 'cardinality'] as const) {
      const { r } = await psi(ids(0, 10), ids(4, 10), { padTo: 33, reveal });
      expect(r.intersection, reveal).toBe(6);
      if (reveal !== 'cardinality') expect(r.leftLines?.length).toBe(6);
    }
  });

  it('refuses a pad smaller than a set, naming the option and the side', async () => {
    await expect(psi(ids(0, 10), ids(0, 4), { padTo: 8 })).rejects.toMatchObject({
      code: 'E_OPTION_INVALID',
      message: expect.stringMatching(/--pad-to: 8 is smaller than the 10 distinct IDs of the left side/),
      hint: expect.stringContaining('--pad-to 10 or more'),
    });
    for (const bad of [0, 2.5, MAX_PAD_TO + 1]) {
      await expect(psi(ids(0, 1), ids(0, 1), { padTo: bad })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringContaining('--pad-to') });
    }
    // Exactly the set size is no padding, and allowed.
    expect((await psi(ids(0, 10), ids(0, 4), { padTo: 10 })).r.intersection).toBe(4);
  });
});
