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
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { errors, JinqiaoError } from '../errors.ts';
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

/** Writes the tag file atomically; returns its size in bytes (header included). */
export async function writeTagFile(file: string, header: TagFileHeader, tags: TagSet): Promise<number> {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const head = Buffer.concat([MAGIC, length, json]);
  await writeAtomically(file, async (write) => {
    await write(head);
    await write(tags.tags);
    if (tags.labels) await write(tags.labels);
  });
  return head.length + tags.tags.length + (tags.labels?.length ?? 0);
}

/** What a tag file that was read but cannot be used should make its user do. */
const PREPARE_AGAIN = 'the tag file is truncated or altered, or is not one: prepare it again with `jinqiao psi prepare` (the same --key and options)';

/** (Agency, in-process runs) Refuses a tag file prepared under another key than the one in `keyDir`. */
export function checkTagFileKey(file: string, header: TagFileHeader, keyDir: string, key: { readonly keyId: string }): void {
  if (header.keyId !== key.keyId) {
    throw errors.optionInvalid(
      '--key',
      `${file} was prepared under key ${header.keyId}; the key in ${keyDir} is ${key.keyId}`,
      `give the --key folder ${file} was prepared with, or prepare the tags again with this key (\`jinqiao psi prepare … --key ${keyDir}\`)`,
    );
  }
}

/** Refuses a tag file of another backend or ID type than the caller asked for on its command line (the tag file decides both). */
export function checkTagFileFits(file: string, header: TagFileHeader, asked: { readonly backend?: string; readonly idType?: string }): void {
  if (asked.backend !== undefined && asked.backend !== header.backend) {
    throw errors.optionInvalid('--backend', `${file} was prepared with backend ${header.backend}, not ${asked.backend}`, `leave out --backend (the tag file names it), or prepare the tags again with --backend ${asked.backend}`);
  }
  if (asked.idType !== undefined && asked.idType !== 'auto' && asked.idType !== header.idType) {
    throw errors.optionInvalid('--id-type', `${file} holds ${header.idType} IDs, not ${asked.idType}`, `leave out --id-type (IDs are read as the tag file says), or prepare the tags again with --id-type ${asked.idType}`);
  }
}

/** (Bank) Reads a tag file whole: its size is the bound on the online phase's memory. */
export async function readTagFile(file: string): Promise<{ header: TagFileHeader; tags: TagSet }> {
  const opened = await openTagFile(file);
  return { header: opened.header, tags: await opened.tags };
}

/** (Agency) A tag file's header alone, checked as `openTagFile` checks it (a service names the file in its config and reads the tags later). */
export async function readTagFileHeader(file: string): Promise<TagFileHeader> {
  const opened = await openTagFile(file, { header: true });
  return opened.header;
}

/** SHA-256 of sorted tags, hex: what a bank compares to know its copy of an agency's tags is the one offered. */
export function tagsDigest(tags: Uint8Array): string {
  return createHash('sha256').update(tags).digest('hex');
}

/** How much of a tag file `openTagFile` reads for its header at first (one more read if the header is longer). */
const HEADER_READ = 64 * 1024;

/**
 * (Bank) A tag file's header, checked (kind, backend, counts, and the file's size against
 * them, so a truncated file is refused here), and its tags, read on in the background: the
 * online phase needs the header to start and the tags only for its first lookup, so reading
 * 36 MB overlaps the first group operations instead of preceding them. The caller must
 * consume `tags` (it rejects only on an I/O error after the header was read).
 */
export async function openTagFile(file: string): Promise<{ header: TagFileHeader; tags: Promise<TagSet> }>;
export async function openTagFile(file: string, only: { header: true }): Promise<{ header: TagFileHeader }>;
export async function openTagFile(file: string, only?: { header: true }): Promise<{ header: TagFileHeader; tags?: Promise<TagSet> }> {
  const unreadable = (e: unknown) => errors.fileUnreadable(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  let handle: FileHandle;
  try {
    handle = await open(file);
  } catch (e) {
    throw unreadable(e);
  }
  let header: TagFileHeader;
  let start: number;
  try {
    const size = (await handle.stat()).size;
    let head = await readAt(handle, 0, Math.min(size, HEADER_READ));
    const bad = (why: string) => errors.fileUnreadable(file, `not a jinqiao tag file: ${why}`, PREPARE_AGAIN);
    if (head.length < 12 || !head.subarray(0, 8).equals(MAGIC)) throw bad('it does not start with JQTAGS01');
    const headerLength = head.readUInt32LE(8);
    if (12 + headerLength > size) throw bad('the header is cut short');
    if (12 + headerLength > head.length) head = await readAt(handle, 0, 12 + headerLength);
    header = checkedHeader(file, head.subarray(12, 12 + headerLength));
    start = 12 + headerLength;
    const expected = start + header.count * (header.tagBytes + header.labelBytes);
    if (size !== expected) throw bad(`${size} bytes where the header announces ${expected} (truncated or altered)`);
  } catch (e) {
    await handle.close();
    throw e instanceof JinqiaoError ? e : unreadable(e);
  }
  if (only?.header) {
    await handle.close();
    return { header };
  }
  const tags = (async () => {
    try {
      const body = await readAt(handle, start, header.count * (header.tagBytes + header.labelBytes));
      const tagsEnd = header.count * header.tagBytes;
      const labels = header.labelBytes > 0 ? { bytes: body.subarray(tagsEnd), each: header.labelBytes } : undefined;
      return new TagSet(body.subarray(0, tagsEnd), labels);
    } catch (e) {
      throw unreadable(e);
    } finally {
      await handle.close();
    }
  })();
  return { header, tags };
}

/** `length` bytes of `handle` from `position`, in as many reads as the system takes. */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  for (let at = 0; at < length; ) {
    const { bytesRead } = await handle.read(out, at, length - at, position + at);
    if (bytesRead === 0) throw new Error(`the file ended ${length - at} bytes early (changed while read?)`);
    at += bytesRead;
  }
  return out;
}

function checkedHeader(file: string, json: Buffer): TagFileHeader {
  const bad = (why: string) => errors.fileUnreadable(file, `not a jinqiao tag file: ${why}`, PREPARE_AGAIN);
  let header: TagFileHeader;
  try {
    header = JSON.parse(json.toString('utf8')) as TagFileHeader;
  } catch {
    throw bad('the header is not JSON');
  }
  if (header === null || typeof header !== 'object') throw bad('the header is not a JSON object');
  if (header.version !== TAG_FILE_VERSION) {
    const older = typeof header.version === 'number' && header.version < TAG_FILE_VERSION;
    throw errors.fileUnreadable(
      file,
      older
        ? `a tag file of version ${header.version}, made by an earlier jinqiao whose IDs hash differently, so its tags would match nothing; this version reads version ${TAG_FILE_VERSION}: the agency must prepare the tags again (\`jinqiao psi prepare\` with the same --key and options)`
        : `not a jinqiao tag file this version reads: version ${String(header.version)} is not ${TAG_FILE_VERSION} (a newer jinqiao made it?)`,
      older ? 'prepare the tag file again with this version of jinqiao' : 'read it with the jinqiao that made it, or prepare the tags again with this one',
    );
  }
  if (header.kind !== 'psi' && header.kind !== 'lookup' && header.kind !== 'verify') throw bad('unknown kind');
  if (typeof header.backend !== 'string' || !isBackendName(header.backend)) throw bad('unknown backend');
  if (header.tagBytes !== TAG_BYTES) throw bad(`tags of ${String(header.tagBytes)} bytes (this version reads ${TAG_BYTES})`);
  if (!Number.isSafeInteger(header.count) || header.count < 0 || !Number.isSafeInteger(header.labelBytes) || header.labelBytes < 0) throw bad('bad counts');
  if (typeof header.keyId !== 'string' || typeof header.domain !== 'string') throw bad('the key id or domain is not a string');
  if (header.idType !== 'uscc' && header.idType !== 'plain') throw bad(`unknown ID type ${JSON.stringify(header.idType)}`);
  if (!Array.isArray(header.fields) || header.fields.some((f) => typeof f !== 'string')) throw bad('the fields are not a list of names');
  if (typeof header.offlineSeconds !== 'number' || !Number.isFinite(header.offlineSeconds) || header.offlineSeconds < 0) throw bad(`offlineSeconds ${JSON.stringify(header.offlineSeconds)} is not a number of seconds`);
  return header;
}
