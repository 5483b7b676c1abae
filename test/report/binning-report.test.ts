/**
 * The bank's binning report: an IV chart ranking every feature and one WOE chart per
 * feature with the counts behind each bar, all from binning.json; data is escaped.
 */
import { describe, expect, it } from 'vitest';
import { binLabel, renderBinningReport, WOE_CHARTS } from '../../src/report/binning.ts';

const feature = (name: string, iv: number, woes: number[], missing = false) => ({
  name,
  iv,
  edges: [null, ...woes.slice(1).map((_, k) => (k + 1) * 10), null],
  bins: woes.map((woe, k) => ({ count: 100 + k, bads: 10 + k, woe })),
  missing: missing ? { count: 7, bads: 3, woe: -0.75 } : null,
});

describe('binning report', () => {
  const input = {
    rows: 1000,
    bads: 200,
    parties: [
      { party: 'bank', features: [feature('age', 0.05, [0.3, -0.2, 0.1])] },
      { party: 'tax<bureau>', features: [feature('vat_paid', 0.41, [1.2, 0.1, -0.9, -1.5], true), feature('late_filings', 0.012, [0.01, -0.02])] },
    ],
  };
  const html = renderBinningReport(input);

  it('ranks every feature by IV in a chart and a table', () => {
    const ivSection = html.slice(html.indexOf('id="iv"'), html.indexOf('id="woe"'));
    expect(ivSection).toContain('<svg');
    const order = ['tax&lt;bureau&gt;/vat_paid', 'bank/age', 'tax&lt;bureau&gt;/late_filings'].map((l) => ivSection.indexOf(l));
    expect(order.every((i) => i > 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(ivSection).toContain('0.4100');
    expect(ivSection).toContain('strong');
    expect(html).not.toContain('tax<bureau>');
  });

  it('draws one WOE chart per feature, a bar per bin and the missing bin, with counts and WOE in its table', () => {
    const woeSection = html.slice(html.indexOf('id="woe"'));
    expect(woeSection.match(/<svg/g)).toHaveLength(3);
    const vat = woeSection.slice(woeSection.indexOf('WOE of tax&lt;bureau&gt;/vat_paid'));
    for (const label of ['[−∞, 10)', '[10, 20)', '[20, 30)', '[30, +∞)', 'missing']) expect(vat).toContain(label);
    expect(vat).toContain('-1.5000');
    expect(vat).toContain('103'); // the last bin's count
    expect(vat).toContain('-0.7500'); // the missing bin's WOE
  });

  it('labels bins as [lo, hi) with infinite ends, and caps the number of WOE charts', () => {
    expect(binLabel([null, 1.23456, null], 0)).toBe('[−∞, 1.235)');
    expect(binLabel([null, 1.23456, null], 1)).toBe('[1.235, +∞)');
    const many = { rows: 10, bads: 2, parties: [{ party: 'a', features: Array.from({ length: WOE_CHARTS + 5 }, (_, k) => feature(`f${k}`, k / 100, [0.1, -0.1])) }] };
    const page = renderBinningReport(many);
    expect(page.slice(page.indexOf('id="woe"')).match(/<svg/g)).toHaveLength(WOE_CHARTS);
    expect(page).toContain(`Charts for the ${WOE_CHARTS} features of highest IV`);
  });
});
