/**
 * Writing a report file so a reader never opens half a page: the HTML goes to a temporary
 * name in the same folder and is renamed over the target, which is atomic on one file system.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { errors } from '../errors.ts';

export async function writeReport(path: string, html: string): Promise<string> {
  const target = resolve(path);
  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, html, { encoding: 'utf8', flag: 'wx' });
    await rename(temporary, target);
  } catch (e) {
    await rm(temporary, { force: true });
    throw errors.outputUnwritable(target, (e as Error).message);
  }
  return target;
}
