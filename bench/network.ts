/**
 * Network benchmark: the same training job run by four party services talking mutual TLS
 * over loopback (real sockets, framing, heartbeats; the services share this process and its
 * two cores, as four processes on this machine would) against the in-process run with
 * memory channels, and the bytes each party puts on the wire: per ID during PSI, per epoch
 * during training.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocalTraining } from '../src/local/training.ts';
import { startPartyService, type PartyService } from '../src/service/party-service.ts';
import { decodeMessage } from '../src/transport/codec.ts';
import { loopbackParties } from './services.ts';

const SME = join(import.meta.dirname, '../examples/sme-credit');

export interface NetworkBench {
  readonly epochs: number;
  readonly inProcessSeconds: number;
  readonly networkSeconds: number;
  readonly slowdown: number;
  /** Per party: bytes it sent during PSI per ID it holds, and per training epoch. */
  readonly parties: readonly { readonly party: string; readonly ids: number; readonly psiBytesPerId: number; readonly trainingBytesPerEpoch: number }[];
}

const PARTIES = ['bank', 'tax-bureau', 'social-insurance', 'arbiter'] as const;

export async function benchNetwork(epochs: number): Promise<NetworkBench> {
  const training = { epochs, batchSize: 1024, seed: 'bench-network' };
  const sent = new Map<string, { psi: number; training: number }>();
  const started = performance.now();
  const local = await runLocalTraining({
    label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
    features: [
      { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax-bureau' },
      { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social-insurance' },
    ],
    config: { ...training, jobId: 'bench-local' },
    tap: (from, _to, frame) => {
      const counts = sent.get(from) ?? { psi: 0, training: 0 };
      const type = decodeMessage(frame).t;
      if (type.startsWith('psi.')) counts.psi += frame.byteLength;
      else if (type.startsWith('train.') || type.startsWith('he.decrypt')) counts.training += frame.byteLength;
      sent.set(from, counts);
    },
  });
  const inProcessSeconds = (performance.now() - started) / 1000;

  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-bench-net-'));
  const services: PartyService[] = [];
  try {
    const config = await loopbackParties(dir, PARTIES);
    const arbiter = await startPartyService(config('arbiter', 'arbiter', {}, new Map()));
    const tax = await startPartyService(config('tax-bureau', 'features', { arbiter: arbiter.tlsPort }, new Map([['t', { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc' }]])));
    const social = await startPartyService(config('social-insurance', 'features', { arbiter: arbiter.tlsPort }, new Map([['t', { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc' }]])));
    const bank = await startPartyService(
      config('bank', 'label', { arbiter: arbiter.tlsPort, 'tax-bureau': tax.tlsPort, 'social-insurance': social.tlsPort }, new Map([['t', { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted' }]])),
    );
    services.push(arbiter, tax, social, bank);
    const networkStarted = performance.now();
    bank.submit({ job: 'bench-network', label: { table: 't' }, features: [{ party: 'tax-bureau', table: 't' }, { party: 'social-insurance', table: 't' }], training });
    const job = await bank.finished('bench-network');
    if (job.state !== 'succeeded') throw new Error(`network job ${job.state}: ${JSON.stringify(job.error)}`);
    const networkSeconds = (performance.now() - networkStarted) / 1000;
    const ids: Record<string, number> = Object.fromEntries(local.parties.map((p) => [p.name, p.rowsRead]));
    return {
      epochs: local.epochsRun,
      inProcessSeconds,
      networkSeconds,
      slowdown: networkSeconds / inProcessSeconds,
      parties: PARTIES.map((party) => {
        const s = sent.get(party) ?? { psi: 0, training: 0 };
        const held = ids[party] ?? 0;
        return { party, ids: held, psiBytesPerId: held ? s.psi / held : 0, trainingBytesPerEpoch: s.training / local.epochsRun };
      }),
    };
  } finally {
    for (const s of services.reverse()) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
