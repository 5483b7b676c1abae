/**
 * (Each party, locally) A party's training or scoring table: the ID column, an optional 0/1
 * label column, and numeric feature columns, read into flat Float64Arrays (row-major).
 *
 * Every cell is checked where it is read: a non-numeric value or a label other than 0/1
 * stops the load with the file, line and column. Empty cells (and NA, NaN, NULL) are
 * missing values, imputed later by the party's own scaler.
 */
import { basename, extname } from 'node:path';
import { COLUMN_HINTS, errors } from '../errors.ts';
import { detectIdType, type IdType, type IdTypeOption } from '../ids/normalise.ts';
import { columnIndex, openCsv, type CsvOptions } from './csv.ts';

export interface FeatureTable {
  readonly file: string;
  readonly idColumn: string;
  /** Raw ID cells, as the file spells them, one per row. */
  readonly ids: readonly string[];
  /** Line number of each row in the file. */
  readonly lines: Uint32Array;
  /** Character column of each row's ID cell, where the source has columns (CSV). */
  readonly idColumns?: Uint32Array;
  readonly featureNames: readonly string[];
  /** rows × featureNames.length, row-major; NaN for a missing value. */
  readonly values: Float64Array;
  /** 0/1 per row when a label column was read. */
  readonly labels: Uint8Array | undefined;
  /** The label column's name, when one was read. */
  readonly labelColumn?: string;
  readonly rowCount: number;
}

export interface FeatureTableOptions {
  readonly idColumn: string;
  /** The 0/1 outcome column (label party only). */
  readonly labelColumn?: string;
  /** Feature columns to read; default: every column but the ID and label columns. */
  readonly features?: readonly string[];
  readonly encoding?: CsvOptions['encoding'];
}

/** Cells read as a missing value, in every table source. */
export const MISSING_CELLS: ReadonlySet<string> = new Set(['', 'NA', 'N/A', 'NaN', 'nan', 'NULL', 'null']);

export async function loadFeatureTable(file: string, options: FeatureTableOptions): Promise<FeatureTable> {
  const table = await openCsv(file, { encoding: options.encoding });
  const idCol = columnIndex(table, options.idColumn);
  const labelCol = options.labelColumn === undefined ? -1 : columnIndex(table, options.labelColumn, COLUMN_HINTS.label);
  const featureNames = options.features ?? table.header.filter((_, i) => i !== idCol && i !== labelCol);
  const featureCols = featureNames.map((name) => columnIndex(table, name, COLUMN_HINTS.feature));
  const width = featureCols.length;
  let values = new Float64Array(1024 * Math.max(width, 1));
  let labels = labelCol >= 0 ? new Uint8Array(1024) : undefined;
  let lines = new Uint32Array(1024);
  let idColumns = new Uint32Array(1024);
  const ids: string[] = [];
  let rows = 0;
  for await (const chunk of table.chunks) {
    for (const row of chunk) {
      if (rows === lines.length) {
        lines = grow(lines, rows * 2);
        idColumns = grow(idColumns, rows * 2);
        values = grow(values, rows * 2 * Math.max(width, 1));
        if (labels) labels = grow(labels, rows * 2);
      }
      ids.push(row.fields[idCol]!);
      lines[rows] = row.line;
      idColumns[rows] = row.columnOf(idCol);
      for (let j = 0; j < width; j++) {
        const cell = row.fields[featureCols[j]!]!.trim();
        let v: number;
        if (MISSING_CELLS.has(cell)) v = NaN;
        else {
          v = Number(cell);
          if (!Number.isFinite(v)) {
            throw errors.valueNotNumeric({ file, line: row.line, column: row.columnOf(featureCols[j]!), columnName: featureNames[j] }, cell);
          }
        }
        values[rows * width + j] = v;
      }
      if (labels) {
        const cell = row.fields[labelCol]!.trim();
        if (cell !== '0' && cell !== '1' && cell !== '0.0' && cell !== '1.0') {
          throw errors.labelNotBinary({ file, line: row.line, column: row.columnOf(labelCol), columnName: options.labelColumn }, cell);
        }
        labels[rows] = cell.startsWith('1') ? 1 : 0;
      }
      rows++;
    }
  }
  return {
    file,
    idColumn: options.idColumn,
    ids,
    lines: lines.slice(0, rows),
    idColumns: idColumns.slice(0, rows),
    featureNames,
    values: values.slice(0, rows * width),
    labels: labels?.slice(0, rows),
    ...(options.labelColumn === undefined ? {} : { labelColumn: options.labelColumn }),
    rowCount: rows,
  };
}

/** (Label party, before alignment) A label column with one outcome only can train no model. */
export function checkBothClasses(table: FeatureTable): void {
  if (!table.labels || table.labels.length === 0) return;
  const first = table.labels[0]! as 0 | 1;
  if (table.labels.every((y) => y === first)) throw errors.labelOneClass({ file: table.file, columnName: table.labelColumn }, first);
}

/** (In-process host, before any party starts) The bank's label column must not reach an agency as one of its features. */
export function refuseLabelAmongFeatures(label: FeatureTable, features: readonly FeatureTable[]): void {
  const column = label.labelColumn;
  if (column === undefined) return;
  for (const table of features) {
    if (table.featureNames.includes(column)) throw errors.labelAmongFeatures(table.file, column);
  }
}

function grow<T extends Float64Array | Uint8Array | Uint32Array>(array: T, length: number): T {
  const grown = new (array.constructor as new (n: number) => T)(length);
  grown.set(array);
  return grown;
}

/** The rows `rows` of a table's values, as a new rows × F array (the aligned, ordered slice). */
export function selectRows(table: FeatureTable, rows: Uint32Array): Float64Array {
  const width = table.featureNames.length;
  const out = new Float64Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) out.set(table.values.subarray(rows[i]! * width, (rows[i]! + 1) * width), i * width);
  return out;
}

/** Every party must read IDs the same way, or nothing would match. */
export function agreeOnIdType(option: IdTypeOption, tables: readonly FeatureTable[]): IdType {
  if (option === 'uscc' || option === 'plain') return option;
  const types = tables.map((t) => detectIdType(t.ids.slice(0, 1000)));
  if (types.some((t) => t !== types[0])) {
    const described = tables.map((t, i) => `${t.file}: ${types[i]}`).join(', ');
    throw errors.optionInvalid('--id-type', `the parties' ID columns differ (${described})`, 'pass --id-type uscc or --id-type plain so that every party normalises IDs the same way');
  }
  return types[0]!;
}

/** A party named after its table's file (`data/tax_bureau.csv` → `tax_bureau`), unless named explicitly. */
export function partyNameOf(file: string): string {
  return basename(file, extname(file));
}
