/**
 * Who may call the API: every /v1 route needs `Authorization: Bearer <api.token>` (compared
 * in constant time: both sides are hashed first, so neither the content nor the length of
 * the token leaks through timing), or whatever second credential the server is given (the
 * console's session cookie, for one). Routes outside /v1 (the OpenAPI document, the console's
 * pages) are not covered here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import { JinqiaoError } from '../../errors.ts';

/** A second way in besides the bearer token (true lets the request through). */
export type ExtraCredential = (request: FastifyRequest) => boolean;

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Constant-time equality of a presented secret with the expected one; hashing first hides the length too. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** True when the request carries the bearer token, or when `extra` accepts it. */
export function authenticate(request: FastifyRequest, token: string, extra?: ExtraCredential): boolean {
  const header = request.headers.authorization;
  if (typeof header === 'string' && sameSecret(header, `Bearer ${token}`)) return true;
  return extra?.(request) ?? false;
}

/** Routes whose pattern starts with this need authentication. */
export const AUTHENTICATED_PREFIX = '/v1/';

/**
 * Adds the check as an onRequest hook of every /v1 route registered from now on (in this
 * instance and the plugins it registers). Per route rather than global, so that it runs after
 * the rate limiter's own per-route hook: a client guessing tokens is limited too.
 */
export function requireAuthentication(app: FastifyInstance, token: string, extra?: ExtraCredential): void {
  const check: onRequestHookHandler = async (request) => {
    if (!authenticate(request, token, extra)) throw new JinqiaoError('E_UNAUTHORIZED', 'missing or wrong bearer token', 'send Authorization: Bearer <the api.token of the service config>');
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith(AUTHENTICATED_PREFIX)) return;
    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...hooks, check];
  });
}
