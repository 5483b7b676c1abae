/**
 * (Features, arbiter) What a partner does when the label party opens a job with it: checks
 * the job's spec, that the label who sent it is the party it names first and that every
 * party holds the role this party binds to it (roles.ts), and runs its role's runner for
 * the job's kind.
 */
import { errors } from '../errors.ts';
import type { ArbiterReport } from '../lr/roles/arbiter.ts';
import type { Channel } from '../protocol/channel.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import type { AgencyScoringReport } from '../score/agency.ts';
import { arbitrate } from './arbiter.ts';
import { binAsFeatures, type FeaturesBinningResult } from './binning.ts';
import type { PartyJobContext } from './context.ts';
import { refuseUnboundRoles } from './roles.ts';
import { serveScoringAsAgency } from './scoring.ts';
import { receiveJobSpec, type JobSpec } from './spec.ts';
import { trainAsFeatures, type FeaturesJobResult } from './training.ts';

export type PartnerOutcome =
  | { readonly role: 'features'; readonly kind: 'training'; readonly spec: JobSpec; readonly result: FeaturesJobResult }
  | { readonly role: 'features'; readonly kind: 'scoring'; readonly spec: JobSpec; readonly report: AgencyScoringReport }
  | { readonly role: 'features'; readonly kind: 'binning'; readonly spec: JobSpec; readonly result: FeaturesBinningResult }
  | { readonly role: 'arbiter'; readonly spec: JobSpec; readonly report: ArbiterReport };

export interface PartnerOptions {
  /** Called once the spec is checked, before the job's work (hosts record the job). */
  readonly onSpec?: (spec: JobSpec) => void | Promise<void>;
  /** Scoring: this agency's partial scores of its previous monitoring run. */
  readonly previousMonitoring?: Float64Array;
  /** Scoring, for an ungoverned agency: may scores that reveal its partial score be answered (its policy decides otherwise). */
  readonly disclosePartialScores?: boolean;
}

export async function joinJob(ctx: PartyJobContext, label: Channel, options: PartnerOptions = {}): Promise<PartnerOutcome> {
  const spec = await abortingPeersOnFailure([label], async () => {
    const spec = await receiveJobSpec(label);
    if (spec.parties[0] !== label.peer) throw errors.protocol(`${label.peer} opened job ${spec.jobId} naming ${spec.parties[0]} as its label party`);
    await refuseUnboundRoles(ctx, { jobId: spec.jobId, kind: spec.kind, label: label.peer, features: spec.parties.slice(1), arbiter: spec.arbiter });
    const named = ctx.role === 'arbiter' ? spec.arbiter === ctx.name && !spec.parties.includes(ctx.name) : spec.parties.slice(1).includes(ctx.name) && spec.arbiter !== ctx.name;
    if (!named) {
      throw errors.protocol(`job ${spec.jobId} does not name ${ctx.name} as its ${ctx.role === 'arbiter' ? 'arbiter' : 'feature party'}`);
    }
    if (ctx.role === 'label') throw errors.protocol(`${label.peer} opened job ${spec.jobId} with ${ctx.name}, which is a label party`);
    await options.onSpec?.(spec);
    return spec;
  });
  if (ctx.role === 'arbiter') return { role: 'arbiter', spec, report: await arbitrate(ctx, label, spec) };
  if (spec.kind === 'training') return { role: 'features', kind: 'training', spec, result: await trainAsFeatures(ctx, label, spec) };
  if (spec.kind === 'binning') return { role: 'features', kind: 'binning', spec, result: await binAsFeatures(ctx, label, spec) };
  return { role: 'features', kind: 'scoring', spec, report: await serveScoringAsAgency(ctx, label, spec, options) };
}
