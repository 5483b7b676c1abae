/**
 * Jobs: submit (the label party only), list, read, metrics, resume, cancel. Every party's
 * service lists and reads the jobs it took part in; only the bank's accepts new ones (the
 * others refuse with E_OPTION_INVALID on `role`, as the service itself does). A resume or
 * cancel is in the party's audit log, with the operator the body names (else `api`), before
 * it acts.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { JinqiaoError, errors } from '../../errors.ts';
import { JobDefinitionSchema } from '../../schemas/job-definition.ts';
import type { PartyService } from '../party-service.ts';
import type { JobRecord } from '../store.ts';

const ErrorRef = Type.Ref('Error');

const JOB_STATES = ['queued', 'awaiting-approval', 'running', 'succeeded', 'failed', 'cancelled', 'rejected'];

export const JobSchema = Type.Object(
  {
    id: Type.String(),
    state: Type.Enum(JOB_STATES, { type: 'string' }),
    phase: Type.String({ description: 'starting, align, keys, batch, epoch, evaluate, done, stopped, interrupted' }),
    progress: Type.Object({}, { additionalProperties: true }),
    definition: Type.Object({}, { additionalProperties: true, description: 'The submitted definition (at the bank) or what the party was told of the job (at a partner)' }),
    result: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    approval: Type.Union([Type.Object({}, { additionalProperties: true, description: "What the job asked of this party's operator, and the decision" }), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Job', title: 'Job' },
);

const JobSummarySchema = Type.Object({
  id: Type.String(),
  state: Type.Enum(JOB_STATES, { type: 'string' }),
  phase: Type.String(),
  position: Type.Optional(Type.Integer({ minimum: 1, description: 'Place in the job queue (queued jobs only), from 1' })),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const JobAnswer = Type.Object({ job: Type.Ref('Job') });
/** Who acts, for the party's audit log (`job.resumed`, `job.cancelled`). */
const ActionBody = Type.Object(
  { operator: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'who acts, for the audit log (default: "api")' })) },
  { additionalProperties: false },
);
const byOf = (body: { operator?: string } | undefined) => (body?.operator === undefined ? undefined : { operator: body.operator });
/** A POST without a body (`jinqiao resume`, curl) names nobody: it is checked as `{}`. */
export const noBodyIsEmpty = async (request: { body: unknown }) => void (request.body ??= {});
const IdParams = Type.Object({ id: Type.String({ description: 'Job id' }) });

export async function jobsRoutes(instance: FastifyInstance, opts: { service: PartyService }): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const { service } = opts;
  // Shared schemas (`$ref`): the server adds them once for every plugin; a bare instance in a test gets them here.
  for (const [id, schema] of [['JobDefinition', JobDefinitionSchema], ['Job', JobSchema]] as const) if (!app.getSchema(id)) app.addSchema(schema);
  const recordOf = (id: string): JobRecord => {
    const record = service.store.get(id);
    if (!record) throw errors.notFound(`no job ${JSON.stringify(id)}`, 'list jobs with GET /v1/jobs');
    return record;
  };

  app.post(
    '/v1/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: "Submit a training job (the bank's service only)",
        body: Type.Ref('JobDefinition'),
        response: { 202: { description: 'Recorded and started', ...JobAnswer }, 400: { description: 'Invalid definition (the field is named), or this party is not the bank', ...ErrorRef } },
      },
    },
    async (request, reply) => reply.code(202).send({ job: service.submit(request.body) }),
  );

  app.get(
    '/v1/jobs',
    { schema: { tags: ['jobs'], summary: 'List the jobs this party took part in, newest first', response: { 200: { description: 'Jobs, newest first', ...Type.Object({ jobs: Type.Array(JobSummarySchema) }) } } } },
    async () => ({ jobs: service.listJobs() }),
  );

  app.get(
    '/v1/jobs/:id',
    { schema: { tags: ['jobs'], summary: "A job's state, phase and progress", params: IdParams, response: { 200: { description: 'The job', ...JobAnswer }, 404: { description: 'No such job', ...ErrorRef } } } },
    async (request) => ({ job: recordOf(request.params.id) }),
  );

  app.get(
    '/v1/jobs/:id/metrics',
    {
      schema: {
        tags: ['jobs'],
        summary: "A finished job's metrics (AUC, KS, aligned rows, epochs, loss curve, timings)",
        params: IdParams,
        response: { 200: { description: 'Metrics', ...Type.Object({ metrics: Type.Object({}, { additionalProperties: true }) }) }, 404: { description: 'No such job', ...ErrorRef }, 409: { description: 'Not succeeded (yet)', ...ErrorRef } },
      },
    },
    async (request) => {
      const record = recordOf(request.params.id);
      if (record.state !== 'succeeded') throw new JinqiaoError('E_NOT_READY', `job ${record.id} is ${record.state}`, 'wait until its state is succeeded');
      return { metrics: record.result };
    },
  );

  app.post(
    '/v1/jobs/:id/resume',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Rerun a failed or cancelled job from its first epoch (the bank only; audited as job.resumed first)',
        params: IdParams,
        body: Type.Optional(ActionBody),
        response: { 202: { description: 'Restarted', ...JobAnswer }, 400: { description: 'Not failed or cancelled, or this party is not the bank', ...ErrorRef }, 404: { description: 'No such job', ...ErrorRef } },
      },
      preValidation: noBodyIsEmpty,
    },
    async (request, reply) => {
      const record = recordOf(request.params.id);
      return reply.code(202).send({ job: await service.resume(record.id, byOf(request.body)) });
    },
  );

  app.post(
    '/v1/jobs/:id/cancel',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a running or queued job, or withdraw one awaiting approval (audited as job.cancelled first)',
        params: IdParams,
        body: Type.Optional(ActionBody),
        response: { 202: { description: 'Cancelling', ...JobAnswer }, 404: { description: 'No such job', ...ErrorRef }, 409: { description: 'Not running, queued or awaiting approval', ...ErrorRef } },
      },
      preValidation: noBodyIsEmpty,
    },
    async (request, reply) => {
      const record = recordOf(request.params.id);
      if (!(await service.cancel(record.id, byOf(request.body)))) throw errors.notRunning(record.id, record.state);
      return reply.code(202).send({ job: service.store.get(record.id) });
    },
  );
}
