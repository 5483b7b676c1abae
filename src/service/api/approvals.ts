/**
 * Operators' approvals over the HTTP API: the jobs waiting for this party's approval (with
 * what each asks for), and approving or rejecting one by id. Each decision is written to the
 * party's audit log before the job acts on it (src/service/party-service.ts). Every party's
 * service answers these for its own operator: the bank for its own jobs, an agency or the
 * platform for the jobs the bank opened with it.
 */
import type { FastifyInstance } from 'fastify';
// The routes' tags and summaries feed the OpenAPI document (@fastify/swagger types them).
import type {} from '@fastify/swagger';
import { Type } from 'typebox';
import type { PartyService } from '../party-service.ts';
import type { JobRecord } from '../store.ts';
import { noBodyIsEmpty } from './jobs.ts';

const JobParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, description: 'the job id' }) });

const Operator = Type.String({ minLength: 1, maxLength: 200, description: 'who decides (default: "api")' });

const ApproveBody = Type.Object(
  {
    operator: Type.Optional(Operator),
    reason: Type.Optional(Type.String({ maxLength: 1000, description: 'why, for the audit log' })),
  },
  { additionalProperties: false },
);

const RejectBody = Type.Object(
  {
    operator: Type.Optional(Operator),
    reason: Type.String({ minLength: 1, maxLength: 1000, description: 'why: every party of the job is told' }),
  },
  { additionalProperties: false },
);

const Job = Type.Object(
  {
    id: Type.String(),
    state: Type.String(),
    phase: Type.String(),
    approval: Type.Unknown(),
    error: Type.Unknown(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { additionalProperties: true },
);

const Approval = Type.Object({
  job: Type.String(),
  /** The party that opened the job (the bank), when it is not this one. */
  from: Type.Optional(Type.String()),
  purpose: Type.String(),
  partners: Type.Array(Type.String()),
  fields: Type.Array(Type.String()),
  rows: Type.Optional(Type.Integer()),
  requestedAt: Type.String(),
});

/** Without a name, the decision is recorded as the API's. */
const API_OPERATOR = 'api';

export async function approvalRoutes(app: FastifyInstance, opts: { service: PartyService }): Promise<void> {
  const { service } = opts;

  app.get(
    '/v1/approvals',
    {
      schema: {
        tags: ['approvals'],
        summary: "Jobs waiting for this party's operator to approve them, oldest first, with what each asks for",
        response: { 200: Type.Object({ approvals: Type.Array(Approval) }) },
      },
    },
    async () => ({ approvals: service.store.list().filter(awaitingThisParty).reverse().map(approvalOf) }),
  );

  app.post<{ Params: { id: string }; Body: { operator?: string; reason?: string } | undefined }>(
    '/v1/jobs/:id/approve',
    {
      schema: {
        tags: ['approvals'],
        summary: "Approve a job awaiting this party's approval (audited before the job moves on)",
        params: JobParams,
        body: Type.Optional(ApproveBody),
        response: { 200: Type.Object({ job: Job }) },
      },
      // An empty body (a bare POST with a JSON content type) approves as `api`, as cancel and resume do.
      preValidation: noBodyIsEmpty,
    },
    async (request) => {
      const body = request.body ?? {};
      return { job: await service.approve(request.params.id, { operator: body.operator ?? API_OPERATOR, ...(body.reason === undefined ? {} : { reason: body.reason }) }) };
    },
  );

  app.post<{ Params: { id: string }; Body: { operator?: string; reason: string } }>(
    '/v1/jobs/:id/reject',
    {
      schema: {
        tags: ['approvals'],
        summary: "Reject a job awaiting this party's approval: it fails at every party with the reason (audited first)",
        params: JobParams,
        body: RejectBody,
        response: { 200: Type.Object({ job: Job }) },
      },
    },
    async (request) => ({ job: await service.reject(request.params.id, { operator: request.body.operator ?? API_OPERATOR, reason: request.body.reason }) }),
  );
}

function awaitingThisParty(record: JobRecord): boolean {
  return record.state === 'awaiting-approval' && record.approval !== null && record.approval.decision === undefined;
}

function approvalOf(record: JobRecord) {
  const { request, requestedAt } = record.approval!;
  const from = record.definition.from;
  return {
    job: record.id,
    ...(typeof from === 'string' ? { from } : {}),
    purpose: request.purpose,
    partners: [...request.partners],
    fields: [...request.fields],
    ...(request.rows === undefined ? {} : { rows: request.rows }),
    requestedAt,
  };
}
