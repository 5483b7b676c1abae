/**
 * The role-binding attack's scene, shared by the attack (test/attacks/role-binding.test.ts)
 * and its positive control (test/attacks/leaky/unbound-roles.test.ts).
 *
 * The tax bureau is an agency whose service config (loaded by the real config loader)
 * binds `bank` as its label partner and `platform` as its arbiter. The social insurance
 * fund holds a certificate the tax bureau trusts (it is a partner for other jobs) and turns
 * rogue: it opens a job with the tax bureau as its label party and names itself as the
 * arbiter, the party that holds the job's CKKS secret key. Were that accepted, the fund
 * would decrypt everything the tax bureau encrypts for the job's label (its partial
 * scores X·w in training, its partial scores in scoring).
 *
 * Success measure (the rogue's view): the tax bureau answers `job.accept` and dials the
 * rogue as its arbiter.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFeatureTable } from '../../src/data/table.ts';
import { AuditLog } from '../../src/governance/audit.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { mockBackend } from '../../src/he/mock.ts';
import type { PartyJobContext } from '../../src/jobs/context.ts';
import { memoryOutputs } from '../../src/jobs/output-folder.ts';
import { joinJob } from '../../src/jobs/partner.ts';
import { sendJobSpec, type JobSpec } from '../../src/jobs/spec.ts';
import { resolveTrainingConfig } from '../../src/lr/config.ts';
import { inlineExecutor } from '../../src/psi/executor.ts';
import type { Channel } from '../../src/protocol/channel.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';
import { uscc } from '../helpers/ids.ts';

export const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-roles-'));

/** The tax bureau's side: its config's role bindings, its table, its audit log; `dialled` lists whom it connected to. */
export async function taxBureau() {
  const file = join(dir, `tax-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    [
      'name: tax-bureau',
      'role: features',
      'listen: 127.0.0.1:0',
      'tls: { key: tax.key, cert: tax.crt, trust: [bank.crt, platform.crt, social-fund.crt] }',
      'store: store',
      'partners:',
      '  bank: { role: label }',
      '  platform: 127.0.0.1:7404',
      'tables:',
      '  taxpayers: { file: taxpayers.csv, id: uscc }',
      '',
    ].join('\n'),
  );
  const config = await loadPartyConfig(file);
  const csv = join(dir, 'taxpayers.csv');
  writeFileSync(csv, 'uscc,vat\n' + Array.from({ length: 40 }, (_, i) => `${uscc(9000 + i)},${i % 7}`).join('\n') + '\n');
  const table = await loadFeatureTable(csv, { idColumn: 'uscc' });
  const audit = await AuditLog.open(`${file}.audit.jsonl`, { party: 'tax-bureau', key: generateKeyPair() });
  const dialled: string[] = [];
  const arbiterEnds: Channel[] = [];
  const ctx: PartyJobContext = {
    name: config.name,
    role: config.role,
    async connect(partner) {
      dialled.push(partner);
      const [mine, theirs] = memoryChannelPair('tax-bureau', partner);
      arbiterEnds.push(theirs);
      return mine;
    },
    loadTable: async () => table,
    loadModelSlice: () => Promise.reject(new Error('no model in this scene')),
    institutionOf: (p) => p,
    roleOf: (p) => config.partnerRoles.get(p),
    governance: { institution: 'tax-bureau', audit },
    psiExecutor: inlineExecutor(),
    heBackendFor: () => mockBackend,
    matvec: () => undefined,
    outputs: () => memoryOutputs(),
  };
  return { ctx, audit, dialled, arbiterEnds, auditText: () => readFileSync(audit.file, 'utf8') };
}

export type Outcome = { accepted: true } | { accepted: false; error: Error & { code?: string; rule?: string } };

/**
 * `opener` opens a job (training or scoring) with the tax bureau, naming `arbiter` and the
 * data parties `parties` (opener first). Returns what the opener heard back.
 */
export async function openJob(tax: Awaited<ReturnType<typeof taxBureau>>, opener: string, spec: { kind: 'training' | 'scoring'; arbiter: string; parties: string[]; jobId?: string }): Promise<Outcome> {
  const [openerEnd, taxEnd] = memoryChannelPair(opener, 'tax-bureau');
  const jobId = spec.jobId ?? `${opener}-${spec.kind}-${Math.random().toString(36).slice(2)}`;
  const full: JobSpec = {
    kind: spec.kind,
    jobId,
    purpose: 'credit-modeling',
    table: 'taxpayers',
    arbiter: spec.arbiter,
    parties: spec.parties,
    idType: 'uscc',
    modelJobId: spec.kind === 'scoring' ? 'some-model' : '',
    // The opener writes the spec: it lets itself see a single agency's partial scores.
    config: resolveTrainingConfig({ jobId, he: 'mock', threads: 0, allowPartialScoreDisclosure: true }),
  };
  const victim = joinJob(tax.ctx, taxEnd).catch(() => undefined);
  await sendJobSpec(openerEnd, full);
  let outcome: Outcome;
  try {
    await openerEnd.receive('job.accept');
    outcome = { accepted: true };
  } catch (e) {
    outcome = { accepted: false, error: e as Error };
  }
  openerEnd.close('scene over');
  taxEnd.close('scene over');
  for (const end of tax.arbiterEnds) end.close('scene over');
  await victim;
  return outcome;
}
