/**
 * Decryption-oracle misuse (DESIGN.md "Attacks"): an agency holds the bank's encrypted
 * residual [[d]] of the first batch, where the weights are still zero, so d = ½ − y exactly:
 * any decryption of it is the batch's labels. It sends [[d]] to the arbiter as if it were
 * its own value. Success measure: labels of the batch recovered.
 *
 * Positive control: the leaky protocol's arbiter decrypts any masked ciphertext a party
 * sends, so the agency reads every label of the batch. Encrypted model (CKKS, the real
 * backend: with the mock a "ciphertext" would be readable): sent as a refresh it comes back
 * as a fresh ciphertext only; sent as a decryption during training it is refused and the
 * job fails. Every request is in the arbiter's audit hook, with the ciphertext's hash.
 */
import { describe, expect, it } from 'vitest';
import type { FeatureTable } from '../../src/data/table.ts';
import { ckksBackend } from '../../src/he/ckks.ts';
import { mockBackend } from '../../src/he/mock.ts';
import { nextPowerOfTwo } from '../../src/he/diagonals.ts';
import { DEGREE1_PARAMS } from '../../src/he/params.ts';
import type { HeBackend, PublicKeyBundle } from '../../src/he/backend.ts';
import { alignAsFeatureParty } from '../../src/lr/align.ts';
import { ArbiterClient } from '../../src/lr/arbiter-client.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../../src/lr/config.ts';
import { batchesPerEpoch, TrainingArbiterSession } from '../../src/lr/encrypted-model.ts';
import { preparePartyData } from '../../src/lr/party-data.ts';
import { heParamsFor, rotationStepsFor } from '../../src/lr/protocol.ts';
import { runAnyPartyArbiter } from './leaky/any-party-arbiter.ts';
import { runLabelParty } from '../../src/lr/roles/label.ts';
import { runTrainingArbiter, type DecryptionRecord } from '../../src/lr/roles/training-arbiter.ts';
import { epochBatches } from '../../src/lr/split.ts';
import { inlineExecutor } from '../../src/psi/executor.ts';
import type { Channel } from '../../src/protocol/channel.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';
import { message } from '../../src/protocol/messages.ts';
import { recordingChannel, Transcript } from '../../src/transport/transcript.ts';
import { syntheticParties } from './data.ts';
import { leakyLabel } from './leaky/gradient-revealing.ts';
import { clearNumbers } from './recovery.ts';

const { bank, agencies } = syntheticParties(400, 9, [10], 'attacks/oracle');
const agency = agencies[0]!;
const executor = inlineExecutor();

/** The agency's steps up to holding [[d]] of batch 0: align, announce, keys; then it sends zero scores. */
async function openAsAgency(config: TrainingConfig, table: FeatureTable, label: Channel, arbiterChannel: Channel, backend: HeBackend, sumsSlots: boolean, plan: boolean) {
  const alignment = await alignAsFeatureParty(table, 'agency', label, { jobId: config.jobId, seed: config.seed, idType: 'plain', backend: config.psiBackend, executor });
  const data = preparePartyData(table, alignment.rows, config, false);
  await label.send(message('train.ready', { features: data.width }));
  // The encrypted model's label announces the batch size it chose; the leaky one uses the job's.
  const batchSize = plan ? (await label.receive('train.start')).batchSize : (config.batchSize as number);
  const keys = new ArbiterClient(arbiterChannel);
  const bundle: PublicKeyBundle = await keys.requestKeys(rotationStepsFor(data.width, heParamsFor(config).polyModulusDegree / 2, sumsSlots));
  const evaluator = await backend.createEvaluator(bundle);
  keys.use(evaluator);
  if (plan) {
    await new TrainingArbiterSession(arbiterChannel, evaluator).plan({
      epochs: config.epochs,
      batchesPerEpoch: batchesPerEpoch(data.trainRows.length, batchSize),
      validationRows: data.validationRows.length,
      widths: [data.width],
      vectors: 1,
      keepEncrypted: false,
    });
  }
  const rows = epochBatches(data.trainRows, batchSize, config.seed, 0)[0]!;
  await label.send(message('train.forward', { epoch: 0, batch: 0, scores: evaluator.encrypt(new Float64Array(rows.length)) }));
  const { residual } = await label.receive('train.residual');
  return { data, rows, residual, evaluator, keys, labelsOfRows: Uint8Array.from(rows, (r) => bank.labels![alignment.rows[r]!]!) };
}

describe('decryption-oracle misuse by an agency', () => {
  it('reads the labels of a whole batch through the leaky protocol\'s arbiter (positive control)', async () => {
    const config = resolveTrainingConfig({ jobId: 'oracle-leaky', seed: 'oracle', batchSize: 40, epochs: 1, he: 'mock' });
    const [bankSide, agencySide] = memoryChannelPair('bank', 'agency');
    const [bankToArbiter, arbiterFromBank] = memoryChannelPair('bank', 'arbiter');
    const [agencyToArbiter, arbiterFromAgency] = memoryChannelPair('agency', 'arbiter');
    const arbiter = runAnyPartyArbiter(mockBackend, { ...DEGREE1_PARAMS, scheme: 'mock' }, [arbiterFromBank, arbiterFromAgency]);
    const honestBank = leakyLabel(config, bank, new Map([['agency', bankSide]]), bankToArbiter, executor);
    const attack = (async () => {
      const { residual, rows, keys, labelsOfRows } = await openAsAgency(config, agency, agencySide, agencyToArbiter, mockBackend, false, false);
      const d = await keys.reveal(residual[0]!, rows.length, 1);
      const recovered = Uint8Array.from(d, (v) => (v < 0 ? 1 : 0));
      agencySide.close('attack over');
      agencyToArbiter.close('attack over');
      return recovered.filter((g, i) => g === labelsOfRows[i]).length / rows.length;
    })();
    const [recovered] = await Promise.all([attack, honestBank.catch(() => undefined), arbiter.catch(() => undefined)]);
    expect(recovered).toBe(1);
  }, 60_000);

  describe('against the encrypted model (CKKS)', () => {
    async function misuse(act: (session: TrainingArbiterSession, residual: Uint8Array, period: number) => Promise<unknown>) {
      const config = resolveTrainingConfig({ jobId: 'oracle', seed: 'oracle', batchSize: 40, epochs: 1, allowPartialScoreDisclosure: true, threads: 0 });
      const transcript = new Transcript();
      const audit: DecryptionRecord[] = [];
      const [bankSide, agencySide] = memoryChannelPair('bank', 'agency');
      const [bankToArbiter, arbiterFromBank] = memoryChannelPair('bank', 'arbiter');
      const [agencyToArbiter, arbiterFromAgency] = memoryChannelPair('agency', 'arbiter');
      const arbiter = runTrainingArbiter({ backend: ckksBackend, params: heParamsFor(config), parties: [arbiterFromBank, arbiterFromAgency], onDecryption: (r) => void audit.push(r) });
      const honestBank = runLabelParty({ config, idType: 'plain', table: bank, features: new Map([['agency', bankSide]]), arbiter: bankToArbiter, psiExecutor: executor, heBackend: ckksBackend });
      const toArbiter = recordingChannel(agencyToArbiter, 'agency', transcript);
      const attack = (async () => {
        const { residual, evaluator, data } = await openAsAgency(config, agency, recordingChannel(agencySide, 'agency', transcript), toArbiter, ckksBackend, false, true);
        try {
          return await act(new TrainingArbiterSession(toArbiter, evaluator), residual[0]!, nextPowerOfTwo(data.width));
        } finally {
          evaluator.dispose();
          // The agency walks away after its attempt; the others' waits end with the channel.
          agencySide.close('attack over');
          agencyToArbiter.close('attack over');
        }
      })();
      const [outcome, arbiterOutcome] = await Promise.allSettled([attack, arbiter, honestBank]);
      const received = transcript.entries('agency');
      return { outcome, arbiterOutcome, received, audit };
    }

    it('sent as a refresh, [[d]] comes back as a fresh ciphertext and nothing else', async () => {
      const { outcome, received, audit } = await misuse((session, residual, period) => session.refresh(residual, period, 0, 0));
      expect(outcome.status).toBe('fulfilled');
      const refreshed = received.filter((e) => e.type === 'he.refreshed');
      expect(refreshed).toHaveLength(2);
      for (const e of refreshed) expect(e.fields.ciphertext).toEqual({ bytes: expect.any(Number) });
      // Labels recovered: none — the agency holds no number derived from d.
      expect(received.flatMap(clearNumbers)).toEqual([]);
      expect(audit.filter((r) => r.peer === 'agency').map((r) => [r.kind, r.pass])).toEqual([['refresh', 0], ['refresh', 1]]);
      expect(audit.every((r) => /^[0-9a-f]{64}$/.test(r.ciphertextSha256))).toBe(true);
    }, 300_000);

    it.each(['weights', 'loss', 'validation'] as const)('sent as a %s decryption during training, [[d]] is refused and the job fails', async (purpose) => {
      const { outcome, arbiterOutcome, received } = await misuse((session, residual) => session.reveal(purpose, residual, 40, 1, 0, 0));
      expect(outcome.status).toBe('rejected');
      expect(arbiterOutcome).toMatchObject({ status: 'rejected', reason: { code: 'E_PROTOCOL', message: expect.stringMatching(/the arbiter refuses agency/) } });
      expect(received.filter((e) => e.type === 'train.decrypted')).toEqual([]);
      expect(received.flatMap(clearNumbers)).toEqual([]);
    }, 300_000);
  });
});
