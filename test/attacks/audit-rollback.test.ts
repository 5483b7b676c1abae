/**
 * Attack: audit rollback (the auditor's view: a log, its head, the party's public key and
 * the anchors a partner kept). The party holds its own signing key, so it can
 *   (1) keep a copy of log and head, act on, then put the older copy back, or
 *   (2) cut the log to its first entry, delete the head, and let the next append sign a
 *       new head over the cut.
 * Success measure: `verify` passes on the doctored log.
 *
 * Positive control: verification without the partner's anchors — the check jinqiao had —
 * passes on both doctored logs. With the anchors, both are refused; and the cut log is no
 * longer re-headed by the next append: appending to a headless log is refused until an
 * operator repairs it, which the log records.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, headFileOf, loadAuditAnchors, storeAuditAnchor, verifyAuditLog } from '../../src/governance/audit.ts';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { jinqiao } from '../helpers/cli.ts';

const tax = generateKeyPair();
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-audit-'));
const keyFiles = saveKeyPair(join(dir, 'tax-bureau'), tax);
let logs = 0;

/** The tax bureau's log through two jobs; the bank kept the anchor of each job's end. */
async function twoJobs() {
  const file = join(dir, `tax-${logs}.audit.jsonl`);
  const anchors = join(dir, `bank-keeps-${logs++}.anchors.jsonl`);
  const log = await AuditLog.open(file, { party: 'tax-bureau', key: tax });
  for (const job of ['job-1', 'job-2']) {
    await log.append('job.admitted', { job, partner: 'bank-of-example' });
    await log.append('psi.run', { job, partners: ['bank-of-example'] });
    await log.append('training.run', { job, epochs: 3 });
    await storeAuditAnchor(anchors, await log.anchor(job), tax.publicKey);
    if (job === 'job-1') {
      copyFileSync(file, `${file}.saved`);
      copyFileSync(headFileOf(file), `${headFileOf(file)}.saved`);
    }
  }
  return { file, anchors, log };
}

const anchorsOf = async (file: string) => (await loadAuditAnchors(file, tax.publicKey)).anchors;

describe('attack: audit rollback', () => {
  it('older log + older head: verifies without anchors (positive control), refused with the partner\'s anchors', async () => {
    const { file, anchors } = await twoJobs();
    copyFileSync(`${file}.saved`, file);
    copyFileSync(`${headFileOf(file)}.saved`, headFileOf(file));
    expect(await verifyAuditLog(file, tax.publicKey)).toMatchObject({ ok: true });
    expect(await verifyAuditLog(file, tax.publicKey, await anchorsOf(anchors))).toMatchObject({ ok: false, reason: expect.stringMatching(/job-2.*rolled back or cut/) });

    await keyFiles;
    const cli = jinqiao(['audit', 'verify', file, '--key', join(dir, 'tax-bureau.pub'), '--anchors', anchors]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/E_AUDIT_BROKEN: .*rolled back or cut/);
    await saveKeyPair(join(dir, 'stranger'), generateKeyPair());
    const wrongFile = jinqiao(['audit', 'verify', file, '--key', join(dir, 'stranger.pub'), '--anchors', anchors]);
    expect(wrongFile.code).toBe(2);
    expect(wrongFile.stderr).toMatch(/holds no anchor of key .* \(2 of other keys\)/);
  });

  it('a rolled-back party offering its next anchor is caught by the partner at once', async () => {
    const { file, anchors } = await twoJobs();
    copyFileSync(`${file}.saved`, file);
    copyFileSync(`${headFileOf(file)}.saved`, headFileOf(file));
    const resumed = await AuditLog.open(file, { party: 'tax-bureau', key: tax });
    await resumed.append('job.admitted', { job: 'job-3', partner: 'bank-of-example' });
    await expect(storeAuditAnchor(anchors, await resumed.anchor('job-3'), tax.publicKey)).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN', message: expect.stringMatching(/went back/) });
  });

  it('log cut to its first entry, head removed: the next append is refused instead of re-heading it', async () => {
    const { file } = await twoJobs();
    writeFileSync(file, readFileSync(file, 'utf8').split('\n')[0]! + '\n');
    rmSync(headFileOf(file));
    await expect(AuditLog.open(file, { party: 'tax-bureau', key: tax }).then((log) => log.append('job.admitted', { job: 'job-3' }))).rejects.toMatchObject({
      code: 'E_AUDIT_BROKEN',
      message: expect.stringMatching(/head .* is missing.*jinqiao audit repair/),
    });
    expect(await verifyAuditLog(file, tax.publicKey)).toMatchObject({ ok: false });
    await keyFiles;
    const repair = jinqiao(['audit', 'repair', file, '--key', join(dir, 'tax-bureau.key'), '--party', 'tax-bureau', '--reason', 'investigating a missing head']);
    expect(repair.code, repair.stderr).toBe(0);
    expect(repair.stdout).toMatch(/re-headed at seq 0; the repair is entry 1/);
  });

  it('a cut log re-headed by its own key verifies without anchors (positive control), is refused with them, and the repair is on record', async () => {
    const { file, anchors } = await twoJobs();
    writeFileSync(file, readFileSync(file, 'utf8').split('\n')[0]! + '\n');
    rmSync(headFileOf(file));
    const repaired = await AuditLog.repair(file, { party: 'tax-bureau', key: tax }, 'head lost in a disk failure');
    expect(repaired.head.seq).toBe(1);
    expect(await verifyAuditLog(file, tax.publicKey)).toMatchObject({ ok: true });
    expect(readFileSync(file, 'utf8')).toContain('"log.repaired"');
    expect(await verifyAuditLog(file, tax.publicKey, await anchorsOf(anchors))).toMatchObject({ ok: false, reason: expect.stringMatching(/ends at seq 1 .* job-1 .* rolled back or cut/) });
  });

  it('refuses a head without its log, and anchors signed by any key but the log owner\'s', async () => {
    const { file, anchors, log } = await twoJobs();
    rmSync(file);
    await expect(AuditLog.open(file, { party: 'tax-bureau', key: tax })).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN', message: expect.stringMatching(/log is missing but its signed head/) });
    const forged = { ...(await log.anchor('job-2')), seq: 1 };
    await expect(storeAuditAnchor(anchors, forged, tax.publicKey)).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/signature/) });
    const other = generateKeyPair();
    const otherLog = await AuditLog.open(join(dir, 'other.audit.jsonl'), { party: 'tax-bureau', key: other });
    await expect(storeAuditAnchor(anchors, await otherLog.anchor('job-2'), tax.publicKey)).rejects.toMatchObject({ code: 'E_OPTION_INVALID' });
  });
});
