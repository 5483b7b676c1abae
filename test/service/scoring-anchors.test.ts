/**
 * A long scoring session anchors the audit logs as a job's end does, between real party
 * services over mutual TLS (bank, two agencies, the platform): the bank and each agency
 * with an audit log exchange signed heads every N requests and when the session closes,
 * and the bank and the platform when it closes; each side keeps the other's anchors in its
 * store, and each log verifies against the anchors its partners kept. Sessions side by
 * side anchor each on their own; whichever order their anchors arrive in, none is taken
 * for a rollback.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuditAnchors, verifyAuditLog } from '../../src/governance/audit.ts';
import { startLoopbackParties, type LoopbackParties } from '../helpers/party-services.ts';

let parties: LoopbackParties;
const MODEL = 'anchored-model';

beforeAll(async () => {
  // Policies and audit logs at the bank, the tax bureau and the platform; the social insurance fund keeps none.
  parties = await startLoopbackParties({ approvalFor: { bank: [], 'tax-bureau': [], arbiter: [] }, scoring: { bank: { anchorEveryRequests: 2, anchorEveryMinutes: 60 } } });
  parties.services.bank.submit(parties.job(MODEL));
  const done = await parties.services.bank.finished(MODEL);
  expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
}, 300_000);

afterAll(async () => {
  await parties?.close();
});

const keptBy = (keeper: string, of: string) => join(parties.dir, `store-${keeper}`, 'anchors', `${of}.jsonl`);
/** The anchors of `of`'s log that `keeper` kept from scoring sessions (not from the training job). */
const sessionAnchors = async (keeper: string, of: 'bank' | 'tax-bureau' | 'arbiter') =>
  (await loadAuditAnchors(keptBy(keeper, of), parties.audit[of]!.publicKey)).anchors.filter((a) => a.job.startsWith(`score/${MODEL}/`));
const bankIds = () => readFileSync(join(parties.dir, 'bank.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.slice(0, l.indexOf(',')));

describe('audit anchors of scoring sessions between party services', () => {
  it('are exchanged with each agency every N requests and at the close, with the platform at the close, side by side too, and verify every log', async () => {
    const { bank } = parties.services;
    const ids = bankIds();
    // One request at a time: one session, anchored after requests 2 and 4.
    for (let i = 0; i < 5; i++) expect((await bank.score(MODEL, [ids[i]!]))[0]!.status).toBe('scored');
    const first = await sessionAnchors('bank', 'tax-bureau');
    expect(first).toHaveLength(2);
    const sessionId = first[0]!.job;
    expect(first[1]).toMatchObject({ job: sessionId, party: 'tax-bureau' });
    expect(first[1]!.seq).toBeGreaterThan(first[0]!.seq);
    expect((await sessionAnchors('tax-bureau', 'bank')).map((a) => a.job)).toEqual([sessionId, sessionId]);
    // The fund keeps no audit log: it sends an empty anchor, which the bank does not keep, and keeps the bank's.
    expect(existsSync(keptBy('bank', 'social-insurance'))).toBe(false);
    expect((await sessionAnchors('social-insurance', 'bank')).map((a) => a.job)).toEqual([sessionId, sessionId]);

    // Requests side by side: more sessions, each anchoring on its own; no anchor is taken for a rollback whatever order they arrive in.
    const together = await Promise.all(ids.slice(5, 21).map((id) => bank.score(MODEL, [id])));
    expect(together.map((answer) => answer[0]!.status)).toEqual(Array(16).fill('scored'));

    await bank.close();
    const atBank = await sessionAnchors('bank', 'tax-bureau');
    const sessions = [...new Set(atBank.map((a) => a.job))];
    expect(sessions.length).toBeGreaterThan(1);
    // The first session served some of those requests too, then anchored once more as it closed.
    expect(atBank.filter((a) => a.job === sessionId).length).toBeGreaterThanOrEqual(3);
    // Each session anchored as it closed: with each agency, and with the platform.
    expect((await sessionAnchors('arbiter', 'bank')).map((a) => a.job).sort()).toEqual([...sessions].sort());
    expect((await sessionAnchors('bank', 'arbiter')).map((a) => a.job).sort()).toEqual([...sessions].sort());
    expect((await sessionAnchors('tax-bureau', 'bank')).length).toBe(atBank.length);
    for (const [party, keeper] of [
      ['tax-bureau', 'bank'],
      ['bank', 'tax-bureau'],
      ['bank', 'arbiter'],
      ['arbiter', 'bank'],
    ] as const) {
      const log = parties.audit[party]!;
      const kept = (await loadAuditAnchors(keptBy(keeper, party), log.publicKey)).anchors;
      expect(await verifyAuditLog(log.file, log.publicKey, kept), `${party}'s log against ${keeper}'s anchors`).toMatchObject({ ok: true, anchors: kept.length });
    }
  }, 300_000);
});
