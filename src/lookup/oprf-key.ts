/**
 * (Agency) The OPRF key of one key period, kept in a key folder as `oprf.key`.
 *
 * The scalar never leaves the agency: the file is written mode 0600, never overwritten, and
 * refused on load when group or others can read it (as `governance/keys.ts` does for signing
 * keys). Its key id, a hash of the scalar, goes into every tag file and every online session,
 * so a bank's tag file is never answered under another key. Rotating the key (a new folder)
 * starts a new key period: every tag file must be prepared again.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { errors, isJinqiaoError } from '../errors.ts';
import { BACKEND_NAMES, isBackendName, loadBackend } from '../psi/backends/index.ts';
import type { BackendName, ScalarBytes } from '../psi/group.ts';
import { readTextFile, writeNewFile } from '../util/durable.ts';

export interface OprfKey {
  readonly backend: BackendName;
  readonly scalar: ScalarBytes;
  /** Hex of the first 16 bytes of SHA-256 over a domain tag and the scalar. */
  readonly keyId: string;
}

const KEY_TYPE = 'jinqiao.oprf.key';
const KEY_FILE = 'oprf.key';
const HEX64 = /^[0-9a-f]{64}$/;

export function oprfKeyFile(dir: string): string {
  return join(dir, KEY_FILE);
}

function keyIdOf(scalar: ScalarBytes): string {
  return createHash('sha256').update('jinqiao/oprf/v1/key-id').update(scalar).digest('hex').slice(0, 32);
}

/** (Agency) A key that lives for one in-process run only (verification, lookup): never stored. */
export async function ephemeralOprfKey(backend: BackendName): Promise<OprfKey> {
  const scalar = (await loadBackend(backend)).randomScalar();
  return { backend, scalar, keyId: keyIdOf(scalar) };
}

/** (Agency) The key in `dir`, made (with the folder) when there is none yet. */
export async function loadOrCreateOprfKey(dir: string, backend: BackendName): Promise<{ key: OprfKey; created: boolean }> {
  const file = oprfKeyFile(dir);
  const exists = await stat(file).then(
    () => true,
    () => false,
  );
  if (exists) {
    const key = await loadOprfKey(dir);
    if (key.backend !== backend) throw errors.keyInvalid(file, `the key belongs to backend ${key.backend}, not ${backend}`, `pass --backend ${key.backend}, or another --key folder`);
    return { key, created: false };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: Error) => {
    throw errors.outputUnwritable(dir, e.message);
  });
  const scalar = (await loadBackend(backend)).randomScalar();
  const key: OprfKey = { backend, scalar, keyId: keyIdOf(scalar) };
  const text = JSON.stringify({ type: KEY_TYPE, version: 1, backend, keyId: key.keyId, scalar: Buffer.from(scalar).toString('hex') }, null, 2) + '\n';
  await writeNewFile(file, text, 0o600);
  return { key, created: true };
}

/** (Agency) The key in `dir`; refuses a missing, readable-by-others or altered file. */
export async function loadOprfKey(dir: string): Promise<OprfKey> {
  const file = oprfKeyFile(dir);
  const info = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw errors.fileUnreadable(file, e.code === 'ENOENT' ? 'no such file (run `jinqiao psi prepare` with this --key folder first)' : e.message);
  });
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw errors.keyInvalid(file, `the OPRF key is readable by others (mode ${(info.mode & 0o777).toString(8)})`, `run chmod 600 ${file}`);
  }
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(await readTextFile(file)) as Record<string, unknown>;
  } catch (e) {
    if (isJinqiaoError(e)) throw e;
    throw errors.keyInvalid(file, 'not a JSON key file');
  }
  if (record === null || typeof record !== 'object' || record.type !== KEY_TYPE) throw errors.keyInvalid(file, `field "type" must be "${KEY_TYPE}"`);
  if (typeof record.backend !== 'string' || !isBackendName(record.backend)) throw errors.keyInvalid(file, `field "backend" must be one of ${BACKEND_NAMES.join(', ')}`);
  if (typeof record.scalar !== 'string' || !HEX64.test(record.scalar)) throw errors.keyInvalid(file, 'field "scalar" must be 64 lower-case hex digits');
  const scalar = new Uint8Array(Buffer.from(record.scalar, 'hex'));
  const keyId = keyIdOf(scalar);
  if (record.keyId !== keyId) throw errors.keyInvalid(file, 'the key id recorded in the file does not belong to its scalar');
  return { backend: record.backend, scalar, keyId };
}
