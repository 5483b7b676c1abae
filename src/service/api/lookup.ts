/**
 * Interface calls and verification on the bank's API: the bank's service asks an agency over
 * their mutual-TLS channel, the agency answering under its own policy (consent, purpose,
 * fields, banding) and appending each call to its audit log before it answers
 * (src/jobs/lookup.ts). Verification and blind lookup show the agency counts only. An agency
 * may cap each bank's answers per UTC day (policy evaluationsPerDay): past it, 429. `/v1/psi`
 * (unbalanced PSI) answers against tags the agency prepared once per key period.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { BACKEND_NAMES } from '../../psi/backends/index.ts';
import type { PartyService } from '../party-service.ts';

const ErrorRef = Type.Ref('Error');

const Common = {
  agency: Type.String({ minLength: 1, description: 'The agency, as the bank\'s config names the partner' }),
  table: Type.String({ minLength: 1, description: "The agency's table, as its config names it" }),
  purpose: Type.String({ minLength: 1, description: "The declared purpose its policy must accept (e.g. loan-verification)" }),
  idType: Type.Optional(Type.Enum(['auto', 'uscc', 'plain'], { type: 'string', description: 'How to read IDs (default: auto)' })),
  backend: Type.Optional(Type.Enum([...BACKEND_NAMES], { type: 'string', description: 'OPRF group (default: x25519)' })),
};

const VerifyRequest = Type.Object(
  {
    ...Common,
    fields: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          tolerance: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10, description: 'Relative tolerance; absent: equality' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 32 },
    ),
    claims: Type.Array(
      Type.Object(
        {
          id: Type.String({ minLength: 1 }),
          field: Type.String({ minLength: 1 }),
          value: Type.Number({ description: 'The declared value' }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 20_000 },
    ),
  },
  { additionalProperties: false },
);

const LookupRequest = Type.Object(
  {
    ...Common,
    fields: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 32 }),
    ids: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 10_000 }),
    blind: Type.Optional(Type.Boolean({ description: 'Labeled PSI: the agency learns neither the enterprises nor the answers (default: identified)' })),
  },
  { additionalProperties: false },
);

const PsiRequest = Type.Object(
  {
    agency: Common.agency,
    table: Type.String({ minLength: 1, description: "The agency's table, as its config names it; the agency must have prepared its tags (tables.<name>.psi)" }),
    purpose: Common.purpose,
    ids: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 200_000, description: "The bank's IDs, read as the agency's tag file reads them (its ID type)" }),
  },
  { additionalProperties: false },
);

const Verdict = Type.Object({ id: Type.String(), field: Type.String(), consistent: Type.Boolean() });
const Row = Type.Object({
  id: Type.String(),
  answered: Type.Boolean({ description: 'false: no record, no consent, or nothing the policy exposes (the bank cannot tell which)' }),
  values: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), { description: 'Per field: the value (raw or a band, as the policy says), or null' }),
});

const failures = {
  400: { description: 'Invalid request (the field is named), refused by the agency\'s policy, or this party is not the bank', ...ErrorRef },
  401: { description: 'Missing or wrong token', ...ErrorRef },
  429: {
    description: "Too many requests from this client (E_RATE_LIMITED), or the agency's daily budget for this bank is spent (E_POLICY_REFUSED, rule partner.daily-budget: the call would take it past the policy's evaluationsPerDay); retry after Retry-After seconds (for the budget, the next 00:00 UTC)",
    ...ErrorRef,
  },
  502: { description: 'The agency or the protocol failed', ...ErrorRef },
  503: { description: 'Too many calls wait for this agency (E_BUSY); retry after Retry-After seconds', ...ErrorRef },
};

export async function lookupRoutes(instance: FastifyInstance, opts: { service: PartyService }): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const { service } = opts;
  const config = { failureStatus: 502 };
  app.post(
    '/v1/verify',
    {
      config,
      schema: {
        tags: ['lookup'],
        summary: "Check declared values against an agency's register; the bank learns consistent / not per claim, the agency only how many",
        body: VerifyRequest,
        response: { 200: { description: 'One verdict per claim, in order', ...Type.Object({ verdicts: Type.Array(Verdict) }) }, ...failures },
      },
    },
    async (request) => {
      const b = request.body;
      return service.verify({
        agency: b.agency,
        table: b.table,
        purpose: b.purpose,
        fields: b.fields.map((f) => ({ field: f.name, tolerance: f.tolerance })),
        claims: b.claims,
        ...(b.idType ? { idType: b.idType } : {}),
        ...(b.backend ? { backend: b.backend } : {}),
      });
    },
  );
  app.post(
    '/v1/psi',
    {
      config,
      schema: {
        tags: ['lookup'],
        summary:
          "Unbalanced PSI: which of the bank's IDs an agency holds, against tags it prepared once per key period (fetched once per key period and kept); the bank learns membership and the register's size, the agency only how many IDs",
        body: PsiRequest,
        response: { 200: { description: 'One row per ID, in order', ...Type.Object({ rows: Type.Array(Type.Object({ id: Type.String(), held: Type.Boolean({ description: 'The agency holds a record of this ID' }) })) }) }, ...failures },
      },
    },
    async (request) => {
      const b = request.body;
      return service.psi({ agency: b.agency, table: b.table, purpose: b.purpose, ids: b.ids });
    },
  );
  app.post(
    '/v1/lookup',
    {
      config,
      schema: {
        tags: ['lookup'],
        summary: "An interface call: the fields an agency's policy exposes for the purpose, for enterprises whose consent covers it",
        body: LookupRequest,
        response: { 200: { description: 'One row per ID, in order', ...Type.Object({ rows: Type.Array(Row) }) }, ...failures },
      },
    },
    async (request) => {
      const b = request.body;
      return service.lookup({
        agency: b.agency,
        table: b.table,
        purpose: b.purpose,
        fields: b.fields,
        ids: b.ids,
        blind: b.blind ?? false,
        ...(b.idType ? { idType: b.idType } : {}),
        ...(b.backend ? { backend: b.backend } : {}),
      });
    },
  );
}
