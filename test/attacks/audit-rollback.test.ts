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
 *
 * The anchors themselves travel between the parties: at each training job's end the job
 * runners exchange them (`audit.anchor`, src/jobs/anchors.ts) and each party keeps its
 * partners' in its anchors folder. The last describe runs two real jobs through the
 * runners (bank, tax bureau and platform over memory channels, as party services run
 * them over TLS), rolls the tax bureau's log back to its state after the first, and
 * checks the bank's anchors folder exposes it — and that the bank refuses the rolled-back
 * head at the end of the next job.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, headFileOf, loadAuditAnchors, storeAuditAnchor, verifyAuditLog } from '../../src/governance/audit.ts';
import { generateKeyPair, saveKeyPair, type PartyKeyPair } from '../../src/governance/keys.ts';
import { loadFeatureTable } from '../../src/data/table.ts';
import { subsetTable, type PartyGovernance } from '../../src/governance/gate.ts';
import type { PartyJobContext, PartyRole } from '../../src/jobs/context.ts';
import { joinJob } from '../../src/jobs/partner.ts';
import { trainAsLabel } from '../../src/jobs/training.ts';
import { resolveTrainingConfig } from '../../src/lr/config.ts';
import { memoryPartyContext, MemoryWiring } from '../../src/local/training.ts';
import { inlineExecutor } from '../../src/psi/executor.ts';
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

  it('an anchor signed before one already kept, arriving after it (sessions side by side), is kept; a rollback still is not, in either arrival order', async () => {
    let now = Date.parse('2026-12-01T08:00:00Z');
    const clock = () => new Date((now += 1000));
    const file = join(dir, `tax-${logs}.audit.jsonl`);
    const anchors = join(dir, `bank-keeps-${logs++}.anchors.jsonl`);
    const log = await AuditLog.open(file, { party: 'tax-bureau', key: tax, clock });
    await log.append('scoring.query', { session: 's-1', request: 0 });
    const early = await log.anchor('s-1');
    await log.append('scoring.query', { session: 's-2', request: 0 });
    copyFileSync(file, `${file}.saved`);
    copyFileSync(headFileOf(file), `${headFileOf(file)}.saved`);
    await log.append('scoring.query', { session: 's-2', request: 1 });
    const later = await log.anchor('s-2');
    // Session s-2's exchange reached the bank first: s-1's anchor is late, not a rollback.
    await storeAuditAnchor(anchors, later, tax.publicKey);
    await storeAuditAnchor(anchors, early, tax.publicKey);
    expect((await anchorsOf(anchors)).map((a) => a.seq)).toEqual([later.seq, early.seq]);
    expect(await verifyAuditLog(file, tax.publicKey, await anchorsOf(anchors))).toMatchObject({ ok: true, anchors: 2 });

    // The tax bureau puts the copy from before s-2's anchor back and goes on: its next anchor is behind, signed later.
    copyFileSync(`${file}.saved`, file);
    copyFileSync(`${headFileOf(file)}.saved`, headFileOf(file));
    const resumed = await AuditLog.open(file, { party: 'tax-bureau', key: tax, clock });
    const behind = await resumed.anchor('s-3');
    expect(behind.seq).toBeLessThan(later.seq);
    await expect(storeAuditAnchor(anchors, behind, tax.publicKey)).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN', message: expect.stringMatching(/went back: its anchor of job s-3, signed .* \(now offered\), is at seq \d+ .* its anchor of job s-2, signed earlier/) });
    // The same rollback when the anchor from before it arrives last: the earlier-signed, higher seq exposes the kept one.
    const elsewhere = join(dir, `bank-keeps-${logs++}.anchors.jsonl`);
    await storeAuditAnchor(elsewhere, early, tax.publicKey);
    await storeAuditAnchor(elsewhere, behind, tax.publicKey);
    await expect(storeAuditAnchor(elsewhere, later, tax.publicKey)).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN', message: expect.stringMatching(/went back: its anchor of job s-3, signed .* \(kept here\)/) });
    // A fork (the same seq, another hash) is refused whatever the times say.
    await resumed.append('scoring.query', { session: 's-3', request: 0 });
    const forked = await resumed.anchor('s-3');
    expect(forked.seq).toBe(later.seq);
    await expect(storeAuditAnchor(anchors, forked, tax.publicKey)).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN', message: expect.stringMatching(/went back and forked: its anchor of job s-3 \(now offered\) and its anchor of job s-2 \(kept here\)/) });
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

const SME = join(import.meta.dirname, '../../examples/sme-credit');

/**
 * Bank, tax bureau and platform, each with its own audit log and a store whose anchors
 * folder keeps its partners' anchors (what a party service gives its runners).
 */
async function parties() {
  const root = mkdtempSync(join(tmpdir(), 'jinqiao-attack-anchors-'));
  const keys = new Map<string, PartyKeyPair>(['bank', 'tax-bureau', 'platform'].map((p) => [p, generateKeyPair()]));
  for (const [p, key] of keys) await saveKeyPair(join(root, p), key);
  const logs = new Map<string, AuditLog>();
  for (const [p, key] of keys) logs.set(p, await AuditLog.open(join(root, `${p}.audit.jsonl`), { party: p, key }));
  // 1,500 of the bank's customers and the tax bureau's records of them: enough for a job, quick to align.
  const bank = await loadFeatureTable(join(SME, 'bank.csv'), { idColumn: 'uscc', labelColumn: 'defaulted' });
  const customers = subsetTable(bank, Uint32Array.from({ length: 1500 }, (_, i) => i + 300));
  const book = new Set(customers.ids);
  const tax = await loadFeatureTable(join(SME, 'tax_bureau.csv'), { idColumn: 'uscc' });
  const tables = new Map([
    ['customers', customers],
    ['taxpayers', subsetTable(tax, Uint32Array.from(tax.ids.flatMap((id, i) => (book.has(id) ? [i] : []))))],
  ]);
  const psiExecutor = inlineExecutor();
  // Read at each job: a party that rolls its log back reopens it (a restarted service).
  const governance = () => ({ purpose: 'credit-modeling', parties: new Map<string, PartyGovernance>([...logs].map(([p, audit]) => [p, { institution: p, audit }])) });
  const ctx = (name: string, role: PartyRole, wiring: MemoryWiring): PartyJobContext => ({
    ...memoryPartyContext({ name, role, wiring, loadTable: async (t) => tables.get(t)!, loadModelSlice: () => Promise.reject(new Error('none')), governance: governance(), psiExecutor }),
    anchorsFile: (partner) => join(root, `store-${name}`, 'anchors', `${partner}.jsonl`),
  });
  const train = async (jobId: string) => {
    const wiring = new MemoryWiring(undefined);
    const config = resolveTrainingConfig({ jobId, he: 'mock', epochs: 1, batchSize: 256, threads: 0, allowPartialScoreDisclosure: true });
    const [label, ...partners] = await Promise.allSettled([
      trainAsLabel(ctx('bank', 'label', wiring), { config, purpose: 'credit-modeling', labelTable: 'customers', features: [{ party: 'tax-bureau', table: 'taxpayers' }], arbiter: 'platform' }),
      joinJob(ctx('tax-bureau', 'features', wiring), wiring.end('tax-bureau', 'bank')),
      joinJob(ctx('platform', 'arbiter', wiring), wiring.end('platform', 'bank')),
    ]);
    wiring.closeAll('job over');
    return { label, partners };
  };
  return { root, logs, keys, train, taxLog: join(root, 'tax-bureau.audit.jsonl') };
}

describe('attack: audit rollback, with the anchors the job runners exchange', () => {
  it("an agency's log rolled back after a two-job run is exposed by the bank's anchors, and only by them", async () => {
    const p = await parties();
    for (const job of ['job-1', 'job-2']) {
      const { label, partners } = await p.train(job);
      expect(label.status, String((label as PromiseRejectedResult).reason)).toBe('fulfilled');
      for (const r of partners) expect(r.status, String((r as PromiseRejectedResult).reason)).toBe('fulfilled');
      if (job === 'job-1') {
        copyFileSync(p.taxLog, `${p.taxLog}.saved`);
        copyFileSync(headFileOf(p.taxLog), `${headFileOf(p.taxLog)}.saved`);
      }
    }
    // Every party keeps each partner's anchor of each job; the bank's log is anchored at both of its partners.
    const kept = (keeper: string, of: string) => join(p.root, `store-${keeper}`, 'anchors', `${of}.jsonl`);
    const taxKey = p.keys.get('tax-bureau')!.publicKey;
    expect((await loadAuditAnchors(kept('bank', 'tax-bureau'), taxKey)).anchors.map((a) => a.job)).toEqual(['job-1', 'job-2']);
    for (const keeper of ['tax-bureau', 'platform']) expect((await loadAuditAnchors(kept(keeper, 'bank'), p.keys.get('bank')!.publicKey)).anchors).toHaveLength(2);
    expect(readFileSync(join(p.root, 'bank.audit.jsonl'), 'utf8')).toContain('"anchor.kept"');

    // The tax bureau puts back its log and head as they were after job-1.
    copyFileSync(`${p.taxLog}.saved`, p.taxLog);
    copyFileSync(`${headFileOf(p.taxLog)}.saved`, headFileOf(p.taxLog));
    // Control: without the partner's anchors the rollback is not detectable.
    expect(await verifyAuditLog(p.taxLog, taxKey)).toMatchObject({ ok: true });
    const plain = jinqiao(['audit', 'verify', p.taxLog, '--key', join(p.root, 'tax-bureau.pub')]);
    expect(plain.code, plain.stderr).toBe(0);
    // With the bank's anchors folder it is reported, naming the anchor it falls behind.
    const cli = jinqiao(['audit', 'verify', p.taxLog, '--key', join(p.root, 'tax-bureau.pub'), '--anchors', join(p.root, 'store-bank', 'anchors')]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/E_AUDIT_BROKEN: .*the anchor tax-bureau signed at the end of job job-2 .* \(the log was rolled back or cut\)/);
    // The untouched logs verify against the anchors their partners kept.
    const bankCheck = jinqiao(['audit', 'verify', join(p.root, 'bank.audit.jsonl'), '--key', join(p.root, 'bank.pub'), '--anchors', join(p.root, 'store-tax-bureau', 'anchors')]);
    expect(bankCheck.code, bankCheck.stderr).toBe(0);
    expect(bankCheck.stdout).toMatch(/anchors: 2 kept by the partner match; the latest, from job job-2/);

    // The tax bureau works on from the rolled-back log (a restarted service): its head at
    // the end of the next job is not ahead of the anchor the bank kept, and the bank fails that job.
    p.logs.set('tax-bureau', await AuditLog.open(p.taxLog, { party: 'tax-bureau', key: p.keys.get('tax-bureau')! }));
    const third = await p.train('job-3');
    expect(third.label).toMatchObject({ status: 'rejected', reason: { code: 'E_AUDIT_BROKEN', message: expect.stringMatching(/tax-bureau's log went back and forked: its anchor of job job-3 \(now offered\) and its anchor of job job-2 \(kept here\) are both at seq \d+, with hashes/) } });
  }, 240_000);

  it('a rolled-back party that pads its log past the kept anchor passes the exchange, but not verification', async () => {
    const p = await parties();
    await p.train('job-1');
    copyFileSync(p.taxLog, `${p.taxLog}.saved`);
    copyFileSync(headFileOf(p.taxLog), `${headFileOf(p.taxLog)}.saved`);
    expect((await p.train('job-2')).label.status).toBe('fulfilled');
    copyFileSync(`${p.taxLog}.saved`, p.taxLog);
    copyFileSync(`${headFileOf(p.taxLog)}.saved`, headFileOf(p.taxLog));
    const padded = await AuditLog.open(p.taxLog, { party: 'tax-bureau', key: p.keys.get('tax-bureau')! });
    for (let i = 0; i < 20; i++) await padded.append('log.padding', { i });
    p.logs.set('tax-bureau', padded);
    // A partner sees heads, not the chain: this head is further on, so the bank keeps it …
    const third = await p.train('job-3');
    expect(third.label.status, String((third.label as PromiseRejectedResult).reason)).toBe('fulfilled');
    // … but the log no longer holds the entry job-2's anchor names.
    const cli = jinqiao(['audit', 'verify', p.taxLog, '--key', join(p.root, 'tax-bureau.pub'), '--anchors', join(p.root, 'store-bank', 'anchors')]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/does not match the anchor tax-bureau signed at the end of job job-2 .*: the log was rewritten/);
  }, 240_000);
});
