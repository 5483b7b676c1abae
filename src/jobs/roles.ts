/**
 * (Every party, before it acts on a job) Each party of a job must hold the role this
 * party's host binds to it: a service binds its partners' roles in its config
 * (`partners:`), so a peer with a valid certificate cannot open a job as the bank, or name
 * itself (or any other data party) as the arbiter that holds the job's secret key.
 *
 * Rules, by stable id (what the refusal and the audit entry name):
 * - `role.arbiter-is-data-party`: the arbiter is the label or a feature party of the job;
 *   it would decrypt what it also sees encrypted (an agency's partial scores, say).
 * - `role.label-not-bound`: the party that opened the job is not bound as this party's
 *   label partner (its bank).
 * - `role.arbiter-not-bound`: the arbiter is not bound as this party's arbiter.
 * - `role.party-not-agency`: a feature party of the job is bound to another role.
 *
 * A refusal is audited (`job.refused` with the rule) before it is thrown, and reaches the
 * opener as E_ROLE_REFUSED with the rule (this party's configuration, never its data). A
 * host that binds no roles (`roleOf` absent: the in-process host runs every party from
 * one job definition) is held to the first rule only.
 */
import { errors } from '../errors.ts';
import type { PartyJobContext } from './context.ts';

export type RoleRule = 'role.arbiter-is-data-party' | 'role.label-not-bound' | 'role.arbiter-not-bound' | 'role.party-not-agency';

export interface JobRoles {
  readonly jobId: string;
  readonly kind: string;
  /** The label party (the opener, for a partner). */
  readonly label: string;
  readonly features: readonly string[];
  readonly arbiter: string;
}

/** The first rule `job` breaks as `ctx` sees it, or undefined. */
export function roleRefusal(ctx: Pick<PartyJobContext, 'name' | 'role' | 'roleOf'>, job: JobRoles): { rule: RoleRule; why: string; hint: string } | undefined {
  if (job.arbiter === job.label || job.features.includes(job.arbiter)) {
    return { rule: 'role.arbiter-is-data-party', why: `${kindOf(job)} names ${job.arbiter} as its arbiter and as a data party`, hint: 'name a platform that holds no data of the job as its arbiter' };
  }
  const roleOf = ctx.roleOf;
  if (!roleOf) return undefined;
  const bound = (party: string) => roleOf(party) ?? 'no role';
  const config = `${ctx.name}'s partners: in its config`;
  if (ctx.role !== 'label' && roleOf(job.label) !== 'label') {
    return { rule: 'role.label-not-bound', why: `${job.label} opened ${kindOf(job)} as its bank, but ${ctx.name} binds ${job.label} to ${bound(job.label)}`, hint: `only a partner written ${job.label}: { role: label } under ${config} may open jobs with it` };
  }
  if (ctx.role === 'features' && roleOf(job.arbiter) !== 'arbiter') {
    return { rule: 'role.arbiter-not-bound', why: `${kindOf(job)} names ${job.arbiter} as its arbiter, but ${ctx.name} binds ${job.arbiter} to ${bound(job.arbiter)}`, hint: `name the platform ${ctx.name} binds as arbiter under ${config}` };
  }
  if (ctx.role === 'label' && roleOf(job.arbiter) !== undefined && roleOf(job.arbiter) !== 'arbiter') {
    return { rule: 'role.arbiter-not-bound', why: `${kindOf(job)} names ${job.arbiter} as its arbiter, but ${ctx.name} binds ${job.arbiter} to ${bound(job.arbiter)}`, hint: `name a partner bound as arbiter under ${config}` };
  }
  const other = job.features.find((p) => p !== ctx.name && roleOf(p) !== undefined && roleOf(p) !== 'features');
  if (other !== undefined) {
    return { rule: 'role.party-not-agency', why: `${kindOf(job)} names ${other} as an agency, but ${ctx.name} binds ${other} to ${bound(other)}`, hint: 'name agencies only as feature parties' };
  }
  return undefined;
}

/** Refuses `job` (audited first) if it breaks a rule of `roleRefusal`. */
export async function refuseUnboundRoles(ctx: PartyJobContext, job: JobRoles): Promise<void> {
  const refusal = roleRefusal(ctx, job);
  if (!refusal) return;
  await ctx.governance?.audit?.append('job.refused', { job: job.jobId, kind: job.kind, partner: ctx.role === 'label' ? job.arbiter : job.label, rule: refusal.rule });
  throw errors.roleRefused(refusal.rule, refusal.why, refusal.hint);
}

function kindOf(job: JobRoles): string {
  return `${job.kind === 'scoring' ? 'scoring session' : 'job'} ${job.jobId}`;
}
