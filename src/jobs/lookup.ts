/**
 * Interface calls and verification between party services, one runner per role for both
 * hosts: the bank opens a lookup session with an agency and sends it calls; the agency
 * answers each under its own policy, consent and audit log. Protocol: src/lookup/.
 *
 *   bank → agency   job.open        a session id starting `lookup/`
 *   bank → agency   lookup.open     mode, purpose, table, field names and tolerances
 *   agency → bank   lookup.ready    (policy and consent checked, tags prepared) key period, domain
 *   agency → bank   lookup.tags     the session's OPRF tags (verify, blind), in slices
 *   psi, and verify from prepared tags, instead of lookup.ready:
 *   agency → bank   lookup.offer    (policy checked) the table's prepared tag file: key id, count, digest
 *   bank → agency   lookup.want     whether it needs the tags or keeps this copy already
 *   agency → bank   lookup.tags     the prepared tags, if wanted
 *   per call        oprf.*          verify, blind: one OPRF session with a fresh blinding scalar
 *                   lookup.request / lookup.reply    identified
 *   bank → agency   lookup.close
 *   agency → bank   job.abort       "lookup session expired: …", at the agency's limit (below)
 *
 * In verify and blind mode the agency's key lives for the session only (never stored): its
 * tags are good for that session's calls and nothing else. In psi mode (unbalanced PSI: which
 * of the bank's IDs the agency holds), and in verify mode where the agency's config names a
 * verification tag file holding the session's checks, the tags were prepared once per key
 * period with `jinqiao psi prepare` and the key is the agency's persistent one: the bank
 * fetches the tags once per key period (and digest), keeps them, and each call is one OPRF
 * round. Every call is appended to the agency's audit log before its answer leaves
 * (identified: the enterprises as salted hashes and what was answered; verify, blind, psi:
 * the number of evaluations, batch by batch), and the policy is checked
 * against the institution on the caller's certificate, never a name in a message. Beside the
 * per-call limit, a partner's daily budget (policy `evaluationsPerDay`, governance/budget.ts)
 * is charged before each batch or request is answered, across all the partner's sessions.
 * A session lives at most the agency's `lookup.maxSessionSeconds` (and `maxSessionCalls`):
 * then the agency ends it between calls, audited with the reason, and the bank's next call
 * opens a new one, so consent revocations, policy changes and register updates reach it.
 *
 * What each side learns is what the in-process commands say (src/lookup/verify.ts,
 * lookup.ts, unbalanced-psi.ts): in verify, blind and psi mode the agency sees counts only;
 * in identified mode it sees the enterprises the bank names, by design.
 */
import { randomUUID } from 'node:crypto';
import { errors, isJinqiaoError } from '../errors.ts';
import { checkMembership } from '../governance/policy.ts';
import { detectIdType, normaliseId, type IdType } from '../ids/normalise.ts';
import { bandedTolerances, claimKeys, GRIDS, paddingKey, registerKeys, verifiableBandedTolerance, verificationInput, type FieldCheck } from '../lookup/bands.ts';
import { inputBatches } from '../lookup/inputs.ts';
import { openLabel } from '../lookup/label.ts';
import { consented, consentRequired, fieldExposures } from '../lookup/exposure.ts';
import { answerLookupRequest, prepareLabeledSet, requestLookup, type AgencyGovernance, type LookupRegister, type LookupRow } from '../lookup/lookup.ts';
import { answerTagQueries, queryTags, smallJobsInline } from '../lookup/online.ts';
import { blindingScalars, labelKeyOf, TAG_BYTES, type BlindingScalars } from '../lookup/oprf.ts';
import { ephemeralOprfKey } from '../lookup/oprf-key.ts';
import { prepareTags } from '../lookup/prepare.ts';
import { TagSet } from '../lookup/tag-set.ts';
import { TAG_FILE_VERSION, tagsDigest, type TagFileHeader } from '../lookup/tag-file.ts';
import { PSI_DOMAIN } from '../lookup/unbalanced-psi.ts';
import { checksOfVerifyDomain, formatFieldCheck, parseFieldCheck, VERIFY_DOMAIN } from '../lookup/verify.ts';
import { isBackendName } from '../psi/backends/index.ts';
import type { BackendName } from '../psi/group.ts';
import { expectType, unlessAborted, type Channel } from '../protocol/channel.ts';
import { abortingPeersOnFailure } from '../protocol/abort.ts';
import { message, type Message, type MessageOf } from '../protocol/messages.ts';
import type { PartyJobContext, PreparedTags } from './context.ts';

/** Session ids of lookup sessions start with this: the agency's host dispatches on it. */
export const LOOKUP_SESSION_PREFIX = 'lookup/';
export type LookupMode = 'verify' | 'identified' | 'blind' | 'psi';

/** Evaluations an agency grants one call (one per claim). */
export const MAX_EVALUATIONS_PER_CALL = 200_000;
/** Calls one session queues before it refuses more (E_BUSY). */
export const MAX_WAITING_CALLS = 64;
/** Tags per `lookup.tags` message (12 bytes each, plus a label in blind mode). */
const TAGS_PER_MESSAGE = 1 << 18;

/**
 * (Agency) How long a session a bank opened lives. Its tags, consent and policy are those of
 * the moment it opened, so the agency ends it after `maxSessionSeconds` (or
 * `maxSessionCalls` calls) and the bank's next call opens a new one under what holds then.
 */
export interface LookupSessionLimits {
  readonly maxSessionSeconds: number;
  /** undefined: no limit on calls. */
  readonly maxSessionCalls: number | undefined;
}

/** The start of the reason an agency gives when it ends a session at its limit (the bank reopens on it). */
const SESSION_EXPIRED = 'lookup session expired';

export function isLookupSession(jobId: string): boolean {
  return jobId.startsWith(LOOKUP_SESSION_PREFIX);
}

export interface LookupSessionSpec {
  readonly agency: string;
  /** The agency's table, by the name its config gives it. */
  readonly table: string;
  readonly mode: LookupMode;
  readonly purpose: string;
  /** Fields, each with its relative tolerance (verify; undefined: equality). */
  readonly fields: readonly FieldCheck[];
  readonly idType: IdType;
  readonly backend: BackendName;
}

/** One declared value to verify. */
export interface Claim {
  readonly id: string;
  readonly field: string;
  readonly value: number;
}

/** (Bank) An open session with one agency; calls take turns, a full queue is refused. */
export class BankLookupSession {
  readonly spec: LookupSessionSpec;
  readonly sessionId: string;
  #channel: Channel;
  #tags: TagSet | undefined;
  #keyId = '';
  #domain = '';
  /** The OPRF group and ID type of the session: the spec's, or (psi) those of the agency's tag file. */
  #backend: BackendName;
  #idType: IdType;
  #ctx: PartyJobContext;
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;
  /** The next call's blinding scalars, drawn while the session is idle (each is used for one call only). */
  #nextBlinding: Promise<BlindingScalars> | undefined;
  failed = false;

  private constructor(ctx: PartyJobContext, spec: LookupSessionSpec, sessionId: string, channel: Channel) {
    this.#ctx = ctx;
    this.spec = spec;
    this.sessionId = sessionId;
    this.#channel = channel;
    this.#backend = spec.backend;
    this.#idType = spec.idType;
  }

  /** Connects to the agency and waits until it has admitted the session and sent its tags. */
  static async open(ctx: PartyJobContext, spec: LookupSessionSpec, sessionId = `${LOOKUP_SESSION_PREFIX}${randomUUID()}`): Promise<BankLookupSession> {
    if (!isLookupSession(sessionId)) throw errors.protocol(`a lookup session id must start with ${LOOKUP_SESSION_PREFIX}`);
    const channel = await ctx.connect(spec.agency, sessionId);
    return abortingPeersOnFailure([channel], async () => {
      await channel.send(
        message('lookup.open', { mode: spec.mode, purpose: spec.purpose, table: spec.table, fields: spec.fields.map((f) => f.field), tolerances: spec.fields.map((f) => f.tolerance ?? 0), idType: spec.idType, backend: spec.backend }),
      );
      const session = new BankLookupSession(ctx, spec, sessionId, channel);
      if (spec.mode === 'psi') {
        await session.#fetchPreparedTags(await channel.receive('lookup.offer'));
        return session;
      }
      // A verification session is answered from the agency's prepared tags when it has some for these checks.
      const first = await channel.next();
      if (spec.mode === 'verify' && first.t === 'lookup.offer') {
        await session.#fetchPreparedTags(first);
        return session;
      }
      const ready = expectType(first, 'lookup.ready', spec.agency);
      if (spec.mode !== 'identified') {
        if (ready.backend !== spec.backend) throw errors.protocol(`${spec.agency} keyed the session for backend ${ready.backend}, not ${spec.backend}`);
        const expected = spec.mode === 'verify' ? VERIFY_DOMAIN : `lookup:${spec.purpose}`;
        if (ready.domain !== expected) throw errors.protocol(`${spec.agency} prepared tags for domain ${ready.domain}, not ${expected}`);
        if (spec.mode === 'blind' && ready.labelBytes === 0 && ready.count > 0) throw errors.protocol('a blind lookup session needs sealed labels');
        const { tags, labels } = await receiveTags(channel, spec.agency, ready.count, spec.mode === 'blind' ? ready.labelBytes : 0);
        session.#tags = new TagSet(tags, spec.mode === 'blind' ? { bytes: labels, each: ready.labelBytes } : undefined);
        session.#keyId = ready.keyId;
        session.#nextBlinding = blindingScalars(spec.backend);
        session.#domain = ready.domain;
      }
      return session;
    });
  }

  /**
   * (psi, verify) The agency's offer of its prepared tags: the copy kept from an earlier
   * session if it is this one (same key id and digest), else fetched, checked against the
   * digest and kept.
   */
  async #fetchPreparedTags(offer: MessageOf<'lookup.offer'>): Promise<void> {
    const { agency, table } = this.spec;
    const kind = this.spec.mode === 'psi' ? 'psi' : 'verify';
    if (kind === 'psi' ? offer.domain !== PSI_DOMAIN : !checksAnswered(offer.domain, this.spec.fields)) {
      throw errors.protocol(`${agency} offered tags for domain ${offer.domain}, which does not check ${kind === 'psi' ? 'membership' : this.spec.fields.map(formatFieldCheck).join(', ')}`);
    }
    if (!isBackendName(offer.backend)) throw errors.protocol(`${agency} offered tags for an unknown backend ${JSON.stringify(offer.backend)}`);
    if (offer.idType !== 'uscc' && offer.idType !== 'plain') throw errors.protocol(`${agency} offered tags of an unknown ID type ${JSON.stringify(offer.idType)}`);
    if (!/^[0-9a-f]{64}$/.test(offer.digest)) throw errors.protocol(`${agency} offered tags without a SHA-256 digest`);
    const cache = this.#ctx.keptTags;
    let tags = await cache?.get(agency, table, kind, offer.keyId, offer.digest);
    await this.#channel.send(message('lookup.want', { tags: tags === undefined }));
    if (tags === undefined) {
      const received = await receiveTags(this.#channel, agency, offer.count, 0);
      if (tagsDigest(received.tags) !== offer.digest) throw errors.protocol(`the tags ${agency} sent are not those it offered (their SHA-256 differs)`);
      tags = new TagSet(received.tags);
      const fields = kind === 'verify' ? checksOfVerifyDomain(offer.domain)! : [];
      const header: TagFileHeader = { version: TAG_FILE_VERSION, kind, keyId: offer.keyId, backend: offer.backend, domain: offer.domain, idType: offer.idType, count: offer.count, tagBytes: TAG_BYTES, labelBytes: 0, fields, offlineSeconds: 0 };
      await cache?.put(agency, table, header, offer.digest, tags);
    } else if (tags.size !== offer.count) {
      throw errors.protocol(`the kept copy of ${agency}'s tags holds ${tags.size} tags, the offer ${offer.count}`);
    }
    this.#tags = tags;
    this.#keyId = offer.keyId;
    this.#domain = offer.domain;
    this.#backend = offer.backend;
    this.#idType = offer.idType;
    this.#nextBlinding = blindingScalars(this.#backend);
  }

  /** Tags the agency sent (verify: records × fields, × `GRIDS` for a tolerance field), for reports. */
  get tagCount(): number {
    return this.#tags?.size ?? 0;
  }

  /** Fresh blinding scalars for this call; the next call's are drawn now, while the agency works. */
  async #blinding(): Promise<BlindingScalars> {
    const ready = this.#nextBlinding ?? blindingScalars(this.#backend);
    // Drawn after this call's messages are on their way (the draw is ~10 ms of BigInt arithmetic).
    this.#nextBlinding = new Promise((resolve) => setImmediate(resolve)).then(() => blindingScalars(this.#backend));
    this.#nextBlinding.catch(() => {});
    return ready;
  }

  /** Runs `body` after the calls before it; refuses when `MAX_WAITING_CALLS` already wait. */
  #turn<T>(body: () => Promise<T>): Promise<T> {
    if (this.failed) return Promise.reject(errors.channelClosed(this.spec.agency, 'the lookup session failed; a new one is opened on the next call'));
    if (this.#waiting >= MAX_WAITING_CALLS) return Promise.reject(errors.busy(`${this.#waiting} calls to ${this.spec.agency} are waiting`, 1));
    this.#waiting++;
    const turn = this.#tail.then(async () => {
      try {
        return await body();
      } catch (e) {
        // Refused before anything was sent (a bad ID): the session is intact. Anything else ends it.
        if (!(e as { beforeSend?: boolean }).beforeSend) {
          this.failed = true;
          this.#channel.close((e as Error).message);
        }
        throw e;
      }
    });
    this.#tail = turn.catch(() => {});
    return turn.finally(() => this.#waiting--);
  }

  /** IDs normalised as the session reads them; a bad one refuses the call before anything is sent. */
  #normalise(ids: readonly string[], what: string): string[] {
    return ids.map((raw, i) => {
      const n = normaliseId(raw, this.#idType);
      if (!n.ok) throw Object.assign(errors.jobInvalid('request', `${what}[${i}]${what === 'claims' ? '.id' : ''}`, `${JSON.stringify(raw)} is not a valid ${this.#idType} ID: ${n.why}`), { beforeSend: true });
      return n.id;
    });
  }

  /** (verify) Whether each claim is consistent with the agency's register, in claim order. */
  verify(claims: readonly Claim[]): Promise<boolean[]> {
    if (this.spec.mode !== 'verify') return Promise.reject(errors.protocol('not a verification session'));
    let inputs: string[];
    let claimInputs: number[][];
    try {
      const checks = new Map(this.spec.fields.map((f) => [f.field, f]));
      const ids = this.#normalise(
        claims.map((c) => c.id),
        'claims',
      );
      inputs = [];
      const index = new Map<string, number>();
      claimInputs = claims.map((claim, i) => {
        const check = checks.get(claim.field);
        if (!check) throw Object.assign(errors.jobInvalid('request', `claims[${i}].field`, `${JSON.stringify(claim.field)} is not a field of this verification`), { beforeSend: true });
        if (!Number.isFinite(claim.value)) throw Object.assign(errors.jobInvalid('request', `claims[${i}].value`, 'must be a finite number'), { beforeSend: true });
        // One key per claim, exact or tolerance, so the count says how many claims, not which
        // fields (test/attacks/verify-field-count.test.ts). A key already in the call is
        // evaluated once (one blinding scalar per call would show two equal points) and its
        // place taken by a fresh padding key: dropping it would tell the agency the call names
        // an enterprise twice (test/attacks/verify-repeat-count.test.ts).
        return claimKeys(claim.value, check).map((key) => {
          const input = verificationInput(ids[i]!, claim.field, key);
          let at = index.get(input);
          if (at === undefined) index.set(input, (at = inputs.push(input) - 1));
          else inputs.push(verificationInput(ids[i]!, claim.field, paddingKey()));
          return at;
        });
      });
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#turn(async () => {
      await this.#ctx.governance?.audit?.append('verify.requested', { agency: this.spec.agency, purpose: this.spec.purpose, fields: this.spec.fields.map((f) => f.field), claims: claims.length });
      const hit = new Uint8Array(inputs.length);
      await queryTags({ channel: this.#channel, executor: smallJobsInline(this.#ctx.psiExecutor), backend: this.#backend, keyId: this.#keyId, domain: this.#domain, tags: this.#tags!, blinding: await this.#blinding() }, inputBatches(inputs), (m) => (hit[m.row] = 1));
      return claimInputs.map((keys) => keys.some((at) => hit[at] === 1));
    });
  }

  /** (identified, blind) The fields of each enterprise the agency answers for, in query order (null: no answer). */
  lookup(ids: readonly string[]): Promise<LookupRow[]> {
    if (this.spec.mode !== 'identified' && this.spec.mode !== 'blind') return Promise.reject(errors.protocol('not a lookup session'));
    let normalised: string[];
    try {
      normalised = this.#normalise(ids, 'ids');
    } catch (e) {
      return Promise.reject(e);
    }
    const fields = this.spec.fields.map((f) => f.field);
    return this.#turn(async () => {
      const audit = this.#ctx.governance?.audit;
      await audit?.append('lookup.requested', { agency: this.spec.agency, purpose: this.spec.purpose, fields, mode: this.spec.mode, enterprises: normalised.map((id) => audit.hashId(id)) });
      if (this.spec.mode === 'identified') return requestLookup(this.#channel, { partner: this.#ctx.name, purpose: this.spec.purpose, fields }, normalised);
      const found: (LookupRow | undefined)[] = normalised.map(() => undefined);
      const tags = this.#tags!;
      let altered = 0;
      await queryTags({ channel: this.#channel, executor: smallJobsInline(this.#ctx.psiExecutor), backend: this.#backend, keyId: this.#keyId, domain: this.#domain, tags, blinding: await this.#blinding() }, inputBatches(normalised), (m) => {
        const label = openLabel(labelKeyOf(m.evaluation), tags.label(m.tagIndex), fields.length);
        // A label altered after sealing. Failing the call would tell the agency that an enterprise whose label it altered was asked
        // about (test/attacks/blind-lookup-selective-failure.test.ts): the call goes on, the enterprise comes back unanswered, and
        // only the bank's own log says why.
        if (label === undefined) altered++;
        else found[m.row] = label;
      });
      if (altered > 0) await audit?.append('lookup.label-invalid', { agency: this.spec.agency, purpose: this.spec.purpose, labels: altered });
      const firstOf = new Map<string, number>();
      return normalised.map((id, i) => {
        const first = firstOf.get(id) ?? (firstOf.set(id, i), i);
        return found[first] ?? fields.map(() => null);
      });
    });
  }

  /** (psi) Whether the agency holds each ID, in order. */
  psi(ids: readonly string[]): Promise<boolean[]> {
    if (this.spec.mode !== 'psi') return Promise.reject(errors.protocol('not a PSI session'));
    let normalised: string[];
    try {
      normalised = this.#normalise(ids, 'ids');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#turn(async () => {
      const audit = this.#ctx.governance?.audit;
      await audit?.append('psi.requested', { agency: this.spec.agency, table: this.spec.table, purpose: this.spec.purpose, keyId: this.#keyId, enterprises: normalised.map((id) => audit.hashId(id)) });
      const held = normalised.map(() => false);
      const result = await queryTags({ channel: this.#channel, executor: smallJobsInline(this.#ctx.psiExecutor), backend: this.#backend, keyId: this.#keyId, domain: this.#domain, tags: this.#tags!, blinding: await this.#blinding() }, inputBatches(normalised), (m) => (held[m.row] = true));
      for (const [row, first] of result.repeats) held[row] = held[first]!;
      return held;
    });
  }

  async close(): Promise<void> {
    await this.#tail;
    if (!this.failed) await this.#channel.send(message('lookup.close', {})).catch(() => {});
    this.#channel.close('lookup session over');
  }
}

/**
 * (Bank) The sessions a host keeps open, one per agency, table, mode, purpose, fields and ID
 * type: the first call opens one (the agency prepares its tags then), later calls reuse it.
 * A failed session is dropped and the next call opens a new one.
 */
export class LookupSessions {
  readonly #ctx: PartyJobContext;
  readonly #onClosed: (sessionId: string) => Promise<void> | void;
  readonly #open = new Map<string, Promise<BankLookupSession>>();

  constructor(ctx: PartyJobContext, onClosed: (sessionId: string) => Promise<void> | void = () => {}) {
    this.#ctx = ctx;
    this.#onClosed = onClosed;
  }

  #keyOf(spec: LookupSessionSpec): string {
    return JSON.stringify([spec.agency, spec.table, spec.mode, spec.purpose, spec.fields.map((f) => [f.field, f.tolerance ?? null]), spec.idType, spec.backend]);
  }

  /** The open session for `spec`, opened if there is none (or the last one failed). */
  session(spec: LookupSessionSpec): Promise<BankLookupSession> {
    const key = this.#keyOf(spec);
    const open = this.#open.get(key);
    if (open) {
      return open.then(
        (s) => {
          if (!s.failed) return s;
          if (this.#open.get(key) === open) this.#open.delete(key);
          void this.#retire(s);
          return this.session(spec);
        },
        () => this.session(spec),
      );
    }
    const sessionId = `${LOOKUP_SESSION_PREFIX}${randomUUID()}`;
    const opening = BankLookupSession.open(this.#ctx, spec, sessionId);
    this.#open.set(key, opening);
    opening.catch(async () => {
      if (this.#open.get(key) === opening) this.#open.delete(key);
      await this.#onClosed(sessionId);
    });
    return opening;
  }

  /**
   * `run` on the open session for `spec`. A session the agency ended while it sat idle (at
   * its maximum age or number of calls, or a restart) is often seen only when the next call
   * is sent on it: such a call goes once more, on a new session. An agency that ended the
   * session at its limit answered none of the call (it ends sessions between calls only); one
   * whose connection broke mid-call may have answered part of it, and then sees the same
   * count again (charged to the budget again): the second try tells it nothing the first did
   * not. The call is in the bank's log once per try.
   */
  async #onSession<T>(spec: LookupSessionSpec, run: (session: BankLookupSession) => Promise<T>): Promise<T> {
    const reused = this.#open.has(this.#keyOf(spec));
    const session = await this.session(spec);
    try {
      return await run(session);
    } catch (e) {
      if (!reused || !isJinqiaoError(e) || e.code !== 'E_CHANNEL_CLOSED') throw e;
      return run(await this.session(spec));
    }
  }

  /** `POST /v1/verify`: each claim checked against the agency's register, in claim order. */
  async verify(call: VerifyCall): Promise<{ verdicts: { id: string; field: string; consistent: boolean }[] }> {
    const spec = lookupSpecOf({ ...call, mode: 'verify', ids: call.claims.map((c) => c.id) });
    const bits = await this.#onSession(spec, (session) => session.verify(call.claims));
    return { verdicts: call.claims.map((c, i) => ({ id: c.id, field: c.field, consistent: bits[i]! })) };
  }

  /** `POST /v1/lookup`: the fields the agency answers for each enterprise, in query order (null: not answered). */
  async lookup(call: LookupCall): Promise<{ rows: { id: string; answered: boolean; values: Record<string, string | null> }[] }> {
    const spec = lookupSpecOf({ ...call, mode: call.blind ? 'blind' : 'identified', fields: call.fields.map((field) => ({ field, tolerance: undefined })) });
    const rows = await this.#onSession(spec, (session) => session.lookup(call.ids));
    return { rows: call.ids.map((id, i) => ({ id, answered: rows[i]!.some((v) => v !== null), values: Object.fromEntries(call.fields.map((f, k) => [f, rows[i]![k] ?? null])) })) };
  }

  /** `POST /v1/psi`: whether the agency holds each ID, in order, against its tags prepared once per key period. */
  async psi(call: PsiCall): Promise<{ rows: { id: string; held: boolean }[] }> {
    if (call.ids.length === 0) throw errors.jobInvalid('request', 'ids', 'name at least one ID');
    // The agency's tag file fixes the group and the ID type; these only key the session.
    const spec: LookupSessionSpec = { agency: call.agency, table: call.table, mode: 'psi', purpose: call.purpose, fields: [], idType: 'plain', backend: 'x25519' };
    const held = await this.#onSession(spec, (session) => session.psi(call.ids));
    return { rows: call.ids.map((id, i) => ({ id, held: held[i]! })) };
  }

  async #retire(session: BankLookupSession): Promise<void> {
    await session.close().catch(() => {});
    await this.#onClosed(session.sessionId);
  }

  async close(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    for (const opening of all) {
      const s = await opening.catch(() => undefined);
      if (s) await this.#retire(s);
    }
  }
}

/** What every verification or lookup names: the agency, its table, the purpose, how IDs are read. */
interface AgencyCall {
  readonly agency: string;
  readonly table: string;
  readonly purpose: string;
  readonly idType?: 'auto' | 'uscc' | 'plain';
  readonly backend?: string;
}

export interface VerifyCall extends AgencyCall {
  readonly fields: readonly FieldCheck[];
  readonly claims: readonly Claim[];
}

export interface LookupCall extends AgencyCall {
  readonly fields: readonly string[];
  readonly ids: readonly string[];
  /** Labeled PSI: the agency learns neither the enterprises nor the answers. */
  readonly blind?: boolean;
}

export interface PsiCall {
  readonly agency: string;
  readonly table: string;
  readonly purpose: string;
  readonly ids: readonly string[];
}

/** The request of `POST /v1/verify` or `/v1/lookup` checked and turned into a session spec (bank side). */
export function lookupSpecOf(request: {
  readonly agency: string;
  readonly table: string;
  readonly purpose: string;
  readonly mode: LookupMode;
  readonly fields: readonly FieldCheck[];
  readonly ids: readonly string[];
  readonly idType?: 'auto' | 'uscc' | 'plain';
  readonly backend?: string;
}): LookupSessionSpec {
  const bad = (field: string, why: string) => errors.jobInvalid('request', field, why);
  if (request.fields.length === 0) throw bad('fields', 'name at least one field');
  const names = request.fields.map((f) => f.field);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw bad('fields', `${JSON.stringify(twice)} is given twice`);
  request.fields.forEach((f, i) => {
    if (f.tolerance !== undefined && !(f.tolerance > 0 && f.tolerance <= 10)) throw bad(`fields[${i}].tolerance`, 'must be a relative tolerance in (0, 10]');
  });
  const backend = request.backend ?? 'x25519';
  if (!isBackendName(backend)) throw bad('backend', `unknown backend ${JSON.stringify(backend)}`);
  const idType: IdType = request.idType === 'uscc' || request.idType === 'plain' ? request.idType : detectIdType(request.ids.slice(0, 1000));
  return { agency: request.agency, table: request.table, mode: request.mode, purpose: request.purpose, fields: request.fields, idType, backend };
}

/** (Agency) Governance as the lookup protocol applies it: the party's policy, consent tokens and audit log. */
function agencyGovernance(ctx: PartyJobContext): AgencyGovernance {
  const g = ctx.governance;
  if (!g) return {};
  return { policy: g.policy, audit: g.audit, ...(g.consent ? { consent: { tokens: g.consent.tokens, trustedIssuers: g.consent.trustedIssuers, revoked: g.consent.revoked } } : {}), ...(g.consent?.now ? { now: () => g.consent!.now! } : {}) };
}

export interface AgencyLookupReport {
  readonly mode: LookupMode;
  readonly calls: number;
  readonly evaluations: number;
  /** Why the agency ended the session at its limit (undefined: the bank closed it). */
  readonly expired?: string;
}

/** Why a session opened at `openedAt` that has served `calls` calls is over, or undefined while it is not. */
function expiryOf(limits: LookupSessionLimits | undefined, openedAt: number, calls: number): string | undefined {
  if (!limits) return undefined;
  if (Date.now() - openedAt >= limits.maxSessionSeconds * 1000) return `it reached the agency's maximum session age of ${limits.maxSessionSeconds} s (lookup.maxSessionSeconds); the next call opens a new session`;
  if (limits.maxSessionCalls !== undefined && calls >= limits.maxSessionCalls) return `it reached the agency's maximum of ${limits.maxSessionCalls} calls per session (lookup.maxSessionCalls); the next call opens a new session`;
  return undefined;
}

/** The bank's next message, or undefined when `deadline` (epoch ms) passes first; a message that comes later is dropped with the session. */
async function beforeDeadline(arrival: Promise<Message>, deadline: number): Promise<Message | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()))));
  try {
    const first = await Promise.race([arrival, timeUp]);
    if (first === undefined) arrival.catch(() => {});
    return first;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * (Agency) Serves one lookup session the bank opened on `bank`, until the bank closes it or
 * the session reaches `limits` (then ended between calls, never during one).
 */
export async function serveLookupAsAgency(ctx: PartyJobContext, bank: Channel, sessionId: string, limits?: LookupSessionLimits): Promise<AgencyLookupReport> {
  const openedAt = Date.now();
  return abortingPeersOnFailure([bank], async () => {
    const open = await bank.receive('lookup.open');
    const bad = (field: string, why: string) => errors.jobInvalid(`lookup.open from ${bank.peer}`, field, why);
    if (open.mode !== 'verify' && open.mode !== 'identified' && open.mode !== 'blind' && open.mode !== 'psi') throw bad('mode', 'must be verify, identified, blind or psi');
    const mode = open.mode as LookupMode;
    if (mode === 'psi' ? open.fields.length !== 0 : open.idType !== 'uscc' && open.idType !== 'plain') throw bad(mode === 'psi' ? 'fields' : 'idType', mode === 'psi' ? 'a PSI session asks for no field' : 'must be uscc or plain');
    if (mode !== 'psi' && (open.fields.length === 0 || open.tolerances.length !== open.fields.length)) throw bad('fields', 'one tolerance per field, at least one field');
    const idType: IdType = open.idType === 'uscc' ? 'uscc' : 'plain';
    // The policy is checked against the certificate's institution, never a name in a message.
    const partner = ctx.institutionOf(bank.peer);
    const governance = agencyGovernance(ctx);
    const request = { partner, purpose: open.purpose, fields: open.fields };
    // A PSI reveals membership only: the partner must be granted the purpose (policy.ts checkMembership).
    if (mode === 'psi' && governance.policy) checkMembership(governance.policy, request);
    const exposures = fieldExposures(governance, request);
    const audit = governance.audit;
    // The partner's daily budget, shared by all its sessions: each batch (identified: each
    // request) is charged before it is evaluated, and the one that would cross it is refused,
    // in the audit log too. A partner with nothing left is refused here, before tags are prepared.
    const budgets = ctx.governance?.budgets;
    const charge = async (count: number, what: string) => {
      const c = budgets?.charge(partner, count, what);
      if (c === undefined || c.ok) return;
      await audit?.append('lookup.refused', { session: sessionId, partner, purpose: open.purpose, mode, rule: c.refusal.rule, asked: count, spent: c.spent, budget: c.budget });
      throw c.refusal;
    };
    await charge(0, 'a new session');
    let evaluations = 0;
    let calls = 0;
    if (mode === 'verify') {
      open.fields.forEach((field, k) => {
        const exposure = exposures[k]!;
        const tolerance = open.tolerances[k]!;
        if (exposure === 'withheld') throw errors.policyRefused('field.not-exposed', `${field} is not exposed to ${partner} for ${open.purpose}`);
        if (typeof exposure === 'object' && !verifiableBandedTolerance(exposure.bandWidth, tolerance)) {
          const b = exposure.bandWidth;
          throw errors.policyRefused(
            'field.banded',
            `${field} is answered only in bands of ×${1 + b}; verify it with a tolerance r whose 1 + r is (${1 + b})^(${(GRIDS - 1) / 2}·m) for a whole m ≥ 1 (r = ${bandedTolerances(b).join(', ')}, …), so that every edge of its ${GRIDS} grids is a band edge: other grids would together narrow the value below its band`,
          );
        }
      });
    }
    // Tags prepared once per key period, when the table has them (psi: it must): the register is
    // then not read, and the bank fetches the tags only if it keeps no copy of these.
    const prepared = mode === 'psi' ? await preparedPsiOf(ctx, bank, open.table) : mode === 'verify' ? await preparedVerificationFor(ctx, governance, open) : undefined;
    if (prepared) await offerPreparedTags(ctx, bank, sessionId, partner, open.table, open.purpose, prepared);
    const register = prepared ? undefined : registerOf(await ctx.loadTable(open.table, { withLabel: false, features: open.fields }), idType);
    if (!prepared && !isBackendName(open.backend)) throw bad('backend', `unknown backend ${JSON.stringify(open.backend)}`);
    const key = prepared?.key ?? (await ephemeralOprfKey(open.backend as BackendName));

    if (mode === 'verify' && !prepared) {
      const ids = [...register!.rows.keys()];
      const consent = consented(governance, request, open.fields, ids);
      const inputs: string[] = [];
      ids.forEach((id, i) => {
        if (!consent.allowed[i]) return;
        const row = register!.rows.get(id)!;
        open.fields.forEach((field, k) => {
          const cell = row[k]!;
          if (cell === '') return;
          const check = { field, tolerance: open.tolerances[k] === 0 ? undefined : open.tolerances[k] };
          for (const band of registerKeys(Number(cell), check)) inputs.push(verificationInput(id, field, band));
        });
      });
      const prepared = await prepareTags({ executor: ctx.psiExecutor, key, domain: VERIFY_DOMAIN }, inputBatches(inputs));
      await audit?.append('verify.prepared', { session: sessionId, partner, purpose: open.purpose, fields: [...open.fields], keyId: key.keyId, records: ids.length - consent.excluded, consentExcluded: consent.excluded, tags: prepared.tags.size });
      await sendTags(bank, prepared.tags, key.keyId, key.backend, VERIFY_DOMAIN);
    } else if (mode === 'blind') {
      const set = await prepareLabeledSet({ executor: ctx.psiExecutor, key }, register!, request, governance);
      await sendTags(bank, set.tags, key.keyId, key.backend, set.domain);
    } else if (mode === 'identified') {
      await bank.send(message('lookup.ready', { keyId: '', backend: '', domain: '', count: 0, labelBytes: 0 }));
    }

    const domain = prepared?.header.domain ?? (mode === 'verify' ? VERIFY_DOMAIN : `lookup:${open.purpose}`);
    const tokensByEnterprise = indexTokens(governance);
    for (;;) {
      const expired = expiryOf(limits, openedAt, calls);
      if (expired !== undefined) {
        await audit?.append('lookup.expired', { session: sessionId, partner, purpose: open.purpose, mode, calls, evaluations, reason: expired });
        await bank.send(message('job.abort', { reason: `${SESSION_EXPIRED}: ${expired}` })).catch(() => {});
        bank.close(`${SESSION_EXPIRED}: ${expired}`);
        return { mode, calls, evaluations, expired };
      }
      const arrival = bank.next();
      const arrived = limits ? await beforeDeadline(arrival, openedAt + limits.maxSessionSeconds * 1000) : await arrival;
      // The session's time ran out while it was idle: ended at the top of the loop.
      if (arrived === undefined) continue;
      const next = unlessAborted(arrived, bank.peer);
      if (next.t === 'lookup.close') break;
      calls++;
      if (next.t === 'lookup.request' && mode === 'identified') {
        if (next.purpose !== open.purpose || next.fields.length !== open.fields.length || next.fields.some((f, k) => f !== open.fields[k])) throw errors.protocol('a lookup.request must ask for the purpose and fields its session opened');
        await charge(next.ids.length, `call ${calls} of this session`);
        await answerLookupRequest(bank, { ...next, partner }, register!, withTokensOf(governance, tokensByEnterprise, next.ids, idType));
        continue;
      }
      if (next.t === 'oprf.hello' && mode !== 'identified') {
        const answered = await answerTagQueries({
          channel: bank,
          executor: smallJobsInline(ctx.psiExecutor),
          key,
          domains: [domain],
          maxEvaluations: MAX_EVALUATIONS_PER_CALL,
          hello: next,
          beforeAnswer: async (batch) => {
            await charge(batch.evaluations, `call ${calls} of this session${batch.seq > 0 ? ` (its batch ${batch.seq + 1})` : ''}`);
            await audit?.append(mode === 'verify' ? 'verify.answered' : mode === 'psi' ? 'psi.answered' : 'lookup.session', { session: sessionId, partner, purpose: open.purpose, call: calls, batch: batch.seq, evaluations: batch.evaluations, last: batch.last });
          },
        });
        evaluations += answered.evaluations;
        continue;
      }
      throw errors.protocol(`a ${mode} lookup session does not take ${next.t}`);
    }
    bank.close('lookup session over');
    return { mode, calls, evaluations };
  });
}

/** (Agency, psi) The table's PSI tags; a table without them is refused, naming the config key that adds them. */
async function preparedPsiOf(ctx: PartyJobContext, bank: Channel, table: string): Promise<PreparedTags> {
  const prepared = await ctx.preparedTags?.(table, 'psi');
  if (!prepared) {
    throw errors.jobInvalid(`lookup.open from ${bank.peer}`, 'table', `${ctx.name} answers no PSI for table ${JSON.stringify(table)}: its operator names a tag file prepared with \`jinqiao psi prepare\` and its key folder under tables.${table}.psi in its config`);
  }
  return prepared;
}

/**
 * (Agency, verify) The table's prepared verification tags if they answer this session: they
 * check every field asked for at the tolerance asked for, and no consent is required (they
 * were prepared over the whole register, not per consenting enterprise). Otherwise the
 * session prepares its own tags, as without a file.
 */
async function preparedVerificationFor(ctx: PartyJobContext, governance: AgencyGovernance, open: MessageOf<'lookup.open'>): Promise<PreparedTags | undefined> {
  const prepared = await ctx.preparedTags?.(open.table, 'verify');
  if (!prepared) return undefined;
  if (consentRequired(governance, open.purpose)) return undefined;
  const checks = prepared.header.fields.map(parseFieldCheck);
  const covered = open.fields.every((field, k) => checks.some((c) => c.field === field && (c.tolerance ?? 0) === open.tolerances[k]));
  return covered ? prepared : undefined;
}

/**
 * (Agency) Offers the bank tags prepared once per key period and sends them if it keeps no
 * copy of these (same key id and digest). The offer, and whether the tags were sent, are in
 * the audit log (`psi.offered`, `verify.offered`).
 */
async function offerPreparedTags(ctx: PartyJobContext, bank: Channel, sessionId: string, partner: string, table: string, purpose: string, prepared: PreparedTags): Promise<void> {
  const { header, digest, tags } = prepared;
  await bank.send(message('lookup.offer', { keyId: header.keyId, backend: header.backend, domain: header.domain, idType: header.idType, count: header.count, digest }));
  const want = await bank.receive('lookup.want');
  await ctx.governance?.audit?.append(`${header.kind}.offered`, { session: sessionId, partner, purpose, table, keyId: header.keyId, digest, tags: header.count, sent: want.tags });
  if (want.tags) await sendTagSlices(bank, tags);
}

/**
 * (Agency) Consent tokens by the enterprise they name (as written; each is still verified,
 * signature, issuer, validity and revocation, at every call that uses it): a call about a
 * few enterprises checks their tokens, not every token the agency holds.
 */
function indexTokens(governance: AgencyGovernance): Map<string, unknown[]> {
  const index = new Map<string, unknown[]>();
  for (const token of governance.consent?.tokens ?? []) {
    const named = (token as { enterprise?: unknown } | null)?.enterprise;
    if (typeof named !== 'string') continue;
    const n = normaliseId(named, 'uscc');
    const key = n.ok ? n.id : named;
    index.set(key, [...(index.get(key) ?? []), token]);
  }
  return index;
}

/** Governance whose consent holds only the tokens naming one of `ids`: the same decision for those IDs, at a fraction of the signature checks. */
function withTokensOf(governance: AgencyGovernance, index: Map<string, unknown[]>, ids: readonly string[], idType: IdType): AgencyGovernance {
  if (!governance.consent) return governance;
  const tokens = new Set<unknown>();
  for (const raw of ids) {
    const n = normaliseId(raw, idType);
    for (const t of index.get(n.ok ? n.id : raw) ?? []) tokens.add(t);
  }
  return { ...governance, consent: { ...governance.consent, tokens: [...tokens] } };
}

/** (Agency) Its table as a lookup register: normalised ID → the requested fields' values as text ('' where missing). */
function registerOf(table: { readonly ids: readonly string[]; readonly values: Float64Array; readonly featureNames: readonly string[] }, idType: IdType): LookupRegister {
  const width = table.featureNames.length;
  const rows = new Map<string, readonly string[]>();
  table.ids.forEach((raw, r) => {
    const n = normaliseId(raw, idType);
    if (!n.ok || rows.has(n.id)) return;
    const row: string[] = [];
    for (let k = 0; k < width; k++) {
      const v = table.values[r * width + k]!;
      row.push(Number.isNaN(v) ? '' : String(v));
    }
    rows.set(n.id, row);
  });
  return { idType, columns: table.featureNames, rows };
}

async function sendTags(bank: Channel, tags: TagSet, keyId: string, backend: BackendName, domain: string): Promise<void> {
  await bank.send(message('lookup.ready', { keyId, backend, domain, count: tags.size, labelBytes: tags.labelBytes }));
  await sendTagSlices(bank, tags);
}

/** (Agency) `tags` (and their labels) as `lookup.tags` slices. */
async function sendTagSlices(bank: Channel, tags: TagSet): Promise<void> {
  for (let start = 0, seq = 0; ; start += TAGS_PER_MESSAGE, seq++) {
    const end = Math.min(tags.size, start + TAGS_PER_MESSAGE);
    const labels = tags.labels ? tags.labels.subarray(start * tags.labelBytes, end * tags.labelBytes) : new Uint8Array(0);
    const last = end >= tags.size;
    await bank.send(message('lookup.tags', { seq, tags: tags.tags.subarray(start * TAG_BYTES, end * TAG_BYTES), labels, last }));
    if (last) return;
  }
}

/** (Bank) The `count` tags (and labels of `labelBytes` each) an agency announced, from their `lookup.tags` slices. */
async function receiveTags(channel: Channel, agency: string, count: number, labelBytes: number): Promise<{ tags: Uint8Array; labels: Uint8Array }> {
  const tags = new Uint8Array(count * TAG_BYTES);
  const labels = new Uint8Array(count * labelBytes);
  let have = 0;
  for (let seq = 0; ; seq++) {
    const part = await channel.receive('lookup.tags');
    const n = part.tags.length / TAG_BYTES;
    if (part.seq !== seq || !Number.isInteger(n) || have + n > count || part.labels.length !== n * labelBytes) {
      throw errors.protocol(`lookup.tags slice ${part.seq} does not fit the ${count} tags announced`);
    }
    tags.set(part.tags, have * TAG_BYTES);
    labels.set(part.labels, have * labelBytes);
    have += n;
    if (part.last) break;
  }
  if (have !== count) throw errors.protocol(`${agency} sent ${have} of the ${count} tags it announced`);
  return { tags, labels };
}

/**
 * (Bank) Whether prepared verification tags of `domain` (verify.ts `preparedVerifyDomain`: the
 * checks they were made for) check every field of the session at its tolerance: a claim
 * checked under other checks would match nothing, and read as inconsistent.
 */
function checksAnswered(domain: string, fields: readonly FieldCheck[]): boolean {
  const checks = checksOfVerifyDomain(domain)?.map(parseFieldCheck);
  return checks !== undefined && fields.every((f) => checks.some((c) => c.field === f.field && c.tolerance === f.tolerance));
}
