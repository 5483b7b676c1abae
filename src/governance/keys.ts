/**
 * A party's Ed25519 signing key: generated, stored, loaded, and used to sign governance
 * documents (consent tokens, audit log entries).
 *
 * Who learns what: the secret key never leaves its file (written mode 0600, and refused on
 * load when group or others can read it, as ssh does); the public key and its key id are
 * meant to be handed to partners, the platform and auditors. The key id is the hex of the
 * first 16 bytes of SHA-256 of the public key: short enough to print, 128 bits so that no
 * one can make a second key with the same id.
 *
 * Every signature covers a domain tag before the message, so a signature made for one kind
 * of document (an audit entry) can never be passed off as another (a consent token).
 *
 * Weaknesses: the secret key sits unencrypted on disk, protected by file permissions only;
 * a bank that needs more keeps it in an HSM and signs there (only `sign` would change).
 * Key rotation and revocation of a key are out of scope: a trusted-issuer list is edited
 * by hand.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { pathText } from '../data/yaml.ts';
import { errors, isJinqiaoError } from '../errors.ts';
import { conform, conforms } from '../schemas/check.ts';
import {
  DECOY_KEY_TYPE,
  DecoyKeyFileSchema,
  HEX64_PATTERN,
  KEY_ID_PATTERN_SOURCE,
  PUBLIC_KEY_TYPE,
  PublicKeyFileSchema,
  SECRET_KEY_TYPE,
  SecretKeyFileSchema,
} from '../schemas/governance.ts';
import { readTextFile, writeNewFile } from '../util/durable.ts';

/** An Ed25519 public key, 32 bytes. */
export type PublicKeyBytes = Uint8Array;
/** An Ed25519 secret key (seed), 32 bytes. */
export type SecretKeyBytes = Uint8Array;
/** An Ed25519 signature, 64 bytes. */
export type SignatureBytes = Uint8Array;

export interface PublicKeyRecord {
  readonly publicKey: PublicKeyBytes;
  /** Hex of the first 16 bytes of SHA-256(publicKey). */
  readonly keyId: string;
}

export interface PartyKeyPair extends PublicKeyRecord {
  readonly secretKey: SecretKeyBytes;
}

const HEX64 = new RegExp(HEX64_PATTERN);
export const KEY_ID_PATTERN = new RegExp(KEY_ID_PATTERN_SOURCE);

export function keyIdOf(publicKey: PublicKeyBytes): string {
  return bytesToHex(sha256(publicKey).subarray(0, 16));
}

export function generateKeyPair(): PartyKeyPair {
  return keyPairFromSecret(ed25519.utils.randomSecretKey());
}

export function keyPairFromSecret(secretKey: SecretKeyBytes): PartyKeyPair {
  const publicKey = ed25519.getPublicKey(secretKey);
  return { secretKey, publicKey, keyId: keyIdOf(publicKey) };
}

/** A public key given as 64 hex digits (as in policy files); `field` names it in errors. */
export function publicKeyFromHex(hex: string, field: string): PublicKeyRecord {
  if (!HEX64.test(hex)) throw errors.optionInvalid(field, 'an Ed25519 public key is 64 lower-case hex digits');
  const publicKey = hexToBytes(hex);
  if (!ed25519.utils.isValidPublicKey(publicKey, false)) throw errors.optionInvalid(field, 'not a point on Ed25519');
  return { publicKey, keyId: keyIdOf(publicKey) };
}

/** Signs `message` for documents of kind `domain` (e.g. `jinqiao/consent/v1`). */
export function sign(secretKey: SecretKeyBytes, domain: string, message: Uint8Array): SignatureBytes {
  return ed25519.sign(tagged(domain, message), secretKey);
}

/** Strict RFC 8032 verification (no ZIP-215 leniency), false for any malformed input. */
export function verify(publicKey: PublicKeyBytes, domain: string, message: Uint8Array, signature: SignatureBytes): boolean {
  try {
    return ed25519.verify(signature, tagged(domain, message), publicKey, { zip215: false });
  } catch {
    return false;
  }
}

function tagged(domain: string, message: Uint8Array): Uint8Array {
  return concatBytes(utf8ToBytes(domain), new Uint8Array([0]), message);
}

/**
 * Writes `<prefix>.key` (mode 0600) and `<prefix>.pub`. Refuses to replace an existing
 * file: overwriting a signing key by accident would orphan every token and log it signed.
 */
export async function saveKeyPair(prefix: string, pair: PartyKeyPair): Promise<{ secretKeyFile: string; publicKeyFile: string }> {
  const secretKeyFile = `${prefix}.key`;
  const publicKeyFile = `${prefix}.pub`;
  for (const file of [secretKeyFile, publicKeyFile]) {
    if (await exists(file)) throw errors.outputUnwritable(file, 'the file exists; a key is never overwritten');
  }
  const publicKey = bytesToHex(pair.publicKey);
  await writeNewFile(secretKeyFile, json({ type: SECRET_KEY_TYPE, keyId: pair.keyId, publicKey, secretKey: bytesToHex(pair.secretKey) }), 0o600);
  await writeNewFile(publicKeyFile, json({ type: PUBLIC_KEY_TYPE, keyId: pair.keyId, publicKey }), 0o644);
  return { secretKeyFile, publicKeyFile };
}

export async function loadSecretKey(file: string): Promise<PartyKeyPair> {
  const info = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw errors.fileUnreadable(file, e.code === 'ENOENT' ? 'no such file' : e.message);
  });
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw errors.keyInvalid(file, `the secret key is readable by others (mode ${(info.mode & 0o777).toString(8)})`, `run chmod 600 ${file}`);
  }
  const record = parseKeyFile(file, await readTextFile(file));
  if (record.type === PUBLIC_KEY_TYPE) throw errors.keyInvalid(file, 'this is a public key file; signing needs the .key file');
  conform(SecretKeyFileSchema, record, keyFieldInvalid(file));
  const pair = keyPairFromSecret(hexToBytes(record.secretKey));
  if (record.publicKey !== bytesToHex(pair.publicKey) || record.keyId !== pair.keyId) {
    throw errors.keyInvalid(file, 'the public key or key id recorded in the file does not belong to its secret key');
  }
  return pair;
}

export async function loadPublicKey(file: string): Promise<PublicKeyRecord> {
  const record = parseKeyFile(file, await readTextFile(file));
  if (record.type === SECRET_KEY_TYPE) throw errors.keyInvalid(file, 'this is a secret key file', 'pass the .pub file; the secret key never leaves its owner');
  conform(PublicKeyFileSchema, record, keyFieldInvalid(file));
  let key: PublicKeyRecord;
  try {
    key = publicKeyFromHex(record.publicKey, 'publicKey');
  } catch (e) {
    throw isJinqiaoError(e) ? errors.keyInvalid(file, e.message) : e;
  }
  if (record.keyId !== key.keyId) throw errors.keyInvalid(file, `field "keyId" is ${JSON.stringify(record.keyId)}, the public key's id is ${key.keyId}`);
  return key;
}

/** A key file's field that breaks its schema (schemas/governance.ts), named as `field "publicKey": …`. */
function keyFieldInvalid(file: string) {
  return (path: readonly (string | number)[], why: string) => errors.keyInvalid(file, `field "${pathText(path)}": ${why}`);
}

/** The bank's decoy key file in its key folder. */
export const DECOY_KEY_FILE = 'scoring-decoys.secret';

/**
 * (Label) The bank's persistent secret that fixes which decoys accompany each enterprise in
 * scoring queries (see score/bank.ts): `<dir>/scoring-decoys.secret`, 32 random bytes,
 * created (mode 0600) on first use and refused when group or others can read it. It must
 * outlive sessions: a fresh key per session lets an agency intersect the decoy sets of two
 * sessions and single the real enterprise out.
 */
export async function loadOrCreateDecoyKey(dir: string): Promise<Uint8Array> {
  const file = join(dir, DECOY_KEY_FILE);
  if (!(await exists(file))) {
    await mkdir(dir, { recursive: true }).catch((e: Error) => {
      throw errors.outputUnwritable(dir, e.message);
    });
    // A second process creating it at the same moment loses the race and reads the winner's.
    await writeNewFile(file, json({ type: DECOY_KEY_TYPE, key: bytesToHex(randomBytes(32)) }), 0o600).catch(async (e: unknown) => {
      if (!(await exists(file))) throw e;
    });
  }
  const info = await stat(file);
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw errors.keyInvalid(file, `the decoy key is readable by others (mode ${(info.mode & 0o777).toString(8)})`, `run chmod 600 ${file}`);
  }
  const record = parseKeyFile(file, await readTextFile(file));
  if (!conforms(DecoyKeyFileSchema, record)) {
    throw errors.keyInvalid(file, `not a decoy key file (type "${DECOY_KEY_TYPE}", key of 64 lower-case hex digits)`, 'move the file away; a new key is made on the next run (decoys then change once)');
  }
  return hexToBytes(record.key);
}

function parseKeyFile(file: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw errors.keyInvalid(file, 'not a JSON key file');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw errors.keyInvalid(file, 'not a JSON key file');
  return value as Record<string, unknown>;
}

function json(value: object): string {
  return JSON.stringify(value, null, 2) + '\n';
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}


