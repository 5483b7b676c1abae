import { describe, expect, it } from 'vitest';
import { evaluateScores } from '../../src/lr/metrics.ts';
import { renderTrainingReport, type TrainingReportInput } from '../../src/report/html.ts';
import { SeededRng } from '../../src/util/rng.ts';

const HOSTILE = '<script>alert(1)</script>';

/** A validation set where defaulters score higher on average, as a trained model gives. */
function syntheticJob(overrides: Partial<TrainingReportInput> = {}): TrainingReportInput {
  const rng = SeededRng.fromSeed('report-test');
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 600; i++) {
    const bad = rng.nextFloat() < 0.2 ? 1 : 0;
    const logit = -1.6 + 1.4 * bad + 1.1 * (rng.nextFloat() + rng.nextFloat() - 1) * 2;
    scores.push(1 / (1 + Math.exp(-logit)));
    labels.push(bad);
  }
  return {
    viewer: 'bank',
    metrics: evaluateScores(scores, labels),
    validation: { scores, labels },
    lossCurve: [0.69, 0.58, 0.52, 0.49, 0.48],
    models: [{ party: 'bank', role: 'label', featureNames: ['overdue_count_12m', HOSTILE], weights: [0.42, -0.17], intercept: -1.3 }],
    manifest: {
      jobId: 'job-<b>7</b>',
      createdAt: '2026-03-01T09:30:00.000Z',
      idType: 'uscc',
      parties: [
        { name: 'bank', role: 'label', rowsRead: 3000, features: 2, bytesSent: 1_200_000 },
        { name: '<img src=x onerror=alert(2)>', role: 'features', rowsRead: 4000, features: 3, bytesSent: 900_000 },
      ],
      rows: { aligned: 3000, train: 2400, validation: 600 },
      parameters: { epochs: 5, optimiser: 'adam', schedule: { kind: 'inverse-sqrt', decay: 0.01 }, earlyStopping: null, threads: undefined },
      epochsRun: 5,
      seconds: 12.5,
      timings: { alignSeconds: 2, trainSeconds: 10, evaluateSeconds: 0.5 },
    },
    generatedAt: '2026-03-01T10:00:00.000Z',
    ...overrides,
  };
}

/** Open and close tags balance, as an HTML5 parser would need no error recovery. */
function unbalancedTags(html: string): string[] {
  const voids = new Set(['meta', 'link', 'br', 'hr', 'img', 'input', 'path', 'line', 'circle']);
  const stack: string[] = [];
  const problems: string[] = [];
  const body = html.replace(/<style>[\s\S]*?<\/style>/, '');
  for (const [, close, name, selfClosing] of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9-]*)\b[^>]*?(\/?)>/g)) {
    const tag = name!.toLowerCase();
    if (close) {
      if (stack.pop() !== tag) problems.push(`</${tag}>`);
    } else if (!voids.has(tag) && !selfClosing) {
      stack.push(tag);
    }
  }
  return [...problems, ...stack.map((t) => `<${t}> not closed`)];
}

describe('renderTrainingReport', () => {
  it('has every section, in reading order', () => {
    const html = renderTrainingReport(syntheticJob());
    const ids = [...html.matchAll(/<section id="([a-z-]+)"/g)].map((m) => m[1]);
    expect(ids).toEqual(['summary', 'roc', 'ks', 'distribution', 'loss', 'lift', 'scorecard', 'weights', 'manifest']);
    for (const heading of ['ROC curve', 'KS curve', 'Score distribution', 'Training loss per epoch', 'Lift and gain by decile', 'Scorecard view', 'Feature weights of bank', 'Job manifest']) {
      expect(html).toContain(heading);
    }
  });

  it('is one valid, self-contained HTML5 document', () => {
    const html = renderTrainingReport(syntheticJob());
    expect(html.startsWith('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">')).toBe(true);
    expect(unbalancedTags(html)).toEqual([]);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\s(src|href)="(?!#)|@import|url\(/i);
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('escapes feature, party and job names instead of running them', () => {
    const html = renderTrainingReport(syntheticJob());
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(html).toContain('job-&lt;b&gt;7&lt;/b&gt;');
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain('<b>7</b>');
  });

  it("shows the viewer's own weights and refuses another party's slice", () => {
    const html = renderTrainingReport(syntheticJob());
    expect(html).toContain('overdue_count_12m');
    expect(html).toContain('Intercept (held by the label party): -1.3000');
    const agencySlice = { party: 'tax-bureau', role: 'features' as const, featureNames: ['vat_paid'], weights: [0.3], intercept: null };
    expect(() => renderTrainingReport(syntheticJob({ models: [agencySlice] }))).toThrow(expect.objectContaining({ code: 'E_OPTION_INVALID' }));
    const agencyView = renderTrainingReport(syntheticJob({ viewer: 'tax-bureau', models: [agencySlice] }));
    expect(agencyView).toContain('vat_paid');
    expect(agencyView).not.toContain('overdue_count_12m');
  });

  it('states the scorecard scaling it used', () => {
    const html = renderTrainingReport(syntheticJob());
    expect(html).toContain('600 points at good:bad odds of 50 : 1');
    expect(html).toContain('20 points to double the odds (PDO)');
    const custom = renderTrainingReport(syntheticJob({ scorecard: { baseScore: 500, baseOdds: 20, pdo: 40 } }));
    expect(custom).toContain('500 points at good:bad odds of 20 : 1');
    expect(custom).toContain('40 points to double the odds (PDO)');
  });

  it('shows the headline figures from the metrics', () => {
    const input = syntheticJob();
    const html = renderTrainingReport(input);
    expect(html).toContain(`<div class="value">${input.metrics.auc.toFixed(3)}</div>`);
    expect(html).toContain(`<div class="value">${input.metrics.ks.statistic.toFixed(3)}</div>`);
    expect(html).toContain('2026-03-01 09:30 UTC');
  });

  it('rejects scores without one 0/1 label each, naming the field', () => {
    const input = syntheticJob();
    expect(() => renderTrainingReport({ ...input, validation: { scores: [0.1, 0.2], labels: [0] } })).toThrow(/validation/);
    expect(() => renderTrainingReport({ ...input, validation: { scores: [0.1, 0.2], labels: [0, 2] } })).toThrow(/validation\.labels/);
  });
});
