/**
 * The tag file an agency publishes once per key period: its OPRF tags, sorted, and for a
 * labeled (blind lookup) file one sealed label per tag.
 *
 *   "JQTAGS01"                 8 bytes
 *   header length              uint32 LE
 *   header                     JSON: version, kind, keyId, backend, domain, idType, count,
 *                              tagBytes, labelBytes, fields, offlineSeconds
 *   tags                       count × tagBytes, ascending, distinct
 *   labels                     count × labelBytes (labeled files only), in tag order
 *
 * Nothing in it can be read without the agency's key: tags are OPRF outputs, labels are
 * sealed under keys derived from OPRF outputs, all padded to one length.
 */
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.ts';
import type { IdType } from '../ids/normalise.ts';
import { isBackendName } from '../psi/backends/index.ts';
import type { BackendName } from '../psi/group.ts';
import { writeAtomically } from '../data/write.ts';
import { TAG_BYTES } from './oprf.ts';
import { TagSet } from './tag-set.ts';

const MAGIC = Buffer.from('JQTAGS01');
/**
 * 2 since H1 maps onto Curve25519 only (backends/x25519-common.ts `hashOntoCurve`): a tag of
 * version 1 was made with another hash, so it matches nothing a bank computes now. Such a file
 * is refused, never read as a register where nothing is found.
 */
export const TAG_FILE_VERSION = 2;

export interface TagFileHeader {
  readonly version: typeof TAG_FILE_VERSION;
  readonly kind: 'psi' | 'lookup' | 'verify';
  readonly keyId: string;
  readonly backend: BackendName;
  readonly domain: string;
  readonly idType: IdType;
  readonly count: number;
  readonly tagBytes: number;
  /** 0 for an unlabeled file. */
  readonly labelBytes: number;
  /** The fields each label carries, in order (labeled files). */
  readonly fields: readonly string[];
  readonly offlineSeconds: number;
}

export async function writeTagFile(file: string, header: TagFileHeader, tags: TagSet): Promise<void> {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  await writeAtomically(file, async (write) => {
    await write(Buffer.concat([MAGIC, length, json]));
    await write(tags.tags);
    if (tags.labels) await write(tags.labels);
  });
}

/** (Bank) Reads a tag file whole: its size is the bound on the online phase's memory. */
export async function readTagFile(file: string): Promise<{ header: TagFileHeader; tags: TagSet }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw errors.fileUnreadable(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
  const bad = (why: string) => errors.fileUnreadable(file, `not a jinqiao tag file: ${why}`);
  if (bytes.length < 12 || !bytes.subarray(0, 8).equals(MAGIC)) throw bad('it does not start with JQTAGS01');
  const headerLength = bytes.readUInt32LE(8);
  if (12 + headerLength > bytes.length) throw bad('the header is cut short');
  let header: TagFileHeader;
  try {
    header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8')) as TagFileHeader;
  } catch {
    throw bad('the header is not JSON');
  }
  if (header.version !== TAG_FILE_VERSION) {
    const older = typeof header.version === 'number' && header.version < TAG_FILE_VERSION;
    throw errors.fileUnreadable(
      file,
      older
        ? `a tag file of version ${header.version}, made by an earlier jinqiao whose IDs hash differently, so its tags would match nothing; this version reads version ${TAG_FILE_VERSION}: the agency must prepare the tags again (\`jinqiao psi prepare\` with the same --key and options)`
        : `not a jinqiao tag file this version reads: version ${String(header.version)} is not ${TAG_FILE_VERSION} (a newer jinqiao made it?)`,
    );
  }
  if (header.kind !== 'psi' && header.kind !== 'lookup' && header.kind !== 'verify') throw bad('unknown kind');
  if (typeof header.backend !== 'string' || !isBackendName(header.backend)) throw bad('unknown backend');
  if (header.tagBytes !== TAG_BYTES) throw bad(`tags of ${String(header.tagBytes)} bytes (this version reads ${TAG_BYTES})`);
  if (!Number.isSafeInteger(header.count) || header.count < 0 || !Number.isSafeInteger(header.labelBytes) || header.labelBytes < 0) throw bad('bad counts');
  const start = 12 + headerLength;
  const expected = start + header.count * (header.tagBytes + header.labelBytes);
  if (bytes.length !== expected) throw bad(`${bytes.length} bytes where the header announces ${expected} (truncated or altered)`);
  const tagsEnd = start + header.count * header.tagBytes;
  const tags = new Uint8Array(bytes.buffer, bytes.byteOffset + start, header.count * header.tagBytes);
  const labels = header.labelBytes > 0 ? { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset + tagsEnd, header.count * header.labelBytes), each: header.labelBytes } : undefined;
  return { header, tags: new TagSet(tags, labels) };
}
