/**
 * The schemas of the files operators write: they are what docs/config-schema.json says, and a
 * file that breaks one is refused naming file:line:column, the field and what it must be.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkBinningRule, DEFAULT_BINNING_RULE } from '../../src/binning/bins.ts';
import { loadTrainingJob } from '../../src/local/job-file.ts';
import { conforms, firstProblem } from '../../src/schemas/check.ts';
import { configSchemaDocument } from '../../src/schemas/document.ts';
import { PolicySchema } from '../../src/schemas/governance.ts';
import { BinningSectionSchema, JobFileSchema } from '../../src/schemas/job-file.ts';
import { loadPartyConfig } from '../../src/service/config.ts';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-schemas-'));
let n = 0;
function file(text: string): string {
  const path = join(dir, `f${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}

const PARTY = 'name: bank\nrole: label\nlisten: 127.0.0.1:7400\ntls:\n  key: bank.key\n  cert: bank.crt\n  trust: [tax.crt]\nstore: store\n';
const JOB = 'label: { file: bank.csv, id: uscc, label: defaulted }\nfeatures:\n  - { file: tax.csv, id: uscc }\ntraining:\n  epochs: 3\n';

describe('docs/config-schema.json', () => {
  it('is generated from the schemas the loaders check (npm run schemas)', () => {
    const committed = readFileSync(join(ROOT, 'docs/config-schema.json'), 'utf8');
    expect(committed).toBe(JSON.stringify(configSchemaDocument(), null, 2) + '\n');
    const doc = configSchemaDocument() as { $defs: Record<string, { properties: Record<string, unknown> }> };
    expect(Object.keys(doc.$defs)).toEqual(['PartyConfig', 'JobFile', 'Policy']);
    expect(Object.keys(doc.$defs.PartyConfig!.properties)).toContain('tables');
  });

  it('takes the files the examples ship', () => {
    expect(firstProblem(JobFileSchema, parse(readFileSync(join(ROOT, 'examples/sme-credit/job.yaml'), 'utf8')))).toBeUndefined();
    expect(firstProblem(PolicySchema, parse(readFileSync(join(ROOT, 'examples/governance/policy.yaml'), 'utf8')))).toBeUndefined();
  });
});

describe('a file that breaks its schema', () => {
  const configError = async (text: string) => (await loadPartyConfig(file(text)).then(() => ({ message: 'loaded' }), (e: Error) => e)).message;
  const jobError = async (text: string) => (await loadTrainingJob(file(text)).then(() => ({ message: 'loaded' }), (e: Error) => e)).message;

  it('names file:line:column of the field, an unknown one with the names it could be', async () => {
    const message = await configError(PARTY + 'tables:\n  customers:\n    file: bank.csv\n    id: uscc\n    labelz: defaulted\n');
    expect(message).toMatch(/f\d+\.yaml:13:5: field "tables\.customers\.labelz": unknown field \(expected one of: file, postgres, table, query, id, label, features, psi, verify\)$/);
    expect(await jobError(JOB.replace('epochs', 'epoch'))).toMatch(/f\d+\.yaml:5:3: field "training\.epoch": unknown parameter \(expected one of: seed, epochs, /);
  });

  it('lists the allowed values of an enum and shows the value it got', async () => {
    expect(await configError(PARTY.replace('role: label', 'role: bank'))).toMatch(/:2:1: field "role": must be label, features or arbiter, got "bank"$/);
    expect(await jobError(JOB + 'binning: { method: median }\n')).toMatch(/:6:12: field "binning\.method": must be quantile or equal-width, got "median"$/);
  });

  it('a missing field: points at its parent, says what it is', async () => {
    expect(await configError(PARTY.replace('  cert: bank.crt\n', ''))).toMatch(/:4:1: field "tls\.cert": is missing: the party's TLS certificate \(PEM\)$/);
  });

  it('explains a value of a union by the branch of its kind', async () => {
    // { address, role } with a typo: the mapping branch explains it, not "must be host:port".
    expect(await configError(PARTY + 'partners:\n  tax: { adress: 10.0.0.1:7401, role: agency }\n')).toMatch(/:10:10: field "partners\.tax\.adress": unknown field \(expected one of: address, role\)$/);
    expect(await configError(PARTY + 'partners:\n  tax: localhost\n')).toMatch(/:10:3: field "partners\.tax": must be host:port, got "localhost"$/);
    expect(await configError(PARTY.replace('trust: [tax.crt]', 'trust: 5'))).toMatch(/:7:3: field "tls\.trust": must be a file or a list of files, got 5$/);
    expect(await configError(PARTY.replace('trust: [tax.crt]', 'trust: [tax.crt, 5]'))).toMatch(/:7:20: field "tls\.trust\[1\]": must be a string, got 5$/);
  });

  it('never shows a secret it refuses', async () => {
    const token = await configError(PARTY + 'api: { listen: 127.0.0.1:8443, token: hunter2-secret }\n');
    expect(token).toMatch(/field "api\.token": must be at least 16 characters/);
    expect(token).not.toContain('hunter2');
    const url = await configError(PARTY + 'jobStore: { postgres: "mysql://user:hunter2@db/jobs" }\n');
    expect(url).toMatch(/field "jobStore\.postgres": must be a postgresql:\/\/ URL$/);
    expect(url).not.toContain('hunter2');
  });

  it('a rule between fields: a governed job declares its purpose, an audit log needs a key', async () => {
    expect(await jobError(JOB + 'governance:\n  label: { institution: bank }\n')).toMatch(/field "purpose": a governed job declares its purpose/);
    expect(await configError(PARTY + 'governance:\n  institution: bank\n  audit: audit.jsonl\n')).toMatch(/:9:1: field "governance\.key": an audit log needs the party's key/);
  });
});

describe('the binning section', () => {
  it('takes exactly the rules `jinqiao bin` takes (checkBinningRule)', () => {
    const cases = [
      ...[1, 2, 2.5, 10, 1000, 1001].map((bins) => ({ bins })),
      ...[0, 1e-9, 0.05, 0.4999, 0.5, -0.1].map((minBinShare) => ({ minBinShare })),
      ...['quantile', 'equal-width', 'median'].map((method) => ({ method })),
    ];
    for (const section of cases) {
      const byRule = (() => {
        try {
          checkBinningRule({ ...DEFAULT_BINNING_RULE, ...section } as typeof DEFAULT_BINNING_RULE);
          return true;
        } catch {
          return false;
        }
      })();
      expect(conforms(BinningSectionSchema, section), JSON.stringify(section)).toBe(byRule);
    }
  });
});
