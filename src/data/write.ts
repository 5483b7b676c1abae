/**
 * Output files are written to a temporary name beside the target and renamed into place,
 * so a failure at any point leaves either the old file or none, never half of a new one.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
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
          if (stream.write(chunk)) resolve();
          else stream.once('drain', resolve).once('error', reject);
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

/**
 * Refuses an output that is one of the inputs (the same file however it is spelled:
 * another relative path, a symbolic or hard link): the rename would replace the input.
 */
export async function refuseInputAsOutput(option: string, out: string, inputs: readonly string[]): Promise<void> {
  const target = await stat(out).catch(() => undefined);
  if (!target) return;
  for (const input of inputs) {
    const source = await stat(input).catch(() => undefined);
    if (source && source.dev === target.dev && source.ino === target.ino) {
      throw errors.optionInvalid(option, `${out} is the input file ${input}; writing there would replace it`, `name a new file for ${option}`);
    }
  }
}
