/**
 * A party's audit trail: an append-only, hash-chained, signed log of what it did with
 * whom (jobs admitted and refused, PSI runs, training runs, model exports, scoring
 * queries).
 *
 * Format: JSON Lines. Line 1 is entry 0, `log.opened`, whose details hold the key id of
 * the party's signing key and the log's random salt. Every entry holds { seq, time, type,
 * party, details, prevHash, hash, signature }: `hash` is SHA-256 over a domain tag and the
 * canonical JSON of the other fields, so it covers `prevHash`, the previous entry's hash;
 * `signature` is the party's Ed25519 signature of `hash`.
 *
 * Truncation: a chain alone cannot show that its last entries were dropped, so after each
 * append the log's signed head — { seq, hash } of the last entry — is written atomically
 * to `<log>.head`. A log that ends before the head's seq has been truncated. The head is
 * updated after the entry is synced, so a crash between the two leaves the log one entry
 * ahead of its head; that is accepted (the extra entry is signed like any other) and
 * `AuditLog.open` brings the head up to date. A non-empty log without its head is never
 * appended to (that is what a cut log with its head deleted looks like, and the next
 * append would sign a new head over the cut): only an explicit, audited
 * `AuditLog.repair` (`jinqiao audit repair`) re-heads it. A head without its log is
 * refused too. (The one innocent cause, a crash between creating the log and writing its
 * first head, needs the same repair.)
 *
 * Anchors: the party that holds the key can still roll log and head back together to an
 * older saved copy, or cut the log and sign a new head. So at the end of each job (and
 * during and at the end of each scoring session) the parties exchange anchors — a head signed by the log's owner, naming the job
 * (`AuditLog.anchor`) — and each keeps its partners' anchors in an anchors file
 * (`storeAuditAnchor`). `verifyAuditLog(file, key, anchors)` then requires every anchor
 * to match an entry of the log: a log that ends before an anchor's seq was rolled back
 * or cut, one whose entry differs from an anchor's hash was rewritten.
 *
 * Durability: `append` resolves only after the entry and the head are fsync'd, so the
 * action it records proceeds only once the record of it is durable.
 *
 * Who learns what: whoever reads the log learns the party's activity: partners, purposes,
 * fields, counts, job ids. It never holds data values, and enterprise IDs only as salted
 * hashes (`hashId`); `append` refuses details that contain a valid USCC in clear. Anyone
 * holding the log also holds its salt, so the hashes are pseudonyms, not secrets: an
 * auditor can test whether a given enterprise appears by hashing its USCC. The log is
 * confidential to the party and its auditors.
 *
 * What the log proves, and what it does not: with the party's public key, anyone can
 * check that no entry was altered, removed, reordered or inserted, and that the log was
 * not cut short of its signed head, since the head was written. Alone, it cannot stop the
 * party itself — which holds the key — from rewriting the whole log and head, or from
 * rolling both back to an earlier saved copy; with its partners' anchors, it can, back to
 * the last anchor exchanged (entries written since the last job's end are covered by the
 * party's own head only).
 *
 * One process writes a log at a time; two writers would fork the chain (which `verify`
 * then reports). The check for IDs in clear is a safety net for USCCs only: plain IDs and
 * data values cannot be recognised, and callers must not put them in details.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { errors, shownValue } from '../errors.ts';
import { normaliseId } from '../ids/normalise.ts';
import { canonicalJson, type JsonValue } from './canonical.ts';
import { appendDurably, readTextFile, replaceDurably } from '../util/durable.ts';
import { keyIdOf, sign, verify, type PartyKeyPair, type PublicKeyBytes } from './keys.ts';

export const AUDIT_FORMAT = 'jinqiao.audit-log/1';
const ENTRY_DOMAIN = 'jinqiao/audit-entry/v1';
const HEAD_DOMAIN = 'jinqiao/audit-head/v1';
const ANCHOR_DOMAIN = 'jinqiao/audit-anchor/v1';
const ANCHOR_KEYS = ['type', 'party', 'keyId', 'seq', 'hash', 'job', 'time', 'signature'];
const ID_DOMAIN = 'jinqiao/audit-id/v1';
const GENESIS_HASH = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const ENTRY_KEYS = ['seq', 'time', 'type', 'party', 'details', 'prevHash', 'hash', 'signature'];
const EVENT_TYPE = /^[a-z]+(\.[a-z][a-z0-9-]*)+$/;
/** A valid USCC anywhere in a string, bounded by non-alphanumerics. */
const USCC_IN_TEXT = /(?<![0-9A-Za-z])[0-9A-HJ-NP-RTUW-Y]{18}(?![0-9A-Za-z])/gi;

/** Event types jinqiao writes; any dotted lower-case name is accepted for others. */
export type KnownAuditEventType =
  | 'log.opened'
  | 'job.admitted'
  | 'job.refused'
  | 'job.approved'
  | 'job.rejected'
  | 'job.cancelled'
  | 'job.resumed'
  | 'console.signed-in'
  | 'consent.filtered'
  | 'consent.revoked'
  | 'psi.start'
  | 'psi.run'
  | 'training.start'
  | 'training.run'
  | 'arbiter.run'
  | 'arbiter.key-kept'
  | 'arbiter.key-used'
  | 'model.export'
  | 'scoring.query'
  | 'scoring.answered'
  | 'log.repaired'
  | 'anchor.kept';
export type AuditEventType = KnownAuditEventType | (string & {});

export type AuditDetails = { readonly [key: string]: JsonValue };

export interface AuditEntry {
  readonly seq: number;
  /** ISO 8601 UTC. */
  readonly time: string;
  readonly type: AuditEventType;
  readonly party: string;
  readonly details: AuditDetails;
  /** Hex SHA-256 of the previous entry; 64 zeros for entry 0. */
  readonly prevHash: string;
  readonly hash: string;
  readonly signature: string;
}

/** The signed last position of a log: what a partner or the platform keeps as an anchor. */
export interface AuditHead {
  readonly type: 'jinqiao.audit-head';
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  readonly signature: string;
}

/**
 * A log's head as its owner signed it for a partner to keep, at the end of job `job`.
 * Only the owner's key makes one, so a partner cannot forge an anchor to frame it.
 */
export interface AuditAnchor {
  readonly type: 'jinqiao.audit-anchor';
  /** The party whose log this is. */
  readonly party: string;
  /** Key id of the key that writes the log (and signed the anchor). */
  readonly keyId: string;
  readonly seq: number;
  readonly hash: string;
  readonly job: string;
  readonly time: string;
  readonly signature: string;
}

export type AuditVerdict =
  | {
      readonly ok: true;
      readonly party: string;
      /** entries including entry 0 */
      readonly entries: number;
      readonly head: { readonly seq: number; readonly hash: string };
      /** Partners' anchors the log was checked against. */
      readonly anchors: number;
    }
  | { readonly ok: false; /** 1-based line of the first bad entry */ readonly line: number; readonly seq: number | undefined; readonly reason: string };

export interface AuditLogOptions {
  /** The party writing the log, as it is named in entries. */
  readonly party: string;
  readonly key: PartyKeyPair;
  /** Source of entry timestamps; the system clock by default. */
  readonly clock?: () => Date;
}

export function headFileOf(logFile: string): string {
  return `${logFile}.head`;
}

/** Where a party keeps its partners' anchors when its host names no other place: next to its own log. */
export function anchorsFileOf(logFile: string): string {
  return `${logFile}.anchors`;
}

/**
 * A salted hash of an enterprise ID for audit details: 32 hex digits. A USCC is
 * normalised first, so every spelling of one enterprise hashes alike.
 */
export function hashId(salt: string, id: string): string {
  if (!HEX64.test(salt)) throw errors.optionInvalid('salt', 'an audit log salt is 64 lower-case hex digits');
  const uscc = normaliseId(id, 'uscc');
  const normal = uscc.ok ? uscc : normaliseId(id, 'plain');
  if (!normal.ok) throw errors.optionInvalid('id', normal.why);
  return bytesToHex(sha256(concatBytes(utf8ToBytes(ID_DOMAIN), new Uint8Array([0]), hexToBytes(salt), utf8ToBytes(normal.id))).subarray(0, 16));
}

export class AuditLog {
  readonly file: string;
  readonly party: string;
  /** Hex; stored in entry 0, so anyone holding the log can compute `hashId`. */
  readonly salt: string;
  readonly #key: PartyKeyPair;
  readonly #clock: () => Date;
  #last: { seq: number; hash: string };
  #tail: Promise<unknown> = Promise.resolve();
  #failure: Error | undefined;

  private constructor(file: string, options: AuditLogOptions, salt: string, last: { seq: number; hash: string }) {
    this.file = file;
    this.party = options.party;
    this.salt = salt;
    this.#key = options.key;
    this.#clock = options.clock ?? (() => new Date());
    this.#last = last;
  }

  /**
   * Opens `file` for appending, creating it (with a fresh salt) if neither it nor its head
   * exists. An existing log is verified first: nothing is appended to a log that is
   * already broken, nor to one whose head is missing (see `repair`), nor in place of a log
   * whose head remains. A last line cut short by a crash is removed: it was never synced,
   * so the action it would have recorded never proceeded.
   */
  static async open(file: string, options: AuditLogOptions): Promise<AuditLog> {
    checkParty(options);
    const size = await sizeOf(file);
    const headless = (await sizeOf(headFileOf(file))) === undefined;
    // An empty log without a head is one whose creation a crash cut short: nothing was recorded yet.
    if ((size === undefined || size === 0) && headless) {
      const salt = randomBytes(32).toString('hex');
      const log = new AuditLog(file, options, salt, { seq: -1, hash: GENESIS_HASH });
      await log.#write('log.opened', { format: AUDIT_FORMAT, keyId: options.key.keyId, salt });
      return log;
    }
    if (size === undefined) throw errors.auditBroken(file, 1, undefined, `the log is missing but its signed head ${headFileOf(file)} remains (the log was deleted or moved); start a new log under another name and keep the head as evidence`);
    return AuditLog.#resume(file, options, false);
  }

  /**
   * (Operator, explicitly) Re-heads a log whose signed head is missing, after checking the
   * whole chain, and records the repair — with `reason` and the seq and hash it re-headed
   * at — as the log's next entry. Its partners' anchors still show whether entries were
   * cut before the repair. A log that has its head is not touched (nothing to repair).
   */
  static async repair(file: string, options: AuditLogOptions, reason: string): Promise<AuditLog> {
    checkParty(options);
    if (typeof reason !== 'string' || reason.trim() === '') throw errors.optionInvalid('reason', 'say why the head is missing; it is recorded in the log');
    if ((await sizeOf(headFileOf(file))) !== undefined) throw errors.optionInvalid('log', `${file} has its signed head; only a log whose head is missing is repaired`, 'run jinqiao audit verify to see what is wrong with it');
    if (!(await sizeOf(file))) throw errors.auditBroken(file, 1, undefined, 'the log is missing or empty: there is nothing to re-head');
    const log = await AuditLog.#resume(file, options, true);
    const at = log.head;
    await log.append('log.repaired', { reason, reheadedAt: { seq: at.seq, hash: at.hash } });
    return log;
  }

  static async #resume(file: string, options: AuditLogOptions, headless: boolean): Promise<AuditLog> {
    const bytes = await readFile(file);
    const committed = bytes.lastIndexOf(0x0a) + 1;
    if (committed < bytes.length) await truncate(file, committed);
    const verdict = await checkLog(file, options.key.publicKey, [], headless);
    if (!verdict.ok) {
      const repair = /head .* is missing/.test(verdict.reason) ? '; if no entry was cut (e.g. a crash while the log was created), run jinqiao audit repair' : '';
      throw errors.auditBroken(file, verdict.line, verdict.seq, verdict.reason + repair);
    }
    if (verdict.party !== options.party) throw errors.optionInvalid('party', `the log at ${file} belongs to ${verdict.party}, not ${options.party}`);
    const opened = JSON.parse(bytes.subarray(0, bytes.indexOf(0x0a)).toString('utf8')) as AuditEntry;
    const log = new AuditLog(file, options, String(opened.details.salt), verdict.head);
    await log.#writeHead();
    return log;
  }

  /** The public key that checks this log's entries, heads and anchors. */
  get publicKey(): PublicKeyBytes {
    return this.#key.publicKey;
  }

  /** The last entry's seq and hash: hand it to the partner or platform to anchor the log. */
  get head(): { readonly seq: number; readonly hash: string } {
    return { ...this.#last };
  }

  /**
   * The head, signed for a partner to keep, once every append made so far is durable.
   * Called at the end of job `job`; the partner stores it with `storeAuditAnchor`.
   */
  async anchor(job: string): Promise<AuditAnchor> {
    if (typeof job !== 'string' || job === '') throw errors.optionInvalid('job', 'name the job whose end the anchor marks');
    await this.#tail;
    if (this.#failure) throw errors.outputUnwritable(this.file, `an earlier append failed (${this.#failure.message})`, 'reopen the log (AuditLog.open, or restart the service): opening repairs a torn last line and continues the chain');
    const body = { type: 'jinqiao.audit-anchor' as const, party: this.party, keyId: this.#key.keyId, seq: this.#last.seq, hash: this.#last.hash, job, time: this.#clock().toISOString() };
    return { ...body, signature: bytesToHex(sign(this.#key.secretKey, ANCHOR_DOMAIN, utf8ToBytes(canonicalJson(body)))) };
  }

  /** `hashId` with this log's salt. */
  hashId(id: string): string {
    return hashId(this.salt, id);
  }

  /**
   * Records an event, resolving once it is durable. Appends are serialised in call order.
   * After a failed write the log refuses further appends: reopen it, which repairs a torn
   * line and re-verifies the chain.
   */
  append(type: AuditEventType, details: AuditDetails): Promise<AuditEntry> {
    if (!EVENT_TYPE.test(type) || type === 'log.opened') {
      return Promise.reject(errors.optionInvalid('type', `${shownValue(type)} is not an event type (dotted lower-case, e.g. job.admitted)`));
    }
    try {
      canonicalJson(details, 'details');
      refuseIdsInClear(details, 'details');
    } catch (e) {
      return Promise.reject(e);
    }
    const written = this.#tail.then(() => this.#write(type, details));
    this.#tail = written.catch(() => undefined);
    return written;
  }

  async #write(type: AuditEventType, details: AuditDetails): Promise<AuditEntry> {
    if (this.#failure) throw errors.outputUnwritable(this.file, `an earlier append failed (${this.#failure.message})`, 'reopen the log (AuditLog.open, or restart the service): opening repairs a torn last line and continues the chain');
    const body = { seq: this.#last.seq + 1, time: this.#clock().toISOString(), type, party: this.party, details, prevHash: this.#last.hash };
    const hash = entryHash(body);
    const entry: AuditEntry = { ...body, hash, signature: bytesToHex(sign(this.#key.secretKey, ENTRY_DOMAIN, hexToBytes(hash))) };
    try {
      // Written in reading order; the hash is over the canonical form, so order on disk is free.
      await appendDurably(this.file, JSON.stringify(entry) + '\n');
      this.#last = { seq: entry.seq, hash };
      await this.#writeHead();
    } catch (e) {
      this.#failure = e as Error;
      throw e;
    }
    return entry;
  }

  async #writeHead(): Promise<void> {
    const body = { type: 'jinqiao.audit-head' as const, seq: this.#last.seq, hash: this.#last.hash, time: this.#clock().toISOString() };
    const signature = bytesToHex(sign(this.#key.secretKey, HEAD_DOMAIN, utf8ToBytes(canonicalJson(body))));
    await replaceDurably(headFileOf(this.file), canonicalJson({ ...body, signature }) + '\n');
  }
}

function checkParty(options: AuditLogOptions): void {
  if (typeof options.party !== 'string' || options.party === '') throw errors.optionInvalid('party', 'must name the party writing the log');
}

async function sizeOf(file: string): Promise<number | undefined> {
  return stat(file).then(
    (info) => info.size,
    () => undefined,
  );
}

function entryHash(body: Omit<AuditEntry, 'hash' | 'signature'>): string {
  return bytesToHex(sha256(concatBytes(utf8ToBytes(ENTRY_DOMAIN), new Uint8Array([0]), utf8ToBytes(canonicalJson(body)))));
}

function refuseIdsInClear(value: JsonValue, path: string): void {
  if (typeof value === 'string') {
    for (const match of value.matchAll(USCC_IN_TEXT)) {
      if (normaliseId(match[0], 'uscc').ok) {
        throw errors.optionInvalid(path, 'holds an enterprise ID (USCC) in clear', 'record log.hashId(id) instead: the audit log never holds IDs in clear');
      }
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => refuseIdsInClear(v, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      refuseIdsInClear(k, `${path} (a key)`);
      refuseIdsInClear(v, `${path}.${k}`);
    }
  }
}

/**
 * Checks a log against the public key of the party that wrote it, against its signed
 * head, and against the anchors its partners kept (see `loadAuditAnchors`; anchors of
 * other logs must not be passed). Returns the entry count, or the first bad entry: its
 * line, the seq it holds (when readable) and why it is bad.
 */
export function verifyAuditLog(file: string, publicKey: PublicKeyBytes, anchors: readonly AuditAnchor[] = []): Promise<AuditVerdict> {
  return checkLog(file, publicKey, anchors, false);
}

/** `headless`: the head is known to be missing and is not checked (an explicit repair). */
async function checkLog(file: string, publicKey: PublicKeyBytes, anchors: readonly AuditAnchor[], headless: boolean): Promise<AuditVerdict> {
  const text = await readTextFile(file);
  const lines = text.split('\n');
  const complete = lines.slice(0, -1);
  const bad = (line: number, seq: number | undefined, reason: string): AuditVerdict => ({ ok: false, line, seq, reason });
  if (text === '') return bad(1, undefined, 'the log is empty: entry 0 (log.opened) is missing');
  const keyId = keyIdOf(publicKey);
  let party = '';
  let previous = { seq: -1, hash: GENESIS_HASH };
  const hashes: string[] = [];
  for (const [i, content] of complete.entries()) {
    const line = i + 1;
    const expected = i;
    let raw: unknown;
    try {
      raw = JSON.parse(content);
    } catch {
      return bad(line, undefined, `not a JSON entry (altered or corrupted; expected seq ${expected})`);
    }
    const problem = entryProblem(raw);
    const seq = isRecord(raw) && Number.isSafeInteger(raw.seq) ? (raw.seq as number) : undefined;
    if (problem) return bad(line, seq, `malformed entry: ${problem}`);
    const entry = raw as AuditEntry;
    if (entry.seq !== expected) {
      return bad(line, entry.seq, entry.seq > expected ? `expected seq ${expected}: entries were deleted or reordered` : `expected seq ${expected}: seq ${entry.seq} is out of order (entries inserted or reordered)`);
    }
    if (entry.prevHash !== previous.hash) return bad(line, entry.seq, `prevHash does not match the hash of entry ${previous.seq} (an entry was inserted, removed or replaced)`);
    const { hash, signature, ...body } = entry;
    if (entryHash(body) !== hash) return bad(line, entry.seq, 'the content does not match its hash (the entry was altered)');
    if (expected === 0) {
      if (entry.type !== 'log.opened' || entry.details.format !== AUDIT_FORMAT || typeof entry.details.salt !== 'string' || !HEX64.test(entry.details.salt)) {
        return bad(line, 0, `entry 0 must be log.opened with format ${AUDIT_FORMAT} and a salt`);
      }
      if (entry.details.keyId !== keyId) return bad(line, 0, `the log was opened by key ${String(entry.details.keyId)}, not by the key given (${keyId})`);
      party = entry.party;
    } else if (entry.type === 'log.opened') {
      return bad(line, entry.seq, 'log.opened may only be entry 0');
    }
    if (entry.party !== party) return bad(line, entry.seq, `written for party ${entry.party}, the log belongs to ${party}`);
    if (!verify(publicKey, ENTRY_DOMAIN, hexToBytes(hash), hexToBytes(signature))) return bad(line, entry.seq, `the signature is not key ${keyId}'s (forged or altered)`);
    previous = { seq: entry.seq, hash };
    hashes.push(hash);
  }
  const tail = lines[lines.length - 1]!;
  if (tail !== '') return bad(complete.length + 1, undefined, 'the last line is cut short (a write torn by a crash; opening the log for append removes it)');

  // Earliest first, so that the report names the first point where the log leaves what partners hold.
  for (const anchor of [...anchors].sort((a, b) => a.seq - b.seq)) {
    if (anchor.keyId !== keyId || anchor.party !== party) throw errors.optionInvalid('anchors', `an anchor of ${anchor.party} (key ${anchor.keyId}) was given for the log of ${party} (key ${keyId})`);
    const from = `the anchor ${party} signed at the end of job ${anchor.job} (${anchor.time}), kept by a partner,`;
    if (anchor.seq > previous.seq) {
      return bad(complete.length + 1, previous.seq + 1, `missing: the log ends at seq ${previous.seq} but ${from} records seq ${anchor.seq} (the log was rolled back or cut)`);
    }
    if (hashes[anchor.seq] !== anchor.hash) return bad(anchor.seq + 1, anchor.seq, `the entry does not match ${from} (hash ${anchor.hash}): the log was rewritten`);
  }
  const headFile = headFileOf(file);
  if (headless) return { ok: true, party, entries: complete.length, head: previous, anchors: anchors.length };
  const headText = await readFile(headFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw errors.fileUnreadable(headFile, e.message);
  });
  if (headText === undefined) return bad(complete.length + 1, undefined, `the signed head ${headFile} is missing, so truncation cannot be ruled out`);
  const head = parseHead(headText, publicKey);
  if (typeof head === 'string') return bad(complete.length + 1, undefined, `${headFile}: ${head}`);
  if (head.seq > previous.seq) {
    return bad(complete.length + 1, previous.seq + 1, `missing: the log ends at seq ${previous.seq} but its signed head records seq ${head.seq} (the log was truncated)`);
  }
  if (hashes[head.seq] !== head.hash) return bad(head.seq + 1, head.seq, `the entry does not match the signed head's hash ${head.hash}`);
  return { ok: true, party, entries: complete.length, head: previous, anchors: anchors.length };
}

function parseHead(text: string, publicKey: PublicKeyBytes): AuditHead | string {
  let head: unknown;
  try {
    head = JSON.parse(text);
  } catch {
    return 'not a JSON head';
  }
  if (!isRecord(head) || head.type !== 'jinqiao.audit-head' || !Number.isSafeInteger(head.seq) || (head.seq as number) < 0 || typeof head.hash !== 'string' || typeof head.time !== 'string' || typeof head.signature !== 'string' || !/^[0-9a-f]{128}$/.test(head.signature)) {
    return 'not a jinqiao audit head';
  }
  const { signature, ...body } = head;
  if (Object.keys(body).length !== 4) return 'not a jinqiao audit head';
  if (!verify(publicKey, HEAD_DOMAIN, utf8ToBytes(canonicalJson(body)), hexToBytes(signature))) return 'the head signature is not the log key\'s (forged or altered)';
  return head as unknown as AuditHead;
}

/**
 * (A partner, at a job's end or during a scoring session) Checks that `anchor` is signed by
 * the key of the party whose log it anchors and that its log did not go back against an
 * anchor of that log already kept, then appends it to the anchors file `file` (created if
 * absent) and syncs before resolving.
 *
 * Going back is judged by the order the owner signed its anchors in (`time`), not the order
 * they arrive in: jobs and sessions with one partner run side by side, each exchanging
 * anchors at its own pace, so an anchor signed earlier (a lower seq) may arrive after a later
 * one and is kept. Refused, as a rollback: the same seq with another hash (a fork, whatever
 * the times); a lower seq signed later than a kept anchor (the log went back since that
 * anchor, as a party that restored an older copy of its log and head and went on shows at
 * its next anchor); a higher seq signed earlier than a kept anchor (that kept one was signed
 * after the log went back). Anchors signed at the same millisecond are not ordered.
 * The times are the owner's clock: a party that backdates its anchor after a rollback gets
 * it kept as a late one, but gains nothing, since the anchors it went back behind stay
 * kept and `verifyAuditLog` with them finds its log behind or rewritten.
 */
export async function storeAuditAnchor(file: string, anchor: unknown, publicKey: PublicKeyBytes): Promise<AuditAnchor> {
  const problem = anchorProblem(anchor, publicKey);
  if (problem !== undefined) throw errors.optionInvalid('anchor', problem, "keep only anchors signed by the partner's audit key");
  const fresh = anchor as AuditAnchor;
  const kept = (await sizeOf(file)) === undefined ? [] : (await readAnchors(file, publicKey)).anchors;
  const signedAt = Date.parse(fresh.time);
  const conflict = kept.find(({ anchor: k }) => {
    const keptAt = Date.parse(k.time);
    if (k.seq === fresh.seq) return k.hash !== fresh.hash;
    return k.seq > fresh.seq ? signedAt > keptAt : signedAt < keptAt;
  });
  if (conflict !== undefined) {
    const k = conflict.anchor;
    if (k.seq === fresh.seq) {
      throw errors.auditBroken(file, conflict.line, k.seq, `${fresh.party}'s log went back and forked: its anchor of job ${fresh.job} (now offered) and its anchor of job ${k.job} (kept here) are both at seq ${k.seq}, with hashes ${fresh.hash} and ${k.hash}`);
    }
    const [earlier, later] = Date.parse(k.time) <= signedAt ? [k, fresh] : [fresh, k];
    const which = (a: AuditAnchor) => (a === fresh ? 'now offered' : 'kept here');
    throw errors.auditBroken(
      file,
      conflict.line,
      k.seq,
      `${fresh.party}'s log went back: its anchor of job ${later.job}, signed ${later.time} (${which(later)}), is at seq ${later.seq} (hash ${later.hash}), but its anchor of job ${earlier.job}, signed earlier at ${earlier.time} (${which(earlier)}), is at seq ${earlier.seq} (hash ${earlier.hash})`,
    );
  }
  await mkdir(dirname(file), { recursive: true });
  await appendDurably(file, canonicalJson(anchor as unknown as JsonValue) + '\n');
  return fresh;
}

/**
 * The anchors in an anchors file that were signed by `publicKey` (one party's log), each
 * checked; `others` counts the anchors of other parties' logs the file also holds. A line
 * that is not a valid anchor is an error naming it.
 */
export async function loadAuditAnchors(file: string, publicKey: PublicKeyBytes): Promise<{ anchors: AuditAnchor[]; others: number }> {
  const { anchors, others } = await readAnchors(file, publicKey);
  return { anchors: anchors.map((a) => a.anchor), others };
}

async function readAnchors(file: string, publicKey: PublicKeyBytes): Promise<{ anchors: { anchor: AuditAnchor; line: number }[]; others: number }> {
  const keyId = keyIdOf(publicKey);
  const anchors: { anchor: AuditAnchor; line: number }[] = [];
  let others = 0;
  const lines = (await readTextFile(file)).split('\n');
  for (const [i, content] of lines.entries()) {
    if (content.trim() === '') continue;
    const at = (why: string) => errors.auditBroken(file, i + 1, undefined, `not a valid anchor: ${why}`);
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch {
      throw at(i === lines.length - 1 ? 'the last line is cut short' : 'not JSON');
    }
    if (isRecord(value) && value.keyId !== keyId) {
      others++;
      continue;
    }
    const problem = anchorProblem(value, publicKey);
    if (problem !== undefined) throw at(problem);
    anchors.push({ anchor: value as AuditAnchor, line: i + 1 });
  }
  return { anchors, others };
}

function anchorProblem(anchor: unknown, publicKey: PublicKeyBytes): string | undefined {
  if (!isRecord(anchor) || anchor.type !== 'jinqiao.audit-anchor') return 'not a jinqiao audit anchor';
  const keys = Object.keys(anchor);
  const odd = keys.find((k) => !ANCHOR_KEYS.includes(k)) ?? ANCHOR_KEYS.find((k) => !keys.includes(k));
  if (odd !== undefined) return `field ${JSON.stringify(odd)} is ${keys.includes(odd) ? 'unknown' : 'missing'}`;
  if (!Number.isSafeInteger(anchor.seq) || (anchor.seq as number) < 0) return 'seq must be a whole number';
  if (typeof anchor.hash !== 'string' || !HEX64.test(anchor.hash)) return 'hash must be 64 hex digits';
  for (const k of ['party', 'job', 'time'] as const) if (typeof anchor[k] !== 'string' || anchor[k] === '') return `${k} must be a non-empty string`;
  if (Number.isNaN(Date.parse(anchor.time as string))) return 'time must be an ISO 8601 time';
  if (typeof anchor.signature !== 'string' || !/^[0-9a-f]{128}$/.test(anchor.signature)) return 'signature must be 128 hex digits';
  if (anchor.keyId !== keyIdOf(publicKey)) return `signed for key ${String(anchor.keyId)}, not ${keyIdOf(publicKey)}`;
  const { signature, ...body } = anchor;
  if (!verify(publicKey, ANCHOR_DOMAIN, utf8ToBytes(canonicalJson(body as JsonValue)), hexToBytes(signature as string))) return "the signature is not the log key's (forged or altered)";
  return undefined;
}

function entryProblem(raw: unknown): string | undefined {
  if (!isRecord(raw)) return 'not a JSON object';
  const keys = Object.keys(raw);
  const odd = keys.find((k) => !ENTRY_KEYS.includes(k)) ?? ENTRY_KEYS.find((k) => !keys.includes(k));
  if (odd !== undefined) return `field ${JSON.stringify(odd)} is ${keys.includes(odd) ? 'unknown' : 'missing'}`;
  if (!Number.isSafeInteger(raw.seq) || (raw.seq as number) < 0) return 'seq must be a whole number';
  if (typeof raw.time !== 'string' || Number.isNaN(Date.parse(raw.time))) return 'time must be an ISO 8601 time';
  if (typeof raw.type !== 'string' || !EVENT_TYPE.test(raw.type)) return 'type must be a dotted event name';
  if (typeof raw.party !== 'string') return 'party must be a string';
  if (!isRecord(raw.details)) return 'details must be an object';
  for (const k of ['prevHash', 'hash'] as const) if (typeof raw[k] !== 'string' || !HEX64.test(raw[k] as string)) return `${k} must be 64 hex digits`;
  if (typeof raw.signature !== 'string' || !/^[0-9a-f]{128}$/.test(raw.signature)) return 'signature must be 128 hex digits';
  return undefined;
}

/**
 * The entries of a log as written, for display, without verifying anything; a line that
 * is not an entry comes back as its text.
 */
export async function readAuditEntries(file: string): Promise<{ line: number; entry: AuditEntry | undefined; text: string }[]> {
  const text = await readTextFile(file);
  return text
    .split('\n')
    .map((content, i) => ({ content, line: i + 1 }))
    .filter(({ content }) => content !== '')
    .map(({ content, line }) => {
      let entry: AuditEntry | undefined;
      try {
        const raw = JSON.parse(content) as unknown;
        entry = entryProblem(raw) === undefined ? (raw as AuditEntry) : undefined;
      } catch {
        entry = undefined;
      }
      return { line, entry, text: content };
    });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
