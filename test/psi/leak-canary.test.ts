/**
 * The leak canary: every byte either party sends is recorded and searched for the planted
 * plaintext IDs in every encoding we can think of, and for the values an eavesdropper could
 * compute from a guessed ID without a party's secret scalar.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../../src/psi/backends/index.ts';
import { jobHashPrefix } from '../../src/psi/group.ts';
import { runLocalPsi } from '../../src/local/psi.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { idCsv, uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-canary-'));

function encodings(id: string): Buffer[] {
  const utf8 = Buffer.from(id, 'utf8');
  const out = [utf8, Buffer.from(id, 'utf16le'), Buffer.from(utf8.toString('hex')), Buffer.from(utf8.toString('base64').replace(/=+$/, ''))];
  if (/^\d+$/.test(id)) {
    const n = BigInt(id);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n);
    out.push(b);
    b.writeBigUInt64LE(n);
    out.push(Buffer.from(b));
  }
  // Anything shorter than 6 bytes would match random bytes by chance.
  return out.filter((e) => e.length >= 6);
}

function contains(haystack: Buffer, needle: Buffer): boolean {
  return haystack.indexOf(needle) >= 0;
}

describe.each(['x25519', 'ristretto255-noble'] as const)('PSI leak canary on %s', (backend) => {
  it('no raw ID of either side, in any encoding, appears in any message', async () => {
    const shared = Array.from({ length: 20 }, (_, i) => uscc(1000 + i));
    const onlyLeft = Array.from({ length: 20 }, (_, i) => uscc(2000 + i));
    const onlyRight = Array.from({ length: 20 }, (_, i) => uscc(3000 + i));
    const left = join(dir, `${backend}-l.csv`);
    const right = join(dir, `${backend}-r.csv`);
    writeFileSync(left, idCsv([...shared, ...onlyLeft]));
    writeFileSync(right, idCsv([...onlyRight, ...shared]));
    const frames: Buffer[] = [];
    const jobId = `canary-${backend}`;
    const r = await runLocalPsi({
      left: { file: left, idColumn: 'id' },
      right: { file: right, idColumn: 'id' },
      backend,
      jobId,
      threads: 0,
      tap: (_from, _to, frame) => frames.push(Buffer.from(frame)),
    });
    expect(r.intersection).toBe(20);
    const wire = Buffer.concat(frames);
    expect(wire.length).toBeGreaterThan(40 * 32 * 2);
    for (const id of [...shared, ...onlyLeft, ...onlyRight]) {
      for (const enc of encodings(id)) expect(contains(wire, enc), `${id} leaked`).toBe(false);
    }

    // An eavesdropper who guesses an ID can hash it, but without a scalar the hash is not
    // what travels: no unblinded H(id) appears, for IDs inside or outside the intersection.
    const group = await loadBackend(backend);
    const prefix = jobHashPrefix(jobId);
    for (const id of [...onlyLeft, ...onlyRight, ...shared]) {
      const input = Buffer.concat([prefix, Buffer.from(id)]);
      const h = new Uint8Array(32);
      group.hashToGroup(input, h, 0);
      expect(contains(wire, Buffer.from(h.subarray(0, 16)))).toBe(false);
    }
  });

  it('blinds the same ID to unrelated values in two jobs', async () => {
    const ids = [uscc(1), uscc(2)];
    const file = join(dir, `${backend}-two.csv`);
    writeFileSync(file, idCsv(ids));
    const capture = async (jobId: string) => {
      const points: Buffer[] = [];
      const tap = (_f: string, _t: string, frame: Uint8Array) => {
        const m = decodeMessage(frame);
        if (m.t === 'psi.blinded' || m.t === 'psi.reblinded') points.push(Buffer.from(m.points));
      };
      await runLocalPsi({ left: { file, idColumn: 'id' }, right: { file, idColumn: 'id' }, backend, jobId, threads: 0, tap });
      return Buffer.concat(points);
    };
    const [a, b] = [await capture('job-a'), await capture('job-b')];
    expect(a.length).toBe(8 * 32);
    // Any 16 bytes of a point from job A found in job B would link the jobs.
    for (let off = 0; off < a.length; off += 32) expect(contains(b, a.subarray(off, off + 16))).toBe(false);
  });
});
