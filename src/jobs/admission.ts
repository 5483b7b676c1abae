/**
 * What every job runner does before its protocol, whatever the job's kind: the party's
 * admission gate, the rule by which every party reads IDs the same way, and (label) waiting
 * until every partner has accepted the job.
 */
import { errors } from '../errors.ts';
import { admitJob } from '../governance/gate.ts';
import { detectIdType, type IdType } from '../ids/normalise.ts';
import type { TrainingConfig } from '../lr/config.ts';
import type { Channel } from '../protocol/channel.ts';
import type { LoadedTable, PartyJobContext } from './context.ts';
import { sendJobSpec, type JobSpec } from './spec.ts';

/**
 * (Label) Every partner has passed its gate (and the arbiter sees every party): nothing
 * data-derived is sent before. A partner whose operator must approve the job says so first;
 * `onWaiting` hears the partners still waiting for their operators each time that changes.
 */
export async function awaitAcceptance(channels: readonly Channel[], onWaiting?: (parties: readonly string[]) => void): Promise<void> {
  const waiting = new Set<string>();
  await Promise.all(
    channels.map(async (c) => {
      for (;;) {
        const m = await c.next();
        if (m.t === 'job.accept') break;
        if (m.t !== 'job.awaiting-approval') throw errors.protocol(`expected job.accept or job.awaiting-approval from ${c.peer}, received ${m.t}`);
        waiting.add(c.peer);
        onWaiting?.([...waiting]);
      }
      if (waiting.delete(c.peer)) onWaiting?.([...waiting]);
    }),
  );
}

/**
 * (Label) Tells every feature party of a training or binning job its spec, waits until each
 * has accepted (its operator approving where it must), and only then tells the arbiter:
 * the arbiter never waits on a connection held up by an approval. Every channel opened is
 * pushed onto `channels` at once, so a failure aborts every partner reached so far.
 */
export async function openWithPartners(
  ctx: PartyJobContext,
  jobId: string,
  features: readonly { readonly party: string; readonly table: string }[],
  arbiterName: string,
  spec: (table: string) => JobSpec,
  channels: Channel[],
): Promise<{ features: Map<string, Channel>; arbiter: Channel }> {
  const opened = new Map<string, Channel>();
  const onWaiting = (parties: readonly string[]) => ctx.onAwaitingApproval?.(jobId, parties);
  for (const f of features) {
    const channel = await ctx.connect(f.party, jobId);
    channels.push(channel);
    await sendJobSpec(channel, spec(f.table));
    opened.set(f.party, channel);
  }
  await awaitAcceptance([...opened.values()], onWaiting);
  const arbiter = await ctx.connect(arbiterName, jobId);
  channels.push(arbiter);
  await sendJobSpec(arbiter, spec(''));
  await awaitAcceptance([arbiter], onWaiting);
  return { features: opened, arbiter };
}

/**
 * The party's admission gate, when it has governance (a runner calls it where a refusal
 * already reaches its peers as a code only). `partners` are those it exchanges messages
 * with, `participants` every other party of the job (an enterprise's consent must name them all).
 */
export async function gated(
  ctx: PartyJobContext,
  table: LoadedTable,
  jobId: string,
  purpose: string,
  partners: readonly string[],
  participants: readonly string[],
  fields: readonly string[],
  onAwaitingApproval?: () => Promise<void>,
): Promise<{ table: LoadedTable; disclosePartialScores: boolean | undefined }> {
  const governance = ctx.governance;
  if (!governance) return { table, disclosePartialScores: undefined };
  const institutions = (names: readonly string[]) => names.map((p) => ctx.institutionOf(p));
  const admitted = await admitJob(governance, table, { jobId, purpose, partners: institutions(partners), participants: institutions(participants), fields, onAwaitingApproval });
  // Only a policy decides disclosure; a party governed by consent or audit alone leaves it to the job.
  return { table: { ...admitted.table, labelColumn: table.labelColumn }, disclosePartialScores: governance.policy ? admitted.disclosePartialScores : undefined };
}

/** The label's rule for IDs: the configured type, else what its own table holds. */
export function idTypeOf(table: LoadedTable, config: Pick<TrainingConfig, 'idType'>): IdType {
  return config.idType === 'uscc' || config.idType === 'plain' ? config.idType : detectIdType(table.ids.slice(0, 1000));
}

/** A partner reads IDs as the label does; with no type configured its own IDs must look the same. */
export function agreeWithLabel(table: LoadedTable, spec: JobSpec): IdType {
  if (spec.config.idType === 'auto') {
    const own = detectIdType(table.ids.slice(0, 1000));
    if (own !== spec.idType) {
      throw errors.optionInvalid('idType', `the parties' ID columns differ (${spec.parties[0]}: ${spec.idType}, ${table.file}: ${own})`, 'set idType (--id-type) to uscc or plain so that every party normalises IDs the same way');
    }
  }
  return spec.idType;
}
