import { describe, expect, it } from 'vitest';
import { chooseBatchSize, DEFAULT_MAX_BATCH, smallestBatch } from '../../src/lr/batch-size.ts';
import { MIN_ROWS_PER_FEATURE } from '../../src/lr/config.ts';
import { epochBatches } from '../../src/lr/split.ts';

describe('the batch size of a training job', () => {
  it('adapts the default to small data instead of failing (1,653 training rows)', () => {
    expect(chooseBatchSize('auto', 1653, 31)).toBe(1653);
    expect(chooseBatchSize('auto', 455, 20)).toBe(455);
  });

  it('keeps the default at most 2048 rows on large data', () => {
    expect(chooseBatchSize('auto', 100_000, 300)).toBeLessThanOrEqual(DEFAULT_MAX_BATCH);
    expect(chooseBatchSize('auto', 100_000, 300)).toBeGreaterThan(DEFAULT_MAX_BATCH - 50);
  });

  it('takes fewer, larger batches when 2048 would leave a batch under the rule', () => {
    // 3,000 rows in batches of up to 2048 are two batches of 1,500, below 4 × 400.
    expect(chooseBatchSize('auto', 3000, 400)).toBe(3000);
  });

  it('fails only when no batch satisfies the rule, saying what would', () => {
    expect(() => chooseBatchSize('auto', 100, 30)).toThrow(expect.objectContaining({ code: 'E_TOO_FEW_ROWS', message: expect.stringContaining('the 100 training rows are fewer than 4 × 30'), hint: expect.stringMatching(/^supply more aligned rows/) }));
  });

  it('says "raise" for a batch too small for the feature count, with the smallest size that works', () => {
    expect(() => chooseBatchSize(40, 455, 20)).toThrow(
      expect.objectContaining({ message: expect.stringContaining('batch size 40 gives batches of 37 rows, below 4 × 20'), hint: expect.stringMatching(/^raise the batch size \(--batch-size, batchSize in a job file\) to at least 91/) }),
    );
    expect(chooseBatchSize(91, 455, 20)).toBe(91);
    expect(() => chooseBatchSize(90, 455, 20)).toThrow(/gives batches of 75 rows/);
  });

  it('says "lower" for a batch larger than the training rows', () => {
    expect(() => chooseBatchSize(5000, 455, 20)).toThrow(expect.objectContaining({ message: 'batch size 5000 exceeds the 455 training rows', hint: expect.stringMatching(/^lower the batch size .* to at most 455/) }));
  });

  it('checks the smallest batch an epoch really has, not the nominal size', () => {
    // 2,049 rows at 2048 are two batches of 1,024: under 4 × 400 although 2048 is not.
    expect(smallestBatch(2049, 2048)).toBe(1024);
    expect(() => chooseBatchSize(2048, 2049, 400)).toThrow(/gives batches of 1024 rows, below 4 × 400/);
  });

  it('never gives an epoch a batch under the rule', () => {
    for (const [rows, widest] of [[455, 20], [1653, 31], [3000, 400], [4097, 500], [50_000, 7], [20_000, 1000]] as const) {
      const size = chooseBatchSize('auto', rows, widest);
      const train = Uint32Array.from({ length: rows }, (_, i) => i);
      for (const batch of epochBatches(train, size, 'seed', 0)) expect(batch.length).toBeGreaterThanOrEqual(MIN_ROWS_PER_FEATURE * widest);
    }
  });
});
