/**
 * (Either party, locally) Turns a table's ID column into the batches the PSI consumes:
 * every ID normalised and validated, invalid and empty ones counted with their line
 * numbers (or an error under `strict`), all as flat buffers so that ten million IDs never
 * become ten million objects.
 */
import { TextEncoder } from 'node:util';
import { errors } from '../errors.ts';
import { columnIndex, openCsv, type CsvOptions, type CsvRow } from '../data/csv.ts';
import { detectIdType, normaliseId, type IdType, type IdTypeOption } from '../ids/normalise.ts';
import type { OwnIdBatch } from './ecdh.ts';

export interface IdSourceOptions {
  readonly file: string;
  readonly idColumn: string;
  readonly idType?: IdTypeOption;
  /** Make the first invalid or repeated ID an error instead of counting it. */
  readonly strict?: boolean;
  readonly encoding?: CsvOptions['encoding'];
  /** IDs per batch handed to a worker (default 4,096). */
  readonly batchSize?: number;
}

/** What reading a table found, filled in as the batches are consumed. */
export interface IdSourceReport {
  readonly file: string;
  readonly idType: IdType;
  rowsRead: number;
  invalid: number;
  /** Line numbers of the first invalid IDs (at most `REPORTED_LINES`). */
  readonly invalidLines: number[];
  duplicates: number;
  readonly duplicateLines: number[];
}

export const REPORTED_LINES = 20;
const SAMPLE_ROWS = 1000;

export interface IdSource {
  readonly idType: IdType;
  readonly report: IdSourceReport;
  readonly batches: AsyncIterable<OwnIdBatch>;
  /** Records a repeated ID found by the protocol (it de-duplicates on blinded values). */
  duplicate(line: number, firstLine: number): void;
}

export async function openIdSource(options: IdSourceOptions): Promise<IdSource> {
  const { file, strict = false } = options;
  const table = await openCsv(file, { encoding: options.encoding });
  const col = columnIndex(table, options.idColumn);
  const iterator = table.chunks[Symbol.asyncIterator]();
  const sample: CsvRow[] = [];
  let exhausted = false;
  if (options.idType === undefined || options.idType === 'auto') {
    while (sample.length < SAMPLE_ROWS) {
      const r = await iterator.next();
      if (r.done) {
        exhausted = true;
        break;
      }
      sample.push(...r.value);
    }
  }
  const idType: IdType =
    options.idType === 'uscc' || options.idType === 'plain' ? options.idType : detectIdType(sample.map((r) => r.fields[col]!));
  const report: IdSourceReport = { file, idType, rowsRead: 0, invalid: 0, invalidLines: [], duplicates: 0, duplicateLines: [] };
  const perBatch = options.batchSize ?? 4096;
  const encoder = new TextEncoder();

  async function* chunks(): AsyncGenerator<CsvRow[]> {
    if (sample.length > 0) yield sample;
    if (exhausted) return;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
  }

  async function* batches(): AsyncGenerator<OwnIdBatch> {
    let bytes = new Uint8Array(perBatch * 24);
    let offsets = new Uint32Array(perBatch + 1);
    let lines = new Uint32Array(perBatch);
    let count = 0;
    const flush = (): OwnIdBatch => {
      const batch = {
        ids: { bytes: bytes.slice(0, offsets[count]), offsets: offsets.slice(0, count + 1) },
        rows: lines.slice(0, count),
      };
      count = 0;
      return batch;
    };
    for await (const chunk of chunks()) for (const row of chunk) {
      report.rowsRead++;
      const normalised = normaliseId(row.fields[col]!, idType);
      if (!normalised.ok) {
        if (strict) throw errors.idInvalid({ file, line: row.line, column: row.columnOf(col), columnName: options.idColumn }, row.fields[col]!, normalised.why);
        report.invalid++;
        if (report.invalidLines.length < REPORTED_LINES) report.invalidLines.push(row.line);
        continue;
      }
      const id = normalised.id;
      const start = offsets[count]!;
      if (start + id.length * 3 > bytes.length) {
        const grown = new Uint8Array(bytes.length * 2 + id.length * 3);
        grown.set(bytes.subarray(0, start));
        bytes = grown;
      }
      offsets[count + 1] = start + writeUtf8(encoder, id, bytes, start);
      lines[count] = row.line;
      count++;
      if (count === perBatch) {
        yield flush();
        bytes = new Uint8Array(bytes.length);
        offsets = new Uint32Array(perBatch + 1);
        lines = new Uint32Array(perBatch);
      }
    }
    if (count > 0) yield flush();
  }

  return {
    idType,
    report,
    batches: batches(),
    duplicate(line, firstLine) {
      if (strict) throw errors.idDuplicate({ file, line, column: undefined, columnName: options.idColumn }, firstLine);
      report.duplicates++;
      if (report.duplicateLines.length < REPORTED_LINES) report.duplicateLines.push(line);
    },
  };
}

/** Writes `id` as UTF-8 at `at`; ASCII (nearly every ID) without the encoder's call overhead. */
function writeUtf8(encoder: TextEncoder, id: string, bytes: Uint8Array, at: number): number {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c > 0x7f) return encoder.encodeInto(id, bytes.subarray(at)).written!;
    bytes[at + i] = c;
  }
  return id.length;
}

/**
 * The IDs of an in-memory table (a party's training table) as PSI batches; `rows` are row
 * indices into the table. Invalid IDs are skipped and counted in the returned report.
 */
export function idBatchesFromTable(
  table: { readonly file: string; readonly ids: readonly string[]; readonly lines: Uint32Array },
  idType: IdType,
  batchSize = 4096,
): { report: IdSourceReport; batches: AsyncIterable<OwnIdBatch> } {
  const report: IdSourceReport = { file: table.file, idType, rowsRead: table.ids.length, invalid: 0, invalidLines: [], duplicates: 0, duplicateLines: [] };
  const encoder = new TextEncoder();
  async function* batches(): AsyncGenerator<OwnIdBatch> {
    for (let start = 0; start < table.ids.length; start += batchSize) {
      const end = Math.min(table.ids.length, start + batchSize);
      const encoded: Uint8Array[] = [];
      const rows: number[] = [];
      for (let r = start; r < end; r++) {
        const n = normaliseId(table.ids[r]!, idType);
        if (!n.ok) {
          report.invalid++;
          if (report.invalidLines.length < REPORTED_LINES) report.invalidLines.push(table.lines[r]!);
          continue;
        }
        encoded.push(encoder.encode(n.id));
        rows.push(r);
      }
      const offsets = new Uint32Array(encoded.length + 1);
      encoded.forEach((e, i) => (offsets[i + 1] = offsets[i]! + e.length));
      const bytes = new Uint8Array(offsets[encoded.length]!);
      encoded.forEach((e, i) => bytes.set(e, offsets[i]!));
      yield { ids: { bytes, offsets }, rows: Uint32Array.from(rows) };
    }
  }
  return { report, batches: batches() };
}
