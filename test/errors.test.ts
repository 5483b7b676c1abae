import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFeatureTable } from '../src/data/table.ts';
import { ERROR_CATALOGUE, errors, JinqiaoError, shownValue, SHOWN_CHARACTERS, type ErrorCode } from '../src/errors.ts';
import { loadTrainingJob } from '../src/local/job-file.ts';
import { checkThreads } from '../src/util/threads.ts';
import { openApiDocument } from '../src/service/api/server.ts';
import { jinqiao } from './helpers/cli.ts';
import { uscc } from './helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-errors-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('errors never echo a huge cell', () => {
  it('shows a short value whole and cuts a long one, stating its length', () => {
    expect(shownValue('9135 0100')).toBe('"9135 0100"');
    expect(shownValue('x'.repeat(SHOWN_CHARACTERS))).toBe(`"${'x'.repeat(SHOWN_CHARACTERS)}"`);
    expect(shownValue('y'.repeat(50_000_000))).toBe(`"${'y'.repeat(SHOWN_CHARACTERS)}"… (50000000 characters)`);
    // 59 letters then an emoji: the pair is dropped whole rather than cut in half.
    expect(shownValue('a'.repeat(59) + '😀' + 'b'.repeat(10))).toBe(`"${'a'.repeat(59)}"… (71 characters)`);
  });

  it('cuts the cell in the data errors of a table: a number, a label, a column name', async () => {
    const huge = '1'.repeat(1000) + 'x'.repeat(5_000_000);
    const numeric = file('numeric.csv', `id,x\n${uscc(1)},${huge}\n`);
    await expect(loadFeatureTable(numeric, { idColumn: 'id' })).rejects.toMatchObject({
      code: 'E_VALUE_NOT_NUMERIC',
      message: `${numeric}:2:20 (column "x"): "${'1'.repeat(SHOWN_CHARACTERS)}"… (5001000 characters) is not a number`,
    });
    const label = file('label.csv', `id,y\n${uscc(1)},${huge}\n`);
    await expect(loadFeatureTable(label, { idColumn: 'id', labelColumn: 'y' })).rejects.toMatchObject({ message: expect.stringMatching(/label "1{60}"… \(5001000 characters\) is not 0 or 1$/) });
    const header = file('header.csv', `${'h'.repeat(100_000)},x\n1,2\n`);
    await expect(loadFeatureTable(header, { idColumn: 'id' })).rejects.toMatchObject({ message: `${header}:1: no column "id" in the header (columns: "${'h'.repeat(SHOWN_CHARACTERS)}"… (100000 characters), x)` });
  });

  it('prints one short line for a huge invalid ID from the CLI', () => {
    const ids = file('ids.csv', `id\n${uscc(1)}\n${'9'.repeat(2_000_000)}\n`);
    const r = jinqiao(['psi', ids, ids, '--id', 'id', '--id-type', 'uscc', '--strict']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `jinqiao: error E_ID_INVALID: ${ids}:3:1 (column "id"): invalid ID "${'9'.repeat(SHOWN_CHARACTERS)}"… (2000000 characters): a unified social credit code has 18 characters, this has 2000000 (correct or remove the row, or run without --strict to skip and count invalid IDs)\n`,
    );
  });
});

const ROOT = resolve(import.meta.dirname, '..');

/** Every file of the shipped code, as text (sources, workers, the launcher, the API description). */
function shippedText(): { file: string; text: string }[] {
  const files: string[] = ['bin/jinqiao.js', 'docs/openapi.json'];
  const walk = (dirName: string) => {
    for (const entry of readdirSync(join(ROOT, dirName), { withFileTypes: true })) {
      const path = `${dirName}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|js)$/.test(entry.name)) files.push(path);
    }
  };
  walk('src');
  walk('workers');
  return files.map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }));
}

describe('the error catalogue', () => {
  const codes = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

  it('is the list of codes the HTTP API description gives integrators (generated from the routes; test/service/api.test.ts keeps docs/openapi.json equal to it)', async () => {
    const openapi = (await openApiDocument()) as { components: { schemas: { Error: { properties: { error: { properties: { code: { enum: string[] } } } } } } } };
    expect(openapi.components.schemas.Error.properties.error.properties.code.enum).toEqual(codes);
  });

  it('says for every code whether the input is at fault and what it means', () => {
    expect(codes.length).toBeGreaterThan(30);
    for (const code of codes) {
      expect(code).toMatch(/^E_[A-Z0-9_]+$/);
      expect(typeof ERROR_CATALOGUE[code].input, code).toBe('boolean');
      expect(ERROR_CATALOGUE[code].meaning.length, code).toBeGreaterThan(10);
      expect(new JinqiaoError(code, 'm', 'h').isInputError, code).toBe(ERROR_CATALOGUE[code].input);
    }
  });

  it('holds the service API codes', () => {
    expect(codes).toEqual(expect.arrayContaining(['E_UNAUTHORIZED', 'E_NOT_FOUND', 'E_NOT_READY', 'E_NOT_RUNNING', 'E_INTERNAL']));
  });

  it('holds every code the shipped code spells out, outside src/errors.ts too', () => {
    const strays: string[] = [];
    for (const { file, text } of shippedText()) {
      for (const [code] of text.matchAll(/\bE_[A-Z][A-Z0-9_]*\b/g)) if (!(code in ERROR_CATALOGUE)) strays.push(`${file}: ${code}`);
    }
    expect(strays).toEqual([]);
  });

  it('carries the offending field as data, not only in the message', async () => {
    expect(errors.optionInvalid('--epochs', 'must be positive')).toMatchObject({ field: '--epochs', message: 'option --epochs: must be positive' });
    expect(errors.jobInvalid('job.yaml', 'training.epochs', 'must be positive').toJSON()).toMatchObject({ code: 'E_JOB_INVALID', field: 'training.epochs', location: { file: 'job.yaml' } });
    expect(errors.paramsInsecure('maskBits', 'below 40').field).toBe('maskBits');
    expect(() => checkThreads('--threads', 10_000)).toThrow(expect.objectContaining({ field: '--threads' }));
    const job = file('job.yaml', 'label:\n  file: a.csv\n  id: id\n  label: y\nfeatures:\n  - file: b.csv\n    id: id\ntraining:\n  epoch: 3\n');
    await expect(loadTrainingJob(job)).rejects.toMatchObject({ code: 'E_JOB_INVALID', field: 'training.epoch' });
  });
});
