import { describe, expect, it } from 'vitest';
import {
  populationStabilityIndex,
  renderMonitoringReport,
  stabilityStatus,
  summariseRun,
  thresholdCrossings,
  type MonitoringReportInput,
} from '../../src/report/html.ts';
import { SeededRng } from '../../src/util/rng.ts';

function scores(seed: string, n: number, shift: number): number[] {
  const rng = SeededRng.fromSeed(seed);
  return Array.from({ length: n }, () => 1 / (1 + Math.exp(-(-2 + shift + 2.4 * (rng.nextFloat() + rng.nextFloat() - 1)))));
}

function book(): MonitoringReportInput {
  const previous = { runId: 'run-41', runAt: '2026-02-01T06:00:00Z', scores: scores('previous', 500, 0) };
  const current = { runId: 'run-42', runAt: '2026-03-01T06:00:00Z', scores: scores('current', 500, 0.3) };
  return {
    bookName: 'SME <working-capital> loans',
    threshold: 0.3,
    previous,
    current,
    crossings: [
      { enterpriseId: '<b>91310000MA1FL00001</b>', previousScore: 0.22, currentScore: 0.41 },
      { enterpriseId: '91310000MA1FL00002', previousScore: 0.35, currentScore: 0.18 },
    ],
    stability: [
      { party: 'bank', psi: 0.04 },
      { party: 'tax-bureau', psi: 0.17 },
      { party: '<i>utilities</i>', psi: 0.31 },
    ],
    history: [summariseRun({ ...previous, runId: 'run-40', runAt: '2026-01-01T06:00:00Z' }, 0.3), summariseRun(previous, 0.3), summariseRun(current, 0.3)],
    generatedAt: '2026-03-01T07:00:00Z',
  };
}

describe('renderMonitoringReport', () => {
  it('has every section', () => {
    const html = renderMonitoringReport(book());
    const ids = [...html.matchAll(/<section id="([a-z-]+)"/g)].map((m) => m[1]);
    expect(ids).toEqual(['summary', 'distribution', 'history', 'stability', 'crossings']);
    expect((html.match(/<svg class="chart"/g) ?? []).length).toBe(3);
  });

  it('escapes enterprise IDs, party and book names', () => {
    const html = renderMonitoringReport(book());
    expect(html).toContain('&lt;b&gt;91310000MA1FL00001&lt;/b&gt;');
    expect(html).toContain('&lt;i&gt;utilities&lt;/i&gt;');
    expect(html).toContain('SME &lt;working-capital&gt; loans');
    expect(html).not.toMatch(/<b>|<i>|<working/);
    expect(html).not.toMatch(/https?:\/\/|<script/i);
  });

  it('lists enterprises moving onto the watch list first, and reads each PSI against the usual levels', () => {
    const html = renderMonitoringReport(book());
    expect(html.indexOf('91310000MA1FL00001')).toBeLessThan(html.indexOf('91310000MA1FL00002'));
    expect(html).toContain('above ▲ (watch)');
    expect(html).toContain('below ▼ (cleared)');
    expect(html).toContain('<td class="alert">significant shift, investigate</td>');
    expect(html).toContain('<td class="warn">minor shift, monitor</td>');
    expect(html).toContain('<td class="ok">stable</td>');
  });

  it('says how many crossings it left out', () => {
    const html = renderMonitoringReport({ ...book(), maxCrossingsShown: 1 });
    expect(html).toContain('Showing the 1 of 2 crossings');
    expect(html).not.toContain('91310000MA1FL00002');
  });

  it('rejects a threshold that is not a probability', () => {
    expect(() => renderMonitoringReport({ ...book(), threshold: 30 })).toThrow(/threshold/);
  });
});

describe('thresholdCrossings', () => {
  it('finds moves across the threshold either way, among enterprises scored in both runs', () => {
    const previous = { ids: ['a', 'b', 'c', 'd'], scores: [0.1, 0.5, 0.2, 0.6] };
    const current = { ids: ['b', 'a', 'c', 'e'], scores: [0.2, 0.4, 0.25, 0.9] };
    expect(thresholdCrossings(previous, current, 0.3)).toEqual([
      { enterpriseId: 'b', previousScore: 0.5, currentScore: 0.2 },
      { enterpriseId: 'a', previousScore: 0.1, currentScore: 0.4 },
    ]);
  });
});

describe('populationStabilityIndex', () => {
  it('is zero for the same distribution and grows with the shift', () => {
    const base = scores('psi', 2000, 0);
    expect(populationStabilityIndex(base, base)).toBeCloseTo(0, 12);
    const small = populationStabilityIndex(base, scores('psi-2', 2000, 0.1));
    const large = populationStabilityIndex(base, scores('psi-3', 2000, 1.5));
    expect(small).toBeLessThan(0.1);
    expect(large).toBeGreaterThan(0.25);
    expect(stabilityStatus(small)).toBe('stable');
    expect(stabilityStatus(large)).toBe('shifted');
    expect(stabilityStatus(0.1)).toBe('monitor');
  });

  it('stays finite when the new run leaves a bin empty', () => {
    const psi = populationStabilityIndex([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [9, 9, 9, 10, 10, 10]);
    expect(Number.isFinite(psi)).toBe(true);
    expect(psi).toBeGreaterThan(0.25);
  });
});
