/** `npm run openapi`: writes docs/openapi.json, the API's OpenAPI document generated from its routes (a test keeps the two equal). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument } from '../src/service/api/server.ts';

const file = join(import.meta.dirname, '../docs/openapi.json');
writeFileSync(file, JSON.stringify(await openApiDocument(), null, 2) + '\n');
process.stdout.write(`wrote ${file}\n`);
