/**
 * The wire format: one MessagePack map per message, `{ t: <type tag>, v: <version>, ...fields }`.
 *
 * `useRecords: false` keeps every frame readable by any standard MessagePack decoder. The
 * decoder trusts nothing: it rejects unknown tags and versions, fields of the wrong type,
 * extra fields, and trailing or truncated bytes, each as an E_MESSAGE_MALFORMED error.
 */
import { Packr, Unpackr } from 'msgpackr';
import { errors } from '../errors.ts';
import { MESSAGE_SCHEMAS, type Message, type FieldType } from '../protocol/messages.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Largest frame a peer may send. The largest legitimate one is the arbiter's public key
 * bundle for `sigmoid: poly2` (N = 16384): about 70 MB with the rotation keys the encrypted
 * model's products use, one more since the forward product reuses the gradient product's
 * diagonals (a PSI batch of 64k 32-byte points is ~2 MiB). A peer can make this party hold
 * at most one such frame per channel before it is refused.
 */
export const MAX_FRAME_BYTES = 128 * 1024 * 1024;

export function encodeMessage(message: Message): Uint8Array {
  return packr.pack(message);
}

export function decodeMessage(frame: Uint8Array): Message {
  if (frame.byteLength > MAX_FRAME_BYTES) {
    throw errors.messageMalformed(`frame of ${frame.byteLength} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  }
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(frame) as unknown[];
  } catch (e) {
    throw errors.messageMalformed(`not MessagePack (${(e as Error).message})`);
  }
  if (values.length !== 1) throw errors.messageMalformed(`expected one value per frame, found ${values.length}`);
  return validateMessage(values[0]);
}

function validateMessage(value: unknown): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw errors.messageMalformed('a message must be a map');
  }
  const record = value as Record<string, unknown>;
  const tag = record.t;
  if (typeof tag !== 'string' || !Object.hasOwn(MESSAGE_SCHEMAS, tag)) {
    throw errors.messageMalformed(`unknown message type ${JSON.stringify(tag)}`);
  }
  const schema = MESSAGE_SCHEMAS[tag as keyof typeof MESSAGE_SCHEMAS];
  if (record.v !== schema.version) {
    throw errors.messageMalformed(`${tag}: version ${String(record.v)} is not the supported version ${schema.version}`);
  }
  const fields = schema.fields as Record<string, FieldType>;
  for (const key of Object.keys(record)) {
    if (key !== 't' && key !== 'v' && !Object.hasOwn(fields, key)) {
      throw errors.messageMalformed(`${tag}: unexpected field "${key}"`);
    }
  }
  for (const [key, type] of Object.entries(fields)) {
    if (!fieldMatches(record[key], type)) {
      throw errors.messageMalformed(`${tag}: field "${key}" must be ${type}`);
    }
    // msgpackr decodes bytes as Node Buffers; consumers such as node-seal need plain
    // Uint8Arrays (views on the same memory, no copy).
    if (type === 'bytes') record[key] = plainBytes(record[key] as Uint8Array);
    if (type === 'bytes[]') record[key] = (record[key] as Uint8Array[]).map(plainBytes);
  }
  return record as unknown as Message;
}

function plainBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function fieldMatches(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'uint':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'bytes':
      return value instanceof Uint8Array;
    case 'bytes[]':
      return Array.isArray(value) && value.every((v) => v instanceof Uint8Array);
    case 'number[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
    case 'string[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'record':
      return isPlainRecord(value, 0);
  }
}

/** Plain values only, nested at most 8 deep: no bytes, no extension types, nothing a receiver could mistake for an object of its own. */
function isPlainRecord(value: unknown, depth: number): boolean {
  if (depth > 8 || typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return false;
  if (Object.getPrototypeOf(value) !== Object.prototype || Object.hasOwn(value, '__proto__')) return false;
  return Object.values(value).every((v) => isPlainValue(v, depth + 1));
}

function isPlainValue(value: unknown, depth: number): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return depth <= 8 && value.every((v) => isPlainValue(v, depth + 1));
  return isPlainRecord(value, depth);
}
