/**
 * Inputs for measuring `jinqiao verify --prepared` at register scale (issue 13: 10k claims
 * against a 1M register): a register `uscc,vat_paid,employees` and a claims file of the
 * same columns for `claims` of its enterprises, every fifth declaring 1.5× its VAT (outside
 * a 5% tolerance, so inconsistent), the rest the register's values.
 *
 *   node bench/verify-data.ts <dir> [registerRows=1000000] [claims=10000]
 *
 * Writes <dir>/register.csv and <dir>/claims.csv (deterministic), and prints the expected
 * verdict counts. Preparing the tags is left to the CLI (`jinqiao psi prepare ... --field`).
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { uscc } from '../test/helpers/ids.ts';

const [dir, registerArg = '1000000', claimsArg = '10000'] = process.argv.slice(2);
if (dir === undefined) {
  process.stderr.write('usage: node bench/verify-data.ts <dir> [registerRows] [claims]\n');
  process.exit(2);
}
const registerRows = Number(registerArg);
const claims = Number(claimsArg);
if (!Number.isSafeInteger(registerRows) || !Number.isSafeInteger(claims) || claims > registerRows || claims < 1) {
  process.stderr.write('registerRows and claims must be integers with 1 ≤ claims ≤ registerRows\n');
  process.exit(2);
}

const vat = (i: number) => 10 + ((i * 7919) % 100000) / 10;
const employees = (i: number) => 1 + ((i * 104729) % 5000);

async function write(path: string, header: string, rows: number, row: (i: number) => string): Promise<void> {
  const out = createWriteStream(path);
  const put = (s: string) => new Promise<void>((resolve) => (out.write(s) ? resolve() : out.once('drain', resolve)));
  await put(header + '\n');
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    chunk += row(i) + '\n';
    if (chunk.length > 1 << 20) {
      await put(chunk);
      chunk = '';
    }
  }
  await put(chunk);
  await new Promise<void>((resolve) => out.end(resolve));
}

mkdirSync(dir, { recursive: true });
await write(join(dir, 'register.csv'), 'uscc,vat_paid,employees', registerRows, (i) => `${uscc(i)},${vat(i)},${employees(i)}`);
// Claims spread over the register: enterprise j * stride.
const stride = Math.floor(registerRows / claims);
await write(join(dir, 'claims.csv'), 'uscc,vat_paid,employees', claims, (j) => {
  const i = j * stride;
  return `${uscc(i)},${j % 5 === 0 ? vat(i) * 1.5 : vat(i)},${employees(i)}`;
});
const off = Math.ceil(claims / 5);
process.stdout.write(JSON.stringify({ registerRows, claims, verdicts: 2 * claims, expectedInconsistent: off, expectedConsistent: 2 * claims - off }) + '\n');
