/**
 * Governance enforced on a real job: every data holder's gate runs before any protocol
 * message, refusals name their rule in the holder's own audit log and reach partners as a
 * code only, consent shrinks what a holder contributes, and with full consent the model is
 * the one trained without governance.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../../src/governance/audit.ts';
import { runLocalTraining, type LocalTrainingOptions } from '../../src/local/training.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { governedSme } from '../helpers/governed-sme.ts';

const { dir, bankFile, taxFile, taxIds, keys, taxPolicy, consents, governed } = governedSme('jinqiao-governed-');

function job(extra: Partial<LocalTrainingOptions> = {}): LocalTrainingOptions {
  return {
    label: { file: bankFile, idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
    features: [{ file: taxFile, idColumn: 'uscc', name: 'tax' }],
    config: { he: 'mock', batchSize: 128, epochs: 3, seed: 'governed', jobId: 'governed-job', allowPartialScoreDisclosure: true },
    ...extra,
  };
}

describe('governed jobs', () => {
  it('with every enterprise consenting, produces the same model as without governance', async () => {
    const { parties, taxLog, bankLog } = await governed({ policy: await taxPolicy() }, consents(taxIds));
    const out = join(dir, 'governed-model');
    const withGovernance = await runLocalTraining({ ...job({ governance: { purpose: 'credit-modeling', parties } }), out });
    const without = await runLocalTraining(job());
    expect(withGovernance.predictions.ids).toEqual(without.predictions.ids);
    const drift = Math.max(...withGovernance.predictions.scores.map((s, i) => Math.abs(s - without.predictions.scores[i]!)));
    expect(drift).toBeLessThan(1e-3);

    const verdict = await verifyAuditLog(taxLog.file, keys.tax.publicKey);
    expect(verdict.ok).toBe(true);
    const types = readFileSync(taxLog.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).type);
    expect(types).toEqual(['log.opened', 'job.admitted', 'consent.filtered', 'training.start', 'training.run', 'model.export']);
    // The log never holds an enterprise's ID in clear.
    const log = readFileSync(taxLog.file, 'utf8');
    expect(taxIds.some((id) => log.includes(id))).toBe(false);
  });

  it('audits every scoring query with salted hashes, never IDs in clear', async () => {
    const { parties, taxLog, bankLog } = await governed({ policy: await taxPolicy() }, consents(taxIds));
    const modelDir = join(dir, 'scored-model');
    const trained = await runLocalTraining({ ...job({ governance: { purpose: 'credit-modeling', parties } }), out: modelDir });
    const { openLocalScoringSession } = await import('../../src/local/scoring.ts');
    const session = await openLocalScoringSession({
      modelDir,
      bank: { file: bankFile, idColumn: 'uscc', name: 'bank' },
      agencies: [{ file: taxFile, idColumn: 'uscc', name: 'tax' }],
      he: 'mock',
      governance: { purpose: 'credit-modeling', parties },
      decoyKey: new Uint8Array(32).fill(7),
    });
    const asked = trained.predictions.ids.slice(0, 3);
    await session.score(asked, { decoys: 2 });
    await session.close();
    const bankEntries = readFileSync(bankLog.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const query = bankEntries.find((e) => e.type === 'scoring.query');
    expect(query.details.enterprises).toEqual(asked.map((id) => bankLog.hashId(id)));
    expect(asked.some((id) => readFileSync(bankLog.file, 'utf8').includes(id))).toBe(false);
    expect(readFileSync(taxLog.file, 'utf8')).toContain('"scoring.query"');
    expect((await verifyAuditLog(bankLog.file, keys.bank.publicKey)).ok).toBe(true);
  });

  it('keeps only enterprises whose consent covers the job, and the partner sees only the smaller alignment', async () => {
    const consenting = taxIds.filter((_, i) => i % 2 === 0);
    const { parties, taxLog } = await governed({ policy: await taxPolicy() }, consents(consenting));
    const full = await runLocalTraining(job());
    const partial = await runLocalTraining(job({ governance: { purpose: 'credit-modeling', parties } }));
    expect(partial.alignedRows).toBeLessThan(full.alignedRows * 0.6);
    expect(partial.alignedRows).toBeGreaterThan(full.alignedRows * 0.4);
    const filtered = readFileSync(taxLog.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'consent.filtered');
    expect(filtered.details).toMatchObject({ included: consenting.length, excluded: taxIds.length - consenting.length });
  });

  it('refuses an unknown partner before any data-derived message is sent, and audits the rule', async () => {
    const { parties, taxLog } = await governed({ policy: await taxPolicy({ partner: 'another-bank' }) }, consents(taxIds));
    const frames: Uint8Array[] = [];
    await expect(runLocalTraining(job({ governance: { purpose: 'credit-modeling', parties }, tap: (_f, _t, frame) => frames.push(frame) }))).rejects.toMatchObject({
      code: 'E_POLICY_REFUSED',
      rule: 'partner.unknown',
    });
    // Only the job's definition and the abort cross (the arbiter never hears of the job): no PSI point, key or ciphertext.
    expect(new Set(frames.map((f) => decodeMessage(f).t))).toEqual(new Set(['job.spec', 'job.abort']));
    const refused = readFileSync(taxLog.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).at(-1);
    expect(refused).toMatchObject({ type: 'job.refused', details: { rule: 'partner.unknown' } });
  });

  it("refuses to be a job's only agency where its policy keeps its partial scores, whatever the bank's flag says", async () => {
    const { parties } = await governed({ policy: await taxPolicy({ disclose: false }) }, consents(taxIds));
    // job() sets allowPartialScoreDisclosure: the bank's word alone does not disclose an agency's scores.
    await expect(runLocalTraining(job({ governance: { purpose: 'credit-modeling', parties } }))).rejects.toMatchObject({
      code: 'E_PARTIAL_SCORE_DISCLOSURE',
      message: expect.stringMatching(/tax is the only agency of the job/),
    });
  });

  it('refuses an undeclared purpose, a sensitive field without grant, and a job awaiting approval', async () => {
    for (const [policy, purpose, rule] of [
      [await taxPolicy(), 'marketing', 'purpose.undeclared'],
      [await taxPolicy({ grantSensitive: false }), 'credit-modeling', 'field.sensitive-not-granted'],
      [await taxPolicy({ approval: true }), 'credit-modeling', 'approval.pending'],
    ] as const) {
      const { parties } = await governed({ policy }, consents(taxIds.slice(0, 10)));
      await expect(runLocalTraining(job({ governance: { purpose, parties } }))).rejects.toMatchObject({ code: 'E_POLICY_REFUSED', rule });
    }
  });

  it('runs a job awaiting approval once an operator approved it', async () => {
    const { parties } = await governed({ policy: await taxPolicy({ approval: true }), approved: true }, consents(taxIds));
    const r = await runLocalTraining(job({ governance: { purpose: 'credit-modeling', parties } }));
    expect(r.alignedRows).toBeGreaterThan(500);
  });
});
