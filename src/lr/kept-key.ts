/**
 * (Arbiter) The key of a training job whose weights were kept encrypted (`keepEncrypted`).
 *
 * Every party's final weights stay a CKKS ciphertext under the training arbiter's key; to
 * score with them later, the arbiter must decrypt the (masked) total scores under that same
 * key. So when such a job ends, the arbiter keeps its secret key, with the parameters it
 * was made for, in a file of its own outputs: `arbiter-key.secret` (mode 0600) in the job's
 * folder of the platform's store, or in the `--out` folder of a job run in one process,
 * where every party is the same user anyway. A scoring session of that model (its job spec
 * says `keepEncrypted`) restores it and hands out fresh public and Galois keys made from it.
 *
 * Whoever holds this file and any party's model slice holds that party's weights: it is the
 * platform's to keep, as its other keys, and never goes on a channel.
 */
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.ts';
import type { HeParams } from '../he/backend.ts';
import { BASE64 } from './model.ts';

export const KEPT_KEY_FILE = 'arbiter-key.secret';
const KIND = 'jinqiao.arbiter-key';
const VERSION = 1;

export interface KeptKey {
  readonly jobId: string;
  readonly params: HeParams;
  readonly secretKey: Uint8Array;
}

/** The file's text: one JSON object. */
export function keptKeyText(key: KeptKey): string {
  return JSON.stringify({ kind: KIND, version: VERSION, jobId: key.jobId, params: key.params, secretKey: Buffer.from(key.secretKey).toString('base64'), createdAt: new Date().toISOString() }) + '\n';
}

/** Reads a kept key's text for model job `jobId`; `file` names it in every error. */
export function parseKeptKey(text: string, file: string, jobId: string): KeptKey {
  const bad = (why: string) => errors.keyInvalid(file, why, `restore the ${KEPT_KEY_FILE} the training job ${jobId} wrote; without it that encrypted model cannot be scored`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  if (json?.kind !== KIND) throw bad('not a jinqiao arbiter key');
  if (json.version !== VERSION) throw bad(`key version ${String(json.version)} is not supported (this jinqiao reads version ${VERSION})`);
  if (json.jobId !== jobId) throw bad(`it is the key of job ${String(json.jobId)}, not of ${jobId}`);
  const params = json.params as HeParams | undefined;
  if (typeof params !== 'object' || params === null || (params.scheme !== 'ckks' && params.scheme !== 'mock') || !Array.isArray(params.coeffModBits)) throw bad('params must be the HE parameters the key was made for');
  if (typeof json.secretKey !== 'string' || !BASE64.test(json.secretKey)) throw bad('secretKey must be base64');
  return { jobId, params, secretKey: new Uint8Array(Buffer.from(json.secretKey, 'base64')) };
}

/** Reads and checks the key kept for model job `jobId` at `file`; a missing file says what it is and what to restore. */
export async function readKeptKey(file: string, jobId: string): Promise<KeptKey> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw errors.keyInvalid(
      file,
      e.code === 'ENOENT' ? `no such file: the model of job ${jobId} was trained with --keep-encrypted, and its scores can only be decrypted under the key that job kept` : e.message,
      `restore the ${KEPT_KEY_FILE} the training job wrote (run in one process: the whole --out folder; a party service: the platform's job folder)`,
    );
  });
  return parseKeptKey(text, file, jobId);
}
