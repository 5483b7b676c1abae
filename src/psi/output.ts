/** Writes a party's intersection IDs, one per line, as the file spells them, in file order. */
import { columnIndex, openCsv, type CsvOptions } from '../data/csv.ts';
import { writeAtomically } from '../data/write.ts';

export async function writeIntersectionIds(source: { file: string; idColumn: string; encoding?: CsvOptions['encoding'] }, lines: Uint32Array, out: string): Promise<void> {
  let maxLine = 0;
  for (const line of lines) if (line > maxLine) maxLine = line;
  const wanted = new Uint8Array(maxLine + 1);
  for (const line of lines) wanted[line] = 1;
  const table = await openCsv(source.file, { encoding: source.encoding });
  const col = columnIndex(table, source.idColumn);
  await writeAtomically(out, async (write) => {
    let chunk = '';
    for await (const row of table.rows) {
      if (wanted[row.line] !== 1) continue;
      chunk += row.fields[col]!.trim() + '\n';
      if (chunk.length > 1 << 16) {
        await write(chunk);
        chunk = '';
      }
    }
    await write(chunk);
  });
}
