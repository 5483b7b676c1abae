/**
 * A job definition as the bank's service takes it (`POST /v1/jobs`, `PartyService.submit`):
 * tables by the names in the parties' configs, not files. One schema for the API's
 * validation, its OpenAPI document and the service's own check, so all three say the same.
 */
import { Type, type Static } from 'typebox';
import { TRAINING_DEFAULTS } from '../lr/config.ts';

export const JobDefinitionSchema = Type.Object(
  {
    job: Type.Optional(Type.String({ pattern: '^(?!\\.+$)[A-Za-z0-9._-]{1,100}$', errorMessage: 'must be 1 to 100 letters, digits, dots, dashes or underscores, and not only dots', description: 'Job id (letters, digits, dots, dashes, underscores; not only dots); a UUID when absent' })),
    purpose: Type.Optional(Type.String({ minLength: 1, errorMessage: 'must name the purpose, e.g. credit-modeling', description: 'The declared purpose (e.g. credit-modeling) every data holder\'s policy must accept' })),
    label: Type.Object({ table: Type.String({ minLength: 1, errorMessage: "must name one of the bank's configured tables", description: "A table of the bank's service config (with its label column)" }) }, { additionalProperties: false, errorMessage: { type: 'must be { table }' } }),
    features: Type.Array(
      Type.Object(
        {
          party: Type.String({ minLength: 1, errorMessage: 'must name a partner of the bank', description: 'A partner of the bank' }),
          table: Type.String({ minLength: 1, errorMessage: "must name one of that party's configured tables", description: "A table of that party's config" }),
        },
        { additionalProperties: false, errorMessage: { type: 'must be { party, table }' } },
      ),
      { minItems: 1, errorMessage: 'must list at least one { party, table }' },
    ),
    arbiter: Type.Optional(Type.String({ minLength: 1, errorMessage: 'must name the arbiter partner', description: 'The arbiter partner (default arbiter)' })),
    training: Type.Optional(
      Type.Object(Object.fromEntries(Object.keys(TRAINING_DEFAULTS).map((key) => [key, Type.Optional(Type.Unknown())])), {
        additionalProperties: false,
        description: 'Training parameters (README, Training); the service checks their values',
        errorMessage: { type: 'must be an object of training parameters', additionalProperties: 'unknown training parameter' },
      }),
    ),
  },
  { $id: 'JobDefinition', title: 'JobDefinition', additionalProperties: false, errorMessage: { type: 'must be an object with label, features and training' } },
);

export type JobDefinitionData = Static<typeof JobDefinitionSchema>;
