/**
 * (Arbiter) The platform's part in a job the label party opened: it waits for every party
 * the job names (once its operator approved the job, where its policy asks for that), then holds the CKKS secret key for them (src/lr/roles/arbiter.ts) with the
 * parameters of the job's kind. It reads no table and writes no output.
 */
import { admitAsArbiter } from '../governance/gate.ts';
import type { ArbiterReport } from '../lr/roles/arbiter.ts';
import { heParamsFor } from '../lr/protocol.ts';
import type { Channel } from '../protocol/channel.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { message } from '../protocol/messages.ts';
import { exchangeAnchors } from './anchors.ts';
import { binningHeParams } from './binning.ts';
import { rolesOf, type PartyJobContext } from './context.ts';
import type { JobSpec } from './spec.ts';

export async function arbitrate(ctx: PartyJobContext, label: Channel, spec: JobSpec): Promise<ArbiterReport> {
  const channels: Channel[] = [label];
  await abortingPeersOnFailure(channels, async () => {
    if (ctx.governance) {
      const onAwaitingApproval = () => label.send(message('job.awaiting-approval', {}));
      await admitAsArbiter(ctx.governance, { jobId: spec.jobId, purpose: spec.purpose, partners: spec.parties.map((p) => ctx.institutionOf(p)), onAwaitingApproval });
    }
    for (const party of spec.parties.slice(1)) channels.push(await ctx.connect(party, spec.jobId));
    await label.send(message('job.accept', {}));
  });
  const backend = ctx.heBackendFor(spec.config.he);
  const audit = ctx.governance?.audit;
  // Training: the per-batch schedule of refreshes and decryptions, each written to the audit
  // log (with the ciphertext's SHA-256) before it is answered. Scoring sums degree-1 partial
  // scores, and binning per-bin label sums, under the generic decrypting arbiter.
  const roles = rolesOf(ctx);
  const report =
    spec.kind === 'training'
      ? await roles.trainingArbiter(spec.jobId, { backend, params: heParamsFor(spec.config), parties: channels, onDecryption: audit && ((record) => audit.append('training.decryption', { job: spec.jobId, ...record })) })
      : spec.kind === 'binning'
        ? await roles.arbiter(spec.jobId, { backend, params: binningHeParams(spec), parties: channels, coefficients: true })
        : await roles.arbiter(spec.jobId, { backend, params: heParamsFor({ ...spec.config, sigmoid: 'taylor1' }), parties: channels });
  await audit?.append('arbiter.run', { job: spec.jobId, kind: spec.kind, parties: [...spec.parties], decryptions: report.decryptions });
  // A job's or scoring session's end: the bank and the platform keep each other's signed head.
  await exchangeAnchors(ctx, [label], spec.jobId);
  return report;
}
