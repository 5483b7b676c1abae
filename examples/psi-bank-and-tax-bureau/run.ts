/**
 * A bank and the tax bureau find the SMEs they both know, without showing each other any
 * other customer or taxpayer. Run: `node examples/psi-bank-and-tax-bureau/run.ts`.
 */
import { join } from 'node:path';
import { runLocalPsi } from 'jinqiao';

const here = import.meta.dirname;
const result = await runLocalPsi({
  left: { file: join(here, 'bank_customers.csv'), idColumn: 'uscc' },
  right: { file: join(here, 'tax_bureau.csv'), idColumn: 'uscc' },
  reveal: 'both',
});

console.log(`bank customers:        ${result.left.rowsRead}`);
console.log(`tax bureau enterprises: ${result.right.rowsRead}`);
console.log(`in common:             ${result.intersection} (${result.idType} IDs, ${result.backend}, ${result.seconds.toFixed(2)} s)`);
console.log(`bytes on the wire:     bank ${result.bytesSent.left}, tax bureau ${result.bytesSent.right}`);
