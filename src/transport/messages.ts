/**
 * Every message that crosses a party boundary, declared in one place with what it may carry.
 *
 * Nothing here may hold a raw ID, feature value or label: PSI messages carry blinded group
 * elements (`PointBytes` concatenated), training messages carry ciphertexts or masked,
 * rounded values. The leak-canary tests record every frame and search it for planted
 * plaintext values.
 */

export type FieldType = 'string' | 'bool' | 'uint' | 'number' | 'bytes' | 'bytes[]' | 'number[]' | 'string[]';

export const MESSAGE_SCHEMAS = {
  /** Opens a PSI: both sides must agree on every field before any point is sent. */
  'psi.hello': {
    version: 1,
    fields: { jobId: 'string', backend: 'string', idType: 'string', reveal: 'string' },
  },
  /** A batch of the sender's blinded IDs k·H(id), 32 bytes each, in the sender's shuffled order. */
  'psi.blinded': { version: 1, fields: { seq: 'uint', points: 'bytes', last: 'bool' } },
  /** The receiver's own blinded batch `seq`, raised to the sender's key, in the order received. */
  'psi.reblinded': { version: 1, fields: { seq: 'uint', points: 'bytes', last: 'bool' } },
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
            : string[];

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
