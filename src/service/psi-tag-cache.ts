/**
 * (Bank) Its copies of agencies' PSI tags, kept in its store folder between sessions and
 * restarts: one tag file per agency and table (a folder each), named by the key period (key id) and the
 * digest of the tags, so a new key period or tags prepared anew are fetched once more and
 * the copy they replace is removed. The tags are pseudo-random without the agency's key: the
 * copy reveals the register's size, nothing about which enterprises it holds.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import type { PsiTagCache } from '../jobs/context.ts';
import { readTagFile, tagsDigest, writeTagFile } from '../lookup/tag-file.ts';

export function psiTagCache(dir: string): PsiTagCache {
  const folder = (agency: string, table: string) => join(dir, encodeURIComponent(agency), encodeURIComponent(table));
  const fileName = (keyId: string, digest: string) => `${keyId}.${digest}.tags`;
  return {
    async get(agency, table, keyId, digest) {
      const file = join(folder(agency, table), fileName(keyId, digest));
      const kept = await readTagFile(file).catch(() => undefined);
      // A copy altered or cut short on disk is fetched again, never used.
      if (!kept || kept.header.keyId !== keyId || tagsDigest(kept.tags.tags) !== digest) return undefined;
      return kept.tags;
    },
    async put(agency, table, header, digest, tags) {
      const at = folder(agency, table);
      await mkdir(at, { recursive: true }).catch((e: Error) => {
        throw errors.outputUnwritable(at, e.message);
      });
      const name = fileName(header.keyId, digest);
      await writeTagFile(join(at, name), header, tags);
      for (const other of await readdir(at)) {
        if (other !== name && other.endsWith('.tags')) await rm(join(at, other), { force: true });
      }
    },
  };
}
