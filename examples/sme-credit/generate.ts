/**
 * Generates the bundled SME credit story: a bank's small-business loan book and three
 * agencies' records about the same enterprises, with default outcomes drawn from a
 * logistic model over all of them, so the joint model visibly beats the bank alone.
 * Deterministic; rerun with `node examples/sme-credit/generate.ts` to rebuild the CSVs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRng } from '../../src/util/rng.ts';
import { uscc } from '../../test/helpers/ids.ts';

const here = import.meta.dirname;
const rng = SeededRng.fromSeed('jinqiao/examples/sme-credit');
const normal = () => {
  const u = Math.max(rng.nextFloat(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

const ENTERPRISES = 9000;
const bank = ['uscc,defaulted,loan_amount_wan,years_as_customer,overdue_count_12m'];
const tax = ['uscc,vat_paid_wan,tax_credit_grade,late_filings_24m'];
const social = ['uscc,insured_employees,contribution_arrears_months'];
const utilities = ['uscc,electricity_yoy_change,late_utility_payments_12m'];
for (let i = 0; i < ENTERPRISES; i++) {
  const id = uscc(700_000 + i);
  const health = normal();
  const loan = Math.exp(3 + 0.8 * normal());
  const years = Math.max(0, Math.round(4 + 3 * normal()));
  const overdue = Math.max(0, Math.round(0.6 - 0.5 * health + 0.8 * normal()));
  const vat = Math.exp(2.5 + 0.7 * health + 0.6 * normal());
  const grade = Math.min(5, Math.max(1, Math.round(3 + 1.1 * health + 0.7 * normal())));
  const lateFilings = Math.max(0, Math.round(1 - 0.9 * health + normal()));
  const employees = Math.max(1, Math.round(Math.exp(2 + 0.5 * health + 0.6 * normal())));
  const arrears = Math.max(0, Math.round(0.5 - 0.8 * health + 0.9 * normal()));
  const electricity = 0.05 + 0.12 * health + 0.1 * normal();
  const lateUtility = Math.max(0, Math.round(1 - 0.7 * health + normal()));
  const z = -2.2 + 0.35 * overdue - 0.05 * years + 0.004 * loan - 0.25 * Math.log(vat) - 0.35 * (grade - 3) + 0.3 * lateFilings + 0.35 * arrears - 2 * electricity + 0.2 * lateUtility;
  const defaulted = rng.nextFloat() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  // The bank knows 6,000 of them; each agency a different, larger part of the register.
  if (i < 6000) bank.push(`${id},${defaulted},${round(loan)},${years},${overdue}`);
  if (i >= 300) tax.push(`${id},${round(vat)},${grade},${lateFilings}`);
  if (i % 10 !== 3) social.push(`${id},${employees},${rng.nextFloat() < 0.03 ? '' : arrears}`);
  if (i >= 150) utilities.push(`${id},${round(electricity, 3)},${lateUtility}`);
}
for (const [name, rows] of [['bank.csv', bank], ['tax_bureau.csv', tax], ['social_insurance.csv', social], ['utilities.csv', utilities]] as const) {
  writeFileSync(join(here, name), rows.join('\n') + '\n');
}
