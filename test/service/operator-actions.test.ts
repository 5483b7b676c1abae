/**
 * An operator's cancel and resume of a job, through the service and its HTTP API, between
 * real party services over mutual TLS: each is in the party's audit log (`job.cancelled`,
 * `job.resumed`) with the job and the operator before it takes effect, so an entry that
 * cannot be written stops the action; an API call that names nobody is recorded as `api`,
 * and `jinqiao resume` sends its --operator.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyAuditLog } from '../../src/governance/audit.ts';
import { startApi, type ApiServer } from '../../src/service/api/server.ts';
import { eventually, startLoopbackParties, type LoopbackParties } from '../helpers/party-services.ts';

const TOKEN = 'operator-actions-token-0123456789';
const BIN = resolve(import.meta.dirname, '../../bin/jinqiao.js');

/** Runs `jinqiao` in a child process without blocking this one (whose services it talks to). */
function jinqiao(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

describe("an operator's cancel and resume", () => {
  let parties: LoopbackParties;
  let server: ApiServer;
  /** A POST to the bank's HTTPS API (in process), with its bearer token. */
  const post = (url: string, payload?: object) => server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}` }, ...(payload ? { payload } : {}) });

  /** The bank's audit entries about `job`, as type and details. */
  const entriesOf = (job: string) =>
    readFileSync(parties.audit.bank!.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; details: Record<string, unknown> })
      .filter((e) => e.details.job === job && (e.type === 'job.cancelled' || e.type === 'job.resumed'))
      .map((e) => ({ type: e.type, ...e.details }));

  beforeAll(async () => {
    // One job at a time at the bank; the tax bureau's operator holds each credit-modeling job, so the first keeps the slot.
    parties = await startLoopbackParties({ approvalFor: { bank: ['credit-review'], 'tax-bureau': ['credit-modeling'] }, jobs: { bank: { concurrency: 1, approvalTimeoutSeconds: 300 } } });
    const pem = (file: string) => readFileSync(join(parties.dir, file), 'utf8');
    server = await startApi(parties.services.bank, { listen: { host: '127.0.0.1', port: 0 }, token: TOKEN, tls: { key: pem('bank.key'), cert: pem('bank.crt') } });
  }, 60_000);

  afterAll(async () => {
    vi.restoreAllMocks();
    await server?.close();
    await parties?.close();
  });

  it('records who cancelled and who resumed a queued job, before either takes effect', async () => {
    const { bank } = parties.services;
    bank.submit(parties.job('holder'));
    await eventually('the bank to show the first job held by the tax bureau', () => bank.store.get('holder')?.state === 'awaiting-approval');
    bank.submit(parties.job('waiting'));
    expect(bank.store.get('waiting')!.state).toBe('queued');

    // Through the API, naming nobody: recorded as the API's.
    const cancelled = await post('/v1/jobs/waiting/cancel');
    expect(cancelled.statusCode, cancelled.body).toBe(202);
    expect(cancelled.json().job).toMatchObject({ state: 'cancelled', phase: 'cancelled while queued' });
    const resumed = await post('/v1/jobs/waiting/resume', { operator: 'Li Wei' });
    expect(resumed.statusCode, resumed.body).toBe(202);
    expect(resumed.json().job).toMatchObject({ state: 'queued' });
    expect(entriesOf('waiting')).toEqual([
      { type: 'job.cancelled', job: 'waiting', operator: 'api', was: 'queued' },
      { type: 'job.resumed', job: 'waiting', operator: 'Li Wei', was: 'cancelled' },
    ]);

    // An entry that cannot be written stops the cancel: the job keeps its place.
    vi.spyOn(parties.audit.bank!, 'append').mockRejectedValueOnce(new Error('disk full'));
    await expect(bank.cancel('waiting', { operator: 'Li Wei' })).rejects.toThrow('disk full');
    expect(bank.listJobs().find((j) => j.id === 'waiting')).toMatchObject({ state: 'queued', position: 1 });
    expect(entriesOf('waiting')).toHaveLength(2);
  }, 120_000);

  it('records the cancel of a job awaiting a partner, and nothing for a job that cannot be cancelled', async () => {
    const { bank } = parties.services;
    expect(await bank.cancel('holder', { operator: 'Zhang Min' })).toBe(true);
    expect((await bank.finished('holder')).state).toBe('cancelled');
    expect(entriesOf('holder')).toEqual([{ type: 'job.cancelled', job: 'holder', operator: 'Zhang Min', was: 'awaiting-approval' }]);
    // Ended already: no cancel, no entry; the API says why.
    expect(await bank.cancel('holder', { operator: 'Zhang Min' })).toBe(false);
    const again = await post('/v1/jobs/holder/cancel', { operator: 'Zhang Min' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('E_NOT_RUNNING');
    expect(entriesOf('holder')).toHaveLength(1);
  }, 120_000);

  it('refuses an empty operator name, and a resume whose entry cannot be written leaves the job where it was', async () => {
    const { bank } = parties.services;
    await expect(bank.cancel('waiting', { operator: '  ' })).rejects.toMatchObject({ code: 'E_OPTION_INVALID' });
    expect((await post('/v1/jobs/waiting/cancel', { operator: '' })).statusCode).toBe(400);
    // The queued job started once the slot freed: it now waits for the tax bureau; cancel it for good.
    await eventually('the second job to start', () => bank.store.get('waiting')?.state === 'awaiting-approval');
    expect(await bank.cancel('waiting', { operator: 'Li Wei' })).toBe(true);
    expect((await bank.finished('waiting')).state).toBe('cancelled');
    vi.spyOn(parties.audit.bank!, 'append').mockRejectedValueOnce(new Error('disk full'));
    await expect(bank.resume('waiting', { operator: 'Li Wei' })).rejects.toThrow('disk full');
    expect(bank.store.get('waiting')!.state).toBe('cancelled');
    expect(entriesOf('waiting').map((e) => e.type)).toEqual(['job.cancelled', 'job.resumed', 'job.cancelled']);

    // `jinqiao resume` names its operator too (--operator, else the login name).
    const resumed = await jinqiao(['resume', 'waiting', '--api', `https://127.0.0.1:${server.port}`, '--ca', join(parties.dir, 'bank.crt'), '--token', TOKEN, '--operator', 'carol']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(entriesOf('waiting').at(-1)).toEqual({ type: 'job.resumed', job: 'waiting', operator: 'carol', was: 'cancelled' });
    await eventually('the resumed job to wait for the tax bureau', () => bank.store.get('waiting')?.state === 'awaiting-approval');
    expect(await bank.cancel('waiting', { operator: 'carol' })).toBe(true);
    expect((await bank.finished('waiting')).state).toBe('cancelled');
    const verdict = await verifyAuditLog(parties.audit.bank!.file, parties.audit.bank!.publicKey);
    expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
  }, 120_000);
});
