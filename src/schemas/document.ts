/**
 * docs/config-schema.json: the JSON Schema of the files operators write, generated from the
 * same TypeBox schemas the loaders check them against (`npm run schemas` writes it; a test
 * fails while the committed file differs). Editors that read JSON Schema (the YAML language
 * server, VS Code) can point at `config-schema.json#/$defs/PartyConfig` and so on.
 */
import { JobFileSchema } from './job-file.ts';
import { PartyConfigSchema } from './party-config.ts';
import { PolicySchema } from './governance.ts';

export function configSchemaDocument(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'jinqiao configuration files',
    description:
      'Generated from src/schemas/ by npm run schemas. PartyConfig: a party service (jinqiao serve --config). JobFile: a job run in one process (jinqiao run). Policy: a data holder policy. ' +
      'errorMessage is the sentence jinqiao prints when a value breaks the schema (the ajv-errors convention); paths are relative to the file that names them.',
    $defs: {
      PartyConfig: plain(PartyConfigSchema),
      JobFile: plain(JobFileSchema),
      Policy: plain(PolicySchema),
    },
  };
}

/** The schema as JSON carries it: TypeBox's own markers are not JSON Schema. */
function plain(schema: object): unknown {
  return JSON.parse(JSON.stringify(schema));
}
