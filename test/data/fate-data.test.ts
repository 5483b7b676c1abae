import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const root = join(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'node_modules' || entry === 'results' ? [] : sourceFiles(path);
    return /\.(ts|js|json|yaml|yml|sh)$/.test(entry) ? [path] : [];
  });
}

describe('the benchmark data the project ships', () => {
  it('is FATE’s data unchanged, as its README records', () => {
    const readme = readFileSync(join(FATE_DATA_DIR, 'README.md'), 'utf8');
    const recorded = [...readme.matchAll(/^([0-9a-f]{64})\s+(\S+\.csv)$/gm)].map(([, hash, file]) => [file!, hash!] as const);
    expect(recorded.map(([file]) => file).sort()).toEqual(readdirSync(FATE_DATA_DIR).filter((f) => f.endsWith('.csv')).sort());
    for (const [file, hash] of recorded) {
      expect(createHash('sha256').update(readFileSync(join(FATE_DATA_DIR, file))).digest('hex'), file).toBe(hash);
    }
  });

  it('lives inside the repository: no code reads a folder beside the clone', () => {
    const offenders = ['src', 'test', 'bench', 'bin', 'workers', 'examples', '.ci']
      .flatMap((dir) => sourceFiles(join(root, dir)))
      .filter((file) => {
        const text = readFileSync(file, 'utf8');
        // Every relative path the code spells must stay inside the clone.
        const relative = [...text.matchAll(/['"`](\.\.\/[^'"`$]*)['"`]/g)].map((m) => resolve(dirname(file), m[1]!));
        return /\.\.\/shared\b/.test(text) || relative.some((p) => p !== root && !p.startsWith(root + '/'));
      });
    expect(offenders).toEqual([]);
  });
});
