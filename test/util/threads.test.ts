import { availableParallelism } from 'node:os';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveTrainingConfig } from '../../src/lr/config.ts';
import { poolExecutor } from '../../src/psi/executor.ts';
import { runLocalPsi } from '../../src/local/psi.ts';
import { checkThreads } from '../../src/util/threads.ts';
import { jinqiao } from '../helpers/cli.ts';
import { idCsv, uscc } from '../helpers/ids.ts';

const cores = availableParallelism();
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-threads-'));
const file = join(dir, 'ids.csv');
writeFileSync(file, idCsv([uscc(1), uscc(2)]));

describe('worker threads are bounded by the cores', () => {
  it('accepts 0 (main thread) up to the number of cores', () => {
    expect(checkThreads('--threads', 0)).toBe(0);
    expect(checkThreads('--threads', cores)).toBe(cores);
  });

  it('refuses more threads than cores, naming the option and the limit', () => {
    expect(() => checkThreads('--threads', cores + 1)).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID', message: expect.stringContaining(`${cores} core`) }));
  });

  it('is enforced by every library entry that takes a thread count', async () => {
    await expect(runLocalPsi({ left: { file, idColumn: 'id' }, right: { file, idColumn: 'id' }, threads: 999 })).rejects.toMatchObject({ code: 'E_OPTION_INVALID', message: expect.stringMatching(/^option threads: 999 is more than/) });
    expect(() => poolExecutor({ threads: 999 })).toThrow(/option threads: 999 is more than/);
    expect(() => resolveTrainingConfig({ jobId: 'j', threads: 999 })).toThrow(/option threads: 999 is more than/);
  });

  it('is refused by the CLI with exit 2 before any work starts', () => {
    const r = jinqiao(['psi', file, file, '--id', 'id', '--threads', '999']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `jinqiao: error E_OPTION_INVALID: option --threads: 999 is more than this machine's ${cores} core${cores === 1 ? '' : 's'} (pass ${cores} or fewer, or leave --threads out to use every core)`,
    );
  });
});
