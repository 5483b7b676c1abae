/** `npm run schemas`: writes docs/config-schema.json, the JSON Schema of party configs, job files and policies generated from src/schemas/ (a test keeps the two equal). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchemaDocument } from '../src/schemas/document.ts';

const file = join(import.meta.dirname, '../docs/config-schema.json');
writeFileSync(file, JSON.stringify(configSchemaDocument(), null, 2) + '\n');
process.stdout.write(`wrote ${file}\n`);
