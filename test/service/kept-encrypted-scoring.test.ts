/**
 * A model trained with its weights kept encrypted (`keepEncrypted`), scored through the real
 * party services (bank, two agencies, the platform's arbiter, each a `startPartyService` over
 * mutual TLS on loopback): the platform keeps the training key among that job's outputs,
 * readable by itself only, a scoring session restores it, and the bank gets the scores of the
 * same model trained with its weights revealed; the bank's slice holds no plain weight.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackParties, type ConfigFor } from '../../bench/services.ts';
import { KEPT_KEY_FILE } from '../../src/lr/kept-key.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const AGENCIES = [
  ['tax-bureau', 'tax_bureau.csv'],
  ['social-insurance', 'social_insurance.csv'],
] as const;
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-kept-service-'));
const services = new Map<string, PartyService>();
let config: ConfigFor;
// Liveness, not speed: four services share this process on a machine that may be loaded far beyond its two cores.
const LIVENESS_SECONDS = 600;

async function train(job: string, keepEncrypted: boolean): Promise<void> {
  const bank = services.get('bank')!;
  bank.submit({ job, label: { table: 't' }, features: AGENCIES.map(([party]) => ({ party, table: 't' })), training: { epochs: 1, batchSize: 1024, seed: 'kept-service', keepEncrypted } });
  const trained = await bank.finished(job);
  if (trained.state !== 'succeeded') throw new Error(`training ${job} ${trained.state}: ${JSON.stringify(trained.error)}`);
}

beforeAll(async () => {
  config = await loopbackParties(dir, ['bank', ...AGENCIES.map(([n]) => n), 'arbiter']);
  const arbiter = await startPartyService({ ...config('arbiter', 'arbiter', {}, new Map()), timeoutSeconds: LIVENESS_SECONDS }, () => {});
  services.set('arbiter', arbiter);
  const ports: Record<string, number> = { arbiter: arbiter.tlsPort };
  for (const [name, file] of AGENCIES) {
    const c = config(name, 'features', { arbiter: arbiter.tlsPort }, new Map([['t', { file: join(SME, file), idColumn: 'uscc' }]]));
    const agency = await startPartyService({ ...c, timeoutSeconds: LIVENESS_SECONDS }, () => {});
    services.set(name, agency);
    ports[name] = agency.tlsPort;
  }
  services.set('bank', await startPartyService({ ...config('bank', 'label', ports, new Map([['t', { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted' }]])), timeoutSeconds: LIVENESS_SECONDS }, () => {}));
  await train('kept', true);
  await train('revealed', false);
}, 600_000);

afterAll(async () => {
  for (const s of [...services.values()].reverse()) await s.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const jobFile = (party: string, job: string, file: string) => join(dir, `store-${party}`, 'jobs', job, file);
const idsOf = (file: string) => readFileSync(join(SME, file), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!);
const bothAgencies = new Set(idsOf('social_insurance.csv').filter((id) => new Set(idsOf('tax_bureau.csv')).has(id)));
/** Book enterprises both agencies hold (the others are single-holders, refused by the default policy either way) and a few that are not. */
const book = idsOf('bank.csv');
const held = book.filter((id) => bothAgencies.has(id));

describe('scoring a model kept encrypted through the party services', { timeout: 600_000 }, () => {
  it("keeps the training key in the platform's job folder only, readable by the platform alone", () => {
    expect(statSync(jobFile('arbiter', 'kept', KEPT_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(() => statSync(jobFile('arbiter', 'revealed', KEPT_KEY_FILE))).toThrow();
    for (const party of ['bank', ...AGENCIES.map(([n]) => n)]) expect(() => statSync(jobFile(party, 'kept', KEPT_KEY_FILE))).toThrow();
    const slice = JSON.parse(readFileSync(jobFile('bank', 'kept', 'model-bank.json'), 'utf8'));
    expect(slice.encryptedWeights).toBeTruthy();
    expect(slice.weights ?? []).toEqual([]);
  });

  it('gives the scores of the same model trained with its weights revealed', async () => {
    const bank = services.get('bank')!;
    const ids = [...held.slice(100, 125), ...book.filter((id) => !bothAgencies.has(id)).slice(0, 3)];
    const kept = await bank.score('kept', ids, { decoys: 2 });
    const revealed = await bank.score('revealed', ids, { decoys: 2 });
    expect(kept.map((s) => [s.id, s.status])).toEqual(revealed.map((s) => [s.id, s.status]));
    const scored = kept.filter((s) => s.status === 'scored');
    expect(scored.length).toBe(25);
    kept.forEach((s, k) => {
      // Both are masked reveals of one z (the arbiter's 2^-9 grid and CKKS's error), as in test/score/kept-encrypted.test.ts.
      if (s.status === 'scored') expect(Math.abs(s.probability - revealed[k]!.probability!), s.id).toBeLessThan(2e-3);
    });
  });
});
