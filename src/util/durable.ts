/**
 * Durable file operations for records that are evidence or secrets (keys, certificates,
 * revocation lists, audit logs).
 *
 * A governance record is evidence: when a call that writes one resolves, the bytes are on
 * stable storage (fsync of the file, and of its folder after a rename), so the action it
 * records may proceed. Replacements go through a temporary file and a rename, so a crash
 * leaves the old version or the new one, never a mixture.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errors } from '../errors.ts';

export async function readTextFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw errors.fileUnreadable(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
}

/** Appends `text` and syncs before resolving; creates the file if it does not exist. */
export async function appendDurably(file: string, text: string): Promise<void> {
  try {
    const handle = await open(file, 'a');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw errors.outputUnwritable(file, (e as Error).message);
  }
}

/** Replaces `file` with `text` atomically and durably. */
export async function replaceDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    await syncDirectory(dirname(file));
  } catch (e) {
    await rm(tmp, { force: true });
    throw errors.outputUnwritable(file, (e as Error).message);
  }
}

/** Makes a rename or link in `dir` durable (POSIX); Windows cannot open folders and needs none. */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes, syncs and links into place: the file appears whole with its mode, or not at all. */
export async function writeNewFile(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(text);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(tmp, file);
  } catch (e) {
    throw errors.outputUnwritable(file, (e as NodeJS.ErrnoException).code === 'EEXIST' ? 'the file exists; keys and certificates are never overwritten' : (e as Error).message);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(dirname(file));
}
