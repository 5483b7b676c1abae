import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConcurrency, loadPartyConfig } from '../../src/service/config.ts';
import { checkDefinition } from '../../src/service/party-service.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-service-config-'));

describe('a party service refuses what it does not know, naming the field', () => {
  it('an unknown key inside a table of its config (a typo would silently drop the label column)', async () => {
    const config = (table: string) => {
      const file = join(dir, `bank-${table.length}.yaml`);
      writeFileSync(file, `name: bank\nrole: label\nlisten: 127.0.0.1:0\ntls: { key: bank.key, cert: bank.crt, trust: [tax.crt] }\nstore: store\ntables:\n  customers: ${table}\n`);
      return loadPartyConfig(file);
    };
    await expect(config('{ file: bank.csv, id: uscc, label: defaulted }')).resolves.toMatchObject({ name: 'bank' });
    await expect(config('{ file: bank.csv, id: uscc, labelz: defaulted }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(/field "tables\.customers\.labelz": unknown field/) });
  });

  it('an unknown training parameter in a submitted job', () => {
    const job = (training: Record<string, unknown>) => checkDefinition({ label: { table: 'customers' }, features: [{ party: 'tax', table: 't' }], training });
    expect(job({ epochs: 3 }).training).toEqual({ epochs: 3 });
    expect(() => job({ epochz: 3 })).toThrow(expect.objectContaining({ code: 'E_JOB_INVALID', message: expect.stringMatching(/field "training\.epochz": unknown training parameter/) }));
  });
});

describe('the job queue and approval settings of a party config', () => {
  const config = (extra: string) => {
    const file = join(dir, `queue-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `name: bank\nrole: label\nlisten: 127.0.0.1:0\ntls: { key: bank.key, cert: bank.crt, trust: [tax.crt] }\nstore: store\n${extra}`);
    return loadPartyConfig(file);
  };

  it('defaults to one job per core that memory holds, at least one, and a day for an approval', async () => {
    const { jobs } = await config('');
    expect(jobs!.approvalTimeoutSeconds).toBe(86_400);
    // Free memory moves between two readings: compare within one job.
    expect(Math.abs(jobs!.concurrency - defaultConcurrency())).toBeLessThanOrEqual(1);
    expect(jobs!.concurrency).toBeGreaterThanOrEqual(1);
    expect(jobs!.concurrency).toBeLessThanOrEqual(Math.max(1, Math.min(availableParallelism(), Math.floor(freemem() / 2 ** 30 / 1.5) + 1)));
    await expect(config('jobs: { concurrency: 3, approvalTimeoutSeconds: 600 }')).resolves.toMatchObject({ jobs: { concurrency: 3, approvalTimeoutSeconds: 600 } });
  });

  it('refuses a concurrency that is not a whole number of at least one, and unknown fields', async () => {
    await expect(config('jobs: { concurrency: 0 }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringContaining('field "jobs.concurrency"') });
    await expect(config('jobs: { concurrency: 1.5 }')).rejects.toMatchObject({ message: expect.stringContaining('field "jobs.concurrency"') });
    await expect(config('jobs: { approvalTimeoutSeconds: -1 }')).rejects.toMatchObject({ message: expect.stringContaining('field "jobs.approvalTimeoutSeconds"') });
    await expect(config('jobs: { concurency: 2 }')).rejects.toMatchObject({ message: expect.stringContaining('field "jobs.concurency": unknown field') });
  });

  it('refuses a service-wide approval: its operator approves each job', async () => {
    await expect(config('governance: { institution: bank, approved: true }')).rejects.toMatchObject({
      code: 'E_JOB_INVALID',
      message: expect.stringMatching(/field "governance\.approved": .*jinqiao approve/),
    });
  });
});
