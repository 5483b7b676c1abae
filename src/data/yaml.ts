/**
 * Reads a YAML (or JSON) file that an operator wrote: job files, party configs, job
 * definitions, policies. An unreadable file or a syntax error names the file, line and
 * column; so does every later problem with a field, through `locate`.
 */
import { readFile } from 'node:fs/promises';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import { errors, type JinqiaoError, type SourceLocation } from '../errors.ts';

/** Alias expansions a document may make: a real config needs a handful, a "billion laughs" needs millions. */
export const MAX_ALIAS_EXPANSIONS = 100;

/** A path into a document: mapping keys and list indices, e.g. `['partners', 0, 'purposes']`. */
export type FieldPath = readonly (string | number)[];

/** A parsed document: its plain data, and where each of its fields sits in the text. */
export interface YamlSource {
  readonly data: unknown;
  /** File, line and column of the deepest node on `path` the document has (a mapping entry by its key). */
  locate(path: FieldPath): SourceLocation;
}

/** The document as plain data; an alias bomb (or an alias to nothing) becomes `refuse(why)`. */
export function documentData(doc: Document, refuse: (why: string) => JinqiaoError): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }) as unknown;
  } catch (e) {
    // The yaml package reports excessive and unresolved aliases as ReferenceErrors.
    if (e instanceof ReferenceError) throw refuse(`its aliases cannot be expanded: ${e.message} (at most ${MAX_ALIAS_EXPANSIONS} expansions)`);
    throw e;
  }
}

/**
 * Parses `text` (named `file` in errors). A syntax error or an alias bomb becomes
 * `refuse(where, why, syntax)`: each kind of file reports it under its own error code.
 */
export function parseYaml(text: string, file: string, refuse: (where: SourceLocation, why: string, syntax: boolean) => JinqiaoError): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problem = doc.errors[0];
  if (problem) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    throw refuse({ file, line, column: col }, `not valid YAML or JSON: ${problem.message.split('\n')[0]}`, true);
  }
  const data = documentData(doc, (why) => refuse({ file }, why, false));
  return { data, locate: (path) => locate(doc, lineCounter, file, path) };
}

export async function readYamlSource(file: string): Promise<YamlSource> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw errors.fileUnreadable(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
  return parseYaml(text, file, errors.jobSyntax);
}

export async function readYamlFile(file: string): Promise<unknown> {
  return (await readYamlSource(file)).data;
}

/** A field path as messages name it: `partners[0].purposes`, `(top level)` for none. */
export function pathText(path: FieldPath): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function locate(doc: Document, lineCounter: LineCounter, file: string, path: FieldPath): SourceLocation {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    const offset = keyOffset(doc, path.slice(0, depth)) ?? (node as { range?: [number, number, number] } | undefined)?.range?.[0];
    if (offset !== undefined) {
      const { line, col } = lineCounter.linePos(offset);
      return { file, line, column: col };
    }
  }
  return { file };
}

/** A mapping entry is best pointed at by its key (the value may be on the next line). */
function keyOffset(doc: Document, path: FieldPath): number | undefined {
  if (path.length === 0) return undefined;
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === path[path.length - 1]);
  return (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
}
