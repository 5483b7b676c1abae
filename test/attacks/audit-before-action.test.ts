/**
 * Audit entries come before the action they record: at the moment a party sends its first
 * PSI message, its log already holds `training.start` for the job; when an agency answers a
 * scoring query, its log already holds `scoring.query` for that request, and when it sends
 * its partial scores, `scoring.answered`. (A record written after the fact is lost when
 * the party crashes in between, and the action happened unrecorded.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/governance/audit.ts';
import type { PartyGovernance } from '../../src/governance/gate.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { runLocalTraining } from '../../src/local/training.ts';
import { openLocalScoringSession } from '../../src/local/scoring.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { governedSme } from '../helpers/governed-sme.ts';

const { dir, bankFile, taxFile } = governedSme('jinqiao-audit-order-');

const typesIn = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; details: Record<string, unknown> });

describe('audit entries before the action', () => {
  it('records the job’s start before the first PSI message, and each scoring query before it is answered', async () => {
    const taxLog = await AuditLog.open(join(dir, 'tax.jsonl'), { party: 'tax-bureau', key: generateKeyPair() });
    const parties = new Map<string, PartyGovernance>([['tax', { institution: 'tax-bureau', audit: taxLog }]]);
    const seen: { message: string; logged: string[] }[] = [];
    const tap = (from: string, _to: string, frame: Uint8Array) => {
      const t = decodeMessage(frame).t;
      if (from === 'tax' && (t.startsWith('psi.') || t === 'score.queryReply' || t === 'eval.forward') && !seen.some((s) => s.message === t)) {
        seen.push({ message: t, logged: typesIn(taxLog.file).map((e) => e.type) });
      }
    };
    const modelDir = join(dir, 'model');
    const trained = await runLocalTraining({
      label: { file: bankFile, idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
      features: [{ file: taxFile, idColumn: 'uscc', name: 'tax' }],
      config: { he: 'mock', batchSize: 128, epochs: 1, jobId: 'audit-order', allowPartialScoreDisclosure: true },
      governance: { purpose: 'credit-modeling', parties },
      tap,
      out: modelDir,
    });
    const firstPsi = seen.find((s) => s.message.startsWith('psi.'))!;
    expect(firstPsi.logged).toContain('training.start');

    seen.length = 0;
    const session = await openLocalScoringSession({ modelDir, bank: { file: bankFile, idColumn: 'uscc', name: 'bank' }, agencies: [{ file: taxFile, idColumn: 'uscc', name: 'tax' }], he: 'mock', governance: { purpose: 'credit-modeling', parties }, tap });
    await session.score(trained.predictions.ids.slice(0, 2));
    await session.close();
    expect(seen.find((s) => s.message === 'score.queryReply')!.logged.at(-1)).toBe('scoring.query');
    expect(seen.find((s) => s.message === 'eval.forward')!.logged).toContain('scoring.answered');
  }, 120_000);
});
