/**
 * Scoring benchmarks: latency of one enterprise scored with three agencies through the
 * party services over mutual TLS on loopback (the bank's `score`, sessions warm), and
 * throughput of a batch of 100,000 enterprises (every party in one process, CKKS).
 * Session opening (keys, each agency's register blinded once) is reported apart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureTable } from '../src/data/table.ts';
import { runLocalTraining } from '../src/local/training.ts';
import { startPartyService, type PartyService } from '../src/service/party-service.ts';
import { openLocalScoringSession } from '../src/local/scoring.ts';
import { loopbackParties } from './services.ts';
import { syntheticTrainingTables } from './data.ts';
import { figure, type Figure } from './stats.ts';

const SME = join(import.meta.dirname, '../examples/sme-credit');
const AGENCIES = [
  ['tax-bureau', 'tax_bureau.csv'],
  ['social-insurance', 'social_insurance.csv'],
  ['utilities', 'utilities.csv'],
] as const;

export interface ScoringBench {
  /** One enterprise, three agencies, over TLS on loopback, warm session. */
  readonly latencyMs: Figure;
  readonly requests: number;
  /** The first request of a session: keys made, registers blinded and shipped. */
  readonly sessionOpenMs: number;
  readonly batch: { readonly enterprises: number; readonly seconds: number; readonly perSecond: number };
}

export async function benchScoring(requests: number, batchRows: number): Promise<ScoringBench> {
  const latency = await tlsLatency(requests);
  const batch = await batchThroughput(batchRows);
  return { ...latency, batch };
}

async function tlsLatency(requests: number) {
  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-bench-score-'));
  const services: PartyService[] = [];
  try {
    const names = ['bank', ...AGENCIES.map(([n]) => n), 'arbiter'];
    const config = await loopbackParties(dir, names);
    const arbiter = await startPartyService(config('arbiter', 'arbiter', {}, new Map()));
    services.push(arbiter);
    const ports: Record<string, number> = { arbiter: arbiter.tlsPort };
    for (const [name, file] of AGENCIES) {
      const agency = await startPartyService(config(name, 'features', { arbiter: arbiter.tlsPort }, new Map([['t', { file: join(SME, file), idColumn: 'uscc' }]])));
      services.push(agency);
      ports[name] = agency.tlsPort;
    }
    const bank = await startPartyService(config('bank', 'label', ports, new Map([['t', { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted' }]])));
    services.push(bank);
    bank.submit({ job: 'model', label: { table: 't' }, features: AGENCIES.map(([party]) => ({ party, table: 't' })), training: { epochs: 1, batchSize: 1024 } });
    const trained = await bank.finished('model');
    if (trained.state !== 'succeeded') throw new Error(`training for the scoring benchmark ${trained.state}: ${JSON.stringify(trained.error)}`);
    const ids = (await import('node:fs')).readFileSync(join(SME, 'bank.csv'), 'utf8').trim().split('\n').slice(1, requests + 2).map((l) => l.split(',')[0]!);
    let started = performance.now();
    await bank.score('model', [ids[0]!]);
    const sessionOpenMs = performance.now() - started;
    const times: number[] = [];
    for (const id of ids.slice(1)) {
      started = performance.now();
      await bank.score('model', [id]);
      times.push(performance.now() - started);
    }
    return { latencyMs: figure(times), requests: times.length, sessionOpenMs };
  } finally {
    for (const s of services.reverse()) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A synthetic book of `rows` enterprises and three agencies, a model trained on it (mock HE), then one CKKS scoring request for all. */
async function batchThroughput(rows: number) {
  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-bench-batch-'));
  try {
    const { label, features } = syntheticTrainingTables(rows, 5, [5, 5, 5], 'scoring');
    const write = (table: FeatureTable, name: string) => {
      const header = ['uscc', ...(table.labels ? ['defaulted'] : []), ...table.featureNames];
      const lines = [header.join(',')];
      const w = table.featureNames.length;
      for (let i = 0; i < table.rowCount; i++) {
        const cells = [table.ids[i]!, ...(table.labels ? [String(table.labels[i])] : [])];
        for (let j = 0; j < w; j++) cells.push(table.values[i * w + j]!.toFixed(4));
        lines.push(cells.join(','));
      }
      const file = join(dir, `${name}.csv`);
      writeFileSync(file, lines.join('\n') + '\n');
      return file;
    };
    const bankFile = write(label, 'bank');
    const agencyFiles = features.map((t, k) => ({ file: write(t, `agency${k + 1}`), idColumn: 'uscc', name: `agency${k + 1}` }));
    await runLocalTraining({ label: { file: bankFile, idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' }, features: agencyFiles, config: { he: 'mock', epochs: 1, batchSize: Math.min(8192, Math.floor(rows * 0.4)) }, out: join(dir, 'model') });
    const session = await openLocalScoringSession({ modelDir: join(dir, 'model'), bank: { file: bankFile, idColumn: 'uscc', name: 'bank' }, agencies: agencyFiles });
    try {
      const started = performance.now();
      const scored = await session.score(label.ids);
      const seconds = (performance.now() - started) / 1000;
      return { enterprises: scored.length, seconds, perSecond: scored.length / seconds };
    } finally {
      await session.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
