/**
 * (Bank) Its copies of agencies' prepared tags (PSI, verification), kept in its store folder
 * between sessions and restarts: one tag file per agency, table and kind (a folder each), named by the key period (key id) and the
 * digest of the tags, so a new key period or tags prepared anew are fetched once more and
 * the copy they replace is removed. The tags are pseudo-random without the agency's key: the
 * copy reveals the register's size, nothing about which enterprises it holds.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import type { KeptTags, PreparedKind } from '../jobs/context.ts';
import { readTagFile, tagsDigest, writeTagFile } from '../lookup/tag-file.ts';

export function keptTags(dir: string): KeptTags {
  const folder = (agency: string, table: string, kind: PreparedKind) => join(dir, encodeURIComponent(agency), encodeURIComponent(table), kind);
  const fileName = (keyId: string, digest: string) => `${keyId}.${digest}.tags`;
  return {
    async get(agency, table, kind, keyId, digest) {
      const file = join(folder(agency, table, kind), fileName(keyId, digest));
      const kept = await readTagFile(file).catch(() => undefined);
      // A copy altered or cut short on disk is fetched again, never used.
      if (!kept || kept.header.kind !== kind || kept.header.keyId !== keyId || tagsDigest(kept.tags.tags) !== digest) return undefined;
      return kept.tags;
    },
    async put(agency, table, header, digest, tags) {
      const at = folder(agency, table, header.kind as PreparedKind);
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
