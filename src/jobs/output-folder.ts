/**
 * Where a party's runner writes a job's outputs: into a staging folder beside the target,
 * moved into place only when the host commits (after every party it runs has succeeded),
 * so a failed job leaves no partial model or report. A run without an output folder keeps
 * the files in memory (tests, integrators reading the result object).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { errors, isJinqiaoError } from '../errors.ts';

export interface OutputFolder {
  /** The folder the files end up in ('' when they are kept in memory only). */
  readonly path: string;
  /** Stages one file; a second file of the same name is refused. `secret`: readable by its owner only (0600). */
  write(name: string, text: string, options?: { readonly secret?: boolean }): Promise<void>;
}

export interface StagedOutputs extends OutputFolder {
  /** Names and texts of what was written, in order. */
  readonly files: ReadonlyMap<string, string>;
  /** Moves every staged file into the folder; returns their final paths. */
  commit(): Promise<string[]>;
  /** Drops everything staged. */
  discard(): Promise<void>;
}

/** Output files kept in memory: commit returns no path. */
export function memoryOutputs(): StagedOutputs {
  const files = new Map<string, string>();
  return {
    path: '',
    files,
    async write(name, text) {
      if (files.has(name)) throw errors.outputUnwritable(name, 'written twice by one job');
      files.set(name, text);
    },
    commit: async () => [],
    discard: async () => files.clear(),
  };
}

/** Output files staged on disk and moved into `folder` on commit. */
export function stagedOutputs(folder: string): StagedOutputs {
  const target = resolve(folder);
  const staging = join(dirname(target), `.${randomBytes(6).toString('hex')}.jinqiao-tmp`);
  const files = new Map<string, string>();
  const unwritable = (e: unknown) => (isJinqiaoError(e) ? e : errors.outputUnwritable(target, (e as Error).message));
  return {
    path: target,
    files,
    async write(name, text, options) {
      if (files.has(name)) throw errors.outputUnwritable(join(target, name), 'written twice by one job');
      try {
        await mkdir(staging, { recursive: true });
        await writeFile(join(staging, name), text, { flag: 'wx', ...(options?.secret && { mode: 0o600 }) });
      } catch (e) {
        throw unwritable(e);
      }
      files.set(name, text);
    },
    async commit() {
      try {
        await mkdir(target, { recursive: true });
        for (const name of files.keys()) await rename(join(staging, name), join(target, name));
      } catch (e) {
        throw unwritable(e);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      return [...files.keys()].map((name) => join(target, name));
    },
    async discard() {
      await rm(staging, { recursive: true, force: true });
    },
  };
}

/** Refuses an output folder that is an existing file, before a job starts rather than after it ran. */
export async function checkOutputFolder(folder: string, option: string): Promise<void> {
  const info = await stat(folder).catch(() => undefined);
  if (info && !info.isDirectory()) throw errors.optionInvalid(option, `${folder} is an existing file, not a folder`, 'name a folder for the outputs (it is created if missing)');
}

/** A file name for a party's files (`model-<party>.json`). */
export function safeName(party: string): string {
  return party.replace(/[^A-Za-z0-9._-]/g, '_');
}
