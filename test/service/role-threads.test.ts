/**
 * Issue 17, memory that comes back: a party service runs each job's role in a worker thread
 * of its own and retires it when the role ends, so the job's CKKS contexts and keys (a WASM
 * heap that never shrinks) go with the thread. Shown through real services: a training job
 * succeeds at every party, one thread per party was started and none is left, and this
 * thread — where the four services run — never loaded node-seal at all. Then, on memory
 * channels: a role in a thread trains as it does in one thread, its errors arrive with the
 * same code, message and hint (and the same abort on the wire), and a thread that dies fails
 * its job with a clear error while the host runs on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureTable } from '../../src/data/table.ts';
import { errors, isJinqiaoError, type JinqiaoError } from '../../src/errors.ts';
import { threadError, threadErrorOf } from '../../src/util/thread-errors.ts';
import { mockBackend } from '../../src/he/mock.ts';
import { sealLoaded } from '../../src/he/seal.ts';
import { inThreadRoles, liveRoleThreads, roleThreads, roleThreadsStarted, type RoleRunner, type RoleThreadOptions } from '../../src/jobs/role-threads.ts';
import { resolveTrainingConfig } from '../../src/lr/config.ts';
import { heParamsFor } from '../../src/lr/protocol.ts';
import { inlineExecutor } from '../../src/psi/executor.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';
import { syntheticParties } from '../attacks/data.ts';
import { openSession, trainFixture } from '../attacks/scoring-fixture.ts';
import { startLoopbackParties, type LoopbackParties } from '../helpers/party-services.ts';

describe('a party service runs each job in a worker thread it retires', () => {
  let parties: LoopbackParties;

  beforeAll(async () => {
    parties = await startLoopbackParties();
  }, 60_000);

  afterAll(async () => {
    await parties?.close();
  });

  it('trains with every CKKS object in threads that are gone when the job ends, none in the services’ own thread', async () => {
    const startedBefore = roleThreadsStarted();
    const { services } = parties;
    services.bank.submit(parties.job('in-threads'));
    // The bank first: the partners know the job once it has told them, and end a moment after it.
    for (const service of [services.bank, services['tax-bureau'], services['social-insurance'], services.arbiter]) {
      const record = await service.finished('in-threads');
      expect(record.state, `${service.config.name}: ${JSON.stringify(record.error)}`).toBe('succeeded');
    }
    // The four services run in this thread: had any of them made a CKKS context here, its
    // node-seal module (and the WASM heap that never shrinks) would be loaded.
    expect(sealLoaded()).toBe(false);
    // One thread per party (bank, two agencies, arbiter), each retired with its part of the job.
    expect(roleThreadsStarted() - startedBefore).toBe(4);
    expect(liveRoleThreads()).toBe(0);
  }, 600_000);
});

describe('roles in worker threads, on memory channels', () => {
  const { bank, agencies } = syntheticParties(240, 3, [2, 2], 'role-threads');
  const config = resolveTrainingConfig({ jobId: 'threads', he: 'mock', epochs: 2, batchSize: 64, seed: 'role-threads' });

  /** One training job, every role through `roles`. */
  async function train(roles: RoleRunner, label: FeatureTable = bank) {
    const [bankA1, a1Bank] = memoryChannelPair('bank', 'agency1');
    const [bankA2, a2Bank] = memoryChannelPair('bank', 'agency2');
    // What the bank says to the arbiter, frame by frame.
    const bankToArbiter: string[] = [];
    const [bankArb, arbBank] = memoryChannelPair('bank', 'arbiter', (from, _to, frame) => from === 'bank' && bankToArbiter.push(JSON.stringify(decodeMessage(frame))));
    const [a1Arb, arbA1] = memoryChannelPair('agency1', 'arbiter');
    const [a2Arb, arbA2] = memoryChannelPair('agency2', 'arbiter');
    const psiExecutor = inlineExecutor();
    const decryptions: string[] = [];
    const progress: string[] = [];
    const common = { config, idType: 'plain' as const, psiExecutor, heBackend: mockBackend };
    const runs = [
      roles.label('threads', { ...common, table: label, features: new Map([['agency1', bankA1], ['agency2', bankA2]]), arbiter: bankArb, onProgress: (e) => progress.push(e.phase) }),
      roles.features('threads', { ...common, name: 'agency1', table: agencies[0]!, label: a1Bank, arbiter: a1Arb }),
      roles.features('threads', { ...common, name: 'agency2', table: agencies[1]!, label: a2Bank, arbiter: a2Arb }),
      roles.trainingArbiter('threads', { backend: mockBackend, params: heParamsFor(config), parties: [arbBank, arbA1, arbA2], onDecryption: async (r) => void decryptions.push(`${r.peer} ${r.kind}`) }),
    ] as const;
    const settled = await Promise.allSettled(runs);
    return { settled, decryptions, progress, bankToArbiter };
  }

  it('trains as in one thread: the same model, decryptions audited and progress reported through the host', async () => {
    const one = await train(inThreadRoles);
    const threaded = await train(roleThreads());
    for (const s of [...one.settled, ...threaded.settled]) expect(s.status, s.status === 'rejected' ? String(s.reason) : '').toBe('fulfilled');
    const [labelOne, a1One] = one.settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<RoleRunner['label']>>>).value);
    const [labelThreaded, a1Threaded] = threaded.settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<RoleRunner['label']>>>).value);
    // Masked values come back rounded to the arbiter's grid (masking.ts) and each run draws
    // its own masks, so two runs, in one thread or not, differ by grid steps (1.2e-4 seen).
    expect(labelThreaded!.weights!.length).toBe(labelOne!.weights!.length);
    labelThreaded!.weights!.forEach((w, i) => expect(Math.abs(w - labelOne!.weights![i]!)).toBeLessThan(1e-3));
    a1Threaded!.weights!.forEach((w, i) => expect(Math.abs(w - a1One!.weights![i]!)).toBeLessThan(1e-3));
    expect(Math.abs(labelThreaded!.metrics.auc - labelOne!.metrics.auc)).toBeLessThan(1e-2);
    // The scaler crossed the thread as JSON and is a scaler again.
    expect(labelThreaded!.data.scaler.transform).toBeTypeOf('function');
    expect(labelThreaded!.data.scaler.toJSON()).toEqual(labelOne!.data.scaler.toJSON());
    // The parties' requests interleave as they come: the same decryptions, in any order.
    expect([...threaded.decryptions].sort()).toEqual([...one.decryptions].sort());
    expect(threaded.decryptions.length).toBeGreaterThan(0);
    expect(threaded.progress).toEqual(one.progress);
    expect(liveRoleThreads()).toBe(0);
  }, 120_000);

  it('fails with the same typed error, and tells the peers the same, as in one thread', async () => {
    const unlabelled: FeatureTable = { ...bank, labels: undefined };
    const outcomes = [];
    for (const roles of [inThreadRoles, roleThreads()]) {
      const { settled, bankToArbiter } = await train(roles, unlabelled);
      const error = (settled[0] as PromiseRejectedResult).reason as JinqiaoError;
      expect(isJinqiaoError(error)).toBe(true);
      outcomes.push({ code: error.code, message: error.message, hint: error.hint, field: error.field, bankToArbiter });
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
    expect(outcomes[0]!.code).toBe('E_OPTION_INVALID');
    // The bank's only word to the arbiter: its abort, with the code and no detail.
    expect(outcomes[0]!.bankToArbiter).toEqual([JSON.stringify({ t: 'job.abort', v: 1, reason: 'the peer stopped (E_OPTION_INVALID)' })]);
    expect(liveRoleThreads()).toBe(0);
  }, 120_000);

  it('carries an error across a thread with its class, code, message, hint and what its factory added', () => {
    const across = (e: unknown) => threadError(structuredClone(threadErrorOf(e)));
    const stopped = errors.peerStopped('bank', 'E_JOB_REJECTED', "rejected by tax-bureau's operator: not this quarter");
    const back = across(stopped) as typeof stopped;
    expect(isJinqiaoError(back)).toBe(true);
    expect({ code: back.code, message: back.message, hint: back.hint, causedByPeer: back.causedByPeer }).toEqual({ code: stopped.code, message: stopped.message, hint: stopped.hint, causedByPeer: 'bank' });
    const invalid = errors.optionInvalid('threads', 'must be a whole number');
    expect((across(invalid) as JinqiaoError).toJSON()).toEqual(invalid.toJSON());
    // Anything else keeps its message; the host reports it as E_INTERNAL, as before.
    const plain = across(new RangeError('WebAssembly.Memory(): could not allocate memory'));
    expect([isJinqiaoError(plain), plain.message]).toEqual([false, 'WebAssembly.Memory(): could not allocate memory']);
  });

  it('fails the job, not the host, when its thread dies', async () => {
    // A young generation of 1 MB and an old one of 8 MB: the thread cannot even load the protocol.
    const limits: RoleThreadOptions = { resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 } };
    const { settled } = await train(roleThreads(limits));
    const error = (settled[0] as PromiseRejectedResult).reason as JinqiaoError;
    expect(isJinqiaoError(error)).toBe(true);
    expect(error.code).toBe('E_INTERNAL');
    expect(error.message).toMatch(/^job threads: the worker thread running this party's part stopped: .*memory/);
    expect(liveRoleThreads()).toBe(0);
  }, 120_000);

  it('scores in threads as in one thread: the bank, each agency and the platform each in a thread, all gone at the close', async () => {
    const fixture = await trainFixture('role-threads-scoring');
    // Enterprises every party holds: each is scored (one only an agency holds would be refused).
    const held = (t: { ids: readonly string[] }) => new Set(t.ids.map((id) => id.trim()));
    const [tax, social] = [held(fixture.tax), held(fixture.social)];
    const ids = fixture.bank.ids.map((id) => id.trim()).filter((id) => tax.has(id) && social.has(id)).slice(0, 40);
    const one = await openSession(fixture);
    const inOne = await one.score(ids);
    await one.close();
    const startedBefore = roleThreadsStarted();
    const threaded = await openSession(fixture, { roles: roleThreads() });
    // The session keeps its threads while it is open: the bank's, two agencies' and the platform's.
    expect([roleThreadsStarted() - startedBefore, liveRoleThreads()]).toEqual([4, 4]);
    const inThreads = await threaded.score(ids);
    // A refused request crosses the thread as the same typed error.
    const refused = await threaded.score(['not an id']).catch((e: JinqiaoError) => e);
    const reports = await threaded.close();
    expect(liveRoleThreads()).toBe(0);
    expect(inThreads.map((s) => [s.id, s.status])).toEqual(inOne.map((s) => [s.id, s.status]));
    expect(inThreads.filter((s) => s.status === 'scored').length).toBe(40);
    // Each run draws its own masks; the arbiter's grid keeps their answers this close.
    inThreads.forEach((s, i) => s.status === 'scored' && expect(Math.abs(s.probability - inOne[i]!.probability!)).toBeLessThan(1e-3));
    expect(isJinqiaoError(refused) && refused.code).toBe('E_OPTION_INVALID');
    // Each agency's report came back from its thread: one request (the refused one never left the bank).
    expect([...reports.values()].map((r) => r.requests)).toEqual([1, 1]);
  }, 300_000);
});
