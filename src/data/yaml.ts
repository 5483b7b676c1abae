/**
 * Reads a YAML (or JSON) file that an operator wrote: job files, party configs, job
 * definitions. An unreadable file or a syntax error names the file, line and column.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { errors } from '../errors.ts';

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
  return doc.toJS() as unknown;
}
