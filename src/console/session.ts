/**
 * The console's sign-in session: a cookie the service issues once the operator has typed
 * its bearer token, so the browser need not hold the token itself.
 *
 * Cookie value: base64url(JSON { op, exp, sid }) "." base64url(HMAC-SHA256(key, payload)),
 * where key = HMAC-SHA256(token, "jinqiao/console-session/v1"). Only a holder of the
 * service's token can mint one; changing the token in the config ends every session.
 * `op` is the operator's name (recorded with each action), `exp` the expiry (ms since the
 * epoch), `sid` a random session id from which the per-session CSRF token is derived.
 *
 * The cookie is HttpOnly (no script reads it), Secure (HTTPS only) and SameSite=Strict (no
 * cross-site request carries it); forms also carry the CSRF token, checked on every POST.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { sameSecret } from '../service/api/auth.ts';

export const SESSION_COOKIE = 'jinqiao_console';
export const SESSION_HOURS = 8;
const KEY_DOMAIN = 'jinqiao/console-session/v1';
const CSRF_DOMAIN = 'jinqiao/console-csrf/v1';

export interface ConsoleSession {
  /** The operator's name as typed at sign-in. */
  readonly operator: string;
  /** Expiry, ms since the epoch. */
  readonly expires: number;
  readonly sessionId: string;
}

function keyOf(token: string): Buffer {
  return createHmac('sha256', token).update(KEY_DOMAIN).digest();
}

function mac(token: string, payload: string): string {
  return createHmac('sha256', keyOf(token)).update(payload).digest('base64url');
}

/** A fresh session cookie value for `operator`, valid for `hours`. */
export function issueConsoleSession(token: string, operator: string, now = Date.now(), hours = SESSION_HOURS): string {
  const payload = Buffer.from(JSON.stringify({ op: operator, exp: now + hours * 3_600_000, sid: randomBytes(16).toString('base64url') })).toString('base64url');
  return `${payload}.${mac(token, payload)}`;
}

/** The session a cookie value holds, if the token's key signed it and it has not expired. */
export function readConsoleSession(cookieValue: string | undefined, token: string, now = Date.now()): ConsoleSession | undefined {
  if (typeof cookieValue !== 'string') return undefined;
  const dot = cookieValue.indexOf('.');
  if (dot <= 0) return undefined;
  const payload = cookieValue.slice(0, dot);
  const given = Buffer.from(cookieValue.slice(dot + 1));
  const expected = Buffer.from(mac(token, payload));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const { op, exp, sid } = (body ?? {}) as { op?: unknown; exp?: unknown; sid?: unknown };
  if (typeof op !== 'string' || typeof exp !== 'number' || typeof sid !== 'string' || !(exp > now)) return undefined;
  return { operator: op, expires: exp, sessionId: sid };
}

/** Whether a cookie value is a live console session of the service with `token` (for the API to accept it too). */
export function verifyConsoleSession(cookieValue: string, token: string): boolean {
  return readConsoleSession(cookieValue, token) !== undefined;
}

/** The CSRF token of a session: forms carry it, every POST is checked against it. */
export function csrfTokenOf(session: ConsoleSession, token: string): string {
  return createHmac('sha256', keyOf(token)).update(`${CSRF_DOMAIN}\0${session.sessionId}`).digest('base64url');
}

export function csrfMatches(session: ConsoleSession, token: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(csrfTokenOf(session, token));
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time comparison of a presented token with the service's. */
export function tokenMatches(given: unknown, token: string): boolean {
  return typeof given === 'string' && sameSecret(given, token);
}

/** Cookies of a request's Cookie header, by name (first wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}
