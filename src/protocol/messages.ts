/**
 * Every message that crosses a party boundary, declared in one place with what it may carry.
 *
 * Nothing here may hold a raw ID, feature value or label: PSI messages carry blinded group
 * elements (`PointBytes` concatenated), training messages carry ciphertexts or masked,
 * rounded values. The leak-canary tests record every frame and search it for planted
 * plaintext values.
 */

export type FieldType = 'string' | 'bool' | 'uint' | 'number' | 'bytes' | 'bytes[]' | 'number[]' | 'string[]' | 'record';

/** A `record` field: a map of plain values (strings, finite numbers, booleans, null, nested records and arrays), checked by its receiver field by field. */
export type PlainRecord = { readonly [key: string]: PlainValue };
export type PlainValue = string | number | boolean | null | PlainRecord | readonly PlainValue[];

export const MESSAGE_SCHEMAS = {
  /** Opens a PSI: both sides must agree on every field before any point is sent. */
  'psi.hello': {
    // 2: H(id) onto Curve25519 only (x25519-common.ts `hashOntoCurve`); a version-1 peer hashes otherwise and would match nothing.
    version: 2,
    fields: { jobId: 'string', backend: 'string', idType: 'string', reveal: 'string' },
  },
  /** A batch of the sender's blinded IDs k·H(id), 32 bytes each, in the sender's shuffled order. */
  'psi.blinded': { version: 1, fields: { seq: 'uint', points: 'bytes', last: 'bool' } },
  /** The receiver's own blinded batch `seq`, raised to the sender's key, in the order received. */
  'psi.reblinded': { version: 1, fields: { seq: 'uint', points: 'bytes', last: 'bool' } },
  /**
   * (Label → feature party) Which rows of the pairwise intersection take part in training,
   * in the job's row order: positions (Uint32 LE) into the pair's canonical intersection.
   */
  'align.positions': { version: 1, fields: { positions: 'bytes' } },
  /** (Feature party → label) Ready to train: its feature count, so the label can refuse batches too small to hide residuals. */
  'train.ready': { version: 1, fields: { features: 'uint' } },
  /**
   * (Label → feature party) Training starts, in batches of `batchSize` rows: the job's, or
   * (auto) the largest the data allows, chosen by the label once it knows every party's
   * feature count; each party checks it against its own.
   */
  'train.start': { version: 3, fields: { batchSize: 'uint' } },
  /** (Any party → arbiter) The rotations its matrix-vector products need. */
  'he.keyRequest': { version: 1, fields: { rotationSteps: 'number[]' } },
  /** (Arbiter → every party) Parameters (JSON) and the public, relinearisation and Galois keys. */
  'he.publicKeys': {
    version: 1,
    fields: { params: 'string', rotationSteps: 'number[]', publicKey: 'bytes', relinKeys: 'bytes', galoisKeys: 'bytes' },
  },
  /**
   * (Feature party → label) Encrypted partial linear scores of a batch in row chunks,
   * [[a·u_k/√|B|]] with u_k = X_k[B]·[[w_k]] (encrypted-model.ts says why the factors).
   */
  'train.forward': { version: 2, fields: { epoch: 'uint', batch: 'uint', scores: 'bytes[]' } },
  /** (Label → feature party) The encrypted residual [[σ̃(z) − y]]/√|B| of a batch, in row chunks. */
  'train.residual': { version: 1, fields: { epoch: 'uint', batch: 'uint', residual: 'bytes[]' } },
  /** (Label → feature party) The epoch is over; `stop` ends training early. */
  'train.epochEnd': { version: 1, fields: { epoch: 'uint', stop: 'bool' } },
  /** (Feature party → label) Encrypted partial scores of the validation (or scoring) rows. */
  'eval.forward': { version: 1, fields: { scores: 'bytes[]' } },
  /** (Party → arbiter) Decrypt this masked ciphertext's first `count` slots, values bounded by 2^boundBits. */
  'he.decrypt': { version: 1, fields: { request: 'uint', ciphertext: 'bytes', count: 'uint', boundBits: 'number' } },
  /** (Arbiter → party) The rounded, still-masked values (Float64 LE; 64-bit residues for he.decryptCoefficients under CKKS). */
  'he.decrypted': { version: 1, fields: { request: 'uint', values: 'bytes' } },
  /**
   * (Party → arbiter) Decrypt this coefficient-packed ciphertext, masked uniformly over every
   * coefficient, and return its first `count` column sums (he/coefficients.ts), rounded.
   */
  'he.decryptCoefficients': { version: 1, fields: { request: 'uint', ciphertext: 'bytes', rowsPerChunk: 'uint', count: 'uint' } },
  /**
   * (Every training party → arbiter) The decryption schedule it will follow: the arbiter
   * refuses anything outside it. `widths` are the parties' weight counts (the label's copy
   * lists every party, label first; an agency's lists only its own).
   */
  'train.plan': {
    version: 1,
    fields: { epochs: 'uint', batchesPerEpoch: 'uint', validationRows: 'uint', widths: 'number[]', vectors: 'uint', keepEncrypted: 'bool' },
  },
  /**
   * (Party → arbiter) Refresh [[v + r]] (a masked weight vector, `period` values replicated)
   * of batch epoch/batch (epoch = the plan's epochs: the final model); one of two passes.
   */
  'he.refresh': { version: 1, fields: { request: 'uint', epoch: 'uint', batch: 'uint', pass: 'uint', ciphertext: 'bytes', period: 'uint', boundBits: 'number' } },
  /** (Arbiter → party) A fresh ciphertext of the rounded masked vector, replicated: never a plaintext. */
  'he.refreshed': { version: 1, fields: { request: 'uint', ciphertext: 'bytes' } },
  /**
   * (Party → arbiter) A scheduled masked decryption: `loss` (label, one value per batch),
   * `validation` (label, the validation rows' scores), `weights` (each party's final model,
   * once); one of two passes.
   */
  'train.decrypt': {
    version: 1,
    fields: { request: 'uint', purpose: 'string', epoch: 'uint', batch: 'uint', pass: 'uint', ciphertext: 'bytes', count: 'uint', boundBits: 'number' },
  },
  /** (Arbiter → party) The rounded, still-masked values. */
  'train.decrypted': { version: 1, fields: { request: 'uint', values: 'number[]' } },
  /** (Party → arbiter) No more decryptions for this job. */
  'he.done': { version: 1, fields: {} },
  /**
   * (Feature party → label) Its bins, fixed before anything else about its features leaves
   * it: per feature, its bin count (`bins`, the missing-value bin not included) and whether
   * it has a missing-value bin (`missing`, 0/1); every bin's row count (`counts`, features in
   * order, the missing bin last). The label sizes the label encryption by it (binning/protocol.ts).
   */
  // 2: the label no longer answers the sums with the agency's IVs (the retired bin.iv), so
  // an agency and a bank on either side of that change refuse each other here, not at the end.
  'bin.layout': { version: 2, fields: { bins: 'number[]', missing: 'number[]', counts: 'number[]' } },
  /**
   * (Label → feature party) The aligned rows' 0/1 labels encrypted under the arbiter's key,
   * in the job's row order, `rowsPerChunk` per ciphertext as polynomial coefficients
   * (he/coefficients.ts).
   */
  'bin.labels': { version: 2, fields: { rowsPerChunk: 'uint', labels: 'bytes[]' } },
  /** (Feature party → label) The encrypted per-bin label sums [[Mᵀy]], blinded but for the sums (he/coefficients.ts). */
  'bin.sums': { version: 2, fields: { sums: 'bytes[]' } },
  /** (Bank → agency) Opens a scoring session for the model of job `modelJobId`. */
  // 2, as psi.hello: both sides hash IDs, which version 1 did otherwise.
  'score.hello': { version: 2, fields: { modelJobId: 'string', session: 'string' } },
  /** (Agency → bank) Its model slice belongs to that job. */
  'score.ready': { version: 1, fields: { modelJobId: 'string' } },
  /**
   * (Agency → bank, after score.ready) Whether its policy lets the bank see the score of an
   * enterprise that only this agency holds (total − bank's part = the agency's partial score).
   */
  'score.policy': { version: 1, fields: { disclosesPartialScores: 'bool' } },
  /** (Bank → agency) A scoring request follows (a PSI on the query set, then a layout), or the session ends. */
  'score.request': { version: 1, fields: { request: 'uint', close: 'bool', monitor: 'bool' } },
  /** (Agency → bank, once per session) Its enterprises blinded with its session key, b·H(y), shuffled. */
  'score.prepared': { version: 1, fields: { seq: 'uint', points: 'bytes', last: 'bool' } },
  /** (Bank → agency) The query slots blinded with the bank's session key, a·H(x), in slot order. */
  'score.query': { version: 1, fields: { points: 'bytes' } },
  /** (Agency → bank) The same points raised to the agency's key, b·a·H(x), in the same order. */
  'score.queryReply': { version: 1, fields: { points: 'bytes' } },
  /**
   * (Bank → agency) For each query slot in the bank's order, the position in the agency's
   * prepared (shuffled) list (Uint32 LE), or 0xFFFFFFFF where the agency holds no record.
   */
  'score.layout': { version: 1, fields: { positions: 'bytes' } },
  /** (Agency → bank) Population stability index of its own partial scores against its last run. */
  'monitor.drift': { version: 1, fields: { psiIndex: 'number', hasPrevious: 'bool' } },
  /** (Bank → agency) Opens an OPRF session for tags made under `keyId` for `domain` (psi, verify, lookup:<purpose>). */
  // 2, as psi.hello: H1 onto the curve only; a version-1 bank's points would match no tag.
  'oprf.hello': { version: 2, fields: { keyId: 'string', backend: 'string', domain: 'string' } },
  /** (Bank → agency) Its distinct inputs blinded with its session scalar, c·H1(x), 32 bytes each. */
  'oprf.blinded': { version: 1, fields: { seq: 'uint', points: 'bytes', last: 'bool' } },
  /** (Agency → bank) The same points raised to the OPRF key, k·c·H1(x), in the order received. */
  'oprf.evaluated': { version: 1, fields: { seq: 'uint', points: 'bytes', last: 'bool' } },
  /**
   * (Bank → agency) An identified interface call: the enterprises the bank names, the
   * purpose and the fields it asks for. The IDs are meant to be seen: the agency checks each
   * enterprise's consent.
   */
  'lookup.request': { version: 1, fields: { partner: 'string', purpose: 'string', fields: 'string[]', ids: 'string[]' } },
  /**
   * (Agency → bank) Per requested ID, in order, one value per requested field (row-major);
   * `answered` holds one byte per ID: 1 where the agency answers, 0 where it holds no record
   * or may not answer (the bank cannot tell which); `exposed` one byte per requested field:
   * 1 where the policy exposes it for the purpose (0: its values are sent empty).
   */
  'lookup.reply': { version: 1, fields: { answered: 'bytes', exposed: 'bytes', values: 'string[]' } },
  /**
   * (Bank → agency, first on a lookup session between party services) What the session is
   * for: `verify` (blind verification of `fields`, each within its relative tolerance, 0 for
   * equality), `identified` or `blind` lookup of `fields`, or `psi` (membership, no field);
   * the agency's table, the purpose its policy checks, and how IDs are read (psi: the agency's
   * tag file sets the ID type and group, and these two are not read). Names only: no ID or value.
   */
  'lookup.open': { version: 1, fields: { mode: 'string', purpose: 'string', table: 'string', fields: 'string[]', tolerances: 'number[]', idType: 'string', backend: 'string' } },
  /**
   * (Agency → bank) The session is admitted: for `verify` and `blind`, the key period and
   * domain of the OPRF tags that follow (`lookup.tags`, `count` in all, `labelBytes` each
   * label in blind mode); for `identified`, no tags.
   */
  'lookup.ready': { version: 1, fields: { keyId: 'string', backend: 'string', domain: 'string', count: 'uint', labelBytes: 'uint' } },
  /** (Agency → bank) A slice of the session's sorted OPRF tags (and sealed labels, blind mode): pseudo-random without the agency's key. */
  'lookup.tags': { version: 1, fields: { seq: 'uint', tags: 'bytes', labels: 'bytes', last: 'bool' } },
  /**
   * (Agency → bank, a `psi` session) The session is admitted against the tag file the agency
   * prepared for the table once per key period: its key id, backend, domain, ID type, tag
   * count and `digest` (SHA-256 of its sorted tags, hex), by which the bank knows whether
   * the copy it keeps is this one.
   */
  'lookup.offer': { version: 1, fields: { keyId: 'string', backend: 'string', domain: 'string', idType: 'string', count: 'uint', digest: 'string' } },
  /** (Bank → agency) Whether it needs the offered tags sent (`lookup.tags`, no labels) or keeps them already. */
  'lookup.want': { version: 1, fields: { tags: 'bool' } },
  /** (Bank → agency) The session ends. */
  'lookup.close': { version: 1, fields: {} },
  /** (First message on a connection between party services) Which job, and who is speaking. */
  'job.open': { version: 1, fields: { jobId: 'string', party: 'string', role: 'string' } },
  /**
   * (Label → partner) The job as this partner needs it: its kind (training or scoring with
   * the model of job `modelJobId`), the purpose its gate checks, the table it is to use, the
   * arbiter, every party (label first), the ID type the label read, and the training
   * parameters, which the receiver checks field by field (src/jobs/spec.ts).
   */
  'job.spec': {
    version: 2,
    fields: { kind: 'string', jobId: 'string', purpose: 'string', table: 'string', arbiter: 'string', parties: 'string[]', idType: 'string', modelJobId: 'string', config: 'record' },
  },
  /** (Partner → label) Its gate admitted the job and it is connected to the arbiter (the arbiter: every party is connected): the protocol may start. */
  'job.accept': { version: 1, fields: {} },
  /**
   * (Label ↔ each partner, at a job's end) The sender's audit log head, signed by its audit
   * key (`AuditLog.anchor`: party, key id, seq, hash, job, time, signature), and that key
   * (Ed25519, 32 bytes), for the receiver to keep as evidence against a later rollback.
   * Both empty when the sender keeps no audit log.
   */
  'audit.anchor': { version: 1, fields: { anchor: 'record', publicKey: 'bytes' } },
  /** (Partner → label) Its gate holds the job until its operator approves it; `job.accept` or `job.abort` follows. */
  'job.awaiting-approval': { version: 1, fields: {} },
  /** A party gives up; the peer fails the job with this reason. */
  'job.abort': { version: 1, fields: { reason: 'string' } },
} as const satisfies Record<string, { version: number; fields: Record<string, FieldType> }>;

type Schemas = typeof MESSAGE_SCHEMAS;
export type MessageType = keyof Schemas;

type FieldValue<T extends FieldType> = T extends 'string'
  ? string
  : T extends 'bool'
    ? boolean
    : T extends 'uint' | 'number'
      ? number
      : T extends 'bytes'
        ? Uint8Array
        : T extends 'bytes[]'
          ? Uint8Array[]
          : T extends 'number[]'
            ? number[]
            : T extends 'string[]'
              ? string[]
              : PlainRecord;

export type MessageOf<K extends MessageType> = { readonly t: K; readonly v: Schemas[K]['version'] } & {
  readonly [F in keyof Schemas[K]['fields']]: FieldValue<Schemas[K]['fields'][F] & FieldType>;
};

export type Message = { [K in MessageType]: MessageOf<K> }[MessageType];

/** Builds a message of type `t` at its current version. */
export function message<K extends MessageType>(
  t: K,
  fields: Omit<MessageOf<K>, 't' | 'v'>,
): MessageOf<K> {
  return { t, v: MESSAGE_SCHEMAS[t].version, ...fields } as MessageOf<K>;
}
