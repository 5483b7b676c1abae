/**
 * Four separate OS processes — the bank, two agencies and the platform — each a
 * `jinqiao serve` service on loopback with mutual TLS, run PSI and training on the bundled
 * data when a job is submitted to the bank's HTTPS API, and reach the metrics of the
 * in-process run with the same seed. The tax bureau reads its register from a real
 * PostgreSQL server (Debian's package, started by the test), where the bank keeps its job
 * store. Also: the API refuses what it must, and a killed
 * agency fails the job with the reason within the timeout. `npm run e2e` runs this file.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalTraining } from '../../src/local/training.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';
import { createTable, queryRows, startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { loadAuditAnchors, verifyAuditLog } from '../../src/governance/audit.ts';
import { generateKeyPair, loadPublicKey, saveKeyPair } from '../../src/governance/keys.ts';

const execFileAsync = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const SME = join(ROOT, 'examples/sme-credit');
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-e2e-'));
const TOKEN = 'e2e-token-0123456789abcdef';
const PARTIES = ['bank', 'tax-bureau', 'social-insurance', 'arbiter'] as const;
const TRAINING = { epochs: 3, batchSize: 1024, seed: 'e2e' };

interface Running {
  readonly process: ChildProcess;
  readonly tlsPort: number;
  readonly apiPort: number | null;
  readonly log: string[];
}
const services = new Map<string, Running>();

async function start(name: string, role: string, partners: Record<string, number>, tables: Record<string, unknown>, api = false, port = 0, extra: Record<string, unknown> = {}): Promise<Running> {
  const config = {
    name,
    role,
    listen: `127.0.0.1:${port}`,
    tls: { key: `${name}.key`, cert: `${name}.crt`, trust: PARTIES.map((p) => `${p}.crt`) },
    // Roles are bound: plain entries are what this party dials (an agency's arbiter); the bank, which dials in, is bound as label.
    partners: { ...Object.fromEntries(Object.entries(partners).map(([p, port]) => [p, `127.0.0.1:${port}`])), ...(role === 'label' ? {} : { bank: { role: 'label' } }) },
    tables,
    store: `store-${name}`,
    // Liveness, not speed: generous enough for a machine loaded far beyond its two cores.
    timeoutSeconds: 60,
    ...(api ? { api: { listen: '127.0.0.1:0', token: TOKEN } } : {}),
    ...extra,
  };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [join(ROOT, 'bin/jinqiao.js'), 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => log.push(l));
  const ready = await new Promise<{ tlsPort: number; apiPort: number | null }>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${log.join('\n')}`)), 120_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolveReady(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${log.join('\n')}`)));
  });
  const running = { process: child, ...ready, log };
  services.set(name, running);
  return running;
}

/**
 * One HTTPS request on a connection of its own (no keep-alive socket can go stale between
 * polls on a busy machine), trusting the party's own certificate, which its API serves.
 */
function api(method: string, path: string, body?: unknown, token = TOKEN, party = 'bank'): Promise<{ status: number; json: Record<string, any> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolveReply, reject) => {
    const req = request(
      { host: '127.0.0.1', port: services.get(party)!.apiPort!, path, method, agent: false, timeout: 60_000, ca: readFileSync(join(dir, `${party}.crt`)), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolveReply({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function finished(id: string, timeoutMs = 240_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await api('GET', `/v1/jobs/${id}`);
    if (!['queued', 'running'].includes(json.job.state)) return json.job;
    if (Date.now() > until) throw new Error(`job ${id} still ${json.job.state}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

let postgres: PostgresServer;

beforeAll(async () => {
  postgres = await startPostgres();
  const [header, ...lines] = readFileSync(join(SME, 'tax_bureau.csv'), 'utf8').trim().split('\n');
  const columns = header!.split(',').map((name, j) => ({ name, type: j === 0 ? 'text' : 'double precision' }));
  await createTable(postgres.connectionString, 'taxpayers', columns, lines.map((l) => l.split(',')));
  for (const name of PARTIES) await writePartyIdentity(dir, await createPartyIdentity({ name }));
  // The tax bureau's governance: its policy admits the bank for credit modeling; its audit log is signed with its own key.
  for (const name of ['bank', 'tax-bureau']) await saveKeyPair(join(dir, `${name}-gov`), generateKeyPair());
  writeFileSync(
    join(dir, 'tax-policy.yaml'),
    'party: tax-bureau\nfields: { vat_paid_wan: internal, tax_credit_grade: internal, late_filings_24m: internal }\npurposes:\n  credit-modeling: { fields: [vat_paid_wan, tax_credit_grade, late_filings_24m], consentRequired: false, disclosePartialScores: true }\npartners:\n  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [credit-modeling] }\n',
  );
  const arbiter = await start('arbiter', 'arbiter', {}, {});
  // The tax bureau serves the API too: every party may (it lists the jobs it took part in).
  const tax = await start('tax-bureau', 'features', { arbiter: arbiter.tlsPort }, { taxpayers: { postgres: postgres.connectionString, table: 'taxpayers', id: 'uscc' } }, true, 0, {
    governance: { institution: 'tax-bureau', policy: 'tax-policy.yaml', audit: 'tax-bureau.audit.jsonl', key: 'tax-bureau-gov.key' },
  });
  const social = await start('social-insurance', 'features', { arbiter: arbiter.tlsPort }, { insured: { file: join(SME, 'social_insurance.csv'), id: 'uscc' } });
  // The bank keeps its job store in PostgreSQL; the others in SQLite, the default.
  await start('bank', 'label', { arbiter: arbiter.tlsPort, 'tax-bureau': tax.tlsPort, 'social-insurance': social.tlsPort }, { customers: { file: join(SME, 'bank.csv'), id: 'uscc', label: 'defaulted' } }, true, 0, {
    jobStore: { postgres: postgres.connectionString },
  });
}, 120_000);

afterAll(async () => {
  for (const [name, s] of services) {
    s.process.kill('SIGTERM');
    // The services' own logs, kept beside their stores for anyone reading a failure.
    writeFileSync(join(dir, `${name}.log`), s.log.join('\n') + '\n');
  }
  await postgres?.stop();
});

describe('four party services over mutual TLS', () => {
  it('train the model of the in-process run with the same seed', async () => {
    const submitted = await api('POST', '/v1/jobs', {
      job: 'e2e-1',
      purpose: 'credit-modeling',
      label: { table: 'customers' },
      features: [
        { party: 'tax-bureau', table: 'taxpayers' },
        { party: 'social-insurance', table: 'insured' },
      ],
      training: TRAINING,
    });
    expect(submitted.status).toBe(202);
    const job = await finished('e2e-1');
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    const { json } = await api('GET', '/v1/jobs/e2e-1/metrics');

    const localOut = join(dir, 'local-out');
    const local = await runLocalTraining({
      label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
      features: [
        { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax-bureau' },
        { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social-insurance' },
      ],
      config: { ...TRAINING, jobId: 'e2e-local' },
      out: localOut,
    });
    // One runner for both hosts: the services' job folders hold, between them, exactly the in-process run's files.
    const jobFiles = (party: string) => readdirSync(join(dir, `store-${party}`, 'jobs', 'e2e-1')).filter((f) => f !== 'checkpoints');
    expect(['bank', 'tax-bureau', 'social-insurance'].flatMap(jobFiles).sort()).toEqual(readdirSync(localOut).sort());
    const serviceMetrics = JSON.parse(readFileSync(join(dir, 'store-bank', 'jobs', 'e2e-1', 'metrics.json'), 'utf8'));
    const localMetrics = JSON.parse(readFileSync(join(localOut, 'metrics.json'), 'utf8'));
    expect(Object.keys(serviceMetrics)).toEqual(Object.keys(localMetrics));
    expect(Math.abs(serviceMetrics.auc - localMetrics.auc)).toBeLessThan(1e-3);
    expect(readFileSync(join(dir, 'store-bank', 'jobs', 'e2e-1', 'report.html'), 'utf8')).toContain('<svg');
    expect(json.metrics.alignedRows).toBe(local.alignedRows);
    const [stored] = await queryRows(postgres.connectionString, "SELECT state, result->>'auc' AS auc FROM jinqiao_jobs WHERE party = 'bank' AND id = 'e2e-1'");
    expect(stored).toMatchObject({ state: 'succeeded', auc: String(json.metrics.auc) });
    // Masks are fresh in every run, so decryptions differ in the last rounding step only.
    expect(Math.abs(json.metrics.auc - local.metrics.auc)).toBeLessThan(1e-3);
    expect(json.metrics.lossCurve).toHaveLength(3);
    for (const [i, loss] of local.lossCurve.entries()) expect(Math.abs(json.metrics.lossCurve[i] - loss)).toBeLessThan(1e-3);
  }, 300_000);

  it("lists the job at an agency's API too, which refuses to take jobs itself", async () => {
    const listed = await api('GET', '/v1/jobs', undefined, TOKEN, 'tax-bureau');
    expect(listed.json.jobs).toEqual([expect.objectContaining({ id: 'e2e-1', state: 'succeeded' })]);
    const refused = await api('POST', '/v1/jobs', { label: { table: 'taxpayers' }, features: [{ party: 'bank', table: 'customers' }] }, TOKEN, 'tax-bureau');
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: 'E_OPTION_INVALID', field: 'role' });
  });

  it('scores enterprises through the HTTP API with the trained split model, refusing single-holder ones', async () => {
    const column = (file: string) => new Set(readFileSync(join(SME, file), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!));
    const [tax, social] = [column('tax_bureau.csv'), column('social_insurance.csv')];
    const bankIds = [...column('bank.csv')];
    const both = bankIds.filter((id) => tax.has(id) && social.has(id)).slice(0, 2);
    // The first 300 enterprises are not in the tax bureau's register (examples/sme-credit/generate.ts): only the fund holds them.
    const single = bankIds.filter((id) => !tax.has(id) && social.has(id)).slice(0, 1);
    const ids = [...both, ...single];
    const first = await api('POST', '/v1/score', { model: 'e2e-1', ids, decoys: 3 });
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    expect(first.json.scores.map((s: { id: string }) => s.id)).toEqual(ids);
    for (const s of first.json.scores.slice(0, 2)) {
      expect(s).toMatchObject({ status: 'scored', fallbacks: [] });
      expect(s.probability).toBeGreaterThan(0);
      expect(s.probability).toBeLessThan(1);
    }
    // Total minus the bank's part would be the fund's partial score, and its policy does not allow that.
    expect(first.json.scores[2]).toMatchObject({ status: 'refused', code: 'E_SCORE_REFUSED', rule: 'partial-score.single-holder' });
    expect(first.json.scores[2].probability).toBeUndefined();
    const again = await api('POST', '/v1/score', { model: 'e2e-1', ids: [ids[0]] });
    expect(again.json.scores[0].probability).toBeCloseTo(first.json.scores[0].probability, 3);
    const bad = await api('POST', '/v1/score', { model: 'e2e-1', ids: ['91350100M000100Y44'] });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'E_OPTION_INVALID', field: 'ids' });
    const untrained = await api('POST', '/v1/score', { model: 'no-such-job', ids });
    expect(untrained.json.error.code).toBe('E_MODEL_INVALID');
  }, 120_000);

  it('answers overlapping scoring requests, each as it would be answered alone', async () => {
    const bank = readFileSync(join(SME, 'bank.csv'), 'utf8').trim().split('\n').slice(301, 309).map((l) => l.split(',')[0]!);
    const alone = [];
    for (const id of bank) alone.push((await api('POST', '/v1/score', { model: 'e2e-1', ids: [id], decoys: 2 })).json.scores[0]);
    const together = await Promise.all(bank.map((id) => api('POST', '/v1/score', { model: 'e2e-1', ids: [id], decoys: 2 })));
    for (const [i, answer] of together.entries()) {
      expect(answer.status, JSON.stringify(answer.json)).toBe(200);
      expect(answer.json.scores[0]).toMatchObject({ id: bank[i], status: alone[i].status, fallbacks: alone[i].fallbacks });
      if (alone[i].status === 'scored') expect(answer.json.scores[0].probability).toBeCloseTo(alone[i].probability, 3);
    }
  }, 240_000);

  it('refuses requests without the token, and invalid job definitions naming the field', async () => {
    expect((await api('GET', '/v1/jobs', undefined, 'wrong-token-0123456789')).status).toBe(401);
    const bad = await api('POST', '/v1/jobs', { label: { table: 'customers' }, features: [{ party: 'tax-bureau' }] });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'E_JOB_INVALID', field: 'features[0].table' });
    const range = await api('POST', '/v1/jobs', { label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: { epochs: 0 } });
    expect(range.status).toBe(400);
    expect(range.json.error.code).toBe('E_OPTION_INVALID');
    const openapi = await api('GET', '/openapi.json', undefined, '');
    expect(openapi.json.openapi).toBe('3.1.0');
  });

  it("refuses a job outside the tax bureau's policy before any data moves, and audits every step", async () => {
    await api('POST', '/v1/jobs', { job: 'e2e-marketing', purpose: 'marketing', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: TRAINING });
    const job = await finished('e2e-marketing', 60_000);
    expect(job.state).toBe('failed');
    // The tax bureau tells the bank its rule (its policy, not its data), so the operator sees why.
    expect(job.error).toMatchObject({ code: 'E_POLICY_REFUSED', message: expect.stringMatching(/^tax-bureau stopped the job: refused by policy rule purpose.undeclared/) });
    const log = readFileSync(join(dir, 'tax-bureau.audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.find((e) => e.details.job === 'e2e-marketing')).toMatchObject({ type: 'job.refused', details: { rule: 'purpose.undeclared' } });
    const types = log.filter((e) => e.details.job === 'e2e-1').map((e) => e.type);
    expect(types).toEqual(['job.admitted', 'training.start', 'training.run', 'model.export']);
    expect(log.some((e) => e.type === 'scoring.query')).toBe(true);
    // The bank kept the tax bureau's signed head at the end of e2e-1 (exchanged over TLS): the log still extends it.
    const taxKey = (await loadPublicKey(join(dir, 'tax-bureau-gov.pub'))).publicKey;
    const kept = await loadAuditAnchors(join(dir, 'store-bank', 'anchors', 'tax-bureau.jsonl'), taxKey);
    expect(kept.anchors.map((a) => a.job)).toContain('e2e-1');
    const verdict = await verifyAuditLog(join(dir, 'tax-bureau.audit.jsonl'), taxKey, kept.anchors);
    expect(verdict).toMatchObject({ ok: true, anchors: kept.anchors.length });
  });

  it('cancels a running job on request', async () => {
    await api('POST', '/v1/jobs', { job: 'e2e-cancelled', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: { ...TRAINING, epochs: 40, allowPartialScoreDisclosure: true } });
    for (;;) {
      const { json } = await api('GET', '/v1/jobs/e2e-cancelled');
      if (json.job.phase === 'batch' || json.job.phase === 'epoch') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await api('POST', '/v1/jobs/e2e-cancelled/cancel')).status).toBe(202);
    const job = await finished('e2e-cancelled', 60_000);
    expect(job.state).toBe('cancelled');
    expect((await api('POST', '/v1/jobs/e2e-cancelled/cancel')).status).toBe(409);
    expect((await api('GET', '/v1/jobs/e2e-cancelled/metrics')).status).toBe(409);
  }, 120_000);

  it('fails the job with the reason within the timeout when an agency dies mid-training, and resume completes it with the same model', async () => {
    const killedJob = { ...TRAINING, epochs: 6 };
    await api('POST', '/v1/jobs', { job: 'e2e-killed', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }, { party: 'social-insurance', table: 'insured' }], training: killedJob });
    for (;;) {
      const { json } = await api('GET', '/v1/jobs/e2e-killed');
      if (json.job.phase === 'epoch' && json.job.progress.epoch >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const killedAt = Date.now();
    const social = services.get('social-insurance')!;
    social.process.kill('SIGKILL');
    const job = await finished('e2e-killed', 60_000);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('E_CHANNEL_CLOSED');
    // A killed process resets its connections: the job fails at once, not after the liveness timeout.
    expect(Date.now() - killedAt).toBeLessThan(45_000);

    // The agency comes back on the same address with the same store; the bank resumes the job.
    const arbiterPort = services.get('arbiter')!.tlsPort;
    await start('social-insurance', 'features', { arbiter: arbiterPort }, { insured: { file: join(SME, 'social_insurance.csv'), id: 'uscc' } }, false, social.tlsPort);
    // Asynchronously: a blocked event loop would leave this process's HTTP keep-alive sockets stale.
    const resumed = await execFileAsync(process.execPath, [join(ROOT, 'bin/jinqiao.js'), 'resume', 'e2e-killed', '--to', `https://127.0.0.1:${services.get('bank')!.apiPort}`, '--ca', join(dir, 'bank.crt'), '--token', TOKEN, '--wait'], { encoding: 'utf8', timeout: 240_000 });
    expect(JSON.parse(resumed.stdout).state).toBe('succeeded');
    const { json } = await api('GET', '/v1/jobs/e2e-killed/metrics');
    expect(json.metrics.epochs).toBe(6);
    expect(json.metrics.lossCurve).toHaveLength(6);

    const uninterrupted = await runLocalTraining({
      label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
      features: [
        { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax-bureau' },
        { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social-insurance' },
      ],
      config: { ...killedJob, jobId: 'e2e-uninterrupted' },
    });
    expect(Math.abs(json.metrics.auc - uninterrupted.metrics.auc)).toBeLessThan(1e-3);
    for (const [i, loss] of uninterrupted.lossCurve.entries()) expect(Math.abs(json.metrics.lossCurve[i] - loss)).toBeLessThan(1e-3);
  }, 400_000);

  it('marks the jobs a crashed bank was running as interrupted when it restarts, and resume completes them', async () => {
    const crashJob = { ...TRAINING, epochs: 4, allowPartialScoreDisclosure: true };
    await api('POST', '/v1/jobs', { job: 'e2e-bank-crash', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: crashJob });
    for (;;) {
      const { json } = await api('GET', '/v1/jobs/e2e-bank-crash');
      if (json.job.phase === 'epoch' && json.job.progress.epoch >= 1) break;
      expect(['queued', 'running']).toContain(json.job.state);
      await new Promise((r) => setTimeout(r, 100));
    }
    const bank = services.get('bank')!;
    bank.process.kill('SIGKILL');
    await new Promise((r) => bank.process.once('exit', r));
    const ports = Object.fromEntries([...services].map(([name, s]) => [name, s.tlsPort]));
    await start('bank', 'label', { arbiter: ports.arbiter!, 'tax-bureau': ports['tax-bureau']!, 'social-insurance': ports['social-insurance']! }, { customers: { file: join(SME, 'bank.csv'), id: 'uscc', label: 'defaulted' } }, true, bank.tlsPort, {
      jobStore: { postgres: postgres.connectionString },
    });
    const interrupted = (await api('GET', '/v1/jobs/e2e-bank-crash')).json.job;
    expect(interrupted).toMatchObject({ state: 'failed', phase: 'interrupted', error: { code: 'E_INTERRUPTED' } });
    expect((await api('POST', '/v1/jobs/e2e-bank-crash/cancel')).status).toBe(409);
    // The agencies notice the bank's reset and end their side; resume waits for nothing else.
    expect((await api('POST', '/v1/jobs/e2e-bank-crash/resume')).status).toBe(202);
    const job = await finished('e2e-bank-crash', 300_000);
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect((await api('GET', '/v1/jobs/e2e-bank-crash/metrics')).json.metrics.epochs).toBe(4);
  }, 420_000);

  it('fails a job naming a table an agency does not have with that reason, not a closed channel, and no server path', async () => {
    await api('POST', '/v1/jobs', { job: 'e2e-no-table', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'social-insurance', table: 'nope' }], training: TRAINING });
    const job = await finished('e2e-no-table', 120_000);
    expect(job).toMatchObject({ state: 'failed', error: { code: 'E_TABLE_UNKNOWN', message: 'social-insurance stopped the job: social-insurance has no table "nope"' } });
    expect(JSON.stringify(job)).not.toContain(dir);
  }, 180_000);

  it('refuses job ids that would name the store itself', async () => {
    for (const job of ['.', '..']) {
      const refused = await api('POST', '/v1/jobs', { job, label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }] });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatchObject({ code: 'E_JOB_INVALID', field: 'job' });
    }
  });
});
