/**
 * A party service's HTTP API: one Fastify instance over HTTPS only (TLS 1.3, the party's own
 * key and certificate; API clients optionally or necessarily present a certificate the party
 * trusts). Every /v1 route needs the bearer token (auth.ts); failures are JSON
 * `{ "error": { code, message, hint, field? } }` with the stable codes of src/errors.ts
 * (errors.ts); request bodies and parameters are checked against TypeBox schemas, and the
 * same schemas make the OpenAPI document (served at /openapi.json, committed as
 * docs/openapi.json by `npm run openapi`).
 *
 * Against clients that misbehave: a 1 MiB body limit, timeouts for idle connections, slow
 * headers and slow requests, a cap on connections, and a per-client rate limit (429 with
 * Retry-After).
 *
 * Routes live in area plugins (`src/service/api/<area>.ts`, each `(app, { service })`):
 * AREA_ROUTES lists the ones every service serves; `extraRoutes` adds more, and
 * `beforeRoutes` runs first (the console at `/` is registered there).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { ServerOptions as HttpsOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { errors } from '../../errors.ts';
import { distinguishedName } from '../../transport/tls/listen.ts';
import { describeVerifyFailure } from '../../transport/tls/reasons.ts';
import type { Address, ClientCerts } from '../config.ts';
import type { PartyService } from '../party-service.ts';
import { AUTHENTICATED_PREFIX, requireAuthentication, type ExtraCredential } from './auth.ts';
import { BODY_LIMIT_BYTES, ErrorSchema, installErrorHandling, redactPaths } from './errors.ts';
import { JobDefinitionSchema } from '../../schemas/job-definition.ts';
import { DEFAULT_REQUESTS_PER_MINUTE } from '../../schemas/party-config.ts';
import { JobSchema, jobsRoutes } from './jobs.ts';
import { approvalRoutes } from './approvals.ts';
import { lookupRoutes } from './lookup.ts';
import { scoreRoutes } from './score.ts';

/** An area's routes: registered with the service they serve. */
export type ApiRoutes = (app: FastifyInstance, opts: { service: PartyService }) => Promise<void>;

/** The areas every party service serves. */
export const AREA_ROUTES: readonly ApiRoutes[] = [jobsRoutes, scoreRoutes, lookupRoutes, approvalRoutes];

export interface ApiTls {
  /** The party's private key and certificate (PEM). */
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** Certificates or CAs that client certificates must chain to. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** `off` (default): no client certificate asked; `optional`: asked, not required; `required`: refused without a trusted one. */
  readonly clientCerts?: ClientCerts;
}

export interface ApiLimits {
  /** Requests per client (by address) per window. */
  readonly rateMax: number;
  readonly rateWindowMs: number;
  /** A connection with no traffic for this long is closed. */
  readonly connectionTimeoutMs: number;
  /** A request must arrive in full within this. */
  readonly requestTimeoutMs: number;
  /** ... and its headers within this. */
  readonly headersTimeoutMs: number;
  /** A TLS handshake must finish within this. */
  readonly handshakeTimeoutMs: number;
  /** An idle keep-alive connection is kept this long (longer than a polling client's interval). */
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  // A polling client (every 100 ms at most) and a burst of scoring requests stay far below.
  rateMax: DEFAULT_REQUESTS_PER_MINUTE,
  rateWindowMs: 60_000,
  // A scoring request may wait its turn behind others for a while; two minutes, as before.
  connectionTimeoutMs: 120_000,
  requestTimeoutMs: 120_000,
  // Generous: these timers also fire when the service's own event loop was busy (a job's
  // CPU-bound step on a loaded machine), and they then cut off clients that did nothing wrong.
  headersTimeoutMs: 60_000,
  handshakeTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 512,
};

export interface ApiOptions {
  readonly token: string;
  /** A second credential for /v1 routes besides the bearer token (e.g. the console's session cookie). */
  readonly authenticate?: ExtraCredential;
  readonly extraRoutes?: readonly ApiRoutes[];
  /** Runs after the error handling, authentication and OpenAPI are set up, before any route. */
  readonly beforeRoutes?: (app: FastifyInstance, opts: { service: PartyService }) => Promise<void>;
  readonly limits?: Partial<ApiLimits>;
  /** Where failures that are not the client's are logged. */
  readonly log?: (line: string) => void;
}

export interface StartApiOptions extends ApiOptions {
  readonly listen: Address;
  readonly tls: ApiTls;
}

export interface ApiServer {
  readonly port: number;
  /** The Fastify instance (for tests and for plugins the lead adds). */
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string }).version;

/** Serves the API on `listen` over HTTPS; there is no plaintext listener. */
export async function startApi(service: PartyService, options: StartApiOptions): Promise<ApiServer> {
  const clientCerts = options.tls.clientCerts ?? 'off';
  if (clientCerts !== 'off' && (options.tls.ca === undefined || (Array.isArray(options.tls.ca) && options.tls.ca.length === 0))) {
    throw errors.optionInvalid('api.clientCa', `client certificates are ${clientCerts} but no certificate or CA to check them against is given`, 'list the clients\' certificates or CA under api.clientCa (or tls.trust)');
  }
  const https: HttpsOptions = {
    key: options.tls.key,
    cert: options.tls.cert,
    ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca as HttpsOptions['ca'] }),
    minVersion: 'TLSv1.3',
    requestCert: clientCerts !== 'off',
    rejectUnauthorized: clientCerts === 'required',
    // A client that opens a connection and never finishes the handshake.
    handshakeTimeout: { ...DEFAULT_LIMITS, ...options.limits }.handshakeTimeoutMs,
  };
  const app = await buildApi(service, options, https);
  // Refused connections (no trusted client certificate, not TLS 1.3, plain HTTP, a handshake too slow) are the operator's business.
  app.server.on('tlsClientError', (error: Error, socket: { remoteAddress?: string }) => options.log?.(`API: refused a connection from ${socket.remoteAddress ?? 'an unknown address'}: ${error.message}`));
  await app.listen({ host: options.listen.host, port: options.listen.port });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.listen.port,
    app,
    close: () => app.close(),
  };
}

/** The API's Fastify instance, ready but not listening (`https` undefined: no TLS, for the OpenAPI document and tests only). */
export async function buildApi(service: PartyService, options: ApiOptions, https?: HttpsOptions): Promise<FastifyInstance> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.log ?? (() => {});
  const serverOptions: FastifyServerOptions = {
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    connectionTimeout: limits.connectionTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Bodies are checked as sent: no unknown key silently dropped, no string turned into a number.
    // The schemas are shared with the config and job file checks (src/schemas/), whose
    // `errorMessage` sentences word those files' errors; AJV is told the keyword carries no check.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, keywords: ['errorMessage'] } },
  };
  const app = Fastify({ ...serverOptions, ...(https ? { https } : {}) }) as unknown as FastifyInstance;
  app.server.headersTimeout = limits.headersTimeoutMs;
  app.server.maxConnections = limits.maxConnections;

  installErrorHandling(app, log);
  // Optional client certificates: a client without one is served, but one that presents a
  // certificate the party does not trust is refused (Node let its handshake through), and
  // the log names what it presented, as the partners' listener does.
  if (https?.requestCert && !https.rejectUnauthorized) {
    app.addHook('onRequest', async (request, reply) => {
      const socket = request.raw.socket as TLSSocket;
      if (socket.authorized) return;
      const certificate = socket.getPeerCertificate();
      if (Object.keys(certificate).length === 0) return;
      const reason = `certificate ${distinguishedName(certificate.subject)} (issued by ${distinguishedName(certificate.issuer)}) is not trusted: ${describeVerifyFailure(String(socket.authorizationError))}`;
      log(`API: refused a request from ${socket.remoteAddress ?? 'an unknown address'}: ${reason}`);
      return reply.code(403).send({ error: errors.apiClientUntrusted(socket.remoteAddress ?? 'an unknown address', reason).toJSON() });
    });
  }
  // Every JSON answer, error or not, passes through redactPaths (schemas document; they do not filter).
  const serialize = (payload: unknown) => redactPaths(JSON.stringify(payload));
  app.setReplySerializer(serialize);
  app.setSerializerCompiler(() => serialize);
  // An empty body (POST …/cancel with a JSON content type) is no body; anything else must be JSON.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    json(request, body as string, (error, value) => done(error ? errors.jobInvalid(request.method === 'POST' && request.routeOptions.url === '/v1/jobs' ? 'definition' : 'request', '(body)', `not JSON: ${error.message}`) : null, value));
  });

  await app.register(rateLimit, {
    global: true,
    max: limits.rateMax,
    timeWindow: limits.rateWindowMs,
    errorResponseBuilder: (_request, context) => errors.rateLimited(context.max, Math.round(limits.rateWindowMs / 1000), Math.ceil(context.ttl / 1000)),
  });
  requireAuthentication(app, options.token, options.authenticate);
  // What the server adds to every route goes into every route's description too.
  app.addHook('onRoute', (route) => {
    if (route.url === '/openapi.json' || route.schema?.hide) return;
    const response = { ...(route.schema?.response as Record<string, unknown> | undefined) };
    if (route.url.startsWith(AUTHENTICATED_PREFIX)) response[401] ??= { description: 'Missing or wrong token (E_UNAUTHORIZED)', $ref: 'Error' };
    response[403] ??= { description: 'With api.clientCerts: optional, the client presented a certificate this party does not trust (E_PEER_UNTRUSTED)', $ref: 'Error' };
    response[429] ??= { description: 'Too many requests from this client (E_RATE_LIMITED); retry after Retry-After seconds', $ref: 'Error' };
    route.schema = { ...route.schema, response };
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'jinqiao party service',
        version: VERSION,
        description:
          "A jinqiao party service's HTTPS API. The bank's service takes and drives joint-modeling jobs and scores enterprises (it reaches the agencies and the platform over mutual TLS); every party's service lists the jobs it took part in. Every /v1 request needs `Authorization: Bearer <token>`. Errors are `{ error: { code, message, hint, field? } }` with the codes of the Error schema.",
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'jobs', description: 'Training jobs' },
        { name: 'score', description: 'Scoring with a trained model' },
      ],
    },
    refResolver: { buildLocalReference: (schema, _base, _fragment, i) => (typeof schema.$id === 'string' ? schema.$id : `def-${i}`) },
  });
  for (const schema of [ErrorSchema, JobDefinitionSchema, JobSchema]) app.addSchema(schema);
  app.get('/openapi.json', { schema: { summary: 'This document', security: [] } }, async (_request, reply) => reply.type('application/json').send(JSON.stringify(withOptionalBodies(app.swagger()))));

  await options.beforeRoutes?.(app, { service });
  for (const routes of [...AREA_ROUTES, ...(options.extraRoutes ?? [])]) await app.register(routes, { service });
  await app.ready();
  return app;
}

/** The OpenAPI document of the routes every service serves (what `npm run openapi` writes to docs/openapi.json). */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const app = await buildApi(undefined as unknown as PartyService, { token: 'x'.repeat(16) });
  const document = withOptionalBodies(app.swagger());
  await app.close();
  return document;
}

type SchemaObject = { required?: string[]; $ref?: string };
type OpenApiDocument = {
  paths: Record<string, Record<string, { requestBody?: { required?: boolean; content: Record<string, { schema: SchemaObject }> } }>>;
  components: { schemas: Record<string, SchemaObject> };
};

/**
 * @fastify/swagger marks every body required. A body that requires nothing (resume, cancel,
 * approve: `noBodyIsEmpty` takes a bare POST as `{}`) may be left out, and the document says so.
 */
function withOptionalBodies(swaggerDocument: unknown): Record<string, unknown> {
  const document = swaggerDocument as OpenApiDocument;
  const resolve = (schema: SchemaObject): SchemaObject => (schema.$ref ? resolve(document.components.schemas[schema.$ref.replace('#/components/schemas/', '')] ?? {}) : schema);
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations)) {
      const body = operation.requestBody;
      if (body && Object.values(body.content).every((c) => (resolve(c.schema).required ?? []).length === 0)) body.required = false;
    }
  }
  return document as unknown as Record<string, unknown>;
}
