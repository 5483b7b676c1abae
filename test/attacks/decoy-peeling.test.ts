/**
 * Attack: decoy peeling (an agency's view). The bank asks about one enterprise with d
 * decoys; the agency sees which of its own records it is asked to score. It watches the
 * same enterprise being asked in two sessions, and in two requests with different
 * companions, and intersects what it was asked. Success measure: the intersection is the
 * real enterprise alone (singled out); at chance it still holds the real one among its
 * decoys, and the agency's best guess is one of several.
 *
 * Positive control: decoys drawn under a fresh key per session — what every caller got
 * before, since none passed a fixed key — are peeled off by two sessions.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { loadOrCreateDecoyKey } from '../../src/governance/keys.ts';
import { jinqiao } from '../helpers/cli.ts';
import { agencies, bankSpec, openSession, trainFixture, type ScoringFixture } from './scoring-fixture.ts';

/** The agency's view: the IDs of the records it scored, per request, as the tax bureau sees them. */
const taxView = vi.hoisted(() => [] as string[][]);
vi.mock('../../src/score/apply.ts', async (importOriginal) => (await import('./agency-view.ts')).recordingPartialScores(importOriginal, 'tax', (ids) => taxView.push(ids)));

const D = 5;
let fixture: ScoringFixture;
let target: string;
let companions: string[];

beforeAll(async () => {
  fixture = await trainFixture('attack-decoys');
  // An enterprise both agencies hold, so that the tax bureau is asked about it at all.
  const social = new Set(fixture.social.ids);
  const tax = new Set(fixture.tax.ids);
  const both = fixture.bank.ids.filter((id) => tax.has(id) && social.has(id));
  target = both[100]!;
  companions = [both[200]!, both[300]!];
}, 120_000);

/** What the tax bureau was asked to score while `body` ran, one set per request. */
async function observe(body: () => Promise<void>): Promise<Set<string>[]> {
  taxView.length = 0;
  await body();
  return taxView.map((ids) => new Set(ids));
}

function intersect(sets: readonly Set<string>[]): Set<string> {
  return sets.reduce((a, b) => new Set([...a].filter((id) => b.has(id))));
}

async function askInSession(decoyKey: Uint8Array, ids: readonly string[][]): Promise<Set<string>[]> {
  return observe(async () => {
    const s = await openSession(fixture, { decoyKey });
    for (const request of ids) expect((await s.score(request, { decoys: D }))[0]).toMatchObject({ status: 'scored' });
    await s.close();
  });
}

describe('attack: decoy peeling', () => {
  it('positive control: with a fresh key per session, two sessions single the enterprise out', async () => {
    const first = await askInSession(randomBytes(32), [[target]]);
    const second = await askInSession(randomBytes(32), [[target]]);
    expect(first[0]!.size).toBeGreaterThan(2);
    expect([...intersect([...first, ...second])]).toEqual([target]);
  }, 120_000);

  it("with the bank's persistent key, neither sessions nor companions peel the decoys off", async () => {
    const keys = mkdtempSync(join(tmpdir(), 'jinqiao-bank-keys-'));
    const first = await askInSession(await loadOrCreateDecoyKey(keys), [[target]]);
    const second = await askInSession(await loadOrCreateDecoyKey(keys), [[target], [target, companions[0]!], [companions[1]!, target]]);
    const left = intersect([...first, ...second]);
    expect(left.has(target)).toBe(true);
    expect(left).toEqual(first[0]);
    // The real one hides among at least three: the agency's best guess is right one time in |left|.
    expect(left.size).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('draws the same decoys from the whole book whatever else the request holds, and others under another key', async () => {
    const key = createHash('sha256').update('attack-decoys').digest();
    const alone = await askInSession(key, [[target]]);
    const accompanied = await askInSession(key, [[companions[0]!, target, companions[1]!]]);
    for (const id of alone[0]!) expect(accompanied[0]!.has(id)).toBe(true);
    const otherKey = await askInSession(createHash('sha256').update('another bank').digest(), [[target]]);
    expect(otherKey[0]).not.toEqual(alone[0]);
  }, 120_000);

  it('jinqiao score keeps the decoy key in the bank\'s key folder, and refuses decoys without one', () => {
    const keys = mkdtempSync(join(tmpdir(), 'jinqiao-cli-keys-'));
    const args = ['score', '--model', fixture.modelDir, '--label', bankSpec.file, ...agencies.flatMap((a) => ['--features', `${a.name}=${a.file}`]), '--id', 'uscc', '--ids', target, '--decoys', '3', '--threads', '0', '--json'];
    const keyless = jinqiao(args);
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toMatch(/--decoys: decoys need the bank's persistent decoy key/);
    const run = jinqiao([...args, '--keys', keys]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).scores).toMatchObject([{ id: target, status: 'scored' }]);
    expect(statSync(join(keys, 'scoring-decoys.secret')).mode & 0o777).toBe(0o600);
  }, 300_000);
});
