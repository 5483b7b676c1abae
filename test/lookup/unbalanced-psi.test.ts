import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, verifyAuditLog } from '../../src/governance/audit.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { openTagFile, readTagFile } from '../../src/lookup/tag-file.ts';
import { prepareRegister, runUnbalancedPsi } from '../../src/lookup/unbalanced-psi.ts';
import { BACKEND_NAMES } from '../../src/psi/backends/index.ts';
import { jinqiao } from '../helpers/cli.ts';
import { idCsv, uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-upsi-'));
const registerIds = Array.from({ length: 3000 }, (_, i) => uscc(7 * i + 1));
const bankIds = Array.from({ length: 400 }, (_, i) => uscc(3 * i + 1));
const register = join(dir, 'register.csv');
const bank = join(dir, 'bank.csv');
writeFileSync(register, idCsv(registerIds));
writeFileSync(bank, idCsv(bankIds));
const plainIntersection = bankIds.filter((id) => new Set(registerIds).has(id));

describe.each(BACKEND_NAMES)('unbalanced PSI on %s', (backend) => {
  // The pure-JavaScript backends are 20× and 40× slower: a smaller register keeps the test short.
  const small = backend !== 'x25519';
  const reg = small ? join(dir, 'register-small.csv') : register;
  if (small) writeFileSync(reg, idCsv(registerIds.slice(0, 300)));
  const expected = small ? bankIds.filter((id) => registerIds.slice(0, 300).includes(id)) : plainIntersection;

  it('finds exactly the plain-set intersection, with one agency evaluation per distinct bank ID', async () => {
    const keyDir = join(dir, `key-${backend}`);
    const tags = join(dir, `${backend}.tags`);
    const prepared = await prepareRegister({ file: reg, idColumn: 'id', keyDir, backend, out: tags, threads: 0 });
    expect(prepared.tags).toBe(small ? 300 : registerIds.length);
    const r = await runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: tags, keyDir, threads: 0 });
    expect(r.intersection).toBe(expected.length);
    expect(expected.length).toBeGreaterThan(20);
    expect([...r.lines].map((line) => bankIds[line - 2])).toEqual(expected);
    expect(r.evaluations).toBe(bankIds.length);
    expect(r.offlineSeconds).toBe(prepared.offlineSeconds);
  });
});

describe('tag file', () => {
  it('holds a header (version, key id, count, offlineSeconds) and sorted 12-byte tags, nothing else', async () => {
    const keyDir = join(dir, 'key-file');
    const out = join(dir, 'file.tags');
    const p = await prepareRegister({ file: register, idColumn: 'id', keyDir, backend: 'x25519', out, threads: 0 });
    const { header, tags } = await readTagFile(out);
    expect(header).toMatchObject({ version: 2, kind: 'psi', keyId: p.keyId, count: registerIds.length, tagBytes: 12, labelBytes: 0 });
    expect(header.offlineSeconds).toBeGreaterThan(0);
    expect(tags.tags.length).toBe(12 * registerIds.length);
    const bytes = readFileSync(out);
    for (const id of registerIds.slice(0, 50)) expect(bytes.includes(Buffer.from(id))).toBe(false);
  });

  it('is answered only under the key it was made with', async () => {
    const tags = join(dir, 'key-a.tags');
    await prepareRegister({ file: register, idColumn: 'id', keyDir: join(dir, 'key-a'), backend: 'x25519', out: tags, threads: 0 });
    await prepareRegister({ file: bank, idColumn: 'id', keyDir: join(dir, 'key-b'), backend: 'x25519', out: join(dir, 'key-b.tags'), threads: 0 });
    // Refused before the session, naming the option at fault (the agency refuses such a session too: online.ts).
    await expect(runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: tags, keyDir: join(dir, 'key-b'), threads: 0 })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', field: '--key' });
  });

  it('keeps the key in the same folder across preparations (one key period) and refuses a key readable by others', async () => {
    const keyDir = join(dir, 'key-period');
    const a = await prepareRegister({ file: bank, idColumn: 'id', keyDir, backend: 'x25519', out: join(dir, 'p1.tags'), threads: 0 });
    const b = await prepareRegister({ file: bank, idColumn: 'id', keyDir, backend: 'x25519', out: join(dir, 'p2.tags'), threads: 0 });
    expect(a.keyCreated).toBe(true);
    expect(b.keyCreated).toBe(false);
    expect(b.keyId).toBe(a.keyId);
    const [t1, t2] = [await readTagFile(join(dir, 'p1.tags')), await readTagFile(join(dir, 'p2.tags'))];
    expect(Buffer.from(t1.tags.tags).equals(Buffer.from(t2.tags.tags))).toBe(true);
    chmodSync(join(keyDir, 'oprf.key'), 0o644);
    await expect(runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: join(dir, 'p1.tags'), keyDir, threads: 0 })).rejects.toMatchObject({ code: 'E_KEY_INVALID' });
  });

  it('refuses a tag file of version 1 (IDs hashed onto curve and twist), telling the operator to prepare it again', async () => {
    const out = join(dir, 'v1.tags');
    await prepareRegister({ file: bank, idColumn: 'id', keyDir: join(dir, 'key-v1'), backend: 'x25519', out, threads: 0 });
    const bytes = readFileSync(out);
    const headerLength = bytes.readUInt32LE(8);
    const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8'));
    expect(header.version).toBe(2);
    // The same header at version 1, same length: what the previous release wrote.
    const old = Buffer.from(JSON.stringify({ ...header, version: 1 }));
    expect(old.length).toBe(headerLength);
    old.copy(bytes, 12);
    writeFileSync(out, bytes);
    const refused = readTagFile(out);
    await expect(refused).rejects.toMatchObject({ code: 'E_FILE_UNREADABLE' });
    await expect(refused).rejects.toThrow(/version 1.*would match nothing.*prepare the tags again \(`jinqiao psi prepare`/);
    await expect(runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: out, keyDir: join(dir, 'key-v1'), threads: 0 })).rejects.toMatchObject({ code: 'E_FILE_UNREADABLE' });
  });

  it('refuses a truncated tag file', async () => {
    const out = join(dir, 'cut.tags');
    await prepareRegister({ file: bank, idColumn: 'id', keyDir: join(dir, 'key-cut'), backend: 'x25519', out, threads: 0 });
    const bytes = readFileSync(out);
    writeFileSync(out, bytes.subarray(0, bytes.length - 5));
    await expect(readTagFile(out)).rejects.toMatchObject({ code: 'E_FILE_UNREADABLE' });
    // Refused with its header, before an online phase could start on it and spend evaluations.
    await expect(openTagFile(out)).rejects.toThrow(/bytes where the header announces .* \(truncated or altered\)/);
    // psi --prepared opens it the same way: refused before its first query, nothing audited as started.
    const started: string[] = [];
    const bankAudit = { append: (type: string) => (started.push(type), Promise.reject(new Error('psi.start written for a truncated tag file'))) };
    await expect(runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: out, keyDir: join(dir, 'key-cut'), threads: 0, bankAudit })).rejects.toMatchObject({ code: 'E_FILE_UNREADABLE' });
    expect(started).toEqual([]);
  });
});

describe('the agency in the online phase', () => {
  it('audits every session with its evaluation count, and refuses (and audits) one over its limit', async () => {
    const keyDir = join(dir, 'key-audit');
    const tags = join(dir, 'audit.tags');
    await prepareRegister({ file: register, idColumn: 'id', keyDir, backend: 'x25519', out: tags, threads: 0 });
    const key = generateKeyPair();
    const log = join(dir, 'agency-audit.jsonl');
    const agencyAudit = await AuditLog.open(log, { party: 'tax-bureau', key });
    await runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: tags, keyDir, threads: 0, agencyAudit, maxEvaluations: bankIds.length });
    await expect(runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: tags, keyDir, threads: 0, agencyAudit, maxEvaluations: bankIds.length - 1 })).rejects.toThrow();
    expect(await verifyAuditLog(log, key.publicKey)).toMatchObject({ ok: true });
    const entries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(entries.map((e) => e.type)).toEqual(['log.opened', 'oprf.session', 'oprf.refused']);
    expect(entries[1].details).toMatchObject({ evaluations: bankIds.length, domain: 'psi' });
    for (const id of bankIds.slice(0, 20)) expect(readFileSync(log, 'utf8')).not.toContain(id);
  });
});

describe('jinqiao psi prepare / psi --prepared (CLI contract)', () => {
  it('reports offlineSeconds and onlineSeconds and writes the bank IDs in common', () => {
    const keyDir = join(dir, 'cli-key');
    const tags = join(dir, 'cli.tags');
    const p = jinqiao(['psi', 'prepare', register, '--id', 'id', '--key', keyDir, '--out', tags, '--threads', '0', '--json']);
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ tags: registerIds.length, keyCreated: true });
    const out = join(dir, 'common.txt');
    const r = jinqiao(['psi', bank, '--prepared', tags, '--key', keyDir, '--id', 'id', '--out', out, '--json', '--threads', '0']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ intersection: plainIntersection.length, bank: bankIds.length, register: registerIds.length, evaluations: bankIds.length });
    expect(summary.offlineSeconds).toBeGreaterThan(0);
    expect(summary.onlineSeconds).toBeGreaterThan(0);
    expect(readFileSync(out, 'utf8')).toBe(plainIntersection.map((id) => `${id}\n`).join(''));
  });

  it('ends a session over the agency\'s --max-evaluations with the reason, and --audit keeps both logs', () => {
    const auditDir = join(dir, 'cli-audit');
    const ok = jinqiao(['psi', bank, '--prepared', join(dir, 'cli.tags'), '--key', join(dir, 'cli-key'), '--id', 'id', '--threads', '0', '--audit', auditDir, '--max-evaluations', String(bankIds.length)]);
    expect(ok.code, ok.stderr).toBe(0);
    const refused = jinqiao(['psi', bank, '--prepared', join(dir, 'cli.tags'), '--key', join(dir, 'cli-key'), '--id', 'id', '--threads', '0', '--audit', auditDir, '--max-evaluations', '10']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('evaluations');
    expect(readFileSync(join(auditDir, 'agency.jsonl'), 'utf8')).toMatch(/"oprf\.session"[\s\S]*"oprf\.refused"/);
    // The refused session is on the bank's record too: psi.start was written before its first query.
    const bankTypes = readFileSync(join(auditDir, 'bank.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).type);
    expect(bankTypes).toEqual(['log.opened', 'psi.start', 'psi.run', 'psi.start']);
  });

  it("writes the bank's psi.start before its first query, and runs no session its log did not take", async () => {
    const tags = join(dir, 'cli.tags');
    const keyDir = join(dir, 'cli-key');
    const bankLog = await AuditLog.open(join(dir, 'order-bank.jsonl'), { party: 'bank', key: generateKeyPair() });
    const loggedAtFirstFrame: string[][] = [];
    const typesOf = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).type as string);
    const tap = (from: string) => {
      if (from === 'bank' && loggedAtFirstFrame.length === 0) loggedAtFirstFrame.push(typesOf(bankLog.file));
    };
    const r = await runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: tags, keyDir, threads: 0, bankAudit: bankLog, tap });
    expect(loggedAtFirstFrame).toEqual([['log.opened', 'psi.start']]);
    const entries = readFileSync(bankLog.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(entries.map((e) => e.type)).toEqual(['log.opened', 'psi.start', 'psi.run']);
    expect(entries[1].details).toEqual({ mode: 'prepared', keyId: r.keyId, register: registerIds.length });
    expect(entries[2].details).toEqual({ mode: 'prepared', keyId: r.keyId, evaluated: bankIds.length, intersection: plainIntersection.length });

    const frames: string[] = [];
    const failing = { append: () => Promise.reject(new Error('the disk is full')) };
    await expect(runUnbalancedPsi({ bank: { file: bank, idColumn: 'id' }, prepared: tags, keyDir, threads: 0, bankAudit: failing, tap: (from) => frames.push(from) })).rejects.toThrow('the disk is full');
    expect(frames).toEqual([]);
  });

  it('ends bad input with one line, exit 2, and no tag file', () => {
    const bad = join(dir, 'bad-register.csv');
    writeFileSync(bad, `id,amount\n${uscc(1)},1\n${uscc(2)},2,3\n`);
    const out = join(dir, 'never.tags');
    const r = jinqiao(['psi', 'prepare', bad, '--id', 'id', '--key', join(dir, 'bad-key'), '--out', out, '--threads', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${bad}:3:`);
    expect(existsSync(out)).toBe(false);
    const missing = jinqiao(['psi', bank, '--prepared', join(dir, 'nothing.tags'), '--key', join(dir, 'cli-key'), '--id', 'id']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('E_FILE_UNREADABLE');
    const noKey = jinqiao(['psi', bank, '--prepared', join(dir, 'cli.tags'), '--id', 'id']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('--key');
  });
});
