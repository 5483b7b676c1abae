import { describe, expect, it } from 'vitest';
import { StandardScaler, type FeatureMatrix } from '../../src/lr/scaler.ts';

/** 4 rows × 3 columns: a normal column, a column with a missing value, a constant column. */
const features: FeatureMatrix = {
  values: Float64Array.from([1, 10, 7, 3, NaN, 7, 5, 30, 7, 100, 1000, 7]),
  rowCount: 4,
  featureCount: 3,
};
const trainRows = Uint32Array.of(0, 1, 2);

describe('StandardScaler', () => {
  it('fits mean and population standard deviation on the training rows only', () => {
    const scaler = StandardScaler.fit(features, trainRows);
    expect(Array.from(scaler.means)).toEqual([3, 20, 7]); // row 3 (100, 1000) is held out
    expect(scaler.scales[0]).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(scaler.scales[1]).toBeCloseTo(10, 12); // observed values 10 and 30 only
  });

  it('keeps scale 1 for a constant column, which standardises to zeros', () => {
    const scaler = StandardScaler.fit(features, trainRows);
    expect(scaler.scales[2]).toBe(1);
    const out = scaler.transform(features);
    for (let r = 0; r < 4; r++) expect(out.values[r * 3 + 2]).toBe(0);
  });

  it('imputes a missing value with the training mean, i.e. standardised 0', () => {
    const out = StandardScaler.fit(features, trainRows).transform(features);
    expect(out.values[1 * 3 + 1]).toBe(0);
    expect(out.values[0 * 3 + 1]).toBeCloseTo(-1, 12);
    expect(out.values[2 * 3 + 1]).toBeCloseTo(1, 12);
  });

  it('standardised training columns have mean 0 and standard deviation 1', () => {
    const out = StandardScaler.fit(features, trainRows).transform(features);
    const column = [0, 1, 2].map((r) => out.values[r * 3]);
    const mean = column.reduce((a, b) => a + b) / 3;
    expect(mean).toBeCloseTo(0, 12);
    expect(Math.sqrt(column.reduce((a, b) => a + (b - mean) ** 2, 0) / 3)).toBeCloseTo(1, 12);
  });

  it('clips standardised values to ±clip', () => {
    const out = StandardScaler.fit(features, trainRows, { clip: 3 }).transform(features);
    expect(out.values[3 * 3]).toBe(3); // (100 - 3) / 1.63 would be ~59
    expect(out.values[3 * 3 + 1]).toBe(3);
  });

  it('round-trips through JSON and transforms identically', () => {
    const scaler = StandardScaler.fit(features, trainRows, { clip: 4 });
    const restored = StandardScaler.fromJSON(JSON.parse(JSON.stringify(scaler)));
    expect(restored.transform(features).values).toEqual(scaler.transform(features).values);
    expect(restored.clip).toBe(4);
    expect(StandardScaler.fromJSON(JSON.parse(JSON.stringify(StandardScaler.fit(features, trainRows)))).clip).toBeUndefined();
  });

  it('rejects saved scalers of another kind or version, naming the source', () => {
    const json = StandardScaler.fit(features, trainRows).toJSON();
    expect(() => StandardScaler.fromJSON({ ...json, version: 2 }, 'model/tax.json')).toThrow(/model\/tax.json: scaler version 2/);
    expect(() => StandardScaler.fromJSON({ ...json, scales: [1, 0, 1] })).toThrow(expect.objectContaining({ code: 'E_MODEL_INVALID' }));
    expect(() => StandardScaler.fromJSON(null)).toThrow(expect.objectContaining({ code: 'E_MODEL_INVALID' }));
  });

  it('rejects infinite values, columns with no training value, and mismatched widths', () => {
    const infinite = { ...features, values: features.values.map((v, i) => (i === 0 ? Infinity : v)) };
    expect(() => StandardScaler.fit(infinite, trainRows)).toThrow(expect.objectContaining({ code: 'E_VALUES_INVALID' }));
    const empty = { values: Float64Array.of(NaN, 1, NaN, 2), rowCount: 2, featureCount: 2 };
    expect(() => StandardScaler.fit(empty, Uint32Array.of(0, 1))).toThrow(/column 0 has no value/);
    const scaler = StandardScaler.fit(features, trainRows);
    expect(() => scaler.transform({ values: new Float64Array(4), rowCount: 2, featureCount: 2 })).toThrow(/fitted on 3/);
    expect(() => StandardScaler.fit(features, trainRows, { clip: 0 })).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
  });
});
