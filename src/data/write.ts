/**
 * Output files are written to a temporary name beside the target and renamed into place,
 * so a failure at any point leaves either the old file or none, never half of a new one.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { errors, isJinqiaoError } from '../errors.ts';

export async function writeAtomically(file: string, write: (out: (chunk: string | Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const stream = createWriteStream(tmp, { flags: 'wx' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
    await write(
      (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (stream.write(chunk)) return resolve();
          // Each wait takes its listeners off again: a large output waits thousands of times.
          const onError = (e: Error) => (stream.off('drain', onDrain), reject(e));
          const onDrain = () => (stream.off('error', onError), resolve());
          stream.once('drain', onDrain).once('error', onError);
        }),
    );
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    await rename(tmp, file);
  } catch (e) {
    stream.destroy();
    await rm(tmp, { force: true });
    throw isJinqiaoError(e) ? e : errors.outputUnwritable(file, (e as Error).message);
  }
}

/** A folder whose files a command reads or keeps (a key folder, an audit folder), with the option that names it. */
export interface GuardedFolder {
  readonly option: string;
  readonly path: string;
}

/**
 * Refuses an output that is one of the inputs (the same file however it is spelled:
 * another relative path, a symbolic or hard link), or that is, or lies in, one of `folders`
 * (whose files may not exist yet: the key `psi prepare` makes): the rename would replace it.
 * Every command calls it before it writes anything. Undefined inputs are options not given.
 */
export async function refuseInputAsOutput(option: string, out: string, inputs: readonly (string | undefined)[], folders: readonly (GuardedFolder | undefined)[] = []): Promise<void> {
  const target = await stat(out).catch(() => undefined);
  if (target) {
    for (const input of inputs) {
      if (input === undefined) continue;
      const source = await stat(input).catch(() => undefined);
      if (source && source.dev === target.dev && source.ino === target.ino) {
        throw errors.optionInvalid(option, `${out} is the input file ${input}; writing there would replace it`, `name a new file for ${option}`);
      }
    }
  }
  const place = await realPlace(out);
  for (const folder of folders) {
    if (folder === undefined) continue;
    const real = await realPlace(folder.path);
    if (place === real || place.startsWith(real + sep)) {
      throw errors.optionInvalid(
        option,
        `${out} is ${place === real ? 'the folder' : 'in the folder'} ${folder.path} of ${folder.option}; writing there could replace the files it keeps`,
        `name a file outside ${folder.path} for ${option}`,
      );
    }
  }
}

/** The real path of `path`, or of its nearest existing ancestor with the rest appended (a file not made yet). */
async function realPlace(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch {
    const parent = dirname(absolute);
    return parent === absolute ? absolute : join(await realPlace(parent), basename(absolute));
  }
}
