/**
 * The bank's job queue through real party services over mutual TLS: with one job at a time,
 * jobs submitted together wait as `queued` with their place, start in order as slots free,
 * never overlap, and all succeed; a queued job can be cancelled and the rest carry on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPartyService } from '../../src/service/party-service.ts';
import { SqliteJobStore } from '../../src/service/store.ts';
import { startLoopbackParties, type LoopbackParties } from '../helpers/party-services.ts';

describe('the job queue of a party service', () => {
  let parties: LoopbackParties;

  beforeAll(async () => {
    parties = await startLoopbackParties({ jobs: { bank: { concurrency: 1, approvalTimeoutSeconds: 60 } } });
  }, 60_000);

  afterAll(async () => {
    await parties?.close();
  });

  it('runs jobs beyond its concurrency one after the other, first in first out, and all succeed', async () => {
    const { bank } = parties.services;
    for (const id of ['queue-1', 'queue-2', 'queue-3', 'queue-4']) bank.submit(parties.job(id));
    const listed = bank.listJobs();
    const of = (id: string) => listed.find((j) => j.id === id)!;
    expect(of('queue-1')).toMatchObject({ state: 'running' });
    expect(of('queue-1').position).toBeUndefined();
    expect(of('queue-2')).toMatchObject({ state: 'queued', position: 1 });
    expect(of('queue-3')).toMatchObject({ state: 'queued', position: 2 });
    expect(of('queue-4')).toMatchObject({ state: 'queued', position: 3 });

    // A queued job leaves the queue when cancelled; the ones behind it move up.
    expect(await bank.cancel('queue-3')).toBe(true);
    expect(bank.store.get('queue-3')).toMatchObject({ state: 'cancelled', phase: 'cancelled while queued' });
    expect(bank.listJobs().find((j) => j.id === 'queue-4')).toMatchObject({ state: 'queued', position: 2 });

    // Watch the jobs' states while they run: never two at once, and in submission order.
    const startedOrder: string[] = [];
    let mostAtOnce = 0;
    const watch = setInterval(() => {
      const active = bank.listJobs().filter((j) => j.state === 'running' || j.state === 'awaiting-approval');
      mostAtOnce = Math.max(mostAtOnce, active.length);
      for (const j of active) if (!startedOrder.includes(j.id)) startedOrder.push(j.id);
    }, 20);
    try {
      for (const id of ['queue-1', 'queue-2', 'queue-4']) {
        const record = await bank.finished(id);
        expect(record.state, `${id}: ${JSON.stringify(record.error)}`).toBe('succeeded');
      }
    } finally {
      clearInterval(watch);
    }
    expect(mostAtOnce).toBe(1);
    expect(startedOrder).toEqual(['queue-1', 'queue-2', 'queue-4']);
    expect(bank.store.get('queue-3')!.state).toBe('cancelled');
    for (const agency of [parties.services['tax-bureau'], parties.services['social-insurance']]) {
      expect(agency.store.get('queue-3')).toBeUndefined();
      // An agency ends its side a moment after the bank (the audit anchors cross last): wait for it.
      expect((await agency.finished('queue-4')).state).toBe('succeeded');
    }
  }, 600_000);

  it('cancels a job that has just started, before it opened any channel, instead of letting it run on', async () => {
    const { bank } = parties.services;
    bank.submit(parties.job('cancel-early'));
    // Submitted into a free slot: running at once, no partner connected yet.
    expect(bank.store.get('cancel-early')!.state).toBe('running');
    expect(await bank.cancel('cancel-early')).toBe(true);
    const record = await bank.finished('cancel-early');
    expect(record.state, JSON.stringify(record.error)).toBe('cancelled');
  }, 600_000);

  it('queues again after a restart what was queued, and fails what was running or awaiting approval', async () => {
    const config = parties.services.bank.config;
    // A store as a service that stopped abruptly leaves it.
    const dir = `${parties.dir}/restarted-bank`;
    const store = new SqliteJobStore(dir);
    for (const id of ['was-running', 'was-awaiting', 'was-queued-1', 'was-queued-2']) store.create(id, parties.job(id));
    store.update('was-running', { state: 'running', phase: 'training' });
    store.update('was-awaiting', { state: 'awaiting-approval', phase: 'awaiting approval by tax-bureau' });
    await store.close();
    // The same bank, restarted with an unreachable partner set: a requeued job starts and fails on the network, which is enough here.
    const restarted = await startPartyService({ ...config, store: dir, listen: { host: '127.0.0.1', port: 0 }, partners: new Map(), jobs: { concurrency: 1, approvalTimeoutSeconds: 60 } });
    try {
      expect(restarted.store.get('was-running')).toMatchObject({ state: 'failed', phase: 'interrupted', error: { code: 'E_INTERRUPTED' } });
      expect(restarted.store.get('was-awaiting')).toMatchObject({ state: 'failed', phase: 'interrupted', error: { code: 'E_INTERRUPTED' } });
      const listed = restarted.listJobs();
      // The older of the two starts first; the other waits behind it.
      expect(listed.find((j) => j.id === 'was-queued-1')!.state).not.toBe('queued');
      expect(listed.find((j) => j.id === 'was-queued-2')).toMatchObject({ state: 'queued', position: 1 });
      // Both run, in turn (and fail here, with no partner to reach).
      expect((await restarted.finished('was-queued-2')).state).toBe('failed');
      expect(restarted.store.get('was-queued-1')!.updatedAt <= restarted.store.get('was-queued-2')!.updatedAt).toBe(true);
    } finally {
      await restarted.close();
    }
  }, 60_000);
});
