/**
 * (Label) The HTTP API integrators drive the bank's party service with: submit a job, list
 * jobs, read a job's state and progress, its metrics and loss curve, cancel it; and the
 * OpenAPI description (docs/openapi.json, served at /openapi.json).
 *
 * JSON in and out. Every request needs `Authorization: Bearer <token>` from the service's
 * config (compared in constant time). Errors are JSON `{ "error": { code, message, hint,
 * field? } }` with the stable codes of src/errors.ts; an invalid job definition is
 * rejected with the field that is wrong.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { errors, isJinqiaoError } from '../errors.ts';
import type { PartyService } from './party-service.ts';

const OPENAPI = join(import.meta.dirname, '../../docs/openapi.json');
const MAX_BODY_BYTES = 1 << 20;

export interface ApiServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startApi(service: PartyService, listen: { host: string; port: number }, token: string): Promise<ApiServer> {
  const expected = Buffer.from(`Bearer ${token}`);
  const server: Server = createServer((req, res) => {
    handle(service, req, res, expected).catch((e) => send(res, 500, errorBody('E_INTERNAL', (e as Error).message, 'see the service log')));
  });
  // Against slow or stuck clients: a bounded wait for headers and for a whole request, a cap
  // on connections; keep-alive outlasts a polling client's interval so its sockets stay fresh.
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 65_000;
  server.maxConnections = 512;
  await new Promise<void>((resolve) => server.listen(listen.port, listen.host, resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : listen.port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function handle(service: PartyService, req: IncomingMessage, res: ServerResponse, expected: Buffer): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/openapi.json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(await readFile(OPENAPI));
    return;
  }
  const auth = Buffer.from(req.headers.authorization ?? '');
  if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
    return send(res, 401, errorBody('E_UNAUTHORIZED', 'missing or wrong bearer token', 'send Authorization: Bearer <the token in the service config>'));
  }
  const parts = url.pathname.split('/').filter(Boolean);
  if (req.method === 'POST' && parts[0] === 'v1' && parts[1] === 'score' && parts.length === 2) {
    try {
      const body = (await readJson(req)) as { model?: unknown; ids?: unknown; decoys?: unknown };
      if (typeof body?.model !== 'string') throw errors.jobInvalid('request', 'model', 'must be the id of a finished training job');
      if (!Array.isArray(body.ids) || !body.ids.every((id) => typeof id === 'string')) throw errors.jobInvalid('request', 'ids', 'must be a list of enterprise IDs');
      if (body.decoys !== undefined && !(Number.isInteger(body.decoys) && (body.decoys as number) >= 0)) throw errors.jobInvalid('request', 'decoys', 'must be a whole number');
      const scores = await service.score(body.model, body.ids as string[], { decoys: body.decoys as number | undefined });
      return send(res, 200, {
        scores: scores.map((s) => (s.status === 'scored' ? { id: s.id, status: s.status, probability: s.probability, fallbacks: s.fallbacks } : { id: s.id, status: s.status, code: s.code, rule: s.rule, reason: s.reason, fallbacks: s.fallbacks })),
      });
    } catch (e) {
      if (isJinqiaoError(e) && e.code === 'E_BUSY') return send(res, 503, { error: e.toJSON() }, { 'retry-after': String((e as { retryAfterSeconds?: number }).retryAfterSeconds ?? 1) });
      if (isJinqiaoError(e)) return send(res, e.isInputError ? 400 : 502, { error: { ...e.toJSON(), ...(fieldOf(e.message) ? { field: fieldOf(e.message) } : {}) } });
      throw e;
    }
  }
  if (parts[0] !== 'v1' || parts[1] !== 'jobs') return send(res, 404, errorBody('E_NOT_FOUND', `no route ${req.method} ${url.pathname}`, 'see /openapi.json'));
  const id = parts[2] === undefined ? undefined : decodeURIComponent(parts[2]);
  try {
    if (req.method === 'POST' && id === undefined) {
      const record = service.submit(await readJson(req));
      return send(res, 202, { job: record });
    }
    if (req.method === 'GET' && id === undefined) return send(res, 200, { jobs: service.store.list().map(summary) });
    const record = id === undefined ? undefined : service.store.get(id);
    if (!record) return send(res, 404, errorBody('E_NOT_FOUND', `no job ${JSON.stringify(id)}`, 'list jobs with GET /v1/jobs'));
    if (req.method === 'GET' && parts[3] === undefined) return send(res, 200, { job: record });
    if (req.method === 'GET' && parts[3] === 'metrics') {
      if (record.state !== 'succeeded') return send(res, 409, errorBody('E_NOT_READY', `job ${record.id} is ${record.state}`, 'wait until its state is succeeded'));
      return send(res, 200, { metrics: record.result });
    }
    if (req.method === 'POST' && parts[3] === 'resume') return send(res, 202, { job: service.resume(record.id) });
    if (req.method === 'POST' && parts[3] === 'cancel') {
      return service.cancel(record.id) ? send(res, 202, { job: service.store.get(record.id) }) : send(res, 409, errorBody('E_NOT_RUNNING', `job ${record.id} is ${record.state}`, 'only a running job can be cancelled'));
    }
    return send(res, 404, errorBody('E_NOT_FOUND', `no route ${req.method} ${url.pathname}`, 'see /openapi.json'));
  } catch (e) {
    if (isJinqiaoError(e)) return send(res, e.isInputError ? 400 : 500, { error: { ...e.toJSON(), ...(fieldOf(e.message) ? { field: fieldOf(e.message) } : {}) } });
    throw e;
  }
}

function summary(record: ReturnType<PartyService['store']['list']>[number]) {
  return { id: record.id, state: record.state, phase: record.phase, createdAt: record.createdAt, updatedAt: record.updatedAt };
}

function fieldOf(message: string): string | undefined {
  return /field "([^"]+)"/.exec(message)?.[1] ?? /^option ([\w.]+):/.exec(message)?.[1];
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw errors.jobInvalid('definition', '(body)', `larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw errors.jobInvalid('definition', '(body)', `not JSON: ${(e as Error).message}`);
  }
}

function errorBody(code: string, message: string, hint: string) {
  return { error: { code, message, hint } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(redactPaths(JSON.stringify(body)) + '\n');
}

/** The service's file layout is none of an API client's business: absolute paths (not API routes) shrink to their last name. */
export function redactPaths(text: string): string {
  return text.replace(/(?<![\w.:/\\])\/(?!v1\/)(?:[^\s"'/\\:]+\/)+([^\s"'/\\:]+)/g, '…/$1');
}
