/**
 * Streaming CSV reader (RFC 4180: quoted fields, doubled quotes, quoted line breaks, CRLF).
 *
 * Rows are yielded one at a time with their line number, so a 10M-row table never sits in
 * memory, and every error names the file, line and column (1-based, in characters).
 *
 * Text is UTF-8 or GB18030 (what Excel writes for a Chinese-locale "CSV" save). Without a
 * stated encoding, a file with a UTF-8 byte order mark, or whose first 64 KiB are valid
 * UTF-8, is read as UTF-8; otherwise, if those bytes are valid GB18030, as GB18030.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { errors, isJinqiaoError } from '../errors.ts';

export interface CsvRow {
  /** Line number of the row's first physical line (the header is line 1). */
  readonly line: number;
  readonly fields: readonly string[];
  /** 1-based character column where each field starts on its first line. */
  columnOf(fieldIndex: number): number;
}

export type CsvEncoding = 'utf8' | 'gb18030';
export const CSV_ENCODINGS: readonly CsvEncoding[] = ['utf8', 'gb18030'];

export interface CsvOptions {
  /** The file's text encoding; default 'auto' (see above). */
  readonly encoding?: CsvEncoding | 'auto';
}

export interface CsvTable {
  readonly file: string;
  /** The encoding the file was read with (detected or stated). */
  readonly encoding: CsvEncoding;
  readonly header: readonly string[];
  /** The data rows, one at a time. */
  readonly rows: AsyncIterable<CsvRow>;
  /** The same rows in arrays as they come off the disk: the fast way through large tables. */
  readonly chunks: AsyncIterable<CsvRow[]>;
}

/** Opens a CSV file and reads its header; the rows stream on iteration. */
export async function openCsv(file: string, options: CsvOptions = {}): Promise<CsvTable> {
  let encoding: CsvEncoding;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw errors.fileUnreadable(file, 'not a regular file');
    encoding = options.encoding === undefined || options.encoding === 'auto' ? await detectEncoding(file) : options.encoding;
  } catch (e) {
    if (isJinqiaoError(e)) throw e;
    throw errors.fileUnreadable(file, describeFsError(e));
  }
  const iterator = physicalRows(file, encoding)[Symbol.asyncIterator]();
  let buffered: CsvRow[] = [];
  while (buffered.length === 0) {
    const r = await iterator.next();
    if (r.done) throw errors.csvSyntax({ file, line: 1, column: 1 }, 'the file is empty; a header row is expected');
    buffered = r.value;
  }
  const first = buffered.shift()!;
  const header = first.fields.map((h, i) => (i === 0 ? h.replace(/^\uFEFF/, '') : h).trim());
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw errors.csvSyntax({ file, line: 1, column: first.columnOf(i) }, `header field ${i + 1} is empty`);
    if (seen.has(name)) throw errors.csvSyntax({ file, line: 1, column: first.columnOf(i) }, `column "${name}" appears twice in the header`);
    seen.add(name);
  });
  const checked = (rows: CsvRow[]): CsvRow[] => {
    const out: CsvRow[] = [];
    for (const row of rows) {
      if (row.fields.length === 1 && row.fields[0] === '') continue;
      if (row.fields.length !== header.length) {
        const column = row.fields.length > header.length ? row.columnOf(header.length) : lastColumn(row);
        throw errors.csvSyntax({ file, line: row.line, column }, `row has ${row.fields.length} fields, the header has ${header.length}`);
      }
      out.push(row);
    }
    return out;
  };
  let taken = false;
  const chunks: AsyncIterable<CsvRow[]> = {
    async *[Symbol.asyncIterator]() {
      if (taken) throw new Error('a CSV table can be read once; open it again');
      taken = true;
      if (buffered.length > 0) yield checked(buffered);
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield checked(r.value);
    },
  };
  const rows: AsyncIterable<CsvRow> = {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of chunks) yield* chunk;
    },
  };
  return { file, encoding, header, rows, chunks };
}

const DETECTION_BYTES = 1 << 16;

/** UTF-8 unless the first 64 KiB are invalid UTF-8 but valid GB18030 (see the file comment). */
async function detectEncoding(file: string): Promise<CsvEncoding> {
  const handle = await open(file, 'r');
  let head: Uint8Array;
  try {
    const buffer = new Uint8Array(DETECTION_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, DETECTION_BYTES, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf8';
  // `stream: true`: a character cut by the 64 KiB boundary is not an error.
  const decodes = (label: string) => {
    try {
      new TextDecoder(label, { fatal: true }).decode(head, { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  if (decodes('utf-8')) return 'utf8';
  if (decodes('gb18030')) return 'gb18030';
  throw errors.encodingUnknown(file);
}

/** The file's text in chunks as read, decoded across chunk boundaries. */
async function* decodedChunks(file: string, encoding: CsvEncoding): AsyncGenerator<string> {
  if (encoding === 'utf8') {
    yield* createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }) as AsyncIterable<string>;
    return;
  }
  const decoder = new TextDecoder(encoding);
  for await (const bytes of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    yield decoder.decode(bytes, { stream: true });
  }
  const rest = decoder.decode();
  if (rest !== '') yield rest;
}

/** Index of a named column, or an E_COLUMN_MISSING error listing the columns there are. */
export function columnIndex(table: CsvTable, name: string, hint?: string): number {
  const i = table.header.indexOf(name);
  if (i < 0) throw errors.columnMissing(table.file, name, table.header, hint);
  return i;
}

function lastColumn(row: CsvRow): number {
  const last = row.fields.length - 1;
  return row.columnOf(last) + row.fields[last]!.length;
}

/** Rows as they come off the disk, one array per read chunk; quoted line breaks joined. */
async function* physicalRows(file: string, encoding: CsvEncoding): AsyncGenerator<CsvRow[]> {
  const stream = decodedChunks(file, encoding);
  let lineNo = 0;
  let carry = '';
  let pending: { text: string; line: number } | undefined;
  const take = (text: string, out: CsvRow[]) => {
    lineNo++;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (pending === undefined) {
      if (!text.includes('"')) {
        out.push(simpleRow(text, lineNo));
        return;
      }
      pending = { text, line: lineNo };
    } else {
      pending.text += '\n' + text;
    }
    const parsed = parseQuoted(pending.text, file, pending.line);
    if (parsed !== undefined) {
      out.push(parsed);
      pending = undefined;
    }
  };
  try {
    for await (const chunk of stream) {
      const lines = (carry + chunk).split('\n');
      carry = lines.pop()!;
      const out: CsvRow[] = [];
      for (const text of lines) take(text, out);
      yield out;
    }
    if (carry !== '') {
      const out: CsvRow[] = [];
      take(carry, out);
      yield out;
    }
  } catch (e) {
    if (isJinqiaoError(e)) throw e;
    throw errors.fileUnreadable(file, describeFsError(e));
  } finally {
    await stream.return(undefined);
  }
  if (pending !== undefined) {
    throw errors.csvSyntax({ file, line: pending.line, column: pending.text.indexOf('"') + 1 }, 'a quoted field is never closed');
  }
}

function simpleRow(text: string, line: number): CsvRow {
  const fields = text.split(',');
  return {
    line,
    fields,
    columnOf(k) {
      let column = 1;
      for (let i = 0; i < k; i++) column += fields[i]!.length + 1;
      return column;
    },
  };
}

/** Parses a row that contains quotes; undefined when a quoted field continues on the next line. */
function parseQuoted(text: string, file: string, line: number): CsvRow | undefined {
  const fields: string[] = [];
  const starts: number[] = [];
  let i = 0;
  for (;;) {
    starts.push(i + 1);
    if (text[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return undefined;
        value += text.slice(j, q);
        if (text[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      if (j < text.length && text[j] !== ',') {
        throw errors.csvSyntax(lineAndColumn(file, line, text, j), 'unexpected character after a closing quote');
      }
      fields.push(value);
      if (j >= text.length) break;
      i = j + 1;
    } else {
      const comma = text.indexOf(',', i);
      const end = comma < 0 ? text.length : comma;
      const quote = text.indexOf('"', i);
      if (quote >= 0 && quote < end) {
        throw errors.csvSyntax(lineAndColumn(file, line, text, quote), 'a quote inside an unquoted field; quote the whole field and double the inner quote');
      }
      fields.push(text.slice(i, end));
      if (comma < 0) break;
      i = comma + 1;
    }
  }
  return { line, fields, columnOf: (k) => starts[k] ?? 1 };
}

/** Line and column of a character offset inside a row that may span several lines. */
function lineAndColumn(file: string, firstLine: number, text: string, offset: number) {
  const before = text.slice(0, offset);
  const breaks = before.split('\n').length - 1;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { file, line: firstLine + breaks, column };
}

function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return err.message ?? String(e);
  }
}
