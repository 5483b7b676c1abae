/**
 * The console's pages rendered on their own, in both languages: words where the service
 * writes codes (phases, monitoring warnings), the note on what approval means, and a
 * failure's "what to do" written for the party whose operator reads it.
 */
import { describe, expect, it } from 'vitest';
import { MESSAGES, type Locale } from '../../src/console/i18n.ts';
import { approvalsPage, jobPage, jobStatus, scoringPage, type PageContext } from '../../src/console/pages.ts';
import type { ConsoleView, JobDetailView, JobView } from '../../src/console/view.ts';
import type { MonitoringRun } from '../../src/score/monitoring.ts';

function viewOf(party: string, role: ConsoleView['role'], approvals: JobView[] = []): ConsoleView {
  return {
    party,
    role,
    actions: { cancel: () => {}, approve: async () => {}, reject: async () => {}, ...(role === 'label' ? { resume: () => {} } : {}) },
    jobs: () => [],
    job: async () => undefined,
    report: async () => undefined,
    approvals: () => approvals,
    audit: async () => undefined,
    governance: async () => undefined,
    scoring: async () => [],
    signedIn: async () => {},
    close: () => {},
  };
}

const ctxOf = (view: ConsoleView, locale: Locale = 'en'): PageContext => ({ m: MESSAGES[locale], locale, view, operator: 'Li Wei', csrf: 'c', path: '/' });

function job(over: Partial<JobDetailView>): JobDetailView {
  const at = '2026-12-01T08:00:00.000Z';
  return {
    id: 'job-1', state: 'failed', phase: 'stopped', kind: 'training', purpose: 'credit-modeling', partners: ['tax-bureau', 'arbiter'], from: undefined,
    createdAt: at, updatedAt: at, progress: undefined, error: null, queuePosition: undefined, approval: undefined,
    definition: {}, parameters: {}, result: null, lossCurve: [], roc: undefined, modelSlices: [], checkpoints: [], hasReport: false,
    ...over,
  };
}

/** The text of the element with `cls` (the first), tags stripped. */
function textOf(html: string, cls: string): string {
  const at = html.indexOf(`class="${cls}"`);
  expect(at, `no element of class ${cls}`).toBeGreaterThan(0);
  return unescape(html.slice(html.indexOf('>', at) + 1, html.indexOf('</', at)));
}

/** The few entities escapeHtml writes, back to characters. */
const unescape = (html: string) => html.replaceAll('&#39;', "'").replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

describe("the console's pages", () => {
  it('show known phases in Chinese with the service’s words as a title, and unknown ones as written', () => {
    const zh = ctxOf(viewOf('bank', 'label'), 'zh');
    const cases: [string, string][] = [
      ['batch', '训练中'],
      ['align', '正在对齐样本（隐私求交）'],
      ['awaiting approval by tax-bureau, arbiter', '等待 tax-bureau, arbiter 审批'],
      ['approved by Li Wei', '已由 Li Wei 批准'],
      ['rejected by alice', '已被 alice 拒绝'],
      ['cancelled while queued', '排队时已取消'],
      ['interrupted', '因服务停止而中断'],
    ];
    for (const [raw, words] of cases) {
      const html = jobStatus(zh, job({ state: 'running', phase: raw }));
      expect(html).toContain(`<span class="phase" title="${raw}">${words}</span>`);
    }
    expect(jobStatus(zh, job({ phase: 'a phase of tomorrow' }))).toContain('<span class="phase">a phase of tomorrow</span>');
    expect(jobStatus(ctxOf(viewOf('bank', 'label')), job({ phase: 'batch' }))).toContain('<span class="phase">batch</span>');
  });

  it('tell the bank’s operator and an agency’s operator different things to do about the same failure', () => {
    const rejected = { code: 'E_JOB_REJECTED', message: "rejected by tax-bureau's operator: late filings stay here" };
    const atBank = jobPage(ctxOf(viewOf('bank', 'label')), job({ state: 'rejected', error: rejected }));
    expect(textOf(atBank, 'failure-party')).toBe('tax-bureau');
    expect(textOf(atBank, 'failure-todo')).toContain('Agree the purpose and fields with tax-bureau, then submit the job again');
    const atTax = jobPage(ctxOf(viewOf('tax-bureau', 'features')), job({ state: 'rejected', from: 'bank', error: rejected }));
    expect(textOf(atTax, 'failure-todo')).toBe('This party’s operator rejected the job, for the reason above. Nothing to do here; if the decision changes, bank submits the job again.');
    const atArbiter = jobPage(ctxOf(viewOf('arbiter', 'arbiter'), 'zh'), job({ state: 'rejected', from: 'bank', error: rejected }));
    expect(textOf(atArbiter, 'failure-todo')).toBe('tax-bureau 的操作员拒绝了该任务。本方无需处理：由 bank 的操作员与 tax-bureau 协商。');

    // Just rejected here: the run has not written its error yet, the decision gives the reason.
    const decision = { approved: false, operator: 'Li Wei', reason: 'not this quarter', at: '2026-12-01T08:01:00.000Z' };
    const justRejected = jobPage(ctxOf(viewOf('bank', 'label')), job({ state: 'rejected', approval: { partners: ['tax-bureau'], purpose: 'credit-review', fields: [], rows: undefined, requestedAt: undefined, decision } }));
    expect(textOf(justRejected, 'message')).toBe("rejected by bank's operator: not this quarter");
    expect(textOf(justRejected, 'failure-todo')).toBe(MESSAGES.en.job.todo.rejectedHere);

    const cut = { code: 'E_CHANNEL_CLOSED', message: 'tax-bureau: connection closed' };
    expect(textOf(jobPage(ctxOf(viewOf('bank', 'label')), job({ error: cut })), 'failure-todo')).toBe(MESSAGES.en.job.todo.resume);
    expect(textOf(jobPage(ctxOf(viewOf('tax-bureau', 'features')), job({ from: 'bank', error: cut })), 'failure-todo')).toContain("ask bank's operator to resume the job");

    const refused = { code: 'E_POLICY_REFUSED', message: 'tax-bureau stopped the job: E_POLICY_REFUSED purpose.undeclared' };
    const byPartner = jobPage(ctxOf(viewOf('bank', 'label')), job({ error: refused }));
    expect(textOf(byPartner, 'failure-todo')).toContain("Ask tax-bureau's operator to admit this purpose");
    const own = { code: 'E_POLICY_REFUSED', message: 'purpose.undeclared: marketing is not a purpose of the policy' };
    expect(textOf(jobPage(ctxOf(viewOf('tax-bureau', 'features')), job({ from: 'bank', error: own })), 'failure-todo')).toContain("change the policy (see Governance), then ask bank's operator to resume it");
    const timedOut = { code: 'E_APPROVAL_TIMEOUT', message: "job job-1 waited 60 s for approval by tax-bureau's operator, who did not decide" };
    expect(textOf(jobPage(ctxOf(viewOf('bank', 'label')), job({ error: timedOut })), 'failure-party')).toBe('tax-bureau');
    expect(textOf(jobPage(ctxOf(viewOf('bank', 'label')), job({ error: timedOut })), 'failure-todo')).toContain("tax-bureau's operator did not decide in time");
  });

  it('say on a job page why there is no checkpoint and what resume does, and on the approvals page what a decision does', () => {
    expect(textOf(jobPage(ctxOf(viewOf('bank', 'label')), job({})), 'note checkpoints-note')).toContain('Resume (at the bank) reruns a failed or cancelled job from its first epoch');
    expect(textOf(jobPage(ctxOf(viewOf('bank', 'label'), 'zh'), job({})), 'note checkpoints-note')).toContain('从第一轮重新运行');
    for (const locale of ['en', 'zh'] as const) {
      const waiting = job({ state: 'awaiting-approval', phase: 'awaiting approval by bank' });
      for (const html of [approvalsPage(ctxOf(viewOf('bank', 'label', [waiting]), locale)), approvalsPage(ctxOf(viewOf('bank', 'label'), locale))]) {
        expect(textOf(html, 'note approvals-note')).toBe(MESSAGES[locale].approvals.note);
      }
    }
    expect(MESSAGES.en.approvals.note).toContain('Nothing moves before you decide');
  });

  it('word a monitoring run’s warnings, each with what to do, instead of showing their codes', () => {
    const run = (over: Partial<MonitoringRun>): MonitoringRun => ({
      kind: 'jinqiao.monitoring-run', version: 1, at: '2026-11-01T06:00:00.000Z', modelJobId: 'm', threshold: 0.3, scores: {}, scoreDrift: null, agencyDrift: {}, alerts: [],
      summary: { enterprises: 400, meanProbability: 0.2, aboveThreshold: 40, notScored: 0 },
      ...over,
    });
    const latest = run({
      scoreDrift: 0.31,
      agencyDrift: { 'tax-bureau': 0.12, 'social-insurance': 0.02 },
      alerts: [
        { id: 'E1', previous: 0.2, current: 0.45, reason: 'crossed-up' },
        { id: 'E2', previous: 0.25, current: 0.35, reason: 'crossed-up' },
        { id: 'E3', previous: 0.1, current: 0.25, reason: 'moved' },
      ],
      summary: { enterprises: 400, meanProbability: 0.2, aboveThreshold: 40, notScored: 7 },
    });
    const en = scoringPage(ctxOf(viewOf('bank', 'label')), [run({}), latest]);
    const from = en.indexOf('class="card warnings"');
    const section = unescape(en.slice(from, en.indexOf('</section>', from)));
    expect(section).toContain('2 enterprise(s) rose to or above the warning threshold (0.30) since the last run.');
    expect(section).toContain('Review these borrowers’ credit now');
    expect(section).toContain('1 enterprise(s) moved by more than the allowed change');
    expect(section).toContain('shifted strongly since the last run (PSI 0.310, 0.25 or more)');
    expect(section).toContain("tax-bureau's partial scores shifted since the last run (PSI 0.120).");
    expect(section).not.toContain('social-insurance');
    expect(section).toContain('7 enterprise(s) of the book were not scored.');
    expect(section).not.toContain('fell below');
    // The codes stay only as titles.
    expect(section.replaceAll(/title="[^"]*"|class="[^"]*"/g, '')).not.toMatch(/crossed-up|crossed-down/);
    const zh = scoringPage(ctxOf(viewOf('bank', 'label'), 'zh'), [run({}), latest]);
    expect(zh).toContain('2 家企业自上次以来升至预警阈值（0.30）或以上。');
    expect(zh).toContain('请立即复核这些借款人的信用');
    expect(zh).toContain('<td title="crossed-up">升至阈值以上</td>');
    expect(scoringPage(ctxOf(viewOf('bank', 'label')), [run({})])).toContain('No warning in the latest run.');
    expect(en).not.toContain('drift-withheld');
    // An agency whose policy keeps its drift: named, with why, and no bar of its own.
    const kept = run({ agencyDrift: { 'tax-bureau': 'withheld', 'social-insurance': 0.02 } });
    const shown = unescape(scoringPage(ctxOf(viewOf('bank', 'label')), [run({}), kept]));
    expect(shown).toContain('Drift withheld by tax-bureau: either their policy does not let the bank see their partial scores');
    expect(unescape(scoringPage(ctxOf(viewOf('bank', 'label'), 'zh'), [run({}), kept]))).toContain('tax-bureau 未提供漂移');
  });
});
