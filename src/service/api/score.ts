/** Scoring: the bank's service scores enterprises with a finished job's split model, the agencies answering over mutual TLS. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { EnterpriseScore } from '../../score/bank.ts';
import type { PartyService } from '../party-service.ts';
import type { ErrorRouteConfig } from './errors.ts';

const ErrorRef = Type.Ref('Error');

const ScoreRequest = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'Id of a succeeded training job' }),
    ids: Type.Array(Type.String(), { description: 'Enterprise IDs to score' }),
    decoys: Type.Optional(Type.Integer({ minimum: 0, description: 'Decoys per real ID, so agencies cannot tell which enterprise is queried' })),
  },
  { additionalProperties: false },
);

/** Every status an `EnterpriseScore` can have: each ID of a request is answered with one. */
const STATUSES = ['scored', 'refused', 'unknown'] as const satisfies readonly EnterpriseScore['status'][];
// Compiles only while STATUSES lists them all.
const everyStatus: Exclude<EnterpriseScore['status'], (typeof STATUSES)[number]> extends never ? true : false = true;
void everyStatus;

const Score = Type.Object({
  id: Type.String(),
  status: Type.Enum(STATUSES, { type: 'string', description: "scored; refused: scoring it would disclose an agency's partial score; unknown: not in the bank's book" }),
  probability: Type.Optional(Type.Number({ description: 'Probability of default (scored only)' })),
  code: Type.Optional(Type.String({ description: 'Why not (refused and unknown): a code of the catalogue' })),
  rule: Type.Optional(Type.String({ description: 'The rule that refused it (partial-score.single-holder, id.unknown)' })),
  reason: Type.Optional(Type.String()),
  fallbacks: Type.Array(Type.String(), { description: 'Agencies holding no record: their training mean was used' }),
});

/** The answer to a scoring request (200). */
export const ScoreAnswer = Type.Object({ scores: Type.Array(Score) });

export async function scoreRoutes(instance: FastifyInstance, opts: { service: PartyService }): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const { service } = opts;
  const config: ErrorRouteConfig = { failureStatus: 502 };
  app.post(
    '/v1/score',
    {
      config,
      schema: {
        tags: ['score'],
        summary: "Score enterprises with the split model of a finished job (the bank's service only; the agencies answer over mutual TLS)",
        body: ScoreRequest,
        response: {
          200: { description: 'One answer per ID, in order', ...ScoreAnswer },
          400: { description: 'Invalid request (the field is named), an unknown model, or this party is not the bank', ...ErrorRef },
          502: { description: 'A partner or the protocol failed', ...ErrorRef },
          503: { description: 'Too many requests wait for this model (E_BUSY); retry after Retry-After seconds', ...ErrorRef },
        },
      },
    },
    async (request) => {
      const { model, ids, decoys } = request.body;
      const scores = await service.score(model, ids, { decoys });
      return {
        scores: scores.map((s) => (s.status === 'scored' ? { id: s.id, status: s.status, probability: s.probability, fallbacks: s.fallbacks } : { id: s.id, status: s.status, code: s.code, rule: s.rule, reason: s.reason, fallbacks: s.fallbacks })),
      };
    },
  );
}
