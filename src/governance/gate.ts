/**
 * (Each party, before any protocol message about data) The admission gate of a job or a
 * scoring session: the party's policy must admit every partner for the declared purpose
 * and the fields the job uses, an operator must have approved it where the policy says so,
 * and — where the purpose needs consent — only enterprises whose valid consent token covers
 * the job (its purpose, its fields and every institution taking part) stay in the party's
 * table. Every decision is appended to the party's audit log,
 * and the append is durable before the job proceeds.
 *
 * What partners learn: a refusal reaches them as an error code only (E_POLICY_REFUSED); the
 * rule that refused and the consent counts stay in the data holder's own log. Excluded
 * enterprises are simply absent from the PSI, so partners cannot tell which were excluded.
 */
import { errors } from '../errors.ts';
import type { FeatureTable } from '../data/table.ts';
import type { AuditLog } from './audit.ts';
import type { PartnerBudgets } from './budget.ts';
import { filterByConsent } from './consent.ts';
import type { PublicKeyRecord } from './keys.ts';
import { checkJob, type DataHolderPolicy } from './policy.ts';

export interface ConsentSource {
  readonly tokens: readonly unknown[];
  readonly trustedIssuers: readonly PublicKeyRecord[];
  readonly revoked: ReadonlySet<string>;
  /** The time consent is judged at (default: now). */
  readonly now?: Date;
}

export interface PartyGovernance {
  /** The institution this party is, as its partners' policies name it (explicit id or key id). */
  readonly institution: string;
  readonly policy?: DataHolderPolicy;
  readonly consent?: ConsentSource;
  readonly audit?: AuditLog;
  /**
   * (Agency) Its partners' daily budgets for interface calls and verification, one ledger for
   * all sessions (budget.ts); a party service builds it from its audit log. Absent: per-call limits only.
   */
  readonly budgets?: PartnerBudgets;
  /** An operator approved this job in advance (a job file's one-off approval). */
  readonly approved?: boolean;
  /**
   * Asks this party's operator to decide on job `request.jobId` (a party service's per-job
   * approval): resolves with the approving operator, rejects when the job is rejected, the
   * wait times out or the job ends first. Asked only where the policy requires approval and
   * `approved` is not set.
   */
  readonly approval?: (request: ApprovalRequest) => Promise<OperatorDecision>;
}

/** What a job asks a party's operator to approve. */
export interface ApprovalRequest {
  readonly jobId: string;
  readonly purpose: string;
  readonly partners: readonly string[];
  readonly fields: readonly string[];
  /** The party's rows the job would use, after consent filtering (none for the arbiter). */
  readonly rows?: number;
}

export interface OperatorDecision {
  readonly operator: string;
  readonly reason?: string;
}

export interface GateRequest {
  readonly jobId: string;
  readonly purpose: string;
  /** The institutions this party will exchange data-derived messages with in the job: its policy must admit each. */
  readonly partners: readonly string[];
  /**
   * Every other institution that takes part in the job (default: `partners`): an
   * enterprise's consent token must authorise each one. An agency exchanges messages with
   * the bank only, but the other agencies take part in the same alignment and model.
   */
  readonly participants?: readonly string[];
  /** The party's own fields the job uses. */
  readonly fields: readonly string[];
  /** Called before the gate waits for the operator's approval (the runner tells its peers why it is silent). */
  readonly onAwaitingApproval?: () => Promise<void>;
}

export interface GateResult {
  readonly table: FeatureTable;
  readonly excluded: number;
  /**
   * The policy lets every partner see scores that reveal this party's partial score
   * (scoring an enterprise only it holds); false without a policy.
   */
  readonly disclosePartialScores: boolean;
}

export async function admitJob(governance: PartyGovernance, table: FeatureTable, request: GateRequest): Promise<GateResult> {
  const { policy, audit } = governance;
  let consentRequired = false;
  let approvalRequired = false;
  let disclosePartialScores = policy !== undefined;
  if (policy) {
    for (const partner of request.partners) {
      const decision = checkJob(policy, { partner, purpose: request.purpose, fields: request.fields });
      if (!decision.admitted) {
        await audit?.append('job.refused', { job: request.jobId, partner, purpose: request.purpose, rule: decision.refusal.rule });
        throw decision.refusal;
      }
      if (decision.approvalRequired && !governance.approved && !governance.approval) {
        await audit?.append('job.refused', { job: request.jobId, partner, purpose: request.purpose, rule: 'approval.pending' });
        throw errors.policyRefused('approval.pending', `${policy.party} requires an operator's approval for ${request.purpose} before job ${request.jobId} runs`);
      }
      approvalRequired ||= decision.approvalRequired;
      consentRequired ||= decision.consentRequired;
      disclosePartialScores &&= decision.disclosePartialScores;
    }
  }
  if (consentRequired && !governance.consent) {
    await audit?.append('job.refused', { job: request.jobId, partners: [...request.partners], purpose: request.purpose, rule: 'consent.missing' });
    throw errors.policyRefused('consent.missing', `${policy!.party} requires consent for ${request.purpose}, but no consent tokens were given`);
  }
  const consent = governance.consent;
  const filter =
    consentRequired && consent
      ? filterByConsent(table.ids, consent.tokens, {
          trustedIssuers: consent.trustedIssuers,
          now: consent.now ?? new Date(),
          partners: request.participants ?? request.partners,
          purpose: request.purpose,
          fields: request.fields,
          revoked: consent.revoked,
        })
      : undefined;
  // The operator decides on what the job would use; nothing leaves the party before.
  let approvedBy: string | undefined;
  if (approvalRequired && !governance.approved) {
    await request.onAwaitingApproval?.();
    const decision = await governance.approval!({ jobId: request.jobId, purpose: request.purpose, partners: [...request.partners], fields: [...request.fields], rows: filter ? filter.included.length : table.rowCount });
    approvedBy = decision.operator;
  }
  await audit?.append('job.admitted', {
    job: request.jobId,
    partners: [...request.partners],
    purpose: request.purpose,
    fields: [...request.fields],
    policy: policy ? policy.file : null,
    approved: governance.approved === true || approvedBy !== undefined,
    ...(approvedBy === undefined ? {} : { approvedBy }),
  });
  if (!filter) return { table, excluded: 0, disclosePartialScores };
  await audit?.append('consent.filtered', { job: request.jobId, included: filter.included.length, excluded: filter.excluded, byReason: { ...filter.excludedByReason } });
  return { table: subsetTable(table, Uint32Array.from(filter.included)), excluded: filter.excluded, disclosePartialScores };
}

/**
 * (Arbiter) The platform reads no table and exchanges no field: its policy decides only
 * whether its operator must approve each job of the purpose before the platform takes part.
 */
export async function admitAsArbiter(governance: PartyGovernance, request: { readonly jobId: string; readonly purpose: string; readonly partners: readonly string[]; readonly onAwaitingApproval?: () => Promise<void> }): Promise<void> {
  const { policy, audit } = governance;
  if (!policy?.purposes.get(request.purpose)?.approvalRequired || governance.approved) return;
  if (!governance.approval) {
    await audit?.append('job.refused', { job: request.jobId, partners: [...request.partners], purpose: request.purpose, rule: 'approval.pending' });
    throw errors.policyRefused('approval.pending', `${policy.party} requires an operator's approval for ${request.purpose} before job ${request.jobId} runs`);
  }
  await request.onAwaitingApproval?.();
  const decision = await governance.approval({ jobId: request.jobId, purpose: request.purpose, partners: [...request.partners], fields: [] });
  await audit?.append('job.admitted', { job: request.jobId, partners: [...request.partners], purpose: request.purpose, fields: [], policy: policy.file, approved: true, approvedBy: decision.operator });
}

/** The rows `rows` of a table, as a table of their own. */
export function subsetTable(table: FeatureTable, rows: Uint32Array): FeatureTable {
  const width = table.featureNames.length;
  const values = new Float64Array(rows.length * width);
  rows.forEach((r, i) => values.set(table.values.subarray(r * width, (r + 1) * width), i * width));
  return {
    ...table,
    ids: Array.from(rows, (r) => table.ids[r]!),
    lines: Uint32Array.from(rows, (r) => table.lines[r]!),
    idColumns: table.idColumns && Uint32Array.from(rows, (r) => table.idColumns![r]!),
    values,
    labels: table.labels ? Uint8Array.from(rows, (r) => table.labels![r]!) : undefined,
    rowCount: rows.length,
  };
}
