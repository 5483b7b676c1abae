/**
 * Reads a YAML (or JSON) file that an operator wrote: job files, party configs, job
 * definitions. An unreadable file or a syntax error names the file, line and column.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument, type Document } from 'yaml';
import { errors, type JinqiaoError } from '../errors.ts';

/** Alias expansions a document may make: a real config needs a handful, a "billion laughs" needs millions. */
export const MAX_ALIAS_EXPANSIONS = 100;

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

export async function readYamlFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw errors.fileUnreadable(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  const problem = doc.errors[0];
  if (problem) {
    const pos = problem.linePos?.[0];
    throw errors.jobSyntax({ file, line: pos?.line, column: pos?.col }, `not valid YAML or JSON: ${problem.message.split('\n')[0]}`);
  }
  return documentData(doc, (why) => errors.jobSyntax({ file }, why));
}
