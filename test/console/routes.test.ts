/**
 * The console's routes on a bare Fastify instance, with a view over an in-memory job list:
 * who gets in, which POSTs are refused, what every answer's headers promise.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, consoleRoutes, type ConsoleView, type JobView } from '../../src/console/index.ts';

const TOKEN = 'routes-test-token-0123456789';

function job(id: string, state: string): JobView {
  const at = '2026-12-01T08:00:00.000Z';
  return { id, state, phase: state, kind: 'training', purpose: 'credit-modeling', partners: ['tax-bureau'], from: undefined, createdAt: at, updatedAt: at, progress: undefined, error: null, queuePosition: undefined, approval: undefined };
}

const cancelled: string[] = [];
const signedIn: string[] = [];
const jobs = [job('job-<b>1</b>', 'running'), job('job-2', 'succeeded')];
const view: ConsoleView = {
  party: 'bank',
  role: 'label',
  actions: { cancel: (id) => void cancelled.push(id) },
  jobs: () => jobs,
  job: async (id) => {
    const j = jobs.find((x) => x.id === id);
    return j && { ...j, definition: {}, parameters: {}, result: null, lossCurve: [], roc: undefined, modelSlices: [], checkpoints: [], hasReport: false };
  },
  report: async () => undefined,
  approvals: () => [],
  audit: async () => undefined,
  governance: async () => undefined,
  scoring: async () => [],
  signedIn: async (operator) => void signedIn.push(operator),
  close: () => {},
};

let app: FastifyInstance;
const bearer = { authorization: `Bearer ${TOKEN}` };
const form = { 'content-type': 'application/x-www-form-urlencoded' };

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const res = await app.inject({ method: 'POST', url: '/sign-in', headers: form, payload: `operator=Li+Wei&token=${TOKEN}&next=%2F` });
  expect(res.statusCode).toBe(303);
  const cookie = String(res.headers['set-cookie']).split(';')[0]!;
  const page = await app.inject({ url: '/jobs/job-2', headers: { cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  return { cookie, csrf };
}

beforeAll(async () => {
  app = Fastify();
  await app.register(consoleRoutes, { view, token: TOKEN });
  app.get('/v1/elsewhere', async () => ({ ok: true }));
  await app.ready();
});

afterAll(() => app.close());

describe('the console routes', () => {
  it('send every page, the sign-in page included, with the strict CSP and no inline script or style', async () => {
    for (const [url, headers] of [['/sign-in', {}], ['/', bearer], ['/jobs/job-2', bearer], ['/audit', bearer], ['/governance', bearer], ['/approvals', bearer], ['/scoring', bearer]] as const) {
      const res = await app.inject({ url, headers });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-security-policy'], url).toBe(CONSOLE_CSP);
      expect(res.headers['x-frame-options'], url).toBe('DENY');
      expect(res.body, url).not.toMatch(/<script(?![^>]*\bsrc="\/assets\/)|<style|\sstyle=|\son[a-z]+=/i);
    }
  });

  it('escape what comes from data', async () => {
    const res = await app.inject({ url: '/', headers: bearer });
    expect(res.body).toContain('job-&lt;b&gt;1&lt;/b&gt;');
    expect(res.body).not.toContain('<b>1</b>');
  });

  it('send a visitor without a credential to the sign-in page, and refuse a wrong token there', async () => {
    const res = await app.inject({ url: '/governance' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/sign-in?next=%2Fgovernance');
    expect((await app.inject({ url: '/', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}x` } })).statusCode).toBe(303);
    const wrong = await app.inject({ method: 'POST', url: '/sign-in', headers: form, payload: 'operator=x&token=nope' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(signedIn).toEqual([]);
    // Only a path on this service is followed after sign-in.
    const away = await app.inject({ method: 'POST', url: '/sign-in', headers: form, payload: `operator=x&token=${TOKEN}&next=%2F%2Fevil.example` });
    expect(away.headers.location).toBe('/');
  });

  it('sets a Secure, HttpOnly, SameSite=Strict session cookie that opens the pages', async () => {
    const res = await app.inject({ method: 'POST', url: '/sign-in', headers: form, payload: `operator=Li+Wei&token=${TOKEN}&next=%2Fscoring` });
    expect(res.headers.location).toBe('/scoring');
    // Recorded by the operator's name, before the cookie is set.
    expect(signedIn.at(-1)).toBe('Li Wei');
    const header = String(res.headers['set-cookie']);
    expect(header).toMatch(/^jinqiao_console=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=28800$/);
    const page = await app.inject({ url: '/', headers: { cookie: header.split(';')[0]! } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Li Wei');
  });

  it('refuse an action without the session’s CSRF token, and do it with it or with the bearer token', async () => {
    const { cookie, csrf } = await signIn();
    const url = `/jobs/${encodeURIComponent('job-<b>1</b>')}/cancel`;
    expect((await app.inject({ method: 'POST', url, headers: { ...form, cookie }, payload: '' })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url, headers: { ...form, cookie }, payload: 'csrf=forged' })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url, headers: form, payload: `csrf=${csrf}` })).statusCode).toBe(401);
    expect(cancelled).toEqual([]);
    expect((await app.inject({ method: 'POST', url, headers: { ...form, cookie }, payload: `csrf=${encodeURIComponent(csrf)}` })).statusCode).toBe(303);
    expect((await app.inject({ method: 'POST', url, headers: { ...form, ...bearer }, payload: '' })).statusCode).toBe(303);
    expect(cancelled).toEqual(['job-<b>1</b>', 'job-<b>1</b>']);
  });

  it('offer no action the service lacks, and refuse a POST for one', async () => {
    const page = await app.inject({ url: '/jobs/job-2', headers: bearer });
    expect(page.body).not.toContain('data-action=');
    expect((await app.inject({ method: 'POST', url: '/jobs/job-2/approve', headers: { ...form, ...bearer }, payload: '' })).statusCode).toBe(404);
  });

  it('speak Chinese for Accept-Language zh-CN and after the switch', async () => {
    expect((await app.inject({ url: '/', headers: { ...bearer, 'accept-language': 'zh-CN,zh;q=0.9' } })).body).toContain('<h1>任务</h1>');
    const sw = await app.inject({ url: '/lang?to=zh&next=%2Faudit', headers: bearer });
    expect(sw.headers.location).toBe('/audit');
    const cookie = String(sw.headers['set-cookie']).split(';')[0]!;
    expect((await app.inject({ url: '/', headers: { ...bearer, cookie } })).body).toContain('<html lang="zh-CN">');
  });

  it('leave the routes outside the console alone, also when called directly rather than registered', async () => {
    const direct = Fastify();
    await consoleRoutes(direct, { view, token: TOKEN });
    direct.get('/v1/elsewhere', async () => ({ ok: true }));
    for (const server of [app, direct]) {
      const res = await server.inject({ url: '/v1/elsewhere' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-security-policy']).toBeUndefined();
    }
    await direct.close();
  });
});
