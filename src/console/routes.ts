/**
 * (Any party's service) The operators' console as a Fastify plugin: server-rendered pages at
 * the root of the service's HTTPS address, for the operator of that party only.
 *
 * Authentication: every page and action needs either `Authorization: Bearer <token>` (the
 * service's API token) or the session cookie the sign-in page sets once that token is
 * typed (session.ts). Actions (cancel, resume, approve, reject) are POSTs that call the
 * service's own methods through the view, so the console has no power the API lacks and
 * each action is audited where those methods audit it; a cookie-authenticated POST must also
 * carry the session's CSRF token.
 *
 * Every response carries a strict Content-Security-Policy: scripts and styles only from the
 * service itself (/assets: htmx, console.js, console.css), no inline script or style, no
 * framing, forms only to the service.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, isJinqiaoError } from '../errors.ts';
import { LOCALE_COOKIE, localeOf, MESSAGES, type Locale } from './i18n.ts';
import { approvalsPage, auditPage, governancePage, jobPage, jobsPage, jobStatus, notFoundPage, scoringPage, signInPage, type PageContext } from './pages.ts';
import { csrfMatches, csrfTokenOf, issueConsoleSession, parseCookies, readConsoleSession, SESSION_COOKIE, SESSION_HOURS, tokenMatches } from './session.ts';
import type { ActionName, ConsoleView } from './view.ts';

export interface ConsoleOptions {
  readonly view: ConsoleView;
  /** The service's bearer token (its config's api.token). */
  readonly token: string;
  /** Forces one language (tests, single-language deployments); default: the operator's choice. */
  readonly locale?: Locale;
}

export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** The training report is a self-contained page with its own inline stylesheet and no script. */
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const ASSETS = join(import.meta.dirname, 'assets');
const PUBLIC = new Set(['/sign-in', '/lang', '/favicon.ico', '/assets/console.css', '/assets/console.js', '/assets/htmx.min.js']);
const ACTIONS: readonly ActionName[] = ['cancel', 'resume', 'approve', 'reject'];

interface Viewer {
  readonly operator: string;
  /** '' for bearer-token requests: they carry no ambient credential, so need no CSRF token. */
  readonly csrf: string;
}

export async function consoleRoutes(app: FastifyInstance, opts: ConsoleOptions): Promise<void> {
  // Its own encapsulated scope, so its hooks and form parser never touch the API's routes.
  await app.register(async (scope) => {
    const { view, token } = opts;
    const assets = new Map<string, { type: string; body: Buffer }>([
      ['/assets/htmx.min.js', { type: 'text/javascript; charset=utf-8', body: await readFile(createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js')) }],
      ['/assets/console.js', { type: 'text/javascript; charset=utf-8', body: await readFile(join(ASSETS, 'console.js')) }],
      ['/assets/console.css', { type: 'text/css; charset=utf-8', body: await readFile(join(ASSETS, 'console.css')) }],
    ]);
    const viewers = new WeakMap<FastifyRequest, Viewer>();

    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    scope.addHook('onRequest', async (request, reply) => {
      reply.header('content-security-policy', CONSOLE_CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-frame-options', 'DENY');
      reply.header('cache-control', 'no-store');
      const path = request.url.split('?')[0]!;
      if (PUBLIC.has(path)) return;
      const bearer = request.headers.authorization;
      if (typeof bearer === 'string' && bearer.startsWith('Bearer ') && tokenMatches(bearer.slice(7), token)) {
        viewers.set(request, { operator: 'bearer-token', csrf: '' });
        return;
      }
      const session = readConsoleSession(parseCookies(request.headers.cookie).get(SESSION_COOKIE), token);
      if (session) {
        viewers.set(request, { operator: session.operator, csrf: csrfTokenOf(session, token) });
        return;
      }
      if (request.method === 'GET') return reply.redirect(`/sign-in?next=${encodeURIComponent(request.url)}`, 303);
      const error = errors.unauthorized('this console action needs a signed-in session or the bearer token');
      return reply.code(401).type('application/json').send({ error: error.toJSON() });
    });

    const contextOf = (request: FastifyRequest): PageContext => {
      const locale = opts.locale ?? localeOf(parseCookies(request.headers.cookie).get(LOCALE_COOKIE), request.headers['accept-language']);
      const viewer = viewers.get(request);
      return { m: MESSAGES[locale], locale, view, operator: viewer?.operator, csrf: viewer?.csrf ?? '', path: request.url };
    };
    // Pages, not API operations: kept out of the service's OpenAPI document.
    const hidden = { schema: { hide: true } };
    const html = (reply: FastifyReply, body: string, code = 200) => reply.code(code).type('text/html; charset=utf-8').send(body);

    for (const [path, asset] of assets) {
      scope.get(path, hidden, async (_request, reply) => reply.header('cache-control', 'private, max-age=300').type(asset.type).send(asset.body));
    }

    // Browsers ask for it on every page; the console has none.
    scope.get('/favicon.ico', hidden, async (_request, reply) => reply.code(204).send());

    scope.get('/sign-in', hidden, async (request, reply) => {
      const next = safeNext((request.query as { next?: string }).next);
      return html(reply, signInPage(contextOf(request), next, false));
    });

    scope.post('/sign-in', hidden, async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, string | undefined>;
      const next = safeNext(body.next);
      const operator = (body.operator ?? '').trim().slice(0, 100);
      if (!tokenMatches(body.token, token) || operator === '') return html(reply, signInPage(contextOf(request), next, true), 401);
      reply.header('set-cookie', `${SESSION_COOKIE}=${issueConsoleSession(token, operator)}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${SESSION_HOURS * 3600}`);
      return reply.redirect(next, 303);
    });

    scope.post('/sign-out', hidden, async (request, reply) => {
      if (!csrfOk(request)) return forbidden(request, reply);
      reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`);
      return reply.redirect('/sign-in', 303);
    });

    scope.get('/lang', hidden, async (request, reply) => {
      const { to, next } = request.query as { to?: string; next?: string };
      if (to === 'en' || to === 'zh') reply.header('set-cookie', `${LOCALE_COOKIE}=${to}; Path=/; Secure; SameSite=Strict; Max-Age=31536000`);
      return reply.redirect(safeNext(next), 303);
    });

    scope.get('/', hidden, async (request, reply) => html(reply, jobsPage(contextOf(request))));

    scope.get('/jobs/:id', hidden, async (request, reply) => {
      const ctx = contextOf(request);
      const job = await view.job((request.params as { id: string }).id);
      return job ? html(reply, jobPage(ctx, job)) : html(reply, notFoundPage(ctx, ctx.m.job.notFound), 404);
    });

    scope.get('/jobs/:id/status', hidden, async (request, reply) => {
      const ctx = contextOf(request);
      const job = view.jobs().find((j) => j.id === (request.params as { id: string }).id);
      return job ? html(reply, jobStatus(ctx, job)) : html(reply, '', 404);
    });

    scope.get('/jobs/:id/report', hidden, async (request, reply) => {
      const report = await view.report((request.params as { id: string }).id);
      if (report === undefined) return html(reply, notFoundPage(contextOf(request), contextOf(request).m.job.notFound), 404);
      return html(reply.header('content-security-policy', REPORT_CSP), report);
    });

    for (const action of ACTIONS) {
      scope.post(`/jobs/:id/${action}`, hidden, async (request, reply) => {
        if (!csrfOk(request)) return forbidden(request, reply);
        const id = (request.params as { id: string }).id;
        const run = view.actions[action];
        const job = view.jobs().find((j) => j.id === id);
        const ctx = contextOf(request);
        if (!job) return html(reply, notFoundPage(ctx, ctx.m.job.notFound), 404);
        if (!run) return html(reply, notFoundPage(ctx, `${action}: ${ctx.m.job.noActions}`), 404);
        const reason = ((request.body ?? {}) as Record<string, string | undefined>).reason?.trim() || undefined;
        try {
          if (action === 'reject' && !reason) throw errors.optionInvalid('reason', 'a rejection needs a reason (it is recorded in the audit log)');
          await run(id, { operator: viewers.get(request)!.operator, ...(reason ? { reason } : {}) });
        } catch (e) {
          if (!isJinqiaoError(e)) throw e;
          return html(reply, notFoundPage(ctx, `${e.code}: ${e.message} (${e.hint})`), e.code === 'E_NOT_FOUND' ? 404 : e.isInputError ? 400 : 409);
        }
        return reply.redirect(`/jobs/${encodeURIComponent(id)}`, 303);
      });
    }

    scope.get('/approvals', hidden, async (request, reply) => html(reply, approvalsPage(contextOf(request))));

    scope.get('/audit', hidden, async (request, reply) => {
      const { type, job } = request.query as { type?: string; job?: string };
      return html(reply, auditPage(contextOf(request), await view.audit(), { type: type || undefined, job: job || undefined }));
    });

    scope.get('/governance', hidden, async (request, reply) => html(reply, governancePage(contextOf(request), await view.governance())));

    scope.get('/scoring', hidden, async (request, reply) => html(reply, scoringPage(contextOf(request), await view.scoring())));

    const csrfOk = (request: FastifyRequest) => {
      const viewer = viewers.get(request)!;
      if (viewer.csrf === '') return true;
      const session = readConsoleSession(parseCookies(request.headers.cookie).get(SESSION_COOKIE), token)!;
      return csrfMatches(session, token, ((request.body ?? {}) as Record<string, unknown>).csrf);
    };
    const forbidden = (request: FastifyRequest, reply: FastifyReply) => {
      const ctx = contextOf(request);
      return html(reply, notFoundPage(ctx, 'E_UNAUTHORIZED: the form is stale or was not sent from this console (CSRF token missing or wrong); reload the page and try again'), 403);
    };
  });
}

/** A same-site path to go back to after sign-in or a language switch, never another origin. */
function safeNext(next: string | undefined): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\') ? next : '/';
}
