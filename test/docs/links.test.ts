/**
 * The documents point at files that exist: every relative Markdown link (image or text) of
 * README.md, BENCHMARKS.md and the examples' READMEs, resolved against the document's folder,
 * and every repository path the README names in backticks (`docs/…`, `examples/…`, `src/…`,
 * …), resolved against the repository. A path with braces names several files
 * (`-{3,4,5}.json`), each of which must exist; one with a placeholder (`<area>`) or a glob
 * names none in particular and is skipped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const TOP_LEVEL = ['docs', 'examples', 'src', 'test', 'bench', 'scripts', 'data', 'workers', 'bin'];

const documents = [
  'README.md',
  'BENCHMARKS.md',
  ...readdirSync(join(ROOT, 'examples'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'examples', d.name, 'README.md')))
    .map((d) => `examples/${d.name}/README.md`),
];

/** `a-{1,2}.json` → `a-1.json`, `a-2.json` (one level of braces, several groups). */
function expandBraces(path: string): string[] {
  const match = /\{([^{}]*)\}/.exec(path);
  if (!match) return [path];
  return match[1]!.split(',').flatMap((option) => expandBraces(path.slice(0, match.index) + option + path.slice(match.index + match[0].length)));
}

/** Relative link targets of a Markdown text: `[text](target)` and `![alt](target)`, without anchors or titles. */
function markdownLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1]!.split('#')[0]!)
    .filter((target) => target !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** Repository paths named in backticks: `docs/x.png`, `examples/sme-credit/job.yaml`, … */
function backtickedPaths(text: string): string[] {
  const top = TOP_LEVEL.join('|');
  return [...text.matchAll(new RegExp(`\`((?:${top})/[^\`\\s]*)\``, 'g'))]
    .map((m) => m[1]!.replace(/[:#].*$/, ''))
    .filter((path) => !/[<>*]/.test(path));
}

function missing(document: string): string[] {
  const text = readFileSync(join(ROOT, document), 'utf8');
  const folder = dirname(join(ROOT, document));
  const links = markdownLinks(text).flatMap((target) => expandBraces(decodeURI(target)).map((t) => resolve(folder, t)));
  const named = document === 'README.md' ? backtickedPaths(text).flatMap(expandBraces).map((p) => join(ROOT, p)) : [];
  return [...new Set([...links, ...named])].filter((file) => !existsSync(file)).map((file) => relative(ROOT, file));
}

describe('links in the documents', () => {
  it.each(documents)('every file %s links to or names exists', (document) => {
    expect(missing(document)).toEqual([]);
  });

  it('finds links and named paths the way a reader follows them', () => {
    const text = '![a](docs/x.png) [b](../y.md#part "title") [c](https://example.org/z) `examples/s/job.yaml` `src/service/api/<area>.ts` `bench/r-{1,2}.json` `src/a.ts:12`';
    expect(markdownLinks(text)).toEqual(['docs/x.png', '../y.md']);
    expect(backtickedPaths(text).flatMap(expandBraces)).toEqual(['examples/s/job.yaml', 'bench/r-1.json', 'bench/r-2.json', 'src/a.ts']);
  });
});
