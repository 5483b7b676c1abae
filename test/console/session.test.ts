/**
 * The console's session cookie, CSRF token, language choice and progress clock, without a
 * browser or a service.
 */
import { describe, expect, it } from 'vitest';
import { csrfMatches, csrfTokenOf, issueConsoleSession, parseCookies, readConsoleSession, verifyConsoleSession } from '../../src/console/session.ts';
import { localeOf } from '../../src/console/i18n.ts';
import { ProgressClock } from '../../src/console/view.ts';

const TOKEN = 'the-service-token-0123456789';

describe('the console session cookie', () => {
  it('is accepted for the token that issued it, until it expires', () => {
    const now = Date.parse('2026-12-02T08:00:00Z');
    const cookie = issueConsoleSession(TOKEN, 'Li Wei', now, 8);
    expect(readConsoleSession(cookie, TOKEN, now + 1000)).toMatchObject({ operator: 'Li Wei', expires: now + 8 * 3_600_000 });
    expect(readConsoleSession(cookie, TOKEN, now + 8 * 3_600_000)).toBeUndefined();
    expect(verifyConsoleSession(issueConsoleSession(TOKEN, 'Li Wei'), TOKEN)).toBe(true);
  });

  it('is refused under another token, with its payload or its MAC changed, or malformed', () => {
    const cookie = issueConsoleSession(TOKEN, 'Li Wei');
    expect(verifyConsoleSession(cookie, `${TOKEN}x`)).toBe(false);
    const [payload, mac] = cookie.split('.') as [string, string];
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    // A later expiry or another operator, with the old MAC.
    const extended = Buffer.from(JSON.stringify({ ...body, exp: body.exp + 86_400_000 })).toString('base64url');
    expect(verifyConsoleSession(`${extended}.${mac}`, TOKEN)).toBe(false);
    const flipped = mac.slice(0, -1) + (mac.endsWith('A') ? 'B' : 'A');
    expect(verifyConsoleSession(`${payload}.${flipped}`, TOKEN)).toBe(false);
    for (const bad of ['', '.', payload, `.${mac}`, `${payload}.`, 'a.b.c']) expect(verifyConsoleSession(bad, TOKEN)).toBe(false);
    expect(cookie).not.toContain(TOKEN);
  });

  it('gives each session its own CSRF token, which another session cannot use', () => {
    const a = readConsoleSession(issueConsoleSession(TOKEN, 'a'), TOKEN)!;
    const b = readConsoleSession(issueConsoleSession(TOKEN, 'a'), TOKEN)!;
    expect(csrfMatches(a, TOKEN, csrfTokenOf(a, TOKEN))).toBe(true);
    expect(csrfMatches(a, TOKEN, csrfTokenOf(b, TOKEN))).toBe(false);
    expect(csrfMatches(a, TOKEN, undefined)).toBe(false);
    expect(csrfMatches(a, TOKEN, '')).toBe(false);
  });

  it('reads cookies from a Cookie header, the first of a name winning', () => {
    expect([...parseCookies('a=1; jinqiao_console=x.y; a=2; bad')]).toEqual([
      ['a', '1'],
      ['jinqiao_console', 'x.y'],
    ]);
  });
});

describe("the console's language", () => {
  it('follows the switch, else the best-ranked language of Accept-Language it speaks, else English', () => {
    expect(localeOf('zh', 'en-US')).toBe('zh');
    expect(localeOf('en', 'zh-CN')).toBe('en');
    expect(localeOf(undefined, 'zh-CN,zh;q=0.9,en;q=0.8')).toBe('zh');
    expect(localeOf(undefined, 'fr-FR, en;q=0.5, zh;q=0.7')).toBe('zh');
    expect(localeOf(undefined, 'zh-TW;q=0, en-GB')).toBe('en');
    expect(localeOf('de', undefined)).toBe('en');
  });
});

describe('the progress clock', () => {
  const batch = (epoch: number, batch: number) => ({ id: 'j', state: 'running' as const, progress: { phase: 'batch', epoch, epochs: 4, batch, batches: 5 } });

  it('measures the epoch time from the epoch starts it saw, and the ETA from it', () => {
    const clock = new ProgressClock();
    expect(clock.observe({ id: 'j', state: 'running', progress: { phase: 'keys' } }, 0)).toMatchObject({ fraction: undefined, etaSeconds: undefined, elapsedSeconds: 0 });
    clock.observe(batch(0, 0), 10_000);
    clock.observe(batch(1, 0), 22_000);
    const p = clock.observe(batch(2, 0), 34_000);
    expect(p.epochSeconds).toBe(12);
    expect(p.fraction).toBeCloseTo(11 / 20, 12);
    expect(p.etaSeconds).toBeCloseTo((9 / 20) * 4 * 12, 9);
    expect(p.elapsedSeconds).toBe(34);
    expect(p.epoch).toBe(3);
  });

  it('estimates from the batch rate before a second epoch starts, and starts again when the job restarts', () => {
    const clock = new ProgressClock();
    clock.observe(batch(0, 0), 0);
    const p = clock.observe(batch(0, 2), 4_000);
    // Two batches of 20 in 4 s: 10 s per epoch of 5 batches.
    expect(p.epochSeconds).toBeCloseTo(10, 9);
    expect(p.etaSeconds).toBeCloseTo((17 / 20) * 40, 9);
    clock.observe({ id: 'j', state: 'cancelled', progress: {} }, 5_000);
    expect(clock.observe(batch(0, 0), 6_000)).toMatchObject({ elapsedSeconds: 0, etaSeconds: undefined });
  });
});
