/**
 * `writeAtomically`, which every command's output goes through: a large output waits for the
 * stream to drain many times, and each wait must take its listeners off again (it left one
 * `error` listener behind per wait, and a 20,000-row verdict file printed Node's
 * MaxListenersExceededWarning to the operator).
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeAtomically } from '../../src/data/write.ts';

describe('writeAtomically', () => {
  it('writes a large output through many drains without leaving listeners behind (no warning)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const file = join(mkdtempSync(join(tmpdir(), 'jinqiao-write-')), 'big.csv');
    const chunk = 'x'.repeat(64 * 1024);
    try {
      await writeAtomically(file, async (out) => {
        for (let i = 0; i < 100; i++) await out(chunk);
      });
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(statSync(file).size).toBe(100 * chunk.length);
    expect(readFileSync(file, 'utf8').slice(0, 3)).toBe('xxx');
    expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
  });
});
