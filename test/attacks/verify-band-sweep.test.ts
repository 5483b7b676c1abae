/**
 * Attack: sweeping the bands of a field (the bank's view). Verification answers one bit per
 * claim, but the bank chooses the claims: for one enterprise it claims a value at the centre
 * of every band of every grid over a field's plausible range (such a claim is evaluated on
 * that band's key and is consistent exactly when the register's value lies in the band), or
 * every integer of an exact field, and reads the register's value off the verdicts. No protocol tells a declared value from
 * an invented one; the README's bound is the agency's evaluation limit and its audit log.
 *
 * Its view: the agency's prepared tag file, its own claims file and the verdicts (the
 * OPRF answers), through the real `runPreparedVerification` (`verify --prepared`).
 * Success measure: targets whose VAT cell (the intersection of the consistent bands, of
 * log-width W/4 = (2/3)·ln 1.1) and exact staff count the bank recovers.
 *
 * Positive control: no `--max-evaluations` — every target is recovered. Real protocol with
 * `--max-evaluations` set to what the bank's declared claims need: the sweep is refused
 * before a single key is evaluated; a bank that stays within L evaluations per session
 * learns whether the value is among the ≤ L keys it tried, so over a uniform range of V
 * values it recovers a target with probability at most L / V per session. Through the
 * party services the limit is per call (`MAX_EVALUATIONS_PER_CALL`, 200,000): one call sweeps
 * a field of a few enterprises, and a sweep spread over many small calls and sessions is
 * not stopped by any per-call limit. Where the agency's policy gives the partner a daily
 * budget (`evaluationsPerDay`, src/governance/budget.ts), the same spread sweep is refused
 * (rule partner.daily-budget) once the day's budget is spent: the bank recovers what B
 * guesses a day give, no more. Without the budget (positive control) the spread sweep
 * recovers every target, as it did before budgets existed, and only the audit log bounds it.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVALUATIONS_PER_CALL } from '../../src/jobs/lookup.ts';
import { AuditLog } from '../../src/governance/audit.ts';
import { PartnerBudgets } from '../../src/governance/budget.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { gridWidth, GRIDS } from '../../src/lookup/bands.ts';
import { parseFieldCheck, prepareVerification, runPreparedVerification } from '../../src/lookup/verify.ts';
import { uscc } from '../helpers/ids.ts';
import { openSession, taxPolicy, type Register } from './lookup-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-sweep-'));
const N = 200;
const STAFF_VALUES = 500;
const ids = Array.from({ length: N }, (_, i) => uscc(61_000 + i));
// VAT log-uniform in [10, 1e4) wan, staff uniform in 0..499: the bank knows the ranges only.
const [LOW, HIGH] = [Math.log(10), Math.log(1e4)];
const vat = ids.map((_, i) => Math.exp(LOW + (HIGH - LOW) * ((i * 0.6180339887) % 1)));
const staff = ids.map((_, i) => (i * 7919 + 13) % STAFF_VALUES);
const TOLERANCE = 0.1;
const W = gridWidth(TOLERANCE);
const tags = join(dir, 'verify.tags');
const keyDir = join(dir, 'key');

beforeAll(async () => {
  const register = join(dir, 'register.csv');
  writeFileSync(register, 'uscc,vat,staff\n' + ids.map((id, i) => `${id},${vat[i]},${staff[i]}`).join('\n') + '\n');
  await prepareVerification({ register: { file: register, idColumn: 'uscc' }, checks: [parseFieldCheck(`vat:tol=${TOLERANCE}`), parseFieldCheck('staff')], keyDir, backend: 'x25519', out: tags, threads: 0 });
}, 60_000);

/** ln of every band centre of every grid over the range: centre n is that of band ⌊n/K⌋ of grid n mod K, W/K apart. */
const centres: number[] = [];
for (let n = Math.floor((LOW / W - 1) * GRIDS); n <= Math.ceil((HIGH / W + 1) * GRIDS); n++) centres.push((n / GRIDS + 0.5) * W);

/**
 * (Bank) A claims file that sweeps every VAT band centre (unless `withVat` is false) and every staff
 * count of `targets`, one row per guess. Every row takes the same keys, an empty cell padding
 * keys, so a staff-only sweep leaves the VAT rows out: they would cost evaluations and test nothing.
 */
function sweepFile(targets: readonly number[], staffGuesses: (target: number) => readonly number[] = () => Array.from({ length: STAFF_VALUES }, (_, s) => s), withVat = true): string {
  const rows = targets.flatMap((t) => [...(withVat ? centres.map((x) => `${ids[t]},${Math.exp(x)},`) : []), ...staffGuesses(t).map((s) => `${ids[t]},,${s}`)]);
  const file = join(dir, `claims-${Math.random().toString(36).slice(2)}.csv`);
  writeFileSync(file, 'uscc,vat,staff\n' + rows.join('\n') + '\n');
  return file;
}

/** (Bank) What the verdicts give away: per target, the VAT cell as an interval of ln(value) (the consistent bands' intersection, if any) and the staff count (if hit). */
function readSweep(verdicts: readonly { id: string; field: string; consistent: boolean }[], targets: readonly number[]) {
  return targets.map((t) => {
    const mine = verdicts.filter((v) => v.id === ids[t]);
    const vatHits = mine.filter((v) => v.field === 'vat').flatMap((v, j) => (v.consistent ? [centres[j]!] : []));
    const staffRows = mine.filter((v) => v.field === 'staff');
    const vatCell = vatHits.length === GRIDS ? ([Math.max(...vatHits) - W / 2, Math.min(...vatHits) + W / 2] as const) : undefined;
    return { vatCell, staffHit: staffRows.findIndex((v) => v.consistent), staffRows };
  });
}

describe('attack: sweeping the bands of a field', () => {
  const targets = [0, 17, 42, 99, 150];

  it('positive control: with no evaluation limit, the sweep recovers every VAT cell and every staff count', async () => {
    const r = await runPreparedVerification({ claims: { file: sweepFile(targets), idColumn: 'uscc' }, prepared: tags, keyDir, threads: 0 });
    const found = readSweep(r.verdicts, targets);
    targets.forEach((t, k) => {
      const cell = found[k]!.vatCell;
      expect(cell, `VAT cell of target ${t}`).toBeDefined();
      expect(cell![1] - cell![0]).toBeCloseTo(W / GRIDS, 12);
      expect(Math.log(vat[t]!)).toBeGreaterThanOrEqual(cell![0]);
      expect(Math.log(vat[t]!)).toBeLessThan(cell![1]);
      expect(found[k]!.staffHit).toBe(staff[t]);
    });
  }, 60_000);

  it('with --max-evaluations at what the declared claims need, the sweep is refused before any key is evaluated, and nothing is logged as answered', async () => {
    // The bank's declared business: one row per target, a VAT and a staff claim (one key each).
    const declared = targets.length * 2;
    const auditDir = mkdtempSync(join(dir, 'audit-'));
    const audit = await AuditLog.open(join(auditDir, 'agency.jsonl'), { party: 'tax-bureau', key: generateKeyPair() });
    await expect(runPreparedVerification({ claims: { file: sweepFile(targets), idColumn: 'uscc' }, prepared: tags, keyDir, threads: 0, maxEvaluations: declared, agencyAudit: audit })).rejects.toThrow(
      new RegExp(`more than the ${declared} evaluations`),
    );
    // The first batch alone is over the limit: no answer left the agency, so no entry either.
    const log = existsSync(join(auditDir, 'agency.jsonl')) ? readFileSync(join(auditDir, 'agency.jsonl'), 'utf8') : '';
    expect(log).not.toMatch(/verify\.answered/);
  }, 60_000);

  it('within L evaluations per session, a bank recovers a staff count no more often than L / (values in the range)', async () => {
    const L = 50;
    const attacked = Array.from({ length: 40 }, (_, i) => i * 5);
    let recovered = 0;
    for (const t of attacked) {
      // Its best use of the budget: L distinct guesses (the prior is uniform, so any L do as well).
      const r = await runPreparedVerification({ claims: { file: sweepFile([t], () => Array.from({ length: L }, (_, s) => (s * 37 + t) % STAFF_VALUES), false), idColumn: 'uscc' }, prepared: tags, keyDir, threads: 0, maxEvaluations: L, checks: [parseFieldCheck('staff')] });
      expect(r.evaluations).toBeLessThanOrEqual(L);
      if (r.verdicts.some((v) => v.consistent)) recovered++;
    }
    // Binomial(40, L/500 = 0.1): mean 4, standard deviation 1.9; the bound is mean + 4σ.
    expect(recovered).toBeLessThanOrEqual(12);
    expect(recovered).toBeGreaterThan(0);
  }, 60_000);

  it('through the party services the limit is per call: one call sweeps the staff count of several enterprises', async () => {
    const register: Register = { ids, fields: { vat_paid_wan: vat, staff, registered_capital_wan: vat } };
    const { session, served } = await openSession(register, await taxPolicy(0.25), 'verify', [{ field: 'staff', tolerance: undefined }]);
    const swept = targets.slice(0, 3);
    const claims = swept.flatMap((t) => Array.from({ length: STAFF_VALUES }, (_, s) => ({ id: ids[t]!, field: 'staff', value: s })));
    expect(claims.length).toBeLessThan(MAX_EVALUATIONS_PER_CALL);
    const verdicts = await session.verify(claims);
    swept.forEach((t, k) => expect(verdicts.slice(k * STAFF_VALUES, (k + 1) * STAFF_VALUES).indexOf(true)).toBe(staff[t]));
    await session.close();
    expect(await served).toMatchObject({ calls: 1, evaluations: claims.length });
  }, 60_000);

  it('a sweep spread over many calls and sessions: recovered with no daily budget, stopped by the daily budget', async () => {
    const register: Register = { ids, fields: { vat_paid_wan: vat, staff, registered_capital_wan: vat } };
    const swept = targets.slice(0, 3);
    const GUESSES_PER_CALL = 25;
    const CALLS_PER_SESSION = 5;
    /** One target's staff count, 25 guesses a call, a new session every 5 calls; stops at the first refusal. */
    const sweep = async (policy: Awaited<ReturnType<typeof taxPolicy>>, budgets: PartnerBudgets | undefined) => {
      const found: (number | undefined)[] = [];
      let answered = 0;
      let refusal: unknown;
      for (const t of swept) {
        let hit: number | undefined;
        for (let from = 0; from < STAFF_VALUES && hit === undefined && refusal === undefined; from += GUESSES_PER_CALL * CALLS_PER_SESSION) {
          let opened;
          try {
            opened = await openSession(register, policy, 'verify', [{ field: 'staff', tolerance: undefined }], budgets ? { budgets } : {});
          } catch (e) {
            refusal = e;
            break;
          }
          for (let c = 0; c < CALLS_PER_SESSION && hit === undefined; c++) {
            const guesses = Array.from({ length: GUESSES_PER_CALL }, (_, g) => from + c * GUESSES_PER_CALL + g);
            try {
              const verdicts = await opened.session.verify(guesses.map((value) => ({ id: ids[t]!, field: 'staff', value })));
              answered += guesses.length;
              const k = verdicts.indexOf(true);
              if (k >= 0) hit = guesses[k];
            } catch (e) {
              refusal = e;
              break;
            }
          }
          await opened.session.close();
          await opened.served.catch(() => {});
        }
        found.push(hit);
      }
      return { found, answered, refusal };
    };

    // Positive control, as before budgets: no call is large, and every target's staff count is read off.
    const free = await sweep(await taxPolicy(0.25), undefined);
    expect(free.refusal).toBeUndefined();
    expect(free.found).toEqual(swept.map((t) => staff[t]));

    // A daily budget of 100 evaluations: the sweep is refused once it has had 100 answers, in this session or a new one.
    const BUDGET = 100;
    const policy = await taxPolicy(0.25, BUDGET);
    const budgets = new PartnerBudgets(policy);
    const capped = await sweep(policy, budgets);
    expect(capped.refusal).toMatchObject({ code: 'E_POLICY_REFUSED' });
    expect((capped.refusal as Error).message).toContain('partner.daily-budget');
    // What it learned is what 100 guesses give: target 0's count (13) in its first call (25
    // answers), then three calls on target 17 (136) reach 100, and the fourth is refused.
    expect(swept.map((t) => staff[t])).toEqual([13, 136, 111]);
    expect(capped.answered).toBe(BUDGET);
    expect(budgets.spent('bank')).toBe(BUDGET);
    expect(capped.found).toEqual([13, undefined, undefined]);
    // A new session the same day is refused as it opens, before the agency prepares its tags.
    await expect(openSession(register, policy, 'verify', [{ field: 'staff', tolerance: undefined }], { budgets })).rejects.toThrow(/partner\.daily-budget/);
  }, 120_000);
});
