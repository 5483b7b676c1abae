/**
 * (Label ↔ each partner, at the end of a job, and during and at the end of a scoring
 * session: src/jobs/scoring.ts) The parties exchange anchors of their audit
 * logs: each sends its log's head signed by its audit key (`AuditLog.anchor`), and keeps
 * the partner's where its host says (`PartyJobContext.anchorsFile`; a party service: in
 * `<store>/anchors/<partner>.jsonl`). `jinqiao audit verify <log> --anchors <file or
 * folder>` then shows a log that was rolled back or cut behind what a partner holds.
 *
 * What the receiver checks before it keeps an anchor: that it is the sending party's (the
 * name its channel authenticated), signed by the key it came with, by the same key as the
 * anchors of that partner it already holds (the first anchor pins the key; a partner that
 * changes its audit key must say so out of band), and not going back against an anchor
 * already kept, in the order the partner signed them (`storeAuditAnchor`) — a partner whose
 * log went back since the last exchange fails this job (E_AUDIT_BROKEN) rather than hand
 * over a head its auditors could not trust. A party without an audit log sends
 * an empty anchor; a host that keeps no anchors (the in-process one, whose `jinqiao train`
 * stores them itself) still sends its own.
 */
import { stat } from 'node:fs/promises';
import { errors } from '../errors.ts';
import { loadAuditAnchors, storeAuditAnchor, type AuditAnchor } from '../governance/audit.ts';
import type { JsonValue } from '../governance/canonical.ts';
import type { Channel } from '../protocol/channel.ts';
import { message, type PlainRecord } from '../protocol/messages.ts';
import type { AnchorMessage } from '../score/agency.ts';
import type { PartyJobContext } from './context.ts';

/** Sends this party's anchor of job `jobId` to every peer, then keeps each peer's. */
export async function exchangeAnchors(ctx: PartyJobContext, peers: readonly Channel[], jobId: string): Promise<void> {
  const sent = message('audit.anchor', await ownAnchor(ctx, jobId));
  await Promise.all(peers.map((peer) => peer.send(sent)));
  for (const peer of peers) {
    const received = await peer.receive('audit.anchor');
    await keepAnchor(ctx, peer.peer, jobId, received.anchor, received.publicKey);
  }
}

/** This party's anchor of job (or scoring session) `jobId` as it is sent: empty without an audit log. */
export async function ownAnchor(ctx: PartyJobContext, jobId: string): Promise<AnchorMessage> {
  const audit = ctx.governance?.audit;
  if (!audit) return { anchor: {}, publicKey: new Uint8Array(0) };
  return { anchor: (await audit.anchor(jobId)) as unknown as PlainRecord, publicKey: audit.publicKey };
}

/** Checks `peer`'s anchor of job (or scoring session) `jobId` and keeps it where the host says, recording that in this party's log. */
export async function keepAnchor(ctx: PartyJobContext, peer: string, jobId: string, anchor: PlainRecord, publicKey: Uint8Array): Promise<void> {
  if (Object.keys(anchor).length === 0) return;
  const file = ctx.anchorsFile?.(peer);
  if (file === undefined) return;
  if (anchor.party !== peer) throw errors.protocol(`${peer} sent, at the end of job ${jobId}, an anchor of ${String(anchor.party)}'s log instead of its own`);
  if (anchor.job !== jobId) throw errors.protocol(`${peer} sent an anchor of job ${String(anchor.job)} at the end of job ${jobId}`);
  if (publicKey.length !== 32) throw errors.protocol(`${peer} sent its anchor with a ${publicKey.length}-byte key (an Ed25519 key has 32)`);
  if (await exists(file)) {
    const kept = await loadAuditAnchors(file, publicKey);
    if (kept.others > 0) {
      throw errors.auditBroken(file, 1, undefined, `${peer} signed its anchor of job ${jobId} with audit key ${String(anchor.keyId)}, but the ${kept.others} anchor(s) of ${peer} kept here are of another key; if ${peer} changed its audit key, confirm it out of band and move this file aside (keep it for its auditors)`);
    }
  }
  const kept: AuditAnchor = await storeAuditAnchor(file, anchor as unknown as JsonValue, publicKey);
  await ctx.governance?.audit?.append('anchor.kept', { job: jobId, partner: peer, seq: kept.seq, hash: kept.hash });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
