/**
 * Four separate OS processes — the bank, two agencies and the platform — each a
 * `jinqiao serve` service on loopback with mutual TLS, run PSI and training on the bundled
 * data when a job is submitted to the bank's HTTPS API, and reach the metrics of the
 * in-process run with the same seed. The tax bureau reads its register from a real
 * PostgreSQL server (Debian's package, started by the test), where the bank keeps its job
 * store. Also: the API refuses what it must, and a killed
 * agency fails the job with the reason within the timeout. `npm run e2e` runs this file.
 *
 * Robust on a loaded 2-core machine. Every service binds port 0 and reports the ports it
 * bound on its first stdout line; a service that comes back gets fresh ports (a port freed
 * by a killed process may be taken by any connection before it is bound again), and the
 * bank, which dials the agencies, is restarted with the new address as an operator would.
 * Every wait has a deadline that fails saying what it waited for and what it saw last; every
 * request has a connection of its own, so no keep-alive socket races the server's
 * keepAliveTimeout. Deadlines are liveness bounds for a machine at load 10+; nothing is
 * timed. Expected counts (aligned and validation rows, epochs, audit entries, files kept)
 * come from the bundled CSVs and the protocol's steps, not from the code under test.
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
import { SAME_ENTERPRISE_PROBABILITY } from '../helpers/score-precision.ts';
import { uscc } from '../helpers/ids.ts';
import { conforms } from '../../src/schemas/check.ts';
import { ScoreAnswer } from '../../src/service/api/score.ts';

/** Two answers for one enterprise (toBeCloseTo(…, 3), 5e-4, is less than the reveal's rounding allows). */
const SAME_ENTERPRISE = SAME_ENTERPRISE_PROBABILITY;
const execFileAsync = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const SME = join(ROOT, 'examples/sme-credit');
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-e2e-'));
const TOKEN = 'e2e-token-0123456789abcdef';
const PARTIES = ['bank', 'tax-bureau', 'social-insurance', 'arbiter'] as const;
const TRAINING = { epochs: 3, batchSize: 1024, seed: 'e2e' };

// Liveness bounds: past one, the failure names what it waited for. Not expectations of speed.
const START_MS = 120_000;
const STOP_MS = 60_000;
const REQUEST_MS = 60_000;
const JOB_MS = 300_000;

interface Running {
  readonly process: ChildProcess;
  readonly tlsPort: number;
  readonly apiPort: number | null;
  readonly log: string[];
  readonly exited: Promise<void>;
}
const services = new Map<string, Running>();
/** Every process started, in order, for its log at the end (services restart). */
const started: { readonly name: string; readonly log: readonly string[] }[] = [];
let postgres: PostgresServer;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `promise`, or a failure naming `what` once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`waited ${ms / 1000} s for ${what}`)), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `probe` until it gives a value; past the deadline, fails naming what it waited for
 * and what it saw last. A probe throws to fail at once (a state the wait cannot leave).
 */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<{ value?: T; seen: string }>, intervalMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { value, seen } = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`waited ${timeoutMs / 1000} s for ${what}; last seen: ${seen}`);
    await sleep(intervalMs);
  }
}

/** A `jinqiao serve` process on ports the OS gives it (TLS, and the API where asked), which it reports once ready. */
async function start(name: string, role: string, partners: Record<string, number>, tables: Record<string, unknown>, api = false, extra: Record<string, unknown> = {}): Promise<Running> {
  const config = {
    name,
    role,
    listen: '127.0.0.1:0',
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
  started.push({ name, log });
  createInterface({ input: child.stderr! }).on('line', (l) => log.push(l));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const ready = new Promise<{ tlsPort: number; apiPort: number | null }>((resolveReady, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => {
      try {
        const { tlsPort, apiPort } = JSON.parse(line) as { tlsPort: number; apiPort: number | null };
        resolveReady({ tlsPort, apiPort });
      } catch {
        reject(new Error(`${name} printed ${JSON.stringify(line)} instead of its ports`));
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`${name} exited with ${code ?? signal} before it was ready`)));
  });
  try {
    const ports = await within(ready, START_MS, `${name} to report the ports it bound`);
    const running = { process: child, ...ports, log, exited };
    services.set(name, running);
    return running;
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}; its log:\n${log.join('\n')}`);
  }
}

/** Stops a service — SIGTERM: it closes its listeners and jobs; SIGKILL: a crash — and waits for its process to end. */
async function stop(name: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const s = running(name);
  services.delete(name);
  s.process.kill(signal);
  await within(s.exited, STOP_MS, `${name} to exit after ${signal}`);
}

/** A service started by this file and not stopped since (a test that failed between a stop and a start leaves it down). */
function running(name: string): Running {
  const s = services.get(name);
  if (!s) throw new Error(`${name} is not running: an earlier test stopped it and failed before starting it again`);
  return s;
}
const tlsPort = (name: string) => running(name).tlsPort;
const startSocial = () => start('social-insurance', 'features', { arbiter: tlsPort('arbiter') }, { insured: { file: join(SME, 'social_insurance.csv'), id: 'uscc' } });
/** The bank dials each partner where it listens now, and keeps its job store in PostgreSQL (the others in SQLite, the default). */
const startBank = () =>
  start('bank', 'label', { arbiter: tlsPort('arbiter'), 'tax-bureau': tlsPort('tax-bureau'), 'social-insurance': tlsPort('social-insurance') }, { customers: { file: join(SME, 'bank.csv'), id: 'uscc', label: 'defaulted' } }, true, {
    jobStore: { postgres: postgres.connectionString },
  });

/**
 * One HTTPS request on a connection of its own (no keep-alive socket can go stale between
 * polls on a busy machine), trusting the party's own certificate, which its API serves.
 */
function api(method: string, path: string, body?: unknown, token = TOKEN, party = 'bank'): Promise<{ status: number; json: Record<string, any> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolveReply, reject) => {
    const req = request(
      { host: '127.0.0.1', port: running(party).apiPort!, path, method, agent: false, timeout: REQUEST_MS, ca: readFileSync(join(dir, `${party}.crt`)), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolveReply({ status: res.statusCode!, json: JSON.parse(text) });
          } catch {
            reject(new Error(`${method} ${path}: ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_MS / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The job once it has left queued and running. */
function finished(id: string, timeoutMs = JOB_MS): Promise<Record<string, any>> {
  return waitFor(`job ${id} to end`, timeoutMs, async () => {
    const { json } = await api('GET', `/v1/jobs/${id}`);
    return { value: ['queued', 'running'].includes(json.job.state) ? undefined : json.job, seen: `${json.job.state}, phase ${json.job.phase}` };
  }, 300);
}

/** Waits until job `id` is in training, past its `epochs`-th epoch where asked; fails at once if it ends first. */
function training(id: string, epochs = 0): Promise<true> {
  return waitFor(`job ${id} to train${epochs > 0 ? ` past epoch ${epochs}` : ''}`, JOB_MS, async () => {
    const { json } = await api('GET', `/v1/jobs/${id}`);
    expect(['queued', 'running'], `job ${id} ended before: ${JSON.stringify(json.job.error)}`).toContain(json.job.state);
    const inTraining = json.job.phase === 'batch' || json.job.phase === 'epoch';
    const done = epochs === 0 ? inTraining : json.job.phase === 'epoch' && json.job.progress.epoch >= epochs;
    return { value: done ? true : undefined, seen: `${json.job.state}, phase ${json.job.phase}, progress ${JSON.stringify(json.job.progress)}` };
  }, 100);
}

// ---- Expected counts, from the bundled CSVs and the protocol alone ----------------------

const idsOf = (file: string) => new Set(readFileSync(join(SME, file), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!));
const [BANK_IDS, TAX_IDS, SOCIAL_IDS] = [idsOf('bank.csv'), idsOf('tax_bureau.csv'), idsOf('social_insurance.csv')];
/** Rows a training job aligns: the bank's enterprises every one of its agencies holds (these files repeat no ID and hold no invalid one). */
const alignedWith = (...agencies: Set<string>[]) => [...BANK_IDS].filter((id) => agencies.every((a) => a.has(id))).length;
/** Rows held out for validation at the default fraction 0.2 (the aligned counts here are multiples of 5, so no rounding). */
function validationRows(aligned: number): number {
  expect(aligned % 5).toBe(0);
  return aligned / 5;
}
/** The tax bureau's audit entries, in order. */
const taxAudit = () => readFileSync(join(dir, 'tax-bureau.audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, any> });
/** What a succeeded job leaves in the bank's job folder: its outputs, and no per-epoch checkpoint (none is kept). */
const BANK_JOB_FILES = ['manifest.json', 'metrics.json', 'model-bank.json', 'predictions.csv', 'report.html'];
const jobFiles = (party: string, job: string) => readdirSync(join(dir, `store-${party}`, 'jobs', job)).sort();
/** The validation rows the bank's metrics.json counts (the API's metrics leave them out). */
const keptValidationRows = (job: string) => (JSON.parse(readFileSync(join(dir, 'store-bank', 'jobs', job, 'metrics.json'), 'utf8')) as { validationRows: number }).validationRows;
const predictionRows = (job: string) => readFileSync(join(dir, 'store-bank', 'jobs', job, 'predictions.csv'), 'utf8').trim().split('\n').length - 1;

/** A training job's entries in the tax bureau's audit log: admitted and started per attempt; the run and the export once it completes. */
function expectTaxAudit(job: string, attempts: number, run: { aligned: number; epochs: number }): void {
  const entries = taxAudit().filter((e) => e.details.job === job);
  const attempt = ['job.admitted', 'training.start'];
  expect(entries.map((e) => e.type)).toEqual([...Array.from({ length: attempts }, () => attempt).flat(), 'training.run', 'model.export']);
  for (const e of entries.filter((e) => e.type === 'training.start')) expect(e.details.rows).toBe(TAX_IDS.size);
  expect(entries.find((e) => e.type === 'training.run')!.details).toMatchObject(run);
}

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
  await start('arbiter', 'arbiter', {}, {});
  // The tax bureau serves the API too: every party may (it lists the jobs it took part in).
  await start('tax-bureau', 'features', { arbiter: tlsPort('arbiter') }, { taxpayers: { postgres: postgres.connectionString, table: 'taxpayers', id: 'uscc' } }, true, {
    governance: { institution: 'tax-bureau', policy: 'tax-policy.yaml', audit: 'tax-bureau.audit.jsonl', key: 'tax-bureau-gov.key' },
  });
  await startSocial();
  await startBank();
}, 4 * START_MS + 120_000);

afterAll(async () => {
  // No process outlives the test: one that does not stop within the deadline is killed.
  await Promise.all(
    [...services].map(([name, s]) =>
      stop(name, 'SIGTERM').catch(() => {
        s.process.kill('SIGKILL');
      }),
    ),
  );
  // The services' own logs (every process, restarts included), kept beside their stores for anyone reading a failure.
  for (const name of new Set(started.map((s) => s.name))) {
    const runs = started.filter((s) => s.name === name);
    writeFileSync(join(dir, `${name}.log`), runs.map((s, k) => `--- process ${k + 1} of ${runs.length} ---\n${s.log.join('\n')}\n`).join(''));
  }
  await postgres?.stop();
}, STOP_MS + 60_000);

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
    expect(['bank', 'tax-bureau', 'social-insurance'].flatMap((party) => jobFiles(party, 'e2e-1')).sort()).toEqual(readdirSync(localOut).sort());
    expect(jobFiles('bank', 'e2e-1')).toEqual(BANK_JOB_FILES);
    const serviceMetrics = JSON.parse(readFileSync(join(dir, 'store-bank', 'jobs', 'e2e-1', 'metrics.json'), 'utf8'));
    const localMetrics = JSON.parse(readFileSync(join(localOut, 'metrics.json'), 'utf8'));
    expect(Object.keys(serviceMetrics)).toEqual(Object.keys(localMetrics));
    expect(Math.abs(serviceMetrics.auc - localMetrics.auc)).toBeLessThan(1e-3);
    expect(readFileSync(join(dir, 'store-bank', 'jobs', 'e2e-1', 'report.html'), 'utf8')).toContain('<svg');
    const aligned = alignedWith(TAX_IDS, SOCIAL_IDS);
    expect(json.metrics.alignedRows).toBe(aligned);
    expect(local.alignedRows).toBe(aligned);
    expect(keptValidationRows('e2e-1')).toBe(validationRows(aligned));
    expect(predictionRows('e2e-1')).toBe(validationRows(aligned));
    expect(json.metrics.epochs).toBe(TRAINING.epochs);
    const [stored] = await queryRows(postgres.connectionString, "SELECT state, result->>'auc' AS auc FROM jinqiao_jobs WHERE party = 'bank' AND id = 'e2e-1'");
    expect(stored).toMatchObject({ state: 'succeeded', auc: String(json.metrics.auc) });
    // Masks are fresh in every run, so decryptions differ in the last rounding step only.
    expect(Math.abs(json.metrics.auc - local.metrics.auc)).toBeLessThan(1e-3);
    expect(json.metrics.lossCurve).toHaveLength(3);
    for (const [i, loss] of local.lossCurve.entries()) expect(Math.abs(json.metrics.lossCurve[i] - loss)).toBeLessThan(1e-3);
  }, JOB_MS + 300_000);

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
    expect(conforms(ScoreAnswer, first.json)).toBe(true);
    // An ID outside the bank's book is answered on its own (unknown), the rest scored, and the answer is as /openapi.json documents it.
    const outside = Array.from({ length: 50 }, (_, n) => uscc(n)).find((id) => !bankIds.includes(id))!;
    const again = await api('POST', '/v1/score', { model: 'e2e-1', ids: [ids[0], outside] });
    expect(Math.abs(again.json.scores[0].probability - first.json.scores[0].probability)).toBeLessThan(SAME_ENTERPRISE);
    expect(again.json.scores[1]).toMatchObject({ id: outside, status: 'unknown', code: 'E_SCORE_REFUSED', rule: 'id.unknown' });
    expect(conforms(ScoreAnswer, again.json)).toBe(true);
    const bad = await api('POST', '/v1/score', { model: 'e2e-1', ids: ['91350100M000100Y44'] });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'E_OPTION_INVALID', field: 'ids' });
    const untrained = await api('POST', '/v1/score', { model: 'no-such-job', ids });
    expect(untrained.json.error.code).toBe('E_MODEL_INVALID');
  }, 4 * REQUEST_MS + 60_000);

  it('answers overlapping scoring requests, each as it would be answered alone', async () => {
    const bank = readFileSync(join(SME, 'bank.csv'), 'utf8').trim().split('\n').slice(301, 309).map((l) => l.split(',')[0]!);
    const alone = [];
    for (const id of bank) alone.push((await api('POST', '/v1/score', { model: 'e2e-1', ids: [id], decoys: 2 })).json.scores[0]);
    const together = await Promise.all(bank.map((id) => api('POST', '/v1/score', { model: 'e2e-1', ids: [id], decoys: 2 })));
    for (const [i, answer] of together.entries()) {
      expect(answer.status, JSON.stringify(answer.json)).toBe(200);
      expect(answer.json.scores[0]).toMatchObject({ id: bank[i], status: alone[i].status, fallbacks: alone[i].fallbacks });
      if (alone[i].status === 'scored') expect(Math.abs(answer.json.scores[0].probability - alone[i].probability)).toBeLessThan(SAME_ENTERPRISE);
    }
  }, 9 * REQUEST_MS + 60_000);

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
  }, 5 * REQUEST_MS + 60_000);

  it("refuses a job outside the tax bureau's policy before any data moves, and audits every step", async () => {
    await api('POST', '/v1/jobs', { job: 'e2e-marketing', purpose: 'marketing', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: TRAINING });
    const job = await finished('e2e-marketing', 120_000);
    expect(job.state).toBe('failed');
    // The tax bureau tells the bank its rule (its policy, not its data), so the operator sees why.
    expect(job.error).toMatchObject({ code: 'E_POLICY_REFUSED', message: expect.stringMatching(/^tax-bureau stopped the job: refused by policy rule purpose.undeclared/) });
    const log = readFileSync(join(dir, 'tax-bureau.audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.find((e) => e.details.job === 'e2e-marketing')).toMatchObject({ type: 'job.refused', details: { rule: 'purpose.undeclared' } });
    expectTaxAudit('e2e-1', 1, { aligned: alignedWith(TAX_IDS, SOCIAL_IDS), epochs: TRAINING.epochs });
    // One scoring request without decoys, of two enterprises both agencies hold: one query of
    // two slots and one answer scoring both, nothing else (a session opened earlier may still
    // be admitting itself, hence only scoring entries are counted).
    const before = log.length;
    const both = [...BANK_IDS].filter((id) => TAX_IDS.has(id) && SOCIAL_IDS.has(id)).slice(10, 12);
    expect((await api('POST', '/v1/score', { model: 'e2e-1', ids: both })).status).toBe(200);
    const scoring = taxAudit().slice(before).filter((e) => e.type.startsWith('scoring.'));
    expect(scoring).toMatchObject([
      { type: 'scoring.query', details: { slots: 2, monitoring: false } },
      { type: 'scoring.answered', details: { scored: 2 } },
    ]);
    expect(scoring[1]!.details).toMatchObject({ session: scoring[0]!.details.session, request: scoring[0]!.details.request });
    // The bank kept the tax bureau's signed head at the end of e2e-1 (exchanged over TLS): the log still extends it.
    const taxKey = (await loadPublicKey(join(dir, 'tax-bureau-gov.pub'))).publicKey;
    const kept = await loadAuditAnchors(join(dir, 'store-bank', 'anchors', 'tax-bureau.jsonl'), taxKey);
    expect(kept.anchors.map((a) => a.job)).toContain('e2e-1');
    const verdict = await verifyAuditLog(join(dir, 'tax-bureau.audit.jsonl'), taxKey, kept.anchors);
    expect(verdict).toMatchObject({ ok: true, anchors: kept.anchors.length });
  }, 2 * REQUEST_MS + 120_000 + 60_000);

  it('cancels a running job on request', async () => {
    await api('POST', '/v1/jobs', { job: 'e2e-cancelled', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: { ...TRAINING, epochs: 40, allowPartialScoreDisclosure: true } });
    await training('e2e-cancelled');
    expect((await api('POST', '/v1/jobs/e2e-cancelled/cancel')).status).toBe(202);
    const job = await finished('e2e-cancelled', 120_000);
    expect(job.state).toBe('cancelled');
    expect((await api('POST', '/v1/jobs/e2e-cancelled/cancel')).status).toBe(409);
    expect((await api('GET', '/v1/jobs/e2e-cancelled/metrics')).status).toBe(409);
    // Admitted and started at the tax bureau, and nothing kept anywhere.
    expect(taxAudit().filter((e) => e.details.job === 'e2e-cancelled').map((e) => e.type)).toEqual(['job.admitted', 'training.start']);
    expect(jobFiles('bank', 'e2e-cancelled')).toEqual([]);
    expect(jobFiles('tax-bureau', 'e2e-cancelled')).toEqual([]);
  }, JOB_MS + 120_000 + 60_000);

  it('fails the job with the reason when an agency dies mid-training, and resume completes it with the same model', async () => {
    const killedJob = { ...TRAINING, epochs: 6 };
    await api('POST', '/v1/jobs', { job: 'e2e-killed', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }, { party: 'social-insurance', table: 'insured' }], training: killedJob });
    await training('e2e-killed', 1);
    await stop('social-insurance', 'SIGKILL');
    const job = await finished('e2e-killed', 120_000);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('E_CHANNEL_CLOSED');
    // A killed process resets its connections: the job fails on that, not on the peers'
    // 60 s silence timeout, whose message says "timed out" (checked by what, not by when).
    expect(job.error.message).not.toMatch(/timed out/);

    // The agency comes back with the same store on fresh ports; the bank is restarted with its address.
    await startSocial();
    await stop('bank', 'SIGTERM');
    await startBank();
    expect((await api('GET', '/v1/jobs/e2e-killed')).json.job).toMatchObject({ state: 'failed', error: { code: 'E_CHANNEL_CLOSED' } });
    const resumed = await execFileAsync(process.execPath, [join(ROOT, 'bin/jinqiao.js'), 'resume', 'e2e-killed', '--to', `https://127.0.0.1:${running('bank').apiPort}`, '--ca', join(dir, 'bank.crt'), '--token', TOKEN, '--wait'], { encoding: 'utf8', timeout: JOB_MS });
    expect(JSON.parse(resumed.stdout).state).toBe('succeeded');
    const { json } = await api('GET', '/v1/jobs/e2e-killed/metrics');
    // Exact counts: every epoch run again from the first, the rows of the three tables' overlap.
    const aligned = alignedWith(TAX_IDS, SOCIAL_IDS);
    expect(json.metrics).toMatchObject({ epochs: 6, alignedRows: aligned });
    expect(keptValidationRows('e2e-killed')).toBe(validationRows(aligned));
    expect(json.metrics.lossCurve).toHaveLength(6);
    expect(predictionRows('e2e-killed')).toBe(validationRows(aligned));
    // Two attempts at the tax bureau (admitted and started twice), one run and one export.
    expectTaxAudit('e2e-killed', 2, { aligned, epochs: 6 });
    // Each party keeps its outputs only: nothing of the failed attempt, no checkpoint.
    expect(jobFiles('bank', 'e2e-killed')).toEqual(BANK_JOB_FILES);
    expect(jobFiles('tax-bureau', 'e2e-killed')).toEqual(['model-tax-bureau.json']);
    expect(jobFiles('social-insurance', 'e2e-killed')).toEqual(['model-social-insurance.json']);

    const uninterrupted = await runLocalTraining({
      label: { file: join(SME, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
      features: [
        { file: join(SME, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax-bureau' },
        { file: join(SME, 'social_insurance.csv'), idColumn: 'uscc', name: 'social-insurance' },
      ],
      config: { ...killedJob, jobId: 'e2e-uninterrupted' },
    });
    expect(uninterrupted.alignedRows).toBe(aligned);
    expect(Math.abs(json.metrics.auc - uninterrupted.metrics.auc)).toBeLessThan(1e-3);
    for (const [i, loss] of uninterrupted.lossCurve.entries()) expect(Math.abs(json.metrics.lossCurve[i] - loss)).toBeLessThan(1e-3);
  }, 3 * JOB_MS + 2 * START_MS + STOP_MS + 300_000);

  it('marks the jobs a crashed bank was running as interrupted when it restarts, and resume completes them', async () => {
    const crashJob = { ...TRAINING, epochs: 4, allowPartialScoreDisclosure: true };
    await api('POST', '/v1/jobs', { job: 'e2e-bank-crash', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }], training: crashJob });
    await training('e2e-bank-crash', 1);
    await stop('bank', 'SIGKILL');
    await startBank();
    const interrupted = (await api('GET', '/v1/jobs/e2e-bank-crash')).json.job;
    expect(interrupted).toMatchObject({ state: 'failed', phase: 'interrupted', error: { code: 'E_INTERRUPTED' } });
    expect((await api('POST', '/v1/jobs/e2e-bank-crash/cancel')).status).toBe(409);
    // The agencies notice the bank's reset and end their side; resume waits for nothing else.
    expect((await api('POST', '/v1/jobs/e2e-bank-crash/resume')).status).toBe(202);
    const job = await finished('e2e-bank-crash');
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    const { json } = await api('GET', '/v1/jobs/e2e-bank-crash/metrics');
    // The bank's and the tax bureau's overlap only; four epochs from the first; two attempts at the tax bureau.
    const aligned = alignedWith(TAX_IDS);
    expect(json.metrics).toMatchObject({ epochs: 4, alignedRows: aligned });
    expect(keptValidationRows('e2e-bank-crash')).toBe(validationRows(aligned));
    expect(json.metrics.lossCurve).toHaveLength(4);
    expect(predictionRows('e2e-bank-crash')).toBe(validationRows(aligned));
    expectTaxAudit('e2e-bank-crash', 2, { aligned, epochs: 4 });
    expect(jobFiles('bank', 'e2e-bank-crash')).toEqual(BANK_JOB_FILES);
    expect(jobFiles('tax-bureau', 'e2e-bank-crash')).toEqual(['model-tax-bureau.json']);
  }, 2 * JOB_MS + START_MS + STOP_MS + 120_000);

  it('fails a job naming a table an agency does not have with that reason, not a closed channel, and no server path', async () => {
    await api('POST', '/v1/jobs', { job: 'e2e-no-table', purpose: 'credit-modeling', label: { table: 'customers' }, features: [{ party: 'social-insurance', table: 'nope' }], training: TRAINING });
    const job = await finished('e2e-no-table', 120_000);
    expect(job).toMatchObject({ state: 'failed', error: { code: 'E_TABLE_UNKNOWN', message: 'social-insurance stopped the job: social-insurance has no table "nope"' } });
    expect(JSON.stringify(job)).not.toContain(dir);
  }, 120_000 + 2 * REQUEST_MS + 60_000);

  it('refuses job ids that would name the store itself', async () => {
    for (const job of ['.', '..']) {
      const refused = await api('POST', '/v1/jobs', { job, label: { table: 'customers' }, features: [{ party: 'tax-bureau', table: 'taxpayers' }] });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatchObject({ code: 'E_JOB_INVALID', field: 'job' });
    }
  });
});
