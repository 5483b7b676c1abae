/**
 * How the API answers a failure: one error handler for every route, so each area plugin
 * only throws. A JinqiaoError keeps its stable code (an input error is 400 with the field at
 * fault; E_BUSY is 503 and E_RATE_LIMITED 429, both with Retry-After, as is a policy refusal that
 * lifts with time, 429: an agency's daily budget for the bank, spent; a job or route that is
 * not there is 404; a peer's or the protocol's failure is 500, or 502 on routes that speak
 * for the partners), a request that fails its route's schema is E_JOB_INVALID naming the
 * property, and anything else is E_INTERNAL without detail (the detail goes to the log).
 *
 * Every JSON body the API sends passes through redactPaths: the service's file layout is
 * none of a client's business.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ERROR_CATALOGUE, errors, isJinqiaoError, JinqiaoError, type ErrorCode } from '../../errors.ts';

/** The error body, as a shared schema (`$ref: 'Error'`), listing every stable code. */
export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.Enum(Object.keys(ERROR_CATALOGUE) as ErrorCode[], { type: 'string', description: 'Stable code from the catalogue in src/errors.ts (ERROR_CATALOGUE), which says what each means' }),
      message: Type.String(),
      hint: Type.String({ description: 'What to do' }),
      field: Type.Optional(Type.String({ description: 'The field of the request or job definition that is wrong' })),
      location: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'Where in a file (file name only, line, column), when the problem is in one' })),
    }),
  },
  { $id: 'Error', title: 'Error' },
);

/** Route config: the status of a failure that is not the client's (default 500). */
export interface ErrorRouteConfig {
  readonly failureStatus?: number;
}

const STATUS: Partial<Record<ErrorCode, number>> = { E_UNAUTHORIZED: 401, E_NOT_FOUND: 404, E_NOT_READY: 409, E_NOT_RUNNING: 409, E_NOT_AWAITING_APPROVAL: 409, E_RATE_LIMITED: 429, E_BUSY: 503 };

export function installErrorHandling(app: FastifyInstance, log: (line: string) => void): void {
  app.setErrorHandler((error: FastifyError | JinqiaoError | Error, request, reply) => {
    if (isJinqiaoError(error)) return sendJinqiaoError(error, request, reply);
    const fastifyError = error as FastifyError;
    if (fastifyError.validation && fastifyError.validation.length > 0) return sendJinqiaoError(validationError(fastifyError, request), request, reply);
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: { ...errors.jobInvalid(requestLabel(request), '(body)', `larger than ${BODY_LIMIT_BYTES} bytes`).toJSON(), field: '(body)' } });
    }
    // The framework's own refusals of a malformed request (media type, content length, …).
    const status = fastifyError.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: { code: 'E_JOB_INVALID', message: `${requestLabel(request)}: ${error.message}`, hint: 'send JSON (content-type: application/json) as /openapi.json describes', field: '(body)' } });
    }
    log(`API ${request.method} ${request.url}: ${error.stack ?? error.message}`);
    return reply.code(500).send({ error: { code: 'E_INTERNAL', message: 'internal error', hint: "see the service's log" } });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}`, hint: 'see /openapi.json' } });
  });
}

/** The largest request body the API reads. */
export const BODY_LIMIT_BYTES = 1 << 20;

function sendJinqiaoError(error: JinqiaoError, request: FastifyRequest, reply: FastifyReply) {
  const config = request.routeOptions.config as ErrorRouteConfig | undefined;
  const retryAfter = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
  // A policy refusal that lifts with time (a partner's spent daily budget at an agency) is a quota: 429, retry later.
  const status = STATUS[error.code] ?? (error.code === 'E_POLICY_REFUSED' && retryAfter !== undefined ? 429 : error.isInputError ? 400 : (config?.failureStatus ?? 500));
  if (status === 429 || status === 503) reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfter ?? 1))));
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  const field = error.field ?? fieldOf(error.message);
  return reply.code(status).send({ error: { ...error.toJSON(), ...(field ? { field } : {}) } });
}

/** A request that fails its route's schema: E_JOB_INVALID naming the failing property as a job file's field would be named. */
function validationError(error: FastifyError, request: FastifyRequest): JinqiaoError {
  const first = error.validation![0]!;
  const params = first.params as Record<string, unknown>;
  const steps = first.instancePath.split('/').filter(Boolean).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra = typeof params.missingProperty === 'string' ? params.missingProperty : typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined;
  if (extra !== undefined) steps.push(extra);
  const field = steps.reduce((path, step) => (/^\d+$/.test(step) ? `${path}[${step}]` : path ? `${path}.${step}` : step), '') || '(top level)';
  const why = first.keyword === 'required' ? 'is missing' : first.keyword === 'additionalProperties' ? 'unknown field (see /openapi.json for the accepted ones)' : (first.message ?? 'is invalid');
  const where = error.validationContext && error.validationContext !== 'body' ? `${requestLabel(request)} (${error.validationContext})` : requestLabel(request);
  return errors.jobInvalid(where, field, why);
}

/** What the request carries, as errors name it: a job definition or a request. */
function requestLabel(request: FastifyRequest): string {
  return request.method === 'POST' && request.routeOptions.url === '/v1/jobs' ? 'definition' : 'request';
}

/** The field of a message built by errors.jobInvalid or errors.optionInvalid, for errors that do not carry it. */
function fieldOf(message: string): string | undefined {
  return /field "([^"]+)"/.exec(message)?.[1] ?? /^option ([\w.]+):/.exec(message)?.[1];
}

/** The service's file layout is none of an API client's business: absolute paths (not API routes) shrink to their last name. */
export function redactPaths(text: string): string {
  return text.replace(/(?<![\w.:/\\])\/(?!v1\/)(?:[^\s"'/\\:]+\/)+([^\s"'/\\:]+)/g, '…/$1');
}
