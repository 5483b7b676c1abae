/**
 * Attack: an agency reads its own weights through a scoring session of a model kept
 * encrypted (`--keep-encrypted`).
 *
 * View: the agency's slice ([[w]] under the training key), the public keys the arbiter hands
 * out from that key in a scoring session, and its channel to the arbiter. It computes
 * X·[[w]] for X = the identity, which is [[w]] laid out one weight per slot, and asks the
 * arbiter to decrypt it as a bank would a score total. Its weights are what the crafted-
 * feature attack reads labels from (crafted-features-weights.test.ts), and what keeping them
 * encrypted is for.
 *
 * Success: every weight within 0.01 of the truth (the same job trained with the weights
 * revealed; mock HE is deterministic). Leaky variant (kept here only): an arbiter that
 * decrypts for whoever asks, as the generic arbiter did. Real: the scoring arbiter refuses
 * any decryption but the label party's (E_PROTOCOL), so the agency reads nothing.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mockBackend } from '../../src/he/mock.ts';
import { runLocalTraining } from '../../src/local/training.ts';
import { ArbiterClient } from '../../src/lr/arbiter-client.ts';
import { KEPT_KEY_FILE, parseKeptKey, type KeptKey } from '../../src/lr/kept-key.ts';
import { loadModelSlice, type ModelSlice } from '../../src/lr/model.ts';
import { keptModelRotationSteps, SCORE_BOUND } from '../../src/lr/protocol.ts';
import { runArbiter } from '../../src/lr/roles/arbiter.ts';
import { runAnyPartyArbiter } from './leaky/any-party-arbiter.ts';
import type { Channel } from '../../src/protocol/channel.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';

const SME = resolve(import.meta.dirname, '../../examples/sme-credit');
const root = mkdtempSync(join(tmpdir(), 'jinqiao-kept-attack-'));

async function train(out: string, keepEncrypted: boolean): Promise<void> {
  await runLocalTraining({
    label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
    features: [
      { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax' },
      { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social' },
    ],
    config: { he: 'mock', batchSize: 1024, epochs: 2, seed: 'kept-attack', jobId: `kept-attack-${keepEncrypted}`, keepEncrypted, threads: 0 },
    out,
  });
}

let kept: KeptKey;
let slice: ModelSlice;
let truth: readonly number[];

beforeAll(async () => {
  await train(join(root, 'kept'), true);
  await train(join(root, 'revealed'), false);
  kept = parseKeptKey(readFileSync(join(root, 'kept', KEPT_KEY_FILE), 'utf8'), KEPT_KEY_FILE, 'kept-attack-true');
  slice = await loadModelSlice(join(root, 'kept', 'model-tax.json'));
  truth = (await loadModelSlice(join(root, 'revealed', 'model-tax.json'))).weights;
}, 300_000);

/** The leaky variant: the kept key's owner decrypting whatever any party sends. */
const leakyArbiter = (parties: readonly Channel[]) => runAnyPartyArbiter(mockBackend, kept.params, parties, kept.secretKey);

/** The agency's program: [[w]] through the identity, decrypted as if it were a score total. */
async function attack(arbiter: (parties: readonly Channel[]) => Promise<unknown>): Promise<Float64Array> {
  const [bank, arbiterFromBank] = memoryChannelPair('bank', 'arbiter');
  const [agency, arbiterFromAgency] = memoryChannelPair('tax', 'arbiter');
  const served = arbiter([arbiterFromBank, arbiterFromAgency]);
  served.catch(() => {});
  const bankClient = new ArbiterClient(bank);
  const bankKeys = bankClient.requestKeys([]);
  const client = new ArbiterClient(agency);
  const evaluator = await mockBackend.createEvaluator(await client.requestKeys(keptModelRotationSteps(slice)));
  client.use(evaluator);
  await bankKeys;
  const F = slice.featureNames.length;
  const identity = new Float64Array(F * F);
  for (let j = 0; j < F; j++) identity[j * F + j] = 1;
  const [weights] = evaluator.matvecReplicated(new Uint8Array(Buffer.from(slice.encryptedWeights!, 'base64')), identity, F, F);
  try {
    return await client.reveal(weights!, F, SCORE_BOUND);
  } catch (e) {
    await served.catch(() => {});
    throw e;
  }
}

describe('attack: an agency decrypts its kept-encrypted weights through the scoring arbiter', { timeout: 300_000 }, () => {
  it('reads every weight from an arbiter that decrypts for anyone (positive control)', async () => {
    const read = await attack(leakyArbiter);
    expect(truth.length).toBe(slice.featureNames.length);
    truth.forEach((w, j) => expect(Math.abs(read[j]! - w), slice.featureNames[j]).toBeLessThan(0.01));
  });

  it('reads nothing from the scoring arbiter, which decrypts for the label party only', async () => {
    await expect(attack((parties) => runArbiter({ backend: mockBackend, params: kept.params, parties, secretKey: kept.secretKey }))).rejects.toMatchObject({
      code: expect.stringMatching(/E_PROTOCOL|E_CHANNEL_CLOSED/),
    });
  });
});
