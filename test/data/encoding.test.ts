/** Excel saves a Chinese-locale "CSV" in GB18030: such files read as well as UTF-8 ones. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCsv, type CsvOptions } from '../../src/data/csv.ts';
import { loadFeatureTable } from '../../src/data/table.ts';
import { jinqiao } from '../helpers/cli.ts';
import { uscc } from '../helpers/ids.ts';

/** GB18030 bytes of a few header words (from the GB18030-2022 code table; checked below). */
const GB18030 = {
  统一社会信用代码: 'cdb3d2bbc9e7bbe1d0c5d3c3b4fac2eb',
  企业名称: 'c6f3d2b5c3fbb3c6',
  金额: 'bdf0b6ee',
  企: 'c6f3',
} as const;

/** Encodes text made of ASCII and the words above as GB18030. */
function gb18030(text: string): Buffer {
  const words = Object.keys(GB18030).sort((a, b) => b.length - a.length);
  const parts: Buffer[] = [];
  for (let i = 0; i < text.length; ) {
    const word = words.find((w) => text.startsWith(w, i));
    if (word) {
      parts.push(Buffer.from(GB18030[word as keyof typeof GB18030], 'hex'));
      i += word.length;
    } else {
      if (text.charCodeAt(i) > 0x7f) throw new Error(`no GB18030 bytes for ${text[i]} in the test's table`);
      parts.push(Buffer.from(text[i]!, 'latin1'));
      i++;
    }
  }
  return Buffer.concat(parts);
}

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-encoding-'));
function file(name: string, bytes: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}
async function read(path: string, options?: CsvOptions) {
  const table = await openCsv(path, options);
  const rows: (readonly string[])[] = [];
  for await (const row of table.rows) rows.push(row.fields);
  return { encoding: table.encoding, header: table.header, rows };
}

describe('CSV text encodings', () => {
  it("the test's GB18030 table is right", () => {
    for (const [word, hex] of Object.entries(GB18030)) expect(new TextDecoder('gb18030').decode(Buffer.from(hex, 'hex'))).toBe(word);
  });

  it('detects a GB18030 file (invalid UTF-8, no byte order mark) and decodes its header and cells', async () => {
    const path = file('excel.csv', gb18030(`统一社会信用代码,企业名称,金额\r\n${uscc(1)},企业名称,12\r\n`));
    expect(await read(path)).toEqual({ encoding: 'gb18030', header: ['统一社会信用代码', '企业名称', '金额'], rows: [[uscc(1), '企业名称', '12']] });
  });

  it('reads UTF-8, with or without a byte order mark, as UTF-8', async () => {
    const text = `统一社会信用代码,金额\n${uscc(1)},1\n`;
    expect(await read(file('plain.csv', text))).toMatchObject({ encoding: 'utf8', header: ['统一社会信用代码', '金额'] });
    expect(await read(file('bom.csv', '\uFEFF' + text))).toMatchObject({ encoding: 'utf8', header: ['统一社会信用代码', '金额'] });
  });

  it('decodes a character split across two reads of the file', async () => {
    // 11 bytes before the first 企, so one of them straddles the 1 MiB read boundary.
    const name = '企'.repeat(600_000);
    const path = file('long.csv', gb18030(`id,name\n12,${name}\n`));
    expect((await read(path)).rows).toEqual([['12', name]]);
  });

  it('follows a stated encoding where the first 64 KiB cannot tell (ASCII until later)', async () => {
    const rows = Array.from({ length: 5000 }, (_, i) => `${uscc(i)},${i}`).join('\n');
    const path = file('late.csv', Buffer.concat([gb18030(`id,amount\n${rows}\n`), gb18030(`${uscc(9999)},金额\n`)]));
    expect((await read(path)).rows.at(-1)).not.toEqual([uscc(9999), '金额']);
    expect((await read(path, { encoding: 'gb18030' })).rows.at(-1)).toEqual([uscc(9999), '金额']);
    const table = await loadFeatureTable(path, { idColumn: 'id', features: [], encoding: 'gb18030' });
    expect(table.rowCount).toBe(5001);
  });

  it('refuses bytes that are neither UTF-8 nor GB18030, naming the file', async () => {
    const path = file('binary.csv', Buffer.from([0x69, 0x64, 0x0a, 0xff, 0xfe, 0xff, 0x0a]));
    await expect(openCsv(path)).rejects.toMatchObject({ code: 'E_FILE_ENCODING', message: `${path}: the text is neither UTF-8 nor GB18030` });
  });

  it('lets `psi --id 统一社会信用代码` run on Excel-exported files', () => {
    const left = file('bank.csv', gb18030(`统一社会信用代码,企业名称\n${[1, 2, 3].map((n) => `${uscc(n)},企业名称`).join('\n')}\n`));
    const right = file('tax.csv', gb18030(`统一社会信用代码,金额\n${[2, 3, 4].map((n) => `${uscc(n)},${n}`).join('\n')}\n`));
    const out = join(dir, 'common.txt');
    for (const encoding of [[], ['--encoding', 'gb18030']]) {
      const r = jinqiao(['psi', left, right, '--id', '统一社会信用代码', '--out', out, '--json', ...encoding]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ intersection: 2, left: 3, right: 3 });
      expect(readFileSync(out, 'utf8').split('\n').sort()).toEqual(['', uscc(2), uscc(3)]);
    }
  });
});
