import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { columnIndex, openCsv } from '../../src/data/csv.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-csv-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
async function rows(path: string) {
  const t = await openCsv(path);
  const out: { line: number; fields: readonly string[] }[] = [];
  for await (const r of t.rows) out.push({ line: r.line, fields: r.fields });
  return out;
}

describe('streaming CSV reader', () => {
  it('reads quoted fields, doubled quotes, CRLF and quoted line breaks with the right line numbers', async () => {
    const path = file('q.csv', '\uFEFFid,name\r\n1,"a, b"\r\n2,"say ""hi"""\r\n3,"two\nlines"\n4,x\n');
    expect(await rows(path)).toEqual([
      { line: 2, fields: ['1', 'a, b'] },
      { line: 3, fields: ['2', 'say "hi"'] },
      { line: 4, fields: ['3', 'two\nlines'] },
      { line: 6, fields: ['4', 'x'] },
    ]);
  });

  it('names file, line and column of a row with too many fields', async () => {
    const path = file('wide.csv', 'id,x\n1,2\n3,4,5\n');
    await expect(rows(path)).rejects.toMatchObject({ code: 'E_CSV_SYNTAX', location: { file: path, line: 3, column: 5 } });
  });

  it('names the column of a stray quote and of an unclosed quote', async () => {
    await expect(rows(file('stray.csv', 'id,x\n1,ab"c\n'))).rejects.toMatchObject({ location: { line: 2, column: 5 } });
    await expect(rows(file('open.csv', 'id,x\n1,"abc\n'))).rejects.toMatchObject({ code: 'E_CSV_SYNTAX', location: { line: 2, column: 3 } });
  });

  it('reports a missing file and a missing column clearly', async () => {
    await expect(openCsv(join(dir, 'nope.csv'))).rejects.toMatchObject({ code: 'E_FILE_UNREADABLE', message: expect.stringMatching(/no such file/) });
    const t = await openCsv(file('h.csv', 'id,x\n'));
    expect(() => columnIndex(t, 'uscc')).toThrow(/no column "uscc" in the header \(columns: id, x\)/);
  });

  it('rejects an empty file and a repeated header name', async () => {
    await expect(openCsv(file('empty.csv', ''))).rejects.toMatchObject({ code: 'E_CSV_SYNTAX' });
    await expect(openCsv(file('dup.csv', 'id,id\n'))).rejects.toMatchObject({ location: { line: 1, column: 4 } });
  });
});
