/**
 * Sealed labels of a labeled tag file (blind lookup): each record's permitted fields,
 * encrypted with AES-256-GCM (NIST SP 800-38D) under a key derived from the record's OPRF
 * output (oprf.ts `labelKeyOf`), so only a bank that evaluated the OPRF at that enterprise
 * can open it. Every label is padded to the file's longest, so lengths say nothing about
 * values; the nonce is random per label (a key is reused if the agency prepares the same
 * key period twice).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;
const LENGTH_BYTES = 4;

/** The sealed size of a label whose encoded fields are at most `plainBytes` long. */
export function sealedLabelBytes(plainBytes: number): number {
  return NONCE_BYTES + LENGTH_BYTES + plainBytes + GCM_TAG_BYTES;
}

/** The fields of one record as label plaintext: `null` where a field is absent or not permitted. */
export function encodeLabel(values: readonly (string | null)[]): Buffer {
  return Buffer.from(JSON.stringify(values));
}

/** (Agency) Seals `plain`, padded to `plainBytes`. */
export function sealLabel(key: Uint8Array, plain: Uint8Array, plainBytes: number): Uint8Array {
  const padded = Buffer.alloc(LENGTH_BYTES + plainBytes);
  padded.writeUInt32LE(plain.length);
  padded.set(plain, LENGTH_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(padded), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/**
 * (Bank) Opens a label with the key of its OPRF output; undefined when it does not
 * authenticate, or authenticates but is not `fields` strings or nulls. Both are the agency's
 * doing (it holds the key every label is sealed under), and the bank treats them alike: an
 * error on the second would tell a deviating agency which enterprise was asked about
 * (test/attacks/blind-lookup-malformed-label.test.ts).
 */
export function openLabel(key: Uint8Array, sealed: Uint8Array, fields: number): (string | null)[] | undefined {
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  let padded: Buffer;
  try {
    padded = Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
  try {
    const length = padded.readUInt32LE(0);
    const values: unknown = JSON.parse(padded.subarray(LENGTH_BYTES, LENGTH_BYTES + length).toString('utf8'));
    return Array.isArray(values) && values.length === fields && values.every((v) => v === null || typeof v === 'string') ? (values as (string | null)[]) : undefined;
  } catch {
    return undefined;
  }
}
