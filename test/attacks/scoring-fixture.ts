/**
 * Shared by the scoring attacks: a model trained (mock HE) on the SME example with the tax
 * bureau and the social insurance fund, and the records each party holds.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadFeatureTable, type FeatureTable } from '../../src/data/table.ts';
import { runLocalTraining } from '../../src/local/training.ts';
import { openLocalScoringSession, type LocalScoringOptions } from '../../src/local/scoring.ts';

export const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
export const agencies = [
  { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax' },
  { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social' },
];
export const bankSpec = { file: join(SME, 'bank.csv'), idColumn: 'uscc', name: 'bank' };

export interface ScoringFixture {
  readonly modelDir: string;
  readonly bank: FeatureTable;
  readonly tax: FeatureTable;
  readonly social: FeatureTable;
}

export async function trainFixture(jobId: string): Promise<ScoringFixture> {
  const modelDir = join(mkdtempSync(join(tmpdir(), `jinqiao-${jobId}-`)), 'model');
  await runLocalTraining({ label: { ...bankSpec, labelColumn: 'defaulted' }, features: agencies, config: { he: 'mock', batchSize: 1024, epochs: 2, jobId }, out: modelDir });
  const [bank, tax, social] = await Promise.all([bankSpec, ...agencies].map((p) => loadFeatureTable(p.file, { idColumn: p.idColumn })));
  return { modelDir, bank: bank!, tax: tax!, social: social! };
}

export function openSession(fixture: ScoringFixture, extra: Partial<LocalScoringOptions> = {}) {
  return openLocalScoringSession({ modelDir: fixture.modelDir, bank: bankSpec, agencies, he: 'mock', threads: 0, ...extra });
}
