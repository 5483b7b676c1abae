/**
 * (Arbiter) The platform's part in a job the label party opened: it waits for every party
 * the job names (once its operator approved the job, where its policy asks for that), then holds the CKKS secret key for them (src/lr/roles/arbiter.ts) with the
 * parameters of the job's kind. It reads no table and writes no output.
 */
import { admitAsArbiter } from '../governance/gate.ts';
import type { ArbiterReport } from '../lr/roles/arbiter.ts';
import { errors } from '../errors.ts';
import { KEPT_KEY_FILE, keptKeyText, readKeptKey, type KeptKey } from '../lr/kept-key.ts';
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
  let kept: KeptKey | undefined;
  await abortingPeersOnFailure(channels, async () => {
    // Scoring a model kept encrypted: its scores are decrypted under the training job's key,
    // found before the session is accepted (a missing key ends it at once, for every party).
    if (spec.kind === 'scoring' && spec.config.keepEncrypted) {
      if (!ctx.keptKeyFile) throw errors.modelInvalid(spec.modelJobId, `${ctx.name} keeps no training keys, and the model's weights are encrypted under the key of that job`, 'score it through the platform that trained it');
      kept = await readKeptKey(ctx.keptKeyFile(spec.modelJobId), spec.modelJobId);
      if (kept.params.scheme !== spec.config.he) throw errors.modelInvalid(spec.modelJobId, `its weights are under a ${kept.params.scheme} key, and the session asks for ${spec.config.he}`, `score with the HE backend the model was trained with (${kept.params.scheme})`);
    }
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
  let report: ArbiterReport;
  if (spec.kind === 'training') {
    const params = heParamsFor(spec.config);
    const trained = await roles.trainingArbiter(spec.jobId, { backend, params, parties: channels, onDecryption: audit && ((record) => audit.append('training.decryption', { job: spec.jobId, ...record })) });
    // Weights kept encrypted: the key under which they are stays with the platform, for scoring.
    if (trained.keptSecretKey) {
      await ctx.outputs(spec.jobId).write(KEPT_KEY_FILE, keptKeyText({ jobId: spec.jobId, params, secretKey: trained.keptSecretKey }), { secret: true });
      trained.keptSecretKey.fill(0);
      await audit?.append('arbiter.key-kept', { job: spec.jobId, file: KEPT_KEY_FILE });
    }
    report = trained;
  } else if (spec.kind === 'binning') {
    report = await roles.arbiter(spec.jobId, { backend, params: binningHeParams(spec), parties: channels, coefficients: true });
  } else if (kept) {
    await audit?.append('arbiter.key-used', { job: spec.jobId, model: spec.modelJobId });
    report = await roles.arbiter(spec.jobId, { backend, params: kept.params, parties: channels, secretKey: kept.secretKey });
  } else {
    report = await roles.arbiter(spec.jobId, { backend, params: heParamsFor({ ...spec.config, sigmoid: 'taylor1' }), parties: channels });
  }
  await audit?.append('arbiter.run', { job: spec.jobId, kind: spec.kind, parties: [...spec.parties], decryptions: report.decryptions });
  // A job's or scoring session's end: the bank and the platform keep each other's signed head.
  await exchangeAnchors(ctx, [label], spec.jobId);
  return report;
}
