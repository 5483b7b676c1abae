import { describe, expect, it } from 'vitest';
import { epochBatches, splitTrainValidation } from '../../src/lr/split.ts';

describe('splitTrainValidation', () => {
  it('gives identical splits on every party for the same seed', () => {
    const labelParty = splitTrainValidation(1000, 'job-7');
    const featureParty = splitTrainValidation(1000, 'job-7');
    expect(featureParty.train).toEqual(labelParty.train);
    expect(featureParty.validation).toEqual(labelParty.validation);
    expect(splitTrainValidation(1000, 'job-8').validation).not.toEqual(labelParty.validation);
  });

  it('holds out exactly round(n × fraction) rows, disjoint from training, together covering all rows', () => {
    const { train, validation } = splitTrainValidation(1001, 'job-7', { validationFraction: 0.2 });
    expect(validation.length).toBe(200);
    expect(train.length).toBe(801);
    const all = [...train, ...validation].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 1001 }, (_, i) => i));
  });

  it('lists rows in ascending canonical order', () => {
    const { train, validation } = splitTrainValidation(500, 'job-7');
    for (const part of [train, validation]) for (let i = 1; i < part.length; i++) expect(part[i]).toBeGreaterThan(part[i - 1]);
  });

  it('allows no validation set, and refuses splits that leave a side empty', () => {
    expect(splitTrainValidation(10, 's', { validationFraction: 0 }).validation).toHaveLength(0);
    expect(() => splitTrainValidation(2, 's', { validationFraction: 0.1 })).toThrow(expect.objectContaining({ code: 'E_TOO_FEW_ROWS' }));
    expect(() => splitTrainValidation(0, 's')).toThrow(expect.objectContaining({ code: 'E_TOO_FEW_ROWS' }));
    expect(() => splitTrainValidation(10, 's', { validationFraction: 1 })).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
  });
});

describe('epochBatches', () => {
  const { train } = splitTrainValidation(2503, 'job-7');

  it('covers every training row exactly once per epoch', () => {
    for (const epoch of [0, 1, 5]) {
      const batches = epochBatches(train, 256, 'job-7', epoch);
      const rows = batches.flatMap((b) => Array.from(b)).sort((a, b) => a - b);
      expect(rows).toEqual(Array.from(train));
    }
  });

  it('cuts ceil(n / b) batches of near-equal size, none larger than b nor smaller than b / 2', () => {
    const batches = epochBatches(train, 256, 'job-7', 0); // 2002 rows
    expect(batches).toHaveLength(8);
    const sizes = batches.map((b) => b.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(128);
    expect(epochBatches(train, train.length, 'job-7', 0)).toHaveLength(1);
  });

  it('is identical for the same seed and epoch and reshuffles between epochs', () => {
    expect(epochBatches(train, 100, 'job-7', 3)).toEqual(epochBatches(train, 100, 'job-7', 3));
    expect(epochBatches(train, 100, 'job-7', 4)[0]).not.toEqual(epochBatches(train, 100, 'job-7', 3)[0]);
  });

  it('leaves the caller’s training rows untouched', () => {
    const copy = train.slice();
    epochBatches(train, 100, 'job-7', 0);
    expect(train).toEqual(copy);
  });

  it('rejects batch sizes below 1 and above the training rows', () => {
    expect(() => epochBatches(train, 0, 's', 0)).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
    expect(() => epochBatches(train, 1.5, 's', 0)).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
    expect(() => epochBatches(train, train.length + 1, 's', 0)).toThrow(expect.objectContaining({ code: 'E_TOO_FEW_ROWS' }));
    expect(() => epochBatches(train, 10, 's', -1)).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
  });
});
