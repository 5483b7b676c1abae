/**
 * Per-job approval through real party services over mutual TLS: a job whose purpose a
 * party's policy holds for its operator waits as `awaiting-approval` at that party and at the
 * bank, moves only once the operator approves it through the API, fails at every party with
 * the operator's reason when rejected, and fails cleanly when nobody decides in time. Every
 * decision is in the deciding party's audit log before the job acts on it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isJinqiaoError } from '../../src/errors.ts';
import { verifyAuditLog } from '../../src/governance/audit.ts';
import { approvalRoutes } from '../../src/service/api/approvals.ts';
import type { PartyService } from '../../src/service/party-service.ts';
import { eventually, startLoopbackParties, type LoopbackParties } from '../helpers/party-services.ts';

const BIN = resolve(import.meta.dirname, '../../bin/jinqiao.js');

/** Runs `jinqiao` in a child process without blocking this one (whose services it talks to). */
function jinqiao(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, JINQIAO_TOKEN: 'a-token-the-bare-app-ignores' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** A bare Fastify app with the approval routes and the server's mapping of JinqiaoError to a status. */
async function apiOf(service: PartyService, https?: { key: Buffer; cert: Buffer }): Promise<FastifyInstance> {
  const app = https ? (Fastify({ https }) as unknown as FastifyInstance) : Fastify();
  app.setErrorHandler((e, _request, reply) => {
    if (!isJinqiaoError(e)) return reply.status((e as { statusCode?: number }).statusCode ?? 500).send({ error: { code: 'E_OPTION_INVALID', message: (e as Error).message } });
    const status = e.code === 'E_NOT_FOUND' ? 404 : e.isInputError ? 400 : 500;
    return reply.status(status).send({ error: e.toJSON() });
  });
  await app.register(approvalRoutes, { service });
  return app;
}

function auditTypes(parties: LoopbackParties, party: 'bank' | 'tax-bureau', job: string): string[] {
  return readFileSync(parties.audit[party]!.file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.details.job === job)
    .map((e) => e.type);
}

describe('per-job approval between party services', () => {
  let parties: LoopbackParties;
  let taxApi: FastifyInstance;
  let bankApi: FastifyInstance;

  beforeAll(async () => {
    // The tax bureau's operator approves each credit-modeling job; the bank's each credit-review job; the platform's each risk-monitoring job.
    parties = await startLoopbackParties({ approvalFor: { 'tax-bureau': ['credit-modeling'], bank: ['credit-review'], arbiter: ['risk-monitoring'] } });
    taxApi = await apiOf(parties.services['tax-bureau']);
    bankApi = await apiOf(parties.services.bank);
  }, 60_000);

  afterAll(async () => {
    await taxApi?.close();
    await bankApi?.close();
    await parties?.close();
  });

  it('holds a job at the agency and the bank until the agency operator approves it through the API, then runs it to success', async () => {
    const { bank, 'tax-bureau': tax, 'social-insurance': social } = parties.services;
    bank.submit(parties.job('approve-1'));
    const waiting = await eventually('the tax bureau to hold the job', () => tax.store.get('approve-1')?.state === 'awaiting-approval' && tax.store.get('approve-1'));
    expect(waiting.approval!.request).toEqual({ partners: ['bank'], purpose: 'credit-modeling', fields: ['vat_paid_wan', 'tax_credit_grade', 'late_filings_24m'], rows: 340 });
    const atBank = await eventually('the bank to show the wait', () => bank.store.get('approve-1')?.state === 'awaiting-approval' && bank.store.get('approve-1'));
    expect(atBank.phase).toBe('awaiting approval by tax-bureau');
    // Nothing moves meanwhile: the bank has not even told the platform of the job.
    await new Promise((r) => setTimeout(r, 500));
    expect(parties.services.arbiter.store.get('approve-1')).toBeUndefined();
    expect(bank.store.get('approve-1')!.state).toBe('awaiting-approval');

    const listed = await taxApi.inject({ method: 'GET', url: '/v1/approvals' });
    expect(listed.statusCode).toBe(200);
    expect(listed.json().approvals).toEqual([expect.objectContaining({ job: 'approve-1', from: 'bank', purpose: 'credit-modeling', partners: ['bank'], rows: 340 })]);
    // The bank's operator has nothing to decide: the wait is the tax bureau's.
    expect((await bankApi.inject({ method: 'GET', url: '/v1/approvals' })).json().approvals).toEqual([]);
    const wrongParty = await bankApi.inject({ method: 'POST', url: '/v1/jobs/approve-1/approve', payload: { operator: 'bob' } });
    expect(wrongParty.statusCode).toBe(400);
    expect(wrongParty.json().error).toMatchObject({ code: 'E_NOT_AWAITING_APPROVAL', message: expect.stringContaining('awaiting approval by tax-bureau') });

    const approved = await taxApi.inject({ method: 'POST', url: '/v1/jobs/approve-1/approve', payload: { operator: 'alice', reason: 'fields as agreed' } });
    expect(approved.statusCode).toBe(200);
    expect(approved.json().job).toMatchObject({ id: 'approve-1', state: 'running', phase: 'approved by alice' });
    const again = await taxApi.inject({ method: 'POST', url: '/v1/jobs/approve-1/approve', payload: { operator: 'alice' } });
    expect(again.json().error.code).toBe('E_NOT_AWAITING_APPROVAL');

    const done = await bank.finished('approve-1');
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect((await tax.finished('approve-1')).state).toBe('succeeded');
    expect((await social.finished('approve-1')).state).toBe('succeeded');
    expect(tax.store.get('approve-1')!.approval!.decision).toMatchObject({ approved: true, operator: 'alice', reason: 'fields as agreed' });

    // The approval is in the tax bureau's log, before its admission of the job and any PSI.
    const types = auditTypes(parties, 'tax-bureau', 'approve-1');
    expect(types.slice(0, 3)).toEqual(['job.approved', 'job.admitted', 'training.start']);
    const approvedEntry = readFileSync(parties.audit['tax-bureau']!.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'job.approved');
    expect(approvedEntry.details).toMatchObject({ job: 'approve-1', operator: 'alice', reason: 'fields as agreed' });
    expect((await verifyAuditLog(parties.audit['tax-bureau']!.file, parties.audit['tax-bureau']!.publicKey)).ok).toBe(true);
  }, 240_000);

  it('audits a decision before it acts on it: a decision the audit log cannot take leaves the job awaiting approval', async () => {
    const { bank, 'tax-bureau': tax } = parties.services;
    const log = parties.audit['tax-bureau']!;
    bank.submit(parties.job('unaudited-1'));
    await eventually('the tax bureau to hold the job', () => tax.store.get('unaudited-1')?.state === 'awaiting-approval');
    // The bank hears of it by message: under load that can come after the tax bureau's own store changed.
    await eventually('the bank to show the job awaiting approval', () => bank.store.get('unaudited-1')?.state === 'awaiting-approval');
    const append = log.append;
    log.append = (type, details) => (type === 'job.approved' ? Promise.reject(new Error('the disk is full')) : append.call(log, type, details));
    try {
      await expect(tax.approve('unaudited-1', { operator: 'alice' })).rejects.toThrow('the disk is full');
    } finally {
      log.append = append;
    }
    // Nothing was recorded or done: no decision in the store, the bank still waits, and the operator may decide again.
    expect(tax.store.get('unaudited-1')).toMatchObject({ state: 'awaiting-approval', phase: 'awaiting approval by tax-bureau' });
    expect(tax.store.get('unaudited-1')!.approval!.decision).toBeUndefined();
    expect(bank.store.get('unaudited-1')).toMatchObject({ state: 'awaiting-approval', phase: 'awaiting approval by tax-bureau' });
    expect(auditTypes(parties, 'tax-bureau', 'unaudited-1')).toEqual([]);
    expect(parties.logs['tax-bureau']).toContainEqual(expect.stringContaining('job unaudited-1: the approval by alice could not be audited, the job still awaits approval'));
    const decided = await tax.approve('unaudited-1', { operator: 'alice' });
    expect(decided).toMatchObject({ state: 'running', phase: 'approved by alice' });
    expect(auditTypes(parties, 'tax-bureau', 'unaudited-1')[0]).toBe('job.approved');
    expect((await bank.finished('unaudited-1')).state).toBe('succeeded');
  }, 240_000);

  it("fails a rejected job at every party with the operator's reason", async () => {
    const { bank, 'tax-bureau': tax, 'social-insurance': social } = parties.services;
    bank.submit(parties.job('reject-1'));
    await eventually('the tax bureau to hold the job', () => tax.store.get('reject-1')?.state === 'awaiting-approval');
    const noReason = await taxApi.inject({ method: 'POST', url: '/v1/jobs/reject-1/reject', payload: { operator: 'alice' } });
    expect(noReason.statusCode).toBe(400);
    const rejected = await taxApi.inject({ method: 'POST', url: '/v1/jobs/reject-1/reject', payload: { operator: 'alice', reason: 'late filings are not to leave the bureau' } });
    expect(rejected.statusCode).toBe(200);
    expect(rejected.json().job).toMatchObject({ state: 'rejected', phase: 'rejected by alice' });

    const reason = "rejected by tax-bureau's operator: late filings are not to leave the bureau";
    for (const service of [bank, tax, social]) {
      const record = await service.finished('reject-1');
      expect(record.state, service.config.name).toBe('rejected');
      expect(record.error).toMatchObject({ code: 'E_JOB_REJECTED', message: expect.stringContaining(reason) });
    }
    // The platform never heard of it.
    expect(parties.services.arbiter.store.get('reject-1')).toBeUndefined();
    expect(auditTypes(parties, 'tax-bureau', 'reject-1')).toEqual(['job.rejected']);
    const entry = readFileSync(parties.audit['tax-bureau']!.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'job.rejected');
    expect(entry.details).toMatchObject({ job: 'reject-1', operator: 'alice', reason: 'late filings are not to leave the bureau' });
  }, 120_000);

  it("holds the bank's own job for its operator before any partner hears of it", async () => {
    const { bank, 'tax-bureau': tax } = parties.services;
    bank.submit(parties.job('own-1', 'credit-review'));
    const waiting = await eventually('the bank to hold its job', () => bank.store.get('own-1')?.state === 'awaiting-approval' && bank.store.get('own-1'));
    expect(waiting.phase).toBe('awaiting approval by bank');
    expect(waiting.approval!.request).toMatchObject({ partners: ['tax-bureau', 'social-insurance'], purpose: 'credit-review', rows: 300 });
    expect(tax.store.get('own-1')).toBeUndefined();
    expect((await bankApi.inject({ method: 'GET', url: '/v1/approvals' })).json().approvals).toEqual([expect.objectContaining({ job: 'own-1', purpose: 'credit-review' })]);
    const rejected = await bankApi.inject({ method: 'POST', url: '/v1/jobs/own-1/reject', payload: { reason: 'not this quarter' } });
    expect(rejected.json().job).toMatchObject({ state: 'rejected', phase: 'rejected by api' });
    const record = await bank.finished('own-1');
    expect(record).toMatchObject({ state: 'rejected', error: { code: 'E_JOB_REJECTED', message: "rejected by bank's operator: not this quarter" } });
    expect(tax.store.get('own-1')).toBeUndefined();
    expect(auditTypes(parties, 'bank', 'own-1')).toEqual(['job.rejected']);
  }, 60_000);

  it('approves through the API with no body (a bare POST), recorded as api', async () => {
    const { bank } = parties.services;
    bank.submit(parties.job('own-2', 'credit-review'));
    await eventually('the bank to hold its job', () => bank.store.get('own-2')?.state === 'awaiting-approval');
    const approved = await bankApi.inject({ method: 'POST', url: '/v1/jobs/own-2/approve' });
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json().job).toMatchObject({ state: 'running', phase: 'approved by api' });
    expect(auditTypes(parties, 'bank', 'own-2')[0]).toBe('job.approved');
    expect(await bank.cancel('own-2', { operator: 'test' })).toBe(true);
  }, 60_000);

  it("holds a job at the platform once every agency accepted it, and the platform operator's rejection reaches every party", async () => {
    const { bank, arbiter, 'tax-bureau': tax, 'social-insurance': social } = parties.services;
    bank.submit(parties.job('platform-1', 'risk-monitoring'));
    const waiting = await eventually('the platform to hold the job', () => arbiter.store.get('platform-1')?.state === 'awaiting-approval' && arbiter.store.get('platform-1'));
    expect(waiting.approval!.request).toEqual({ partners: ['bank', 'tax-bureau', 'social-insurance'], purpose: 'risk-monitoring', fields: [] });
    await eventually('the bank to show the wait', () => bank.store.get('platform-1')?.phase === 'awaiting approval by arbiter');
    await arbiter.reject('platform-1', { operator: 'dana', reason: 'monitoring is not in the agreement' });
    for (const service of [bank, tax, social, arbiter]) {
      const record = await service.finished('platform-1');
      expect(record, service.config.name).toMatchObject({ state: 'rejected', error: { code: 'E_JOB_REJECTED', message: expect.stringContaining("rejected by arbiter's operator: monitoring is not in the agreement") } });
    }
  }, 120_000);

  it('takes decisions from `jinqiao approve` and `jinqiao reject` over HTTPS, with clear errors', async () => {
    const { bank, 'tax-bureau': tax } = parties.services;
    const cert = join(parties.dir, 'tax-bureau.crt');
    const httpsApi = await apiOf(tax, { key: readFileSync(join(parties.dir, 'tax-bureau.key')), cert: readFileSync(cert) });
    const secure = await httpsApi.listen({ host: '127.0.0.1', port: 0 });
    try {
      bank.submit(parties.job('cli-1'));
      await eventually('the tax bureau to hold the job', () => tax.store.get('cli-1')?.state === 'awaiting-approval');
      const trusted = ['--api', secure, '--ca', cert];
      const unknown = await jinqiao(['approve', 'no-such-job', ...trusted]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('E_NOT_FOUND');
      const notWaiting = await jinqiao(['approve', 'approve-1', ...trusted, '--operator', 'carol']);
      expect(notWaiting.code).toBe(2);
      expect(notWaiting.stderr).toMatch(/E_NOT_AWAITING_APPROVAL: job approve-1 is succeeded/);
      const plain = await jinqiao(['approve', 'cli-1', '--api', secure.replace('https:', 'http:')]);
      expect(plain.code).toBe(2);
      expect(plain.stderr).toMatch(/E_OPTION_INVALID: option --api: http:\/\/ is not served: the API speaks HTTPS only/);
      const untrusted = await jinqiao(['reject', 'cli-1', '--api', secure, '--reason', 'no']);
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/E_PEER_UNTRUSTED.*--ca/);
      const closedPort = await jinqiao(['approve', 'cli-1', '--api', 'https://127.0.0.1:9', '--ca', cert]);
      expect(closedPort.code).toBe(1);
      expect(closedPort.stderr).toContain('E_CHANNEL_CLOSED: cannot reach the API at https://127.0.0.1:9');
      const noReason = await jinqiao(['reject', 'cli-1', '--api', secure, '--ca', cert]);
      expect(noReason.code).toBe(2);
      expect(tax.store.get('cli-1')!.state).toBe('awaiting-approval');

      const rejected = await jinqiao(['reject', 'cli-1', '--api', secure, '--ca', cert, '--operator', 'carol', '--reason', 'wrong quarter']);
      expect(rejected.code, rejected.stderr).toBe(0);
      expect(JSON.parse(rejected.stdout)).toMatchObject({ id: 'cli-1', state: 'rejected', phase: 'rejected by carol' });
      expect(await bank.finished('cli-1')).toMatchObject({ state: 'rejected', error: { message: expect.stringContaining("rejected by tax-bureau's operator: wrong quarter") } });
    } finally {
      await httpsApi.close();
    }
  }, 120_000);

  it('answers an unknown job with 404 and a malformed decision with 400', async () => {
    const unknown = await taxApi.inject({ method: 'POST', url: '/v1/jobs/no-such-job/approve', payload: {} });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('E_NOT_FOUND');
    // Checked before the job is looked up: a 400, not the unknown job's 404.
    const unnamed = await taxApi.inject({ method: 'POST', url: '/v1/jobs/no-such-job/approve', payload: { operator: '' } });
    expect(unnamed.statusCode).toBe(400);
    const unreasoned = await taxApi.inject({ method: 'POST', url: '/v1/jobs/no-such-job/reject', payload: { operator: 'alice' } });
    expect(unreasoned.statusCode).toBe(400);
  });
});

describe('approval timeout', () => {
  it('fails the job at every party when the operator does not decide in time', async () => {
    const parties = await startLoopbackParties({ approvalFor: { 'tax-bureau': ['credit-modeling'] }, jobs: { 'tax-bureau': { concurrency: 1, approvalTimeoutSeconds: 1 } } });
    try {
      const { bank, 'tax-bureau': tax } = parties.services;
      bank.submit(parties.job('late-1'));
      const record = await bank.finished('late-1');
      expect(record).toMatchObject({ state: 'failed', error: { code: 'E_APPROVAL_TIMEOUT', message: expect.stringContaining("waited 1 s for approval by tax-bureau's operator") } });
      expect((await tax.finished('late-1')).state).toBe('failed');
      const last = readFileSync(parties.audit['tax-bureau']!.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).at(-1);
      expect(last).toMatchObject({ type: 'job.refused', details: { job: 'late-1', rule: 'approval.timeout' } });
    } finally {
      await parties.close();
    }
  }, 60_000);
});
