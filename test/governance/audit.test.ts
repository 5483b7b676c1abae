import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, hashId, headFileOf, verifyAuditLog, type AuditVerdict } from '../../src/governance/audit.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalJson } from '../../src/governance/canonical.ts';
import { generateKeyPair, sign } from '../../src/governance/keys.ts';
import { uscc } from '../helpers/ids.ts';

const taxBureau = generateKeyPair();
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-audit-'));
const original = join(dir, 'original.log');
const enterprises = [uscc(11), uscc(12), uscc(13)];
let copies = 0;

beforeAll(async () => {
  const log = await AuditLog.open(original, { party: 'tax-bureau', key: taxBureau });
  await log.append('job.admitted', { job: 'job-1', partner: 'bank-of-example', purpose: 'credit-modeling' });
  await log.append('consent.filtered', { job: 'job-1', included: 2, excluded: 1, enterprises: enterprises.map((id) => log.hashId(id)) });
  await log.append('psi.run', { job: 'job-1', aligned: 2 });
  await log.append('training.run', { job: 'job-1', epochs: 10, auc: 0.81 });
  await log.append('model.export', { job: 'job-1', weights: 3 });
});

/** A fresh copy of the reference log (entries 0..5, six lines) and its head, to damage. */
function copyOfLog(): { file: string; lines: string[] } {
  const file = join(dir, `copy-${copies++}.log`);
  copyFileSync(original, file);
  copyFileSync(headFileOf(original), headFileOf(file));
  return { file, lines: readFileSync(file, 'utf8').split('\n').slice(0, -1) };
}

function rewrite(file: string, lines: readonly string[]): void {
  writeFileSync(file, lines.map((l) => l + '\n').join(''));
}

function firstBad(verdict: AuditVerdict): { line: number; seq: number | undefined; reason: string } {
  if (verdict.ok) throw new Error('the damaged log verified');
  return verdict;
}

describe('audit log', () => {
  it('verifies an intact log and reports its entry count and head', async () => {
    const verdict = await verifyAuditLog(original, taxBureau.publicKey);
    expect(verdict).toMatchObject({ ok: true, party: 'tax-bureau', entries: 6, head: { seq: 5 } });
  });

  it('continues the chain when reopened', async () => {
    const { file } = copyOfLog();
    const log = await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    const entry = await log.append('scoring.query', { job: 'job-2', applicants: 1 });
    expect(entry.seq).toBe(6);
    expect(await verifyAuditLog(file, taxBureau.publicKey)).toMatchObject({ ok: true, entries: 7 });
  });

  it('orders concurrent appends in call order, each fully written', async () => {
    const file = join(dir, 'concurrent.log');
    const log = await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    const entries = await Promise.all(Array.from({ length: 8 }, (_, i) => log.append('scoring.query', { n: i })));
    expect(entries.map((e) => [e.seq, e.details.n])).toEqual(Array.from({ length: 8 }, (_, i) => [i + 1, i]));
    expect(await verifyAuditLog(file, taxBureau.publicKey)).toMatchObject({ ok: true, entries: 9 });
  });

  it('detects a flipped byte anywhere, naming the line it is on', async () => {
    const { file, lines } = copyOfLog();
    for (const [i, line] of lines.entries()) {
      for (const at of [2, Math.floor(line.length / 2), line.length - 3]) {
        const damaged = [...lines];
        damaged[i] = line.slice(0, at) + String.fromCharCode(line.charCodeAt(at) ^ 1) + line.slice(at + 1);
        rewrite(file, damaged);
        expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey)).line, `line ${i + 1}, byte ${at}`).toBe(i + 1);
      }
    }
  });

  it('detects an altered detail as a hash mismatch of that entry', async () => {
    const { file, lines } = copyOfLog();
    lines[3] = lines[3]!.replace('"aligned":2', '"aligned":20');
    rewrite(file, lines);
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey))).toMatchObject({ line: 4, seq: 3, reason: expect.stringMatching(/altered/) });
  });

  it('detects a deleted entry', async () => {
    const { file, lines } = copyOfLog();
    lines.splice(2, 1);
    rewrite(file, lines);
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey))).toMatchObject({ line: 3, seq: 3, reason: expect.stringMatching(/expected seq 2.*deleted/) });
  });

  it('detects two swapped entries', async () => {
    const { file, lines } = copyOfLog();
    [lines[2], lines[3]] = [lines[3]!, lines[2]!];
    rewrite(file, lines);
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey))).toMatchObject({ line: 3, seq: 3, reason: expect.stringMatching(/expected seq 2/) });
  });

  it('detects a truncated log (last entry dropped) against the signed head', async () => {
    const { file, lines } = copyOfLog();
    rewrite(file, lines.slice(0, -1));
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey))).toMatchObject({ line: 6, seq: 5, reason: expect.stringMatching(/truncated/) });
  });

  it('detects an inserted entry, whether a replayed copy or one signed by another key', async () => {
    const { file, lines } = copyOfLog();
    rewrite(file, [...lines.slice(0, 4), lines[1]!, ...lines.slice(4)]);
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey))).toMatchObject({ line: 5, seq: 1 });

    // A forger without the key builds a perfect chain link (right seq, prevHash and hash), signed by its own key.
    const forger = generateKeyPair();
    const previous = JSON.parse(lines[2]!) as { seq: number; hash: string; party: string };
    const body = { seq: 3, time: new Date().toISOString(), type: 'job.approved', party: previous.party, details: { job: 'job-x' }, prevHash: previous.hash };
    const hash = bytesToHex(sha256(concatBytes(utf8ToBytes('jinqiao/audit-entry/v1'), new Uint8Array([0]), utf8ToBytes(canonicalJson(body)))));
    const signature = bytesToHex(sign(forger.secretKey, 'jinqiao/audit-entry/v1', hexToBytes(hash)));
    rewrite(file, [...lines.slice(0, 3), JSON.stringify({ ...body, hash, signature }), ...lines.slice(3)]);
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey))).toMatchObject({ line: 4, seq: 3, reason: expect.stringMatching(/signature/) });
  });

  it('refuses a log checked against another key, at entry 0', async () => {
    expect(firstBad(await verifyAuditLog(original, generateKeyPair().publicKey))).toMatchObject({ line: 1, seq: 0, reason: expect.stringMatching(/opened by key/) });
  });

  it('requires the signed head, and refuses a head that is not the key holder\'s', async () => {
    const { file } = copyOfLog();
    rmSync(headFileOf(file));
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey)).reason).toMatch(/head .* is missing/);
    writeFileSync(headFileOf(file), readFileSync(headFileOf(original), 'utf8').replace(/"seq":5/, '"seq":4'));
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey)).reason).toMatch(/head signature/);
  });

  it('accepts a log one entry ahead of its head (a crash between the two writes), and reopening catches the head up', async () => {
    const { file } = copyOfLog();
    const staleHead = readFileSync(headFileOf(file), 'utf8');
    const log = await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    await log.append('psi.run', { job: 'job-3' });
    writeFileSync(headFileOf(file), staleHead);
    expect(await verifyAuditLog(file, taxBureau.publicKey)).toMatchObject({ ok: true, entries: 7 });
    await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    expect(readFileSync(headFileOf(file), 'utf8')).toContain('"seq":6');
  });

  it('reports a line torn by a crash, and drops it on reopening (it was never durable)', async () => {
    const { file } = copyOfLog();
    appendFileSync(file, '{"seq":6,"time":"2025-');
    expect(firstBad(await verifyAuditLog(file, taxBureau.publicKey))).toMatchObject({ line: 7, reason: expect.stringMatching(/cut short/) });
    const log = await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    expect((await log.append('psi.run', {})).seq).toBe(6);
    expect(await verifyAuditLog(file, taxBureau.publicKey)).toMatchObject({ ok: true, entries: 7 });
  });

  it('starts afresh on an empty log without a head (its creation was cut short), but not on an emptied one', async () => {
    const fresh = join(dir, 'empty.log');
    writeFileSync(fresh, '');
    await AuditLog.open(fresh, { party: 'tax-bureau', key: taxBureau });
    expect(await verifyAuditLog(fresh, taxBureau.publicKey)).toMatchObject({ ok: true, entries: 1 });
    const { file } = copyOfLog();
    writeFileSync(file, '');
    await expect(AuditLog.open(file, { party: 'tax-bureau', key: taxBureau })).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN' });
  });

  it('after a failed append refuses every later append and anchor, until reopened', async () => {
    const { file } = copyOfLog();
    const log = await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    await log.append('scoring.query', { job: 'job-2', applicants: 1 });
    const before = readFileSync(file);
    const headBefore = readFileSync(headFileOf(file));
    // Make the next write fail (a directory where the log was: EISDIR, whoever runs the test).
    rmSync(file);
    mkdirSync(file);
    const failed = log.append('scoring.query', { job: 'job-2', applicants: 2 });
    const queued = log.append('scoring.query', { job: 'job-2', applicants: 3 });
    await expect(failed).rejects.toThrow();
    // The file is writable again, but the log does not know what reached the disk: it refuses.
    rmSync(file, { recursive: true });
    writeFileSync(file, before);
    await expect(queued).rejects.toMatchObject({ code: 'E_OUTPUT_UNWRITABLE', message: expect.stringContaining('an earlier append failed') });
    await expect(log.append('scoring.query', { job: 'job-2', applicants: 4 })).rejects.toMatchObject({ code: 'E_OUTPUT_UNWRITABLE', message: expect.stringContaining('reopen the log') });
    await expect(log.anchor('job-2')).rejects.toMatchObject({ code: 'E_OUTPUT_UNWRITABLE' });
    expect(readFileSync(file)).toEqual(before);
    expect(readFileSync(headFileOf(file))).toEqual(headBefore);
    // Reopened, it verifies the chain and continues it where the last durable entry left it.
    const reopened = await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    expect(reopened.head.seq).toBe(6);
    expect((await reopened.append('scoring.query', { job: 'job-2', applicants: 5 })).seq).toBe(7);
    expect(await verifyAuditLog(file, taxBureau.publicKey)).toMatchObject({ ok: true, entries: 8 });
  });

  it('refuses to append to a broken log', async () => {
    const { file, lines } = copyOfLog();
    rewrite(file, lines.slice(0, -1));
    await expect(AuditLog.open(file, { party: 'tax-bureau', key: taxBureau })).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN' });
  });

  it('never holds enterprise IDs in clear, only salted hashes', async () => {
    const text = readFileSync(original, 'utf8');
    for (const id of enterprises) {
      expect(text).not.toContain(id);
      expect(text.toLowerCase()).not.toContain(id.toLowerCase());
    }
    const salt = JSON.parse(text.split('\n')[0]!).details.salt as string;
    expect(text).toContain(hashId(salt, enterprises[0]!));
    expect(hashId(salt, ` ${enterprises[0]!.toLowerCase()}`)).toBe(hashId(salt, enterprises[0]!));
  });

  it('refuses details holding a USCC in clear, and writes nothing', async () => {
    const { file } = copyOfLog();
    const before = readFileSync(file, 'utf8');
    const log = await AuditLog.open(file, { party: 'tax-bureau', key: taxBureau });
    await expect(log.append('job.refused', { note: `enterprise ${enterprises[0]} has no consent` })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringContaining('details.note') });
    await expect(log.append('job.refused', { ids: [enterprises[1]!.toLowerCase()] })).rejects.toMatchObject({ code: 'E_OPTION_INVALID' });
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('gives two logs different salts, so their hashes of one enterprise cannot be linked', async () => {
    const a = await AuditLog.open(join(dir, 'salt-a.log'), { party: 'tax-bureau', key: taxBureau });
    const b = await AuditLog.open(join(dir, 'salt-b.log'), { party: 'tax-bureau', key: taxBureau });
    expect(a.hashId(enterprises[0]!)).not.toBe(b.hashId(enterprises[0]!));
  });

  it('cannot stop its own party rewriting it whole: only a head anchored elsewhere exposes that', async () => {
    const anchoredAtPartner = (await AuditLog.open(copyOfLog().file, { party: 'tax-bureau', key: taxBureau })).head;
    const rewritten = join(dir, 'rewritten.log');
    const log = await AuditLog.open(rewritten, { party: 'tax-bureau', key: taxBureau });
    for (let i = 0; i < 5; i++) await log.append('job.admitted', { job: `other-${i}` });
    const verdict = await verifyAuditLog(rewritten, taxBureau.publicKey);
    expect(verdict).toMatchObject({ ok: true, head: { seq: anchoredAtPartner.seq } });
    expect(verdict.ok && verdict.head.hash).not.toBe(anchoredAtPartner.hash);
  });
});
