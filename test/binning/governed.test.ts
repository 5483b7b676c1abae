/**
 * Binning through the parties' admission gates, as training goes through them
 * (src/jobs/binning.ts): a governed binning job keeps only the enterprises whose consent
 * covers it and writes each step to every party's audit log; a job outside a data holder's
 * policy is refused with the rule's name before any PSI point, key or ciphertext moves; a
 * job file with both `governance:` and `binning:` bins under that governance.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBinningInProcess, type BinningResult, type InProcessBinningOptions } from '../../src/binning/in-process.ts';
import { verifyAuditLog } from '../../src/governance/audit.ts';
import { encodeConsentToken } from '../../src/governance/consent.ts';
import { saveKeyPair } from '../../src/governance/keys.ts';
import { runBinningStep } from '../../src/local/binning-step.ts';
import { loadTrainingJob } from '../../src/local/job-file.ts';
import { receiveJobSpec, sendJobSpec, type JobSpec } from '../../src/jobs/spec.ts';
import { resolveTrainingConfig } from '../../src/lr/config.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';
import { GOVERNED_FIELDS, governedSme } from '../helpers/governed-sme.ts';

const { dir, bankFile, taxFile, taxIds, keys, taxPolicy, consents, governed } = governedSme('jinqiao-governed-binning-');
const FIELDS = GOVERNED_FIELDS;

const job = (extra: Partial<InProcessBinningOptions> = {}): InProcessBinningOptions => ({
  label: { file: bankFile, idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
  features: [{ file: taxFile, idColumn: 'uscc', name: 'tax' }],
  config: { he: 'mock', threads: 0, seed: 'governed-binning', jobId: 'governed-binning', rule: { bins: 5, minBinShare: 0.05 } },
  ...extra,
});

const entries = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, unknown> });
const binsOf = (r: BinningResult) => r.parties.map((p) => ({ party: p.party, features: p.features.map((f) => ({ name: f.name, edges: f.edges, bins: f.bins, missing: f.missing, iv: f.iv })) }));

describe('binning through the admission gates', () => {
  it("a partner checks a binning job's rule in its job.spec before it does anything", async () => {
    const spec = (extra: Partial<JobSpec>): JobSpec => ({ kind: 'binning', jobId: 'spec-check', purpose: 'credit-modeling', table: 'tax', arbiter: 'arbiter', parties: ['bank', 'tax'], idType: 'uscc', modelJobId: '', config: resolveTrainingConfig({ jobId: 'spec-check' }), ...extra });
    const received = async (s: JobSpec) => {
      const [bank, tax] = memoryChannelPair('bank', 'tax');
      await sendJobSpec(bank, s);
      return receiveJobSpec(tax);
    };
    expect((await received(spec({ binning: { bins: 5, method: 'quantile', minBinShare: 0.05 } }))).binning).toEqual({ bins: 5, method: 'quantile', minBinShare: 0.05 });
    await expect(received(spec({}))).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(/config\.binning.*states its binning rule/) });
    await expect(received(spec({ kind: 'training', binning: { bins: 5, method: 'quantile', minBinShare: 0.05 } }))).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(/training job has no binning rule/) });
    await expect(received(spec({ binning: { bins: 1, method: 'quantile', minBinShare: 0.05 } }))).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(/config\.binning.*--bins/) });
  });

  it('with every enterprise consenting, bins exactly as without governance, and audits each step', async () => {
    const { parties, taxLog, bankLog } = await governed({}, consents(taxIds));
    const withGovernance = await runBinningInProcess(job({ governance: { purpose: 'credit-modeling', parties } }));
    const without = await runBinningInProcess(job());
    expect(withGovernance.rows).toBe(without.rows);
    expect(binsOf(withGovernance)).toEqual(binsOf(without));

    expect((await verifyAuditLog(taxLog.file, keys.tax.publicKey)).ok).toBe(true);
    expect((await verifyAuditLog(bankLog.file, keys.bank.publicKey)).ok).toBe(true);
    expect(entries(taxLog.file).map((e) => e.type)).toEqual(['log.opened', 'job.admitted', 'consent.filtered', 'binning.start', 'binning.run']);
    expect(entries(bankLog.file).map((e) => e.type)).toEqual(['log.opened', 'job.admitted', 'binning.start', 'binning.run']);
    const admitted = entries(taxLog.file).find((e) => e.type === 'job.admitted')!;
    expect(admitted.details).toMatchObject({ job: 'governed-binning', partners: ['bank-of-example'], purpose: 'credit-modeling', fields: FIELDS });
    // The log never holds an enterprise's ID in clear.
    expect(taxIds.some((id) => readFileSync(taxLog.file, 'utf8').includes(id))).toBe(false);
  }, 60_000);

  it('bins only the enterprises whose consent covers the job', async () => {
    const consenting = taxIds.filter((_, i) => i % 2 === 0);
    const { parties, taxLog } = await governed({}, consents(consenting));
    const full = await runBinningInProcess(job());
    const partial = await runBinningInProcess(job({ governance: { purpose: 'credit-modeling', parties } }));
    expect(partial.rows).toBeLessThan(full.rows * 0.6);
    expect(partial.rows).toBeGreaterThan(full.rows * 0.4);
    for (const f of partial.parties.flatMap((p) => p.features)) expect(f.bins.reduce((s, b) => s + b.count, 0) + (f.missing?.count ?? 0)).toBe(partial.rows);
    expect(entries(taxLog.file).find((e) => e.type === 'consent.filtered')!.details).toMatchObject({ included: consenting.length, excluded: taxIds.length - consenting.length });
  }, 60_000);

  it('refuses a bank outside the policy with the rule, before any PSI point, key or ciphertext moves', async () => {
    const { parties, taxLog } = await governed({ policy: await taxPolicy({ partner: 'another-bank' }) }, consents(taxIds));
    const frames: Uint8Array[] = [];
    await expect(runBinningInProcess(job({ governance: { purpose: 'credit-modeling', parties }, tap: (_f, _t, frame) => frames.push(frame) }))).rejects.toMatchObject({
      code: 'E_POLICY_REFUSED',
      rule: 'partner.unknown',
    });
    // Only the job's definition and the abort cross; the arbiter never hears of the job.
    expect(new Set(frames.map((f) => decodeMessage(f).t))).toEqual(new Set(['job.spec', 'job.abort']));
    expect(entries(taxLog.file).at(-1)).toMatchObject({ type: 'job.refused', details: { rule: 'partner.unknown', purpose: 'credit-modeling' } });
    expect(entries(taxLog.file).some((e) => e.type === 'binning.start')).toBe(false);
  }, 60_000);

  it('refuses an undeclared purpose and a job awaiting approval; runs it once approved', async () => {
    for (const [tax, purpose, rule] of [
      [{}, 'marketing', 'purpose.undeclared'],
      [{ policy: await taxPolicy({ approval: true }) }, 'credit-modeling', 'approval.pending'],
    ] as const) {
      const { parties, taxLog } = await governed(tax, consents(taxIds));
      await expect(runBinningInProcess(job({ governance: { purpose, parties } }))).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', rule });
      expect(entries(taxLog.file).at(-1)).toMatchObject({ type: 'job.refused', details: { rule } });
    }
    const { parties, taxLog } = await governed({ policy: await taxPolicy({ approval: true }), approved: true }, consents(taxIds));
    const r = await runBinningInProcess(job({ governance: { purpose: 'credit-modeling', parties } }));
    expect(r.rows).toBeGreaterThan(500);
    expect(entries(taxLog.file).find((e) => e.type === 'job.admitted')!.details).toMatchObject({ approved: true });
  }, 60_000);

  it("a job file's binning section runs under its governance section, and is refused by it", async () => {
    await saveKeyPair(join(dir, 'bank'), keys.bank);
    await saveKeyPair(join(dir, 'tax'), keys.tax);
    await saveKeyPair(join(dir, 'platform'), keys.platform);
    writeFileSync(join(dir, 'consents.jsonl'), consents(taxIds).map(encodeConsentToken).join(''));
    const file = (name: string, partner: string) => {
      writeFileSync(
        join(dir, `${name}-policy.yaml`),
        `party: tax-bureau\nfields: { vat_paid_wan: internal, tax_credit_grade: internal, late_filings_24m: internal }\npurposes:\n  credit-modeling: { fields: [${FIELDS.join(', ')}], consentRequired: true }\npartners:\n  - id: ${partner}\n    publicKeyFile: bank.pub\n    purposes: [credit-modeling]\n`,
      );
      const path = join(dir, `${name}.yaml`);
      writeFileSync(
        path,
        `job: ${name}
purpose: credit-modeling
label: { name: bank, file: ${bankFile}, id: uscc, label: defaulted }
features:
  - { name: tax, file: ${taxFile}, id: uscc }
training: { seed: ${name} }
binning: { bins: 5, minBinShare: 0.05 }
governance:
  bank: { institution: bank-of-example, key: bank.key, audit: ${name}-bank.audit.jsonl }
  tax: { institution: tax-bureau, key: tax.key, audit: ${name}-tax.audit.jsonl, policy: ${name}-policy.yaml, consent: consents.jsonl, trust: platform.pub }
`,
      );
      return path;
    };
    const admitted = await loadTrainingJob(file('file-admitted', 'bank-of-example'));
    const step = await runBinningStep(admitted.training, admitted.binning!, join(dir, 'file-admitted-out'));
    expect(step.result.rows).toBeGreaterThan(500);
    const taxEntries = entries(join(dir, 'file-admitted-tax.audit.jsonl'));
    expect(taxEntries.map((e) => e.type)).toEqual(['log.opened', 'job.admitted', 'consent.filtered', 'binning.start', 'binning.run']);
    expect(taxEntries[1]!.details).toMatchObject({ job: 'file-admitted-binning', purpose: 'credit-modeling' });

    const refused = await loadTrainingJob(file('file-refused', 'some-other-bank'));
    await expect(runBinningStep(refused.training, refused.binning!, join(dir, 'file-refused-out'))).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', rule: 'partner.unknown' });
  }, 60_000);
});
