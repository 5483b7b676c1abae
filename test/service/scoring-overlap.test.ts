/**
 * Overlapping scoring requests through the real party services (bank, two agencies, the
 * arbiter, each a `startPartyService` over mutual TLS on loopback): the bank's pool of
 * sessions per model, which also answers requests that wait together in one round, answers
 * 16 concurrent requests for different ID sets exactly as it answers them one at a time (a
 * malformed ID among them refuses its own request only), and a session broken by an agency's
 * restart is closed and replaced while the next requests succeed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackParties, type ConfigFor } from '../../bench/services.ts';
import { usccCheckCharacter } from '../../src/ids/uscc.ts';
import type { EnterpriseScore } from '../../src/score/bank.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { SAME_ENTERPRISE_PROBABILITY } from '../helpers/score-precision.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const AGENCIES = [
  ['tax-bureau', 'tax_bureau.csv'],
  ['social-insurance', 'social_insurance.csv'],
] as const;
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-overlap-'));
const services = new Map<string, PartyService>();
const bankLog: string[] = [];
/** Every service's log lines, in order, shown when a step misses its deadline (a hang then says where it hung). */
const allLogs: string[] = [];
const logTo = (name: string) => (line: string) => void allLogs.push(`[${name}] ${line}`);
/** Fails with what was awaited and the services' last log lines instead of running into vitest's timeout. */
async function within<T>(seconds: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${seconds} s; the services' last log lines:\n${allLogs.slice(-80).join('\n')}`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
let config: ConfigFor;
let arbiterPort = 0;
// Liveness, not speed: four services share this process on a machine that may be loaded far beyond its two cores.
const LIVENESS_SECONDS = 600;

const agencyConfig = (name: string, file: string, port = 0) => {
  const c = config(name, 'features', { arbiter: arbiterPort }, new Map([['t', { file: join(SME, file), idColumn: 'uscc' }]]));
  return { ...c, listen: { host: '127.0.0.1', port }, timeoutSeconds: LIVENESS_SECONDS };
};

beforeAll(async () => {
  config = await loopbackParties(dir, ['bank', ...AGENCIES.map(([n]) => n), 'arbiter']);
  const arbiter = await startPartyService({ ...config('arbiter', 'arbiter', {}, new Map()), timeoutSeconds: LIVENESS_SECONDS }, logTo('arbiter'));
  services.set('arbiter', arbiter);
  arbiterPort = arbiter.tlsPort;
  const ports: Record<string, number> = { arbiter: arbiter.tlsPort };
  for (const [name, file] of AGENCIES) {
    const agency = await startPartyService(agencyConfig(name, file), logTo(name));
    services.set(name, agency);
    ports[name] = agency.tlsPort;
  }
  const bank = await startPartyService({ ...config('bank', 'label', ports, new Map([['t', { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted' }]])), timeoutSeconds: LIVENESS_SECONDS }, (l) => (bankLog.push(l), logTo('bank')(l)));
  services.set('bank', bank);
  bank.submit({ job: 'model', label: { table: 't' }, features: AGENCIES.map(([party]) => ({ party, table: 't' })), training: { epochs: 1, batchSize: 1024, seed: 'overlap' } });
  const trained = await bank.finished('model');
  if (trained.state !== 'succeeded') throw new Error(`training ${trained.state}: ${JSON.stringify(trained.error)}`);
}, 240_000);

afterAll(async () => {
  for (const s of [...services.values()].reverse()) await s.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const book = readFileSync(join(SME, 'bank.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!);
/** 16 different ID sets of 1 to 4 enterprises, one of them outside the bank's book. */
const idSets = Array.from({ length: 16 }, (_, i) => book.slice(100 + i * 7, 100 + i * 7 + 1 + (i % 4)));
idSets[5] = [...idSets[5]!, '91350100M000100Y4' + usccCheckCharacter('91350100M000100Y4')];

function expectSameAnswers(got: readonly EnterpriseScore[], alone: readonly EnterpriseScore[]) {
  expect(got.map((s) => [s.id, s.status, s.status === 'scored' ? '' : s.rule, s.fallbacks])).toEqual(alone.map((s) => [s.id, s.status, s.status === 'scored' ? '' : s.rule, s.fallbacks]));
  // Each answer's z is within REVEALED_Z_ERROR of the exact z (the arbiter's 2^-9 grid and SEAL's decoding error),
  // so two answers' probabilities differ by at most SAME_ENTERPRISE_PROBABILITY ≈ 8.6e-4 (5e-4 failed at 5.4e-4).
  got.forEach((s, i) => {
    if (s.status === 'scored') expect(Math.abs(s.probability - alone[i]!.probability!)).toBeLessThan(SAME_ENTERPRISE_PROBABILITY);
  });
}

describe('overlapping scoring requests through the party services', () => {
  let alone: (readonly EnterpriseScore[])[];

  it('answers 16 concurrent requests for different ID sets as it answers each alone', async () => {
    const bank = services.get('bank')!;
    alone = [];
    for (const ids of idSets) alone.push(await bank.score('model', ids, { decoys: 2 }));
    expect(alone.flat().some((s) => s.status === 'scored')).toBe(true);
    expect(alone[5]!.at(-1)!.status).toBe('unknown');
    // Among them one request with a malformed ID: refused on its own, the others answered.
    const malformed = bank.score('model', [idSets[0]![0]!, '91350100M000100Y44']).then(() => 'answered', (e: { code?: string }) => e.code);
    const together = await Promise.all(idSets.map((ids) => bank.score('model', ids, { decoys: 2 })));
    together.forEach((got, i) => expectSameAnswers(got, alone[i]!));
    expect(await malformed).toBe('E_OPTION_INVALID');
    // Requests that arrive together share a round; the pool never holds more than its cap.
    const opened = new Set(bankLog.flatMap((l) => /scoring session (score\/model\/[\w-]+): open/.exec(l)?.[1] ?? []));
    expect(opened.size).toBeGreaterThanOrEqual(1);
    expect(opened.size).toBeLessThanOrEqual(4);
  });

  it('closes the sessions an agency restart broke, and the next requests succeed on new ones', async () => {
    const bank = services.get('bank')!;
    const [name, file] = AGENCIES[1];
    const port = services.get(name)!.tlsPort;
    const openBefore = new Set(bankLog.flatMap((l) => /scoring session (score\/model\/[\w-]+): open/.exec(l)?.[1] ?? []));
    await within(120, `stopping ${name}`, services.get(name)!.close());
    services.set(name, await startPartyService(agencyConfig(name, file, port), logTo(`${name} (restarted)`)));
    // No pause: a round sent on a session whose connection the restart ended, before the bank
    // has seen it end, goes once more on a new session instead of failing its requests.
    const again = await within(180, 'scoring after the restart', Promise.all(idSets.slice(0, 8).map((ids) => bank.score('model', ids, { decoys: 2 }))));
    again.forEach((got, i) => expectSameAnswers(got, alone[i]!));
    // Every session that was open before the restart was closed and left the pool.
    const closed = new Set(bankLog.flatMap((l) => /scoring session (score\/model\/[\w-]+): closed \(/.exec(l)?.[1] ?? []));
    expect(openBefore.size).toBeGreaterThan(0);
    for (const id of openBefore) expect(closed).toContain(id);
  });

  it('answers a request while an agency is down with the reason after one more try, and scores again once it is back', async () => {
    const bank = services.get('bank')!;
    const [name, file] = AGENCIES[1];
    const port = services.get(name)!.tlsPort;
    await within(120, `stopping ${name}`, services.get(name)!.close());
    const failuresBefore = bankLog.filter((l) => /: closed \(could not open: /.test(l)).length;
    const down = await within(180, 'a request while the agency is down', bank.score('model', idSets[1]!, { decoys: 2 }).then(() => 'answered', (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`));
    expect(down).toMatch(/^E_CHANNEL_CLOSED: .*connection refused/);
    // Two sessions were tried for it (the second after the first could not reach the agency), not one and not forever.
    expect(bankLog.filter((l) => /: closed \(could not open: /.test(l)).length - failuresBefore).toBe(2);
    services.set(name, await startPartyService(agencyConfig(name, file, port), logTo(`${name} (back)`)));
    const back = await within(180, 'scoring once the agency is back', bank.score('model', idSets[1]!, { decoys: 2 }));
    expectSameAnswers(back, alone[1]!);
  });
});
