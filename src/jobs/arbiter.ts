/**
 * (Arbiter) The platform's part in a job the label party opened: it waits for every party
 * the job names, then holds the CKKS secret key for them (src/lr/roles/arbiter.ts) with the
 * parameters of the job's kind. It reads no table and writes no output.
 */
import type { ArbiterReport } from '../lr/roles/arbiter.ts';
import { runArbiter } from '../lr/roles/arbiter.ts';
import { heParamsFor } from '../lr/protocol.ts';
import type { Channel } from '../protocol/channel.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { message } from '../protocol/messages.ts';
import type { PartyJobContext } from './context.ts';
import type { JobSpec } from './spec.ts';

export async function arbitrate(ctx: PartyJobContext, label: Channel, spec: JobSpec): Promise<ArbiterReport> {
  const channels: Channel[] = [label];
  await abortingPeersOnFailure(channels, async () => {
    for (const party of spec.parties.slice(1)) channels.push(await ctx.connect(party, spec.jobId));
    await label.send(message('job.accept', {}));
  });
  // Scoring sums degree-1 partial scores: the training sigmoid plays no part.
  const params = heParamsFor(spec.kind === 'scoring' ? { ...spec.config, sigmoid: 'taylor1' } : spec.config);
  const report = await runArbiter({ backend: ctx.heBackendFor(spec.config.he), params, parties: channels });
  await ctx.governance?.audit?.append('arbiter.run', { job: spec.jobId, kind: spec.kind, parties: [...spec.parties], decryptions: report.decryptions });
  return report;
}
