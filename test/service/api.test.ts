/**
 * The party service's HTTPS API, against a real service (an agency's: every party may serve
 * the API) over real TLS: HTTPS only, the bearer token, client certificates, schema
 * validation naming the field, error codes and statuses, redaction, limits, and the plugin
 * hooks the other areas (the console, approvals, …) plug into.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.ts';
import { authenticate } from '../../src/service/api/auth.ts';
import { conforms } from '../../src/schemas/check.ts';
import { ScoreAnswer } from '../../src/service/api/score.ts';
import { openApiDocument, startApi, type ApiServer, type StartApiOptions } from '../../src/service/api/server.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { SqliteJobStore } from '../../src/service/store.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';
import type { FastifyRequest } from 'fastify';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-api-'));
const TOKEN = 'api-test-token-0123456789';
const pem = (name: string) => readFileSync(join(dir, name));

let service: PartyService;
let api: ApiServer;
const servers: ApiServer[] = [];

async function serve(options: Partial<StartApiOptions> = {}): Promise<ApiServer> {
  const server = await startApi(service, { listen: { host: '127.0.0.1', port: 0 }, token: TOKEN, tls: { key: pem('agency.key'), cert: pem('agency.crt') }, ...options });
  servers.push(server);
  return server;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
}

function call(port: number, method: string, path: string, options: { body?: string | object; token?: string; tls?: RequestOptions; contentType?: string } = {}): Promise<Answer> {
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false,
        ca: pem('agency.crt'),
        headers: { authorization: `Bearer ${options.token ?? TOKEN}`, 'content-type': options.contentType ?? 'application/json' },
        ...options.tls,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  for (const name of ['agency', 'client', 'stranger']) await writePartyIdentity(dir, await createPartyIdentity({ name }));
  // The agency took part in a training job the bank ran; it failed with a message naming a server path.
  const storeDir = join(dir, 'store-agency');
  const store = new SqliteJobStore(storeDir);
  store.create('bank-job-1', { kind: 'training', purpose: 'credit-modeling', table: 'taxpayers', parties: ['bank', 'agency'], from: 'bank' });
  store.update('bank-job-1', { state: 'failed', phase: 'stopped', error: { code: 'E_FILE_UNREADABLE', message: `${storeDir}/jobs/bank-job-1/model-agency.json: no such file` } });
  await store.close();
  writeFileSync(join(dir, 'agency.yaml'), `name: agency\nrole: features\nlisten: 127.0.0.1:0\ntls: { key: agency.key, cert: agency.crt, trust: [client.crt] }\nstore: store-agency\napi: { listen: 127.0.0.1:0, token: ${TOKEN} }\n`);
  service = await startPartyService(await loadPartyConfig(join(dir, 'agency.yaml')));
  api = await serve();
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.close();
  await service?.close();
});

describe('the API is served over HTTPS only', () => {
  it('answers exactly `curl -k -H "Authorization: Bearer $TOKEN" https://127.0.0.1:<port>/v1/jobs` with the jobs this party took part in', async () => {
    const { stdout } = await execFileAsync('sh', ['-c', `curl -s -k -H "Authorization: Bearer $TOKEN" https://127.0.0.1:${api.port}/v1/jobs`], { env: { ...process.env, TOKEN } });
    const answer = JSON.parse(stdout);
    expect(answer.jobs).toEqual([expect.objectContaining({ id: 'bank-job-1', state: 'failed', phase: 'stopped' })]);
  });

  it('gives a plain-HTTP request on its port no answer', async () => {
    const outcome = await new Promise<{ status?: number; error?: Error }>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: api.port, path: '/v1/jobs', agent: false, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode });
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', (error) => resolve({ error }));
      req.end();
    });
    expect(outcome.status).toBeUndefined();
    expect(outcome.error).toBeInstanceOf(Error);
  });

  it('offers TLS 1.3 only', async () => {
    const refused = await new Promise<Error | undefined>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: api.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' }, () => {
        socket.end();
        resolve(undefined);
      });
      socket.on('error', resolve);
    });
    expect(refused).toBeInstanceOf(Error);
  });

  it('refuses a wrong or missing token with 401, and lets /openapi.json through without one', async () => {
    const wrong = await call(api.port, 'GET', '/v1/jobs', { token: 'wrong-token-0123456789xx' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer');
    expect(wrong.json.error).toMatchObject({ code: 'E_UNAUTHORIZED' });
    expect((await call(api.port, 'GET', '/v1/jobs/bank-job-1', { token: '' })).status).toBe(401);
    const doc = await call(api.port, 'GET', '/openapi.json', { token: '' });
    expect(doc.status).toBe(200);
    expect(doc.json).toEqual(await openApiDocument());
  });

  it('with clientCerts required, refuses a client without a trusted certificate and serves one with', async () => {
    const logged: string[] = [];
    const strict = await serve({ tls: { key: pem('agency.key'), cert: pem('agency.crt'), ca: [pem('client.crt')], clientCerts: 'required' }, log: (line) => logged.push(line) });
    await expect(call(strict.port, 'GET', '/v1/jobs')).rejects.toThrow();
    expect(logged).toEqual([expect.stringMatching(/^API: refused a connection from 127\.0\.0\.1: .*certificate/i)]);
    await expect(call(strict.port, 'GET', '/v1/jobs', { tls: { cert: pem('stranger.crt'), key: pem('stranger.key') } })).rejects.toThrow();
    const trusted = await call(strict.port, 'GET', '/v1/jobs', { tls: { cert: pem('client.crt'), key: pem('client.key') } });
    expect(trusted.status).toBe(200);
    // The certificate does not replace the token.
    expect((await call(strict.port, 'GET', '/v1/jobs', { token: 'wrong-token-0123456789xx', tls: { cert: pem('client.crt'), key: pem('client.key') } })).status).toBe(401);
  });

  it('with clientCerts optional, serves a client without a certificate', async () => {
    const lenient = await serve({ tls: { key: pem('agency.key'), cert: pem('agency.crt'), ca: [pem('client.crt')], clientCerts: 'optional' } });
    expect((await call(lenient.port, 'GET', '/v1/jobs')).status).toBe(200);
  });

  it('with clientCerts optional, answers a client presenting an untrusted certificate 403 E_PEER_UNTRUSTED and logs its subject', async () => {
    const logged: string[] = [];
    const lenient = await serve({ tls: { key: pem('agency.key'), cert: pem('agency.crt'), ca: [pem('client.crt')], clientCerts: 'optional' }, log: (line) => logged.push(line) });
    const refused = await call(lenient.port, 'GET', '/v1/jobs', { tls: { cert: pem('stranger.crt'), key: pem('stranger.key') } });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: 'E_PEER_UNTRUSTED', message: expect.stringContaining('CN=stranger') });
    expect(refused.json.jobs).toBeUndefined();
    expect(logged).toEqual([expect.stringMatching(/^API: refused a request from 127\.0\.0\.1: certificate CN=stranger \(issued by CN=stranger\) is not trusted/)]);
    expect((await call(lenient.port, 'GET', '/v1/jobs', { tls: { cert: pem('client.crt'), key: pem('client.key') } })).status).toBe(200);
  });
});

describe("a partner's service", () => {
  it('lists and reads the jobs it took part in, never showing a server path', async () => {
    const { status, json } = await call(api.port, 'GET', '/v1/jobs/bank-job-1');
    expect(status).toBe(200);
    expect(json.job).toMatchObject({ id: 'bank-job-1', state: 'failed', error: { code: 'E_FILE_UNREADABLE', message: '…/model-agency.json: no such file' } });
    expect(JSON.stringify(json)).not.toContain(dir);
  });

  it('refuses to take or score jobs: those go to the bank', async () => {
    const submit = await call(api.port, 'POST', '/v1/jobs', { body: { label: { table: 'customers' }, features: [{ party: 'agency', table: 'taxpayers' }] } });
    expect(submit.status).toBe(400);
    expect(submit.json.error).toMatchObject({ code: 'E_OPTION_INVALID', field: 'role', message: expect.stringContaining('the label party (the bank)') });
    const score = await call(api.port, 'POST', '/v1/score', { body: { model: 'bank-job-1', ids: ['x'] } });
    expect(score.status).toBe(400);
    expect(score.json.error).toMatchObject({ code: 'E_OPTION_INVALID', field: 'role' });
  });

  it('answers a missing job 404, metrics of an unfinished one and cancelling a stopped one 409', async () => {
    expect((await call(api.port, 'GET', '/v1/jobs/no-such-job')).json.error.code).toBe('E_NOT_FOUND');
    expect((await call(api.port, 'GET', '/v1/jobs/no-such-job')).status).toBe(404);
    expect((await call(api.port, 'GET', '/v1/nowhere')).status).toBe(404);
    const metrics = await call(api.port, 'GET', '/v1/jobs/bank-job-1/metrics');
    expect(metrics.status).toBe(409);
    expect(metrics.json.error.code).toBe('E_NOT_READY');
    // An empty body with a JSON content type is no body (the CLI sends one).
    const cancel = await call(api.port, 'POST', '/v1/jobs/bank-job-1/cancel');
    expect(cancel.status).toBe(409);
    expect(cancel.json.error.code).toBe('E_NOT_RUNNING');
  });
});

describe('requests checked against the route schemas', () => {
  const invalid = async (path: string, body: string | object, field: string, status = 400) => {
    const answer = await call(api.port, 'POST', path, { body });
    expect(answer.status, JSON.stringify(answer.json)).toBe(status);
    expect(answer.json.error).toMatchObject({ code: 'E_JOB_INVALID', field });
    return answer.json.error;
  };

  it('name the failing property of a job definition as a job file field', async () => {
    const missing = await invalid('/v1/jobs', { label: { table: 'customers' }, features: [{ party: 'tax-bureau' }] }, 'features[0].table');
    expect(missing.message).toBe('definition: field "features[0].table": is missing');
    await invalid('/v1/jobs', { label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 't' }], training: { epochz: 3 } }, 'training.epochz');
    await invalid('/v1/jobs', { label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 't' }], labels: 1 }, 'labels');
    await invalid('/v1/jobs', { job: '..', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 't' }] }, 'job');
    await invalid('/v1/jobs', { label: { table: 'customers' }, features: [] }, 'features');
    await invalid('/v1/jobs', [], '(top level)');
  });

  it('take a scoring request as sent: no string becomes a number', async () => {
    await invalid('/v1/score', { model: 'm', ids: ['a'], decoys: '3' }, 'decoys');
    await invalid('/v1/score', { model: 'm', ids: 'a' }, 'ids');
    await invalid('/v1/score', { ids: ['a'] }, 'model');
  });

  it('refuse a body that is not JSON, and one over 1 MiB', async () => {
    const notJson = await invalid('/v1/jobs', '{"label": ', '(body)');
    expect(notJson.message).toMatch(/^definition: field "\(body\)": not JSON/);
    await invalid('/v1/jobs', { label: { table: 'x'.repeat(1 << 20) }, features: [] }, '(body)', 413);
  });
});

describe('limits', () => {
  it('answers a client over its rate 429 with Retry-After, wrong tokens counting too', async () => {
    const limited = await serve({ limits: { rateMax: 3, rateWindowMs: 60_000 } });
    expect((await call(limited.port, 'GET', '/v1/jobs', { token: 'wrong-token-0123456789xx' })).status).toBe(401);
    expect((await call(limited.port, 'GET', '/v1/jobs')).status).toBe(200);
    expect((await call(limited.port, 'GET', '/v1/jobs')).status).toBe(200);
    const over = await call(limited.port, 'GET', '/v1/jobs');
    expect(over.status).toBe(429);
    expect(over.json.error.code).toBe('E_RATE_LIMITED');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('closes a connection that sends nothing once its timeout passes', async () => {
    const impatient = await serve({ limits: { connectionTimeoutMs: 300 } });
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: impatient.port, ca: pem('agency.crt'), servername: 'localhost' });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('caps connections', () => {
    expect(api.app.server.maxConnections).toBe(512);
  });
});

describe('extending the server', () => {
  it('registers extra /v1 routes behind the token and routes of its own before them (the console at /)', async () => {
    const extended = await serve({
      beforeRoutes: async (app) => {
        app.get('/', async () => ({ console: true }));
      },
      extraRoutes: [
        async (app, { service }) => {
          app.get('/v1/whoami', async () => ({ party: service.config.name }));
        },
      ],
      authenticate: (request) => request.headers.cookie === 'session=ok',
    });
    expect((await call(extended.port, 'GET', '/', { token: '' })).json).toEqual({ console: true });
    expect((await call(extended.port, 'GET', '/v1/whoami', { token: '' })).status).toBe(401);
    expect((await call(extended.port, 'GET', '/v1/whoami')).json).toEqual({ party: 'agency' });
    expect((await call(extended.port, 'GET', '/v1/whoami', { token: '', tls: { headers: { cookie: 'session=ok' } } })).json).toEqual({ party: 'agency' });
  });

  it('authenticate(): the bearer token, else the extra credential', () => {
    const request = (headers: Record<string, string>) => ({ headers }) as unknown as FastifyRequest;
    expect(authenticate(request({ authorization: `Bearer ${TOKEN}` }), TOKEN)).toBe(true);
    expect(authenticate(request({ authorization: `Bearer ${TOKEN}x` }), TOKEN)).toBe(false);
    expect(authenticate(request({ authorization: TOKEN }), TOKEN)).toBe(false);
    expect(authenticate(request({}), TOKEN)).toBe(false);
    expect(authenticate(request({}), TOKEN, () => true)).toBe(true);
  });
});

describe('the CLI client (submit, resume)', () => {
  const BIN = join(import.meta.dirname, '../../bin/jinqiao.js');
  const jinqiao = (args: string[]) =>
    execFileAsync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  const resume = (...extra: string[]) => jinqiao(['resume', 'bank-job-1', '--token', TOKEN, ...extra]);

  it('speaks HTTPS only, trusting the party certificate given with --ca, or any with --insecure', async () => {
    const plain = await resume('--to', `http://127.0.0.1:${api.port}`);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/E_OPTION_INVALID: option --to: http:\/\/ is not served: the API speaks HTTPS only/);
    // --to is the name submit and resume first had for --api; both are taken, not together.
    const both = await resume('--to', `https://127.0.0.1:${api.port}`, '--api', `https://127.0.0.1:${api.port}`);
    expect(both.stderr).toMatch(/E_OPTION_INVALID: option --to: is another name for --api: give one of them/);
    const untrusted = await resume('--api', `https://127.0.0.1:${api.port}`);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/E_PEER_UNTRUSTED: .*--ca <pem>/);
    // Reached: the agency's service answers that jobs are resumed at the bank.
    for (const trust of [['--ca', join(dir, 'agency.crt')], ['--insecure']]) {
      const reached = await resume('--api', `https://127.0.0.1:${api.port}`, ...trust);
      expect(reached.stderr).toMatch(/E_OPTION_INVALID: option role: jobs are resumed at the label party/);
      expect(reached.code).toBe(2);
    }
  }, 120_000);

  it('presents a client certificate with --cert and --key', async () => {
    const strict = await serve({ tls: { key: pem('agency.key'), cert: pem('agency.crt'), ca: [pem('client.crt')], clientCerts: 'required' } });
    const to = ['--api', `https://127.0.0.1:${strict.port}`, '--ca', join(dir, 'agency.crt')];
    expect((await resume(...to)).stderr).toMatch(/E_PEER_UNTRUSTED/);
    expect((await resume(...to, '--cert', join(dir, 'client.crt'), '--key', join(dir, 'client.key'))).stderr).toMatch(/option role: jobs are resumed at the label party/);
  }, 120_000);
});

describe('the OpenAPI document', () => {
  it('is generated from the routes, is the committed docs/openapi.json (npm run openapi), and enumerates the error catalogue', async () => {
    const generated = await openApiDocument();
    const committed = readFileSync(join(import.meta.dirname, '../../docs/openapi.json'), 'utf8');
    expect(committed).toBe(JSON.stringify(generated, null, 2) + '\n');
    const doc = generated as any;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toEqual(Object.keys(ERROR_CATALOGUE));
    expect(Object.keys(doc.paths).sort()).toEqual(['/openapi.json', '/v1/approvals', '/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/approve', '/v1/jobs/{id}/cancel', '/v1/jobs/{id}/metrics', '/v1/jobs/{id}/reject', '/v1/jobs/{id}/resume', '/v1/lookup', '/v1/psi', '/v1/score', '/v1/verify']);
    expect(doc.paths['/v1/jobs'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/JobDefinition' });
    // A bare POST resumes, cancels or approves as `api` (test/service/approval.test.ts, operator-actions.test.ts): its body is optional.
    const bodyRequired = Object.fromEntries(Object.entries(doc.paths).flatMap(([path, ops]: [string, any]) => (ops.post?.requestBody ? [[path, ops.post.requestBody.required]] : [])));
    expect(bodyRequired).toEqual({
      '/v1/jobs': true,
      '/v1/jobs/{id}/approve': false,
      '/v1/jobs/{id}/cancel': false,
      '/v1/jobs/{id}/reject': true,
      '/v1/jobs/{id}/resume': false,
      '/v1/lookup': true,
      '/v1/psi': true,
      '/v1/score': true,
      '/v1/verify': true,
    });
  });

  it("lets a scoring answer hold every status the bank gives an ID, unknown (outside the bank's book) included", async () => {
    const doc = (await openApiDocument()) as any;
    const schema = doc.paths['/v1/score'].post.responses['200'].content['application/json'].schema;
    expect(schema.properties.scores.items.properties.status.enum).toEqual(['scored', 'refused', 'unknown']);
    const unknown = { id: '91350100M000100Y43', status: 'unknown', code: 'E_SCORE_REFUSED', rule: 'id.unknown', reason: '"91350100M000100Y43" is not in the bank\'s book', fallbacks: [] };
    expect(conforms(schema, { scores: [unknown] })).toBe(true);
    expect(conforms(ScoreAnswer, { scores: [unknown] })).toBe(true);
    expect(conforms(schema, { scores: [{ ...unknown, status: 'lost' }] })).toBe(false);
  });
});
