/**
 * (Agency side) Each partner's daily budget for interface calls and verification: the
 * answers a partner may get per UTC day across all its sessions and calls, as its policy
 * entry's `evaluationsPerDay` says. An answer is one OPRF evaluation in verify and blind
 * mode (what the agency computes, and the most it can count: it never sees the inputs),
 * one enterprise asked in identified mode.
 *
 * Why: the per-call limit (MAX_EVALUATIONS_PER_CALL) bounds one call, not a partner over
 * time, and a bank that spreads a sweep of a field over many calls (a verdict per guessed
 * value, test/attacks/verify-band-sweep.test.ts) would otherwise be bounded by the audit
 * log alone, after the fact. With a budget of B a day, it tests at most B guesses a day.
 *
 * The service keeps one ledger for all its sessions (party-service.ts passes it in the job
 * context, as `governance.budgets`); the lookup runner (jobs/lookup.ts) charges each batch,
 * or identified request, before it is evaluated, and refuses the one that would cross the
 * budget (`partner.daily-budget`, with the seconds until the next 00:00 UTC). Checking and
 * charging are one synchronous step, so concurrent sessions of one partner cannot both pass
 * on the same remainder.
 *
 * Surviving a restart: the ledger is rebuilt from the agency's audit log (`fromAuditLog`),
 * not kept in the service's store. That is sound because the runner appends each answer's
 * entry (`verify.answered`, `lookup.session`, `psi.answered`: partner and evaluations; `lookup.answered`:
 * partner and enterprises queried) and waits for it to be synced before the answer leaves:
 * every answer given is in the log, so the rebuilt count is never lower than the truth (a
 * crash between the entry and the answer over-counts by that batch, in the agency's
 * favour). A count in the store would need a second synced write per batch to be as sound,
 * and could disagree with the log an auditor reads; the log is also verified when the
 * service opens it, so a rebuilt count rests on a chain that checks. Without an audit log
 * there is nothing to rebuild from: a service refuses to start with a budget and no log.
 *
 * The day is the ledger's clock's UTC day; entries count toward the UTC day of their own
 * timestamp (an answer that straddles midnight counts toward the day its entry names).
 */
import { errors } from '../errors.ts';
import { readAuditEntries, type AuditEntry } from './audit.ts';
import type { DataHolderPolicy, PartnerRule } from './policy.ts';

/** The partner's budget admits the charge, or the refusal to throw (already worded). */
export type BudgetCharge = { readonly ok: true } | { readonly ok: false; readonly refusal: ReturnType<typeof errors.policyRefused<'partner.daily-budget'>>; readonly budget: number; readonly spent: number };

const DAY_MS = 86_400_000;

export class PartnerBudgets {
  readonly #policy: DataHolderPolicy;
  readonly #clock: () => Date;
  #day: string;
  /** Answers given today, by the partner's name in the policy (its explicit id, else its key id). */
  readonly #spent = new Map<string, number>();

  constructor(policy: DataHolderPolicy, clock: () => Date = () => new Date()) {
    this.#policy = policy;
    this.#clock = clock;
    this.#day = dayOf(clock());
  }

  /** A ledger holding today's answers as the audit log at `file` records them (see above for why that is sound). */
  static async fromAuditLog(policy: DataHolderPolicy, file: string, clock: () => Date = () => new Date()): Promise<PartnerBudgets> {
    const budgets = new PartnerBudgets(policy, clock);
    for (const { entry } of await readAuditEntries(file)) {
      if (entry === undefined || entry.time.slice(0, 10) !== budgets.#day) continue;
      const answered = answersOf(entry);
      if (answered) budgets.#add(answered.partner, answered.count);
    }
    return budgets;
  }

  /** Whether any partner has a daily budget (a service needs its audit log then). */
  static anyIn(policy: DataHolderPolicy): boolean {
    return policy.partners.some((p) => p.evaluationsPerDay !== undefined);
  }

  /** Answers `partner` has had today. */
  spent(partner: string): number {
    this.#rollOver();
    const rule = this.#ruleOf(partner);
    return rule ? (this.#spent.get(nameOf(rule)) ?? 0) : 0;
  }

  /**
   * Charges `count` answers to `partner` if its budget admits them, else leaves the ledger as
   * it was and says why (`count` 0 asks whether anything at all is left, as a session's
   * opening does). A partner without a budget is always admitted (and counted).
   */
  charge(partner: string, count: number, what: string): BudgetCharge {
    if (!Number.isInteger(count) || count < 0) throw errors.optionInvalid('count', `answers to charge must be a whole number ≥ 0, not ${count}`);
    this.#rollOver();
    const rule = this.#ruleOf(partner);
    if (rule === undefined) return { ok: true };
    const name = nameOf(rule);
    const spent = this.#spent.get(name) ?? 0;
    const budget = rule.evaluationsPerDay;
    if (budget !== undefined && (spent + count > budget || (count === 0 && spent >= budget))) {
      const now = this.#clock();
      const retry = Math.max(1, Math.ceil((Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + DAY_MS - now.getTime()) / 1000));
      const refusal = errors.policyRefused('partner.daily-budget', `partner ${name} has had ${spent} of its ${budget} evaluations today (${this.#day} UTC); ${what} would take ${count === 0 ? 'more' : `${count} more`}`, retry);
      return { ok: false, refusal, budget, spent };
    }
    this.#spent.set(name, spent + count);
    return { ok: true };
  }

  #add(partner: string, count: number): void {
    const rule = this.#ruleOf(partner);
    if (rule === undefined) return;
    const name = nameOf(rule);
    this.#spent.set(name, (this.#spent.get(name) ?? 0) + count);
  }

  #rollOver(): void {
    const today = dayOf(this.#clock());
    if (today === this.#day) return;
    this.#day = today;
    this.#spent.clear();
  }

  #ruleOf(partner: string): PartnerRule | undefined {
    return this.#policy.partners.find((p) => p.id === partner || p.keyId === partner);
  }
}

function nameOf(rule: PartnerRule): string {
  return rule.id ?? rule.keyId;
}

function dayOf(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** The answers an audit entry records as given to a partner: evaluations (verify, blind), enterprises queried (identified). */
function answersOf(entry: AuditEntry): { partner: string; count: number } | undefined {
  const { partner, evaluations, queried } = entry.details as { partner?: unknown; evaluations?: unknown; queried?: unknown };
  if (typeof partner !== 'string') return undefined;
  const count = entry.type === 'verify.answered' || entry.type === 'lookup.session' || entry.type === 'psi.answered' ? evaluations : entry.type === 'lookup.answered' ? queried : undefined;
  return typeof count === 'number' && Number.isInteger(count) && count > 0 ? { partner, count } : undefined;
}
