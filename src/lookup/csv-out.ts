/** CSV outputs of verification and lookup, written atomically (RFC 4180 quoting). */
import { writeAtomically } from '../data/write.ts';

export function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export async function writeCsv(file: string, header: readonly string[], rows: Iterable<readonly string[]>): Promise<void> {
  await writeAtomically(file, async (write) => {
    let chunk = header.map(csvCell).join(',') + '\n';
    for (const row of rows) {
      chunk += row.map(csvCell).join(',') + '\n';
      if (chunk.length > 1 << 16) {
        await write(chunk);
        chunk = '';
      }
    }
    await write(chunk);
  });
}
