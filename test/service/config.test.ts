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

  it("an API section's unknown key or client-certificate mode, for any role", async () => {
    const config = (api: string, role = 'features') => {
      const file = join(dir, `agency-${api.length}-${role}.yaml`);
      writeFileSync(file, `name: agency\nrole: ${role}\nlisten: 127.0.0.1:0\ntls: { key: a.key, cert: a.crt, trust: [bank.crt] }\nstore: store\napi: ${api}\n`);
      return loadPartyConfig(file);
    };
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars }')).resolves.toMatchObject({ role: 'features', api: { token: 'a-token-of-16-chars', clientCerts: 'off', clientCa: undefined, requestsPerMinute: 1200 } });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, requestsPerMinute: 6000 }')).resolves.toMatchObject({ api: { requestsPerMinute: 6000 } });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, requestsPerMinute: 0 }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringContaining('field "api.requestsPerMinute": must be a whole number of requests per minute, 1 to 1000000 (default 1200)') });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, clientCerts: required, clientCa: clients.crt }', 'arbiter')).resolves.toMatchObject({ api: { clientCerts: 'required', clientCa: [join(dir, 'clients.crt')] } });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, clientCerts: yes }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', field: 'api.clientCerts' });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, tokn: x }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', field: 'api.tokn' });
  });

  it('an unknown training parameter in a submitted job', () => {
    const job = (training: Record<string, unknown>) => checkDefinition({ label: { table: 'customers' }, features: [{ party: 'tax', table: 't' }], training });
    expect(job({ epochs: 3 }).training).toEqual({ epochs: 3 });
    expect(() => job({ epochz: 3 })).toThrow(expect.objectContaining({ code: 'E_JOB_INVALID', message: expect.stringMatching(/field "training\.epochz": unknown training parameter/) }));
    // The API's schema is the service's check: the same field and sentence either way.
    const refused = (definition: unknown) => expect(() => checkDefinition(definition));
    refused({ features: [{ party: 'tax', table: 't' }] }).toThrow(/definition: field "label": is missing/);
    refused({ label: { table: 'customers' }, features: [] }).toThrow(/field "features": must list at least one \{ party, table \}/);
    refused({ label: { table: 'customers' }, features: [{ party: '', table: 't' }] }).toThrow(/field "features\[0\]\.party": must name a partner of the bank/);
    refused({ job: '..', label: { table: 'customers' }, features: [{ party: 'tax', table: 't' }] }).toThrow(/field "job": must be 1 to 100 letters/);
    refused([]).toThrow(/field "\(top level\)": must be an object with label, features and training/);
  });

  it('partners: a role bound per entry; a plain entry binds the one role this party dials it in; the label role only explicitly', async () => {
    const config = (role: string, partners: string) => {
      const file = join(dir, `p-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, `name: me\nrole: ${role}\nlisten: 127.0.0.1:0\ntls: { key: k, cert: c, trust: [t] }\nstore: store\npartners:\n${partners}`);
      return loadPartyConfig(file);
    };
    const agency = await config('features', '  bank: { role: label }\n  platform: 10.0.0.9:7404\n  fund: { address: 10.0.0.8:7403, role: agency }\n');
    expect([...agency.partnerRoles]).toEqual([['bank', 'label'], ['platform', 'arbiter'], ['fund', 'features']]);
    expect([...agency.partners.keys()]).toEqual(['platform', 'fund']);
    const bank = await config('label', '  tax: 10.0.0.7:7402\n  platform: { address: 10.0.0.9:7404, role: arbiter }\n');
    expect([...bank.partnerRoles]).toEqual([['platform', 'arbiter']]);
    expect([...(await config('arbiter', '  tax: 10.0.0.7:7402\n')).partnerRoles]).toEqual([['tax', 'features']]);
    await expect(config('features', '  bank: { role: bank }\n')).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(/field "partners\.bank\.role": must be label/) });
    await expect(config('features', '  bank: { role: label, adress: x }\n')).rejects.toMatchObject({ message: expect.stringMatching(/field "partners\.bank\.adress": unknown field/) });
    await expect(config('features', '  platform: { role: arbiter }\n')).rejects.toMatchObject({ message: expect.stringMatching(/field "partners\.platform\.address": .*give its host:port/) });
    await expect(config('label', '  other-bank: { role: label }\n')).rejects.toMatchObject({ message: expect.stringMatching(/a label party \(the bank\) has no label partner/) });
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

  it('anchors scoring sessions every 100 requests and 5 minutes unless told otherwise, and refuses bad cadences naming the field', async () => {
    expect((await config('')).scoring).toEqual({ anchorEveryRequests: 100, anchorEveryMinutes: 5 });
    await expect(config('scoring: { anchorEveryRequests: 20, anchorEveryMinutes: 0.5 }')).resolves.toMatchObject({ scoring: { anchorEveryRequests: 20, anchorEveryMinutes: 0.5 } });
    await expect(config('scoring: { anchorEveryRequests: 0 }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringContaining('field "scoring.anchorEveryRequests": must be a whole number of requests, at least 1') });
    await expect(config('scoring: { anchorEveryRequests: 2.5 }')).rejects.toMatchObject({ message: expect.stringContaining('field "scoring.anchorEveryRequests"') });
    await expect(config('scoring: { anchorEveryMinutes: 0 }')).rejects.toMatchObject({ message: expect.stringContaining('field "scoring.anchorEveryMinutes": must be a positive number of minutes') });
    await expect(config('scoring: { anchorEvery: 3 }')).rejects.toMatchObject({ message: expect.stringContaining('field "scoring.anchorEvery": unknown field') });
  });

  it("refuses a policy with a partner's daily budget and no audit log, which the budget is counted from after a restart", async () => {
    const at = mkdtempSync(join(dir, 'budget-'));
    const policy = (budget: string) =>
      `party: tax\nfields: { staff: internal }\npurposes:\n  loan-verification: { fields: [staff] }\npartners:\n  - { keyId: ${'ab'.repeat(16)}, purposes: [loan-verification]${budget} }\n`;
    writeFileSync(join(at, 'budget.yaml'), policy(', evaluationsPerDay: 500'));
    writeFileSync(join(at, 'none.yaml'), policy(''));
    const agency = (policyFile: string) => {
      const file = join(at, `tax-${policyFile}.yaml`);
      writeFileSync(file, `name: tax\nrole: features\nlisten: 127.0.0.1:0\ntls: { key: tax.key, cert: tax.crt, trust: [bank.crt] }\nstore: store\ngovernance: { institution: tax, policy: ${policyFile} }\n`);
      return loadPartyConfig(file);
    };
    await expect(agency('budget.yaml')).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(/field "governance\.audit": the policy gives a partner a daily budget .*add audit \(and key\)/) });
    await expect(agency('none.yaml')).resolves.toMatchObject({ name: 'tax' });
  });

  it('refuses a service-wide approval: its operator approves each job', async () => {
    await expect(config('governance: { institution: bank, approved: true }')).rejects.toMatchObject({
      code: 'E_JOB_INVALID',
      message: expect.stringMatching(/field "governance\.approved": .*jinqiao approve/),
    });
  });
});
