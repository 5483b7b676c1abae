import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPartyConfig } from '../../src/service/config.ts';
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
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars }')).resolves.toMatchObject({ role: 'features', api: { token: 'a-token-of-16-chars', clientCerts: 'off', clientCa: undefined } });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, clientCerts: required, clientCa: clients.crt }', 'arbiter')).resolves.toMatchObject({ api: { clientCerts: 'required', clientCa: [join(dir, 'clients.crt')] } });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, clientCerts: yes }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', field: 'api.clientCerts' });
    await expect(config('{ listen: 127.0.0.1:0, token: a-token-of-16-chars, tokn: x }')).rejects.toMatchObject({ code: 'E_JOB_INVALID', field: 'api.tokn' });
  });

  it('an unknown training parameter in a submitted job', () => {
    const job = (training: Record<string, unknown>) => checkDefinition({ label: { table: 'customers' }, features: [{ party: 'tax', table: 't' }], training });
    expect(job({ epochs: 3 }).training).toEqual({ epochs: 3 });
    expect(() => job({ epochz: 3 })).toThrow(expect.objectContaining({ code: 'E_JOB_INVALID', message: expect.stringMatching(/field "training\.epochz": unknown training parameter/) }));
  });
});
