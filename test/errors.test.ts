import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFeatureTable } from '../src/data/table.ts';
import { shownValue, SHOWN_CHARACTERS } from '../src/errors.ts';
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
