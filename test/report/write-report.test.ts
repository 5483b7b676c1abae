import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/html.ts';

const folders: string[] = [];
afterAll(() => Promise.all(folders.map((f) => rm(f, { recursive: true, force: true }))));

describe('writeReport', () => {
  it('replaces the file whole and leaves no temporary file behind', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'jinqiao-report-'));
    folders.push(folder);
    const target = join(folder, 'report.html');
    await writeReport(target, '<!doctype html><p>first</p>');
    expect(await writeReport(target, '<!doctype html><p>second</p>')).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('<!doctype html><p>second</p>');
    expect(await readdir(folder)).toEqual(['report.html']);
  });

  it('fails with E_OUTPUT_UNWRITABLE when the folder does not exist', async () => {
    await expect(writeReport(join(tmpdir(), 'no-such-folder-jinqiao', 'report.html'), 'x')).rejects.toMatchObject({ code: 'E_OUTPUT_UNWRITABLE' });
  });
});
