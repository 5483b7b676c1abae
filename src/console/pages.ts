/**
 * The console's pages, rendered on the server as HTML strings from a ConsoleView. Every
 * string from data is escaped; pages carry no inline script or style (the CSP forbids
 * them): behaviour comes from /assets/console.js and htmx attributes, looks from
 * /assets/console.css, and progress bars are <progress> elements. Times are written as
 * <time datetime> in UTC and shown in the operator's zone by console.js.
 */
import { ERROR_CATALOGUE, errors } from '../errors.ts';
import { escapeHtml as e } from '../report/escape.ts';
import { COLORS, fixedAxis, horizontalBarChart, niceAxis, xyChart, type Axis, type Point } from '../report/svg.ts';
import type { Locale, Messages } from './i18n.ts';
import type { ActionName, AuditView, ConsoleView, GovernanceView, JobDetailView, JobView, ProgressView } from './view.ts';
import type { MonitoringRun } from '../score/monitoring.ts';

export interface PageContext {
  readonly m: Messages;
  readonly locale: Locale;
  readonly view: ConsoleView;
  /** The signed-in operator; undefined on the sign-in page. */
  readonly operator: string | undefined;
  /** The session's CSRF token ('' for bearer-token requests, which need none). */
  readonly csrf: string;
  /** The path being shown, for the language switch to come back to. */
  readonly path: string;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);

/** `jobState`: the state a job page was rendered in; console.js reloads the page when its live status leaves it (new actions apply). */
function layout(ctx: PageContext, current: keyof Messages['nav'] | undefined, heading: string, body: string, jobState?: string): string {
  const { m } = ctx;
  const nav = (Object.keys(m.nav) as (keyof Messages['nav'])[])
    .map((key) => `<a href="${key === 'jobs' ? '/' : `/${key}`}"${key === current ? ' aria-current="page"' : ''}>${e(m.nav[key])}</a>`)
    .join('');
  const other = ctx.locale === 'zh' ? 'en' : 'zh';
  const who = ctx.operator === undefined
    ? ''
    : `<span class="who">${e(m.signedInAs)}: <b>${e(ctx.operator)}</b></span>` +
      (ctx.csrf ? `<form method="post" action="/sign-out" class="inline">${csrfField(ctx)}<button type="submit" class="link">${e(m.signOut)}</button></form>` : '');
  return `<!doctype html>
<html lang="${m.htmlLang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"historyCache":{"disable":true}}'>
<title>${e(heading)} · ${e(m.title)}</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/htmx.min.js" defer></script>
<script src="/assets/console.js" defer></script>
</head>
<body data-locale="${ctx.locale}">
<header>
<div class="brand">${e(m.title)} <span class="party">${e(m.party)}: <b>${e(ctx.view.party)}</b> · ${e(m.role[ctx.view.role])}</span></div>
<nav>${ctx.operator === undefined ? '' : nav}</nav>
<div class="tools">${who}<span class="zone" data-zone></span><a class="lang" href="/lang?to=${other}&amp;next=${encodeURIComponent(ctx.path)}" hreflang="${other === 'zh' ? 'zh-CN' : 'en'}">${e(m.switchTo)}</a></div>
</header>
<main${jobState === undefined ? '' : ` data-job-state="${e(jobState)}"`}>
<h1>${e(heading)}</h1>
${body}
</main>
</body>
</html>
`;
}

function csrfField(ctx: PageContext): string {
  return ctx.csrf ? `<input type="hidden" name="csrf" value="${e(ctx.csrf)}">` : '';
}

export function time(iso: string): string {
  const shown = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
  return `<time datetime="${e(iso)}">${e(shown ? `${shown[1]} ${shown[2]} UTC` : iso)}</time>`;
}

export function duration(seconds: number, locale: Locale): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (locale === 'zh') return `${h > 0 ? `${h} 小时 ` : ''}${h > 0 || min > 0 ? `${min} 分 ` : ''}${sec} 秒`;
  return `${h > 0 ? `${h} h ` : ''}${h > 0 || min > 0 ? `${min} min ` : ''}${sec} s`;
}

function badge(m: Messages, state: string): string {
  return `<span class="state state-${e(state)}">${e(m.state[state] ?? state)}</span>`;
}

function table(headers: readonly string[], rows: readonly string[], extraClass = ''): string {
  return `<div class="table-wrap"><table${extraClass ? ` class="${extraClass}"` : ''}><thead><tr>${headers.map((h) => `<th scope="col">${e(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function progressBar(ctx: PageContext, p: ProgressView | undefined): string {
  if (!p) return '';
  const { m } = ctx;
  const value = p.fraction === undefined ? '' : ` value="${Math.round(p.fraction * 1000)}"`;
  const percent = p.fraction === undefined ? '' : `${Math.floor(p.fraction * 100)}%`;
  const parts = [
    percent,
    p.epoch !== undefined && p.epochs !== undefined ? `${m.progress.epoch} ${p.epoch}/${p.epochs}` : '',
    `${m.progress.elapsed} <span class="elapsed">${e(duration(p.elapsedSeconds, ctx.locale))}</span>`,
    p.etaSeconds === undefined ? e(m.progress.measuring) : `${m.progress.eta} <span class="eta">${e(duration(p.etaSeconds, ctx.locale))}</span>`,
    p.epochSeconds === undefined ? '' : `${e(duration(p.epochSeconds, ctx.locale))} ${e(m.progress.perEpoch)}`,
  ].filter(Boolean);
  return `<progress max="1000"${value}>${percent}</progress><span class="progress-text">${parts.join(' · ')}</span>`;
}

/** A job's phase in the console's language, with the service's own words as its title where they differ. */
function phase(m: Messages, raw: string): string {
  const shown = m.phase(raw);
  return `<span class="phase"${shown === raw ? '' : ` title="${e(raw)}"`}>${e(shown)}</span>`;
}

/** A job's state and progress; polled by htmx every second while the job can still change. */
export function jobStatus(ctx: PageContext, job: JobView): string {
  const live = !TERMINAL.has(job.state);
  const poll = live ? ` hx-get="/jobs/${encodeURIComponent(job.id)}/status" hx-trigger="every 1s" hx-swap="outerHTML"` : '';
  const queue = job.queuePosition === undefined ? '' : ` <span class="queue">${e(ctx.m.jobs.queue)} ${job.queuePosition}</span>`;
  return `<div class="status" id="status-${e(job.id)}" data-state="${e(job.state)}"${poll}>${badge(ctx.m, job.state)} ${phase(ctx.m, job.phase)}${queue}${progressBar(ctx, job.progress)}</div>`;
}

export function jobsPage(ctx: PageContext): string {
  const { m } = ctx;
  const jobs = ctx.view.jobs();
  const rows = jobs.map(
    (j) =>
      `<tr data-job="${e(j.id)}"><td><a href="/jobs/${encodeURIComponent(j.id)}">${e(j.id)}</a></td><td class="wide">${jobStatus(ctx, j)}</td><td>${e(j.purpose ?? '–')}</td><td>${e(j.partners.join(', '))}</td><td>${time(j.createdAt)}</td><td>${time(j.updatedAt)}</td></tr>`,
  );
  const body = jobs.length === 0 ? `<p class="empty">${e(m.jobs.none)}</p>` : table([m.jobs.id, m.jobs.state, m.jobs.purpose, m.jobs.partners, m.jobs.created, m.jobs.updated], rows, 'jobs');
  return layout(ctx, 'jobs', m.jobs.heading, body);
}

/** Which actions apply to a job in its state, among those the service offers. */
export function actionsFor(view: ConsoleView, job: JobView): ActionName[] {
  const out: ActionName[] = [];
  if (view.actions.approve && job.state === 'awaiting-approval') out.push('approve');
  if (view.actions.reject && job.state === 'awaiting-approval') out.push('reject');
  if (view.actions.cancel && (job.state === 'running' || job.state === 'queued' || job.state === 'awaiting-approval')) out.push('cancel');
  if (view.actions.resume && (job.state === 'failed' || job.state === 'cancelled') && job.from === undefined) out.push('resume');
  return out;
}

function actionForms(ctx: PageContext, job: JobView): string {
  const names = actionsFor(ctx.view, job);
  if (names.length === 0) return `<p class="empty">${e(ctx.m.job.noActions)}</p>`;
  const needsReason = names.includes('reject');
  const reason = needsReason ? `<label>${e(ctx.m.job.reason)} <input name="reason" type="text" maxlength="500"></label>` : '';
  const forms = names
    .map((name) => `<form method="post" action="/jobs/${encodeURIComponent(job.id)}/${name}" class="action">${csrfField(ctx)}${name === 'reject' ? reason : ''}<button type="submit" class="btn btn-${name}" data-action="${name}">${e(ctx.m.action[name])}</button></form>`)
    .join('');
  return `<div class="actions">${forms}</div>`;
}

/** Codes that say nothing was wrong with the inputs: the job can simply run again. */
const TRANSIENT = new Set(['E_INTERRUPTED', 'E_CHANNEL_CLOSED', 'E_PROTOCOL', 'E_PEER_UNTRUSTED']);

/**
 * A failure in words: which party stopped the job, what happened, and what this party's
 * operator can do about it. Only the bank resumes or resubmits a job, so an agency's or the
 * platform's operator is told what to fix on their side and whom to ask.
 */
function failure(ctx: PageContext, job: JobView): string {
  const error = job.error ?? decidedRejection(ctx, job);
  if (!error) return '';
  const { m, view } = ctx;
  const T = m.job.todo;
  const { code, message } = error;
  const rejectedBy = code === 'E_JOB_REJECTED' ? /rejected by (\S+)'s operator/.exec(message)?.[1] : undefined;
  const waitedFor = code === 'E_APPROVAL_TIMEOUT' ? /approval by (\S+)'s operator/.exec(message)?.[1] : undefined;
  const party = /^(\S+) stopped the job:/.exec(message)?.[1] ?? rejectedBy ?? waitedFor ?? view.party;
  const here = party === view.party;
  // The bank resumes; at a partner, the job's opener is the bank.
  const bank = view.role === 'label' ? undefined : (job.from ?? m.role.label);
  let todo: string;
  if (code === 'E_JOB_REJECTED' && here) todo = bank === undefined ? T.rejectedHere : T.rejectedHereAgency(bank);
  else if (code === 'E_JOB_REJECTED') todo = bank === undefined ? T.rejectedAtBank(party) : T.rejectedElsewhere(party, bank);
  else if (code === 'E_POLICY_REFUSED' && here) todo = bank === undefined ? T.refusedHere : T.refusedHereAgency(bank);
  else if (code === 'E_POLICY_REFUSED' && bank === undefined) todo = T.refusedByPartner(party);
  else if (code === 'E_APPROVAL_TIMEOUT' && here) todo = bank === undefined ? T.timeoutHere : T.timeoutHereAgency(bank);
  else if (code === 'E_APPROVAL_TIMEOUT' && bank === undefined) todo = T.timeoutPartner(party);
  else if (!here) todo = bank === undefined ? T.peer(party) : T.peerAgency(party, bank);
  else if (TRANSIENT.has(code)) todo = bank === undefined ? T.resume : T.resumeAgency(bank);
  else todo = bank === undefined ? T.input : T.inputAgency(bank);
  const meaning = (ERROR_CATALOGUE as Record<string, { meaning: string }>)[code]?.meaning ?? '';
  return `<section class="card failure"><h2>${e(m.job.failure)}</h2><dl class="facts">
<div><dt>${e(m.job.failureParty)}</dt><dd class="failure-party">${e(party)}</dd></div>
<div><dt>${e(m.job.failureCode)}</dt><dd><code>${e(code)}</code> ${e(meaning)}</dd></div>
<div><dt>${e(m.job.failureWhat)}</dt><dd class="message">${e(message)}</dd></div>
<div><dt>${e(m.job.failureTodo)}</dt><dd class="failure-todo">${e(todo)}</dd></div></dl></section>`;
}

/**
 * A job this party's operator has just rejected: its state says so at once, while the error
 * the job ends with is written a moment later, when its run stops; the page, which no longer
 * polls a rejected job, shows the reason from the decision.
 */
function decidedRejection(ctx: PageContext, job: JobView): { code: string; message: string } | null {
  const decision = job.approval?.decision;
  if (job.state !== 'rejected' || !decision || decision.approved) return null;
  const { code, message } = errors.jobRejected(ctx.view.party, decision.operator, decision.reason ?? '');
  return { code, message };
}

function keyValues(values: Record<string, unknown>): string {
  const entries = Object.entries(values);
  if (entries.length === 0) return '<p class="empty">–</p>';
  return `<dl class="kv">${entries.map(([k, v]) => `<div><dt>${e(k)}</dt><dd>${e(typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))}</dd></div>`).join('')}</dl>`;
}

function lossChart(m: Messages, curve: readonly number[]): string {
  const epochs = curve.length;
  const x: Axis = epochs <= 12 ? fixedAxis(m.job.epochAxis, 0.5, epochs + 0.5, Array.from({ length: epochs }, (_, i) => i + 1), String) : niceAxis(m.job.epochAxis, 1, epochs, String);
  const y = niceAxis(m.job.lossAxis, Math.min(...curve), Math.max(...curve), (v) => v.toFixed(3), 4);
  return xyChart({ title: m.job.loss, x, y, height: 280, layers: [{ kind: 'line', points: curve.map((v, i): Point => [i + 1, v]), color: COLORS.accent, markers: true }] });
}

function rocChart(m: Messages, roc: NonNullable<JobDetailView['roc']>): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const rate = (v: number) => `${Math.round(v * 100)}%`;
  return xyChart({
    title: m.job.roc,
    x: fixedAxis(m.job.fpr, 0, 1, ticks, rate),
    y: fixedAxis(m.job.tpr, 0, 1, ticks, rate),
    height: 280,
    layers: [
      { kind: 'rule', from: [0, 0], to: [1, 1], color: COLORS.reference, dashed: true },
      { kind: 'line', points: roc.map((p): Point => [p.falsePositiveRate, p.truePositiveRate]), color: COLORS.good },
    ],
  });
}

function digests(m: Messages, files: JobDetailView['modelSlices']): string {
  if (files.length === 0) return `<p class="empty">${e(m.job.none)}</p>`;
  return table([m.job.file, 'SHA-256', m.job.bytes], files.map((f) => `<tr><td>${e(f.name)}</td><td><code class="hash">${e(f.sha256)}</code></td><td class="num">${f.bytes}</td></tr>`));
}

export function jobPage(ctx: PageContext, job: JobDetailView): string {
  const { m } = ctx;
  const facts = [
    [m.jobs.purpose, e(job.purpose ?? '–')],
    [m.jobs.partners, e(job.partners.join(', ') || '–')],
    ...(job.from ? [[m.jobs.from, e(job.from)]] : []),
    [m.jobs.created, time(job.createdAt)],
    [m.jobs.updated, time(job.updatedAt)],
  ];
  const metrics = job.result ? Object.fromEntries(Object.entries(job.result).filter(([k]) => k !== 'lossCurve' && k !== 'timings')) : {};
  const charts = [
    job.lossCurve.length > 0 ? `<figure>${lossChart(m, job.lossCurve)}</figure>` : '',
    job.roc && job.roc.length > 1 ? `<figure>${rocChart(m, job.roc)}</figure>` : '',
  ].join('');
  const body = `
${jobStatus(ctx, job)}
<dl class="facts">${facts.map(([k, v]) => `<div><dt>${e(k!)}</dt><dd>${v}</dd></div>`).join('')}</dl>
${failure(ctx, job)}
<section class="card"><h2>${e(m.job.actions)}</h2>${actionForms(ctx, job)}</section>
${Object.keys(metrics).length > 0 || charts ? `<section class="card"><h2>${e(m.job.metrics)}</h2>${keyValues(metrics)}<div class="charts">${charts}</div>${job.hasReport ? `<p><a class="report" href="/jobs/${encodeURIComponent(job.id)}/report">${e(m.job.report)}</a></p>` : ''}</section>` : ''}
<section class="card half"><h2>${e(m.job.definition)}</h2><pre class="json">${e(JSON.stringify(job.definition, null, 2))}</pre></section>
<section class="card half"><h2>${e(m.job.parameters)}</h2>${keyValues(job.parameters)}</section>
<section class="card"><h2>${e(m.job.slices)}</h2>${digests(m, job.modelSlices)}<h2>${e(m.job.checkpoints)}</h2>${job.checkpoints.length > 0 ? digests(m, job.checkpoints) : ''}<p class="note checkpoints-note">${e(m.job.checkpointsNote)}</p></section>`;
  return layout(ctx, 'jobs', `${m.jobs.id} ${job.id}`, body, job.state);
}

export function notFoundPage(ctx: PageContext, what: string): string {
  return layout(ctx, undefined, what, `<p class="empty">${e(what)}</p>`);
}

export function approvalsPage(ctx: PageContext): string {
  const { m, view } = ctx;
  if (!view.actions.approve) return layout(ctx, 'approvals', m.approvals.heading, `<p class="empty">${e(m.approvals.unsupported)}</p>`);
  const note = `<p class="note approvals-note">${e(m.approvals.note)}</p>`;
  const waiting = view.approvals();
  if (waiting.length === 0) return layout(ctx, 'approvals', m.approvals.heading, `${note}<p class="empty">${e(m.approvals.none)}</p>`);
  const cards = waiting.map(
    (j) => `<section class="card approval" data-job="${e(j.id)}"><h2><a href="/jobs/${encodeURIComponent(j.id)}">${e(j.id)}</a></h2>
<dl class="facts"><div><dt>${e(m.jobs.from)}</dt><dd>${e(j.from ?? view.party)}</dd></div><div><dt>${e(m.jobs.purpose)}</dt><dd>${e(j.approval?.purpose ?? j.purpose ?? '–')}</dd></div><div><dt>${e(m.jobs.partners)}</dt><dd>${e((j.approval?.partners ?? j.partners).join(', '))}</dd></div><div><dt>${e(m.approvals.fields)}</dt><dd>${e(j.approval?.fields.join(', ') || '–')}</dd></div><div><dt>${e(m.approvals.rows)}</dt><dd>${j.approval?.rows === undefined ? '–' : j.approval.rows}</dd></div><div><dt>${e(m.jobs.created)}</dt><dd>${time(j.approval?.requestedAt ?? j.createdAt)}</dd></div></dl>
${jobStatus(ctx, j)}${actionForms(ctx, j)}</section>`,
  );
  return layout(ctx, 'approvals', m.approvals.heading, `${note}\n${cards.join('\n')}`);
}

export function auditPage(ctx: PageContext, audit: AuditView | undefined, filter: { type?: string; job?: string }): string {
  const { m } = ctx;
  if (!audit) return layout(ctx, 'audit', m.audit.heading, `<p class="empty">${e(m.audit.none)}</p>`);
  const v = audit.verdict;
  const verdict = v.ok
    ? `<div class="verdict ok" role="status"><b>${e(m.audit.intact)}</b> ${e(m.audit.intactDetail(v.entries, v.anchors))}</div>`
    : `<div class="verdict bad" role="alert"><b>${e(m.audit.broken)}</b> ${e(m.audit.brokenDetail(v.line, v.seq === undefined ? '?' : String(v.seq)))}<div class="reason">${e(v.reason)}</div></div>`;
  const types = [...new Set(audit.entries.flatMap((r) => (r.entry ? [r.entry.type] : [])))].sort();
  const jobs = [...new Set(audit.entries.flatMap((r) => (typeof r.entry?.details.job === 'string' ? [r.entry.details.job] : [])))].sort();
  const option = (value: string, label: string, selected: boolean) => `<option value="${e(value)}"${selected ? ' selected' : ''}>${e(label)}</option>`;
  const form = `<form method="get" action="/audit" class="filter"><label>${e(m.audit.type)} <select name="type">${option('', m.audit.allTypes, !filter.type)}${types.map((t) => option(t, t, t === filter.type)).join('')}</select></label>
<label>${e(m.audit.job)} <select name="job">${option('', m.audit.anyJob, !filter.job)}${jobs.map((j) => option(j, j, j === filter.job)).join('')}</select></label><button type="submit" class="btn">${e(m.audit.apply)}</button></form>`;
  const badLine = v.ok ? undefined : v.line;
  const rows = audit.entries
    .filter((r) => r.line === badLine || ((!filter.type || r.entry?.type === filter.type) && (!filter.job || r.entry?.details.job === filter.job)))
    .map((r) => {
      const bad = r.line === badLine;
      const cls = bad ? ' class="bad" id="bad-entry"' : '';
      const mark = bad ? ` <span class="bad-mark">${e(m.audit.bad)}</span>` : '';
      if (!r.entry) return `<tr${cls} data-line="${r.line}"><td>${r.line}${mark}</td><td colspan="4"><code>${e(r.text.slice(0, 300))}</code></td></tr>`;
      const { details } = r.entry;
      return `<tr${cls} data-line="${r.line}"><td>${r.entry.seq}${mark}</td><td>${time(r.entry.time)}</td><td>${e(r.entry.type)}</td><td>${e(typeof details.job === 'string' ? details.job : '')}</td><td><code class="details">${e(JSON.stringify(details))}</code></td></tr>`;
    });
  const anchors =
    audit.anchors.length === 0
      ? `<p class="empty">${e(m.audit.noAnchors)}</p>`
      : table([m.audit.seq, m.audit.job, m.audit.time, 'SHA-256'], audit.anchors.map((a) => `<tr><td>${a.seq}</td><td>${e(a.job)}</td><td>${time(a.time)}</td><td><code class="hash">${e(a.hash)}</code></td></tr>`));
  const body = `${verdict}
<section class="card">${form}${table([m.audit.seq, m.audit.time, m.audit.type, m.audit.job, m.audit.details], rows, 'audit')}</section>
<section class="card"><h2>${e(m.audit.anchors)}</h2>${anchors}<p class="note">${e(m.audit.kept(audit.partnerAnchorsKept))}</p>${audit.partnerHeads.length === 0 ? '' : `<h3>${e(m.audit.partnerHeads)}</h3>${table([m.governance.partner, m.audit.seq, m.audit.job, m.audit.time, 'SHA-256'], audit.partnerHeads.map((h) => `<tr><td>${e(h.partner)}</td><td>${h.seq}</td><td>${e(h.job)}</td><td>${time(h.time)}</td><td><code class="hash">${e(h.hash)}</code></td></tr>`))}`}</section>`;
  return layout(ctx, 'audit', m.audit.heading, body);
}

export function governancePage(ctx: PageContext, g: GovernanceView | undefined): string {
  const { m } = ctx;
  if (!g) return layout(ctx, 'governance', m.governance.heading, `<p class="empty">${e(m.governance.none)}</p>`);
  const G = m.governance;
  const yes = (b: boolean) => e(b ? G.yes : G.no);
  const policy = g.policy
    ? `<p class="note"><code>${e(g.policy.file.split('/').at(-1) ?? '')}</code></p>
<h3>${e(G.purposes)}</h3>${table([G.purpose, G.fields, G.consentRequired, G.approvalRequired], [...g.policy.purposes.values()].map((p) => `<tr><td>${e(p.name)}</td><td>${e(p.fields.join(', '))}</td><td>${yes(p.consentRequired)}</td><td>${yes(p.approvalRequired)}</td></tr>`))}
<h3>${e(G.fields)}</h3>${table([G.field, G.class], [...g.policy.fields].map(([f, c]) => `<tr><td>${e(f)}</td><td class="class-${e(c)}">${e(c)}</td></tr>`))}
<h3>${e(G.partnersHeading)}</h3>${table([G.partner, G.keyId, G.purposes], g.policy.partners.map((p) => `<tr><td>${e(p.id ?? '–')}</td><td><code>${e(p.keyId)}</code></td><td>${e(p.purposes.join(', '))}</td></tr>`))}`
    : `<p class="empty">${e(G.noPolicy)}</p>`;
  const consent = !g.consent
    ? `<p class="empty">${e(G.noConsent)}</p>`
    : table(
        [G.token, G.enterprise, G.partner, G.purposes, G.until, G.status],
        g.consent.map((c) => `<tr class="consent-${c.status}"><td><code>${e(c.tokenId)}</code></td><td>${e(c.enterprise)}</td><td>${e(c.partners.join(', '))}</td><td>${e(c.purposes.join(', '))}</td><td>${c.notAfter ? time(c.notAfter) : ''}</td><td class="status-${c.status}"${c.why ? ` title="${e(c.why)}"` : ''}>${e(m.consentStatus[c.status] ?? c.status)}</td></tr>`),
      );
  const refusals = g.refusals.size === 0 ? `<p class="empty">${e(G.noRefusals)}</p>` : table([G.rule, G.count], [...g.refusals].sort((a, b) => b[1] - a[1]).map(([rule, n]) => `<tr><td><code>${e(rule)}</code></td><td class="num">${n}</td></tr>`));
  const body = `<dl class="facts"><div><dt>${e(G.institution)}</dt><dd>${e(g.institution)}</dd></div></dl>
<section class="card"><h2>${e(G.policy)}</h2>${policy}</section>
<section class="card"><h2>${e(G.consent)}</h2>${consent}</section>
<section class="card"><h2>${e(G.refusals)}</h2>${refusals}</section>`;
  return layout(ctx, 'governance', G.heading, body);
}

export function scoringPage(ctx: PageContext, runs: readonly MonitoringRun[]): string {
  const { m } = ctx;
  const S = m.scoring;
  if (runs.length === 0) return layout(ctx, 'scoring', S.heading, `<p class="empty">${e(S.none)}</p>`);
  const rows = [...runs].reverse().map(
    (r) => `<tr><td>${time(r.at)}</td><td>${e(r.modelJobId)}</td><td class="num">${r.summary.enterprises}</td><td class="num">${r.summary.aboveThreshold}</td><td class="num">${r.alerts.length}</td><td class="num">${r.scoreDrift === null ? '–' : r.scoreDrift.toFixed(3)}</td></tr>`,
  );
  const drifts = runs.map((r, i): Point | undefined => (r.scoreDrift === null ? undefined : [i + 1, r.scoreDrift])).filter((p): p is Point => p !== undefined);
  const latest = runs.at(-1)!;
  const agencies = Object.entries(latest.agencyDrift).flatMap(([party, psi]) => (typeof psi !== 'number' ? [] : [{ label: party, value: psi, color: psi >= 0.25 ? COLORS.bad : psi >= 0.1 ? COLORS.warn : COLORS.good }]));
  const charts = [
    drifts.length > 0 ? `<figure>${xyChart({ title: S.driftChart, x: niceAxis(S.run, 1, runs.length, String), y: niceAxis(S.drift, 0, Math.max(0.3, ...drifts.map((p) => p[1])), (v) => v.toFixed(2), 4), height: 260, layers: [{ kind: 'line', points: drifts, color: COLORS.accent, markers: true }, { kind: 'rule', from: [1, 0.25], to: [runs.length, 0.25], color: COLORS.bad, dashed: true }] })}</figure>` : '',
    agencies.length > 0 ? `<figure>${horizontalBarChart({ title: S.agencyDrift, bars: agencies, axisLabel: 'PSI', format: (v) => v.toFixed(3) })}</figure>` : '',
  ].join('');
  const withheld = Object.entries(latest.agencyDrift).flatMap(([party, psi]) => (psi === 'withheld' ? [party] : []));
  const withheldNote = withheld.length === 0 ? '' : `<p class="note drift-withheld">${e(S.driftWithheld(withheld.join(', ')))}</p>`;
  const body = `<section class="card">${table([S.run, S.model, S.enterprises, S.above, S.alerts, S.drift], rows)}</section>${warnings(ctx, latest)}<section class="card"><div class="charts">${charts}</div>${withheldNote}</section>`;
  return layout(ctx, 'scoring', S.heading, body);
}

/** Enterprises listed under a run's warnings, the most urgent first; the counts above the list cover them all. */
const LISTED_ALERTS = 20;
const URGENCY: Readonly<Record<string, number>> = { 'crossed-up': 0, moved: 1, 'crossed-down': 2 };

/** A monitoring run's warnings in words, each with what the bank's operator should do. */
function warnings(ctx: PageContext, run: MonitoringRun): string {
  const S = ctx.m.scoring;
  const items: [string, string, string][] = [];
  const threshold = run.threshold.toFixed(2);
  for (const reason of ['crossed-up', 'crossed-down', 'moved']) {
    const n = run.alerts.filter((a) => a.reason === reason).length;
    const words = S.reason[reason]!;
    if (n > 0) items.push([`reason-${reason}`, words.what(n, threshold), words.todo]);
  }
  if (run.scoreDrift !== null && run.scoreDrift >= 0.25) items.push(['drift-high', S.driftHigh(run.scoreDrift.toFixed(3)), S.driftHighTodo]);
  else if (run.scoreDrift !== null && run.scoreDrift >= 0.1) items.push(['drift-moderate', S.driftModerate(run.scoreDrift.toFixed(3)), S.driftModerateTodo]);
  for (const [agency, psi] of Object.entries(run.agencyDrift)) {
    if (typeof psi === 'number' && psi >= 0.1) items.push(['agency-drift', S.agencyShift(agency, psi.toFixed(3)), S.agencyShiftTodo(agency)]);
  }
  if (run.summary.notScored > 0) items.push(['not-scored', S.notScored(run.summary.notScored), S.notScoredTodo]);
  if (items.length === 0) return `<section class="card warnings"><h2>${e(S.warnings)}</h2><p class="empty">${e(S.noWarnings)}</p></section>`;
  const list = table([S.warning, S.todo], items.map(([kind, what, todo]) => `<tr class="warning ${kind}"><td>${e(what)}</td><td>${e(todo)}</td></tr>`));
  const listed = [...run.alerts].sort((a, b) => (URGENCY[a.reason] ?? 3) - (URGENCY[b.reason] ?? 3) || b.current - a.current).slice(0, LISTED_ALERTS);
  const enterprises =
    listed.length === 0
      ? ''
      : table(
          [S.enterprise, S.previous, S.current, S.warning],
          listed.map((a) => `<tr><td><code>${e(a.id)}</code></td><td class="num">${a.previous.toFixed(3)}</td><td class="num">${a.current.toFixed(3)}</td><td title="${e(a.reason)}">${e(S.reason[a.reason]?.short ?? a.reason)}</td></tr>`),
        ) + (run.alerts.length > listed.length ? `<p class="note">${e(S.shown(listed.length, run.alerts.length))}</p>` : '');
  return `<section class="card warnings"><h2>${e(S.warnings)} (${time(run.at)})</h2>${list}${enterprises}</section>`;
}

export function signInPage(ctx: PageContext, next: string, wrong: boolean): string {
  const { m } = ctx;
  const body = `<form method="post" action="/sign-in" class="card sign-in">
${wrong ? `<p class="error" role="alert">${e(m.signIn.wrong)}</p>` : ''}
<input type="hidden" name="next" value="${e(next)}">
<label>${e(m.signIn.operator)}<input name="operator" type="text" required maxlength="100" autocomplete="username"></label>
<label>${e(m.signIn.token)}<input name="token" type="password" required autocomplete="current-password"></label>
<button type="submit" class="btn">${e(m.signIn.submit)}</button></form>`;
  return layout(ctx, undefined, m.signIn.heading, body);
}
