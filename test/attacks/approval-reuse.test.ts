/**
 * Attack: one approval carries the next job (issue 12, "Approval is one flag for the whole
 * service").
 *
 * The tax bureau's policy holds every credit-modeling job for its operator. The operator
 * approves one job. The bank (or whoever can open jobs as the bank) then opens a second job
 * of the same purpose over the same tables, hoping the first approval lets it through.
 * Success measure: the second job gets past the tax bureau's gate (its `job.admitted` audit
 * entry appears, or its record leaves `awaiting-approval`) with no decision taken on it.
 *
 * Positive control: the gate as the service used to drive it, with one service-wide approval
 * (`approved: true` for every job), admits the second job at once. The real party services,
 * deciding per job, hold it until the operator decides on that job.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFeatureTable } from '../../src/data/table.ts';
import { AuditLog } from '../../src/governance/audit.ts';
import { admitJob } from '../../src/governance/gate.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import { eventually, startLoopbackParties, type LoopbackParties } from '../helpers/party-services.ts';
import { uscc } from '../helpers/ids.ts';

const HELD_FOR_MS = 3000;

function admittedJobs(auditFile: string): string[] {
  return readFileSync(auditFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'job.admitted')
    .map((e) => e.details.job);
}

describe('attack: one approval carries the next job', () => {
  it('positive control: a service-wide approval admits a second job nobody decided on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-approval-'));
    const bank = generateKeyPair();
    const policy = await parsePolicy(
      `party: tax-bureau\nfields: { vat_paid_wan: internal }\npurposes:\n  credit-modeling: { fields: [vat_paid_wan], consentRequired: false, approvalRequired: true }\npartners:\n  - { id: bank, publicKey: ${Buffer.from(bank.publicKey).toString('hex')}, purposes: [credit-modeling] }\n`,
      join(dir, 'policy.yaml'),
    );
    const file = join(dir, 'register.csv');
    writeFileSync(file, `uscc,vat_paid_wan\n${uscc(1)},12\n${uscc(2)},30\n`);
    const table = await loadFeatureTable(file, { idColumn: 'uscc' });
    const audit = await AuditLog.open(join(dir, 'audit.jsonl'), { party: 'tax-bureau', key: generateKeyPair() });
    // The old service: one flag, set once the operator approved the first job, passed to every job's gate.
    const serviceWide = { institution: 'tax-bureau', policy, audit, approved: true };
    for (const jobId of ['first', 'second']) await admitJob(serviceWide, table, { jobId, purpose: 'credit-modeling', partners: ['bank'], fields: ['vat_paid_wan'] });
    expect(admittedJobs(audit.file)).toEqual(['first', 'second']);
  });

  describe('real party services', () => {
    let parties: LoopbackParties;

    beforeAll(async () => {
      parties = await startLoopbackParties({ approvalFor: { 'tax-bureau': ['credit-modeling'] } });
    }, 60_000);

    afterAll(async () => {
      await parties?.close();
    });

    it('hold the second job at the tax bureau until its operator decides on that job', async () => {
      const { bank, 'tax-bureau': tax } = parties.services;
      const auditFile = parties.audit['tax-bureau']!.file;
      bank.submit(parties.job('approved-once'));
      await eventually('the first job to wait for the tax bureau', () => tax.store.get('approved-once')?.state === 'awaiting-approval');
      await tax.approve('approved-once', { operator: 'alice', reason: 'fields as agreed' });
      expect((await bank.finished('approved-once')).state).toBe('succeeded');

      // The attack: the same purpose and tables again, no decision asked for.
      bank.submit(parties.job('carried-along'));
      await eventually('the second job to reach the tax bureau', () => tax.store.get('carried-along') !== undefined);
      await new Promise((r) => setTimeout(r, HELD_FOR_MS));
      expect(tax.store.get('carried-along')!.state).toBe('awaiting-approval');
      expect(bank.store.get('carried-along')).toMatchObject({ state: 'awaiting-approval', phase: 'awaiting approval by tax-bureau' });
      expect(admittedJobs(auditFile)).toEqual(['approved-once']);

      // Only a decision on this job moves it: here, a rejection, which every party records.
      await tax.reject('carried-along', { operator: 'alice', reason: 'not asked for' });
      expect((await bank.finished('carried-along')).state).toBe('rejected');
      expect(admittedJobs(auditFile)).toEqual(['approved-once']);
    }, 600_000);
  });
});
