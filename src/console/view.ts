/**
 * What the operators' console shows and may do, as one interface the pages are rendered
 * from: jobs with their state, phase and measured progress, approvals waiting for this
 * party's operator, the audit log with its verification, the governance in force, and the
 * scoring runs. `consoleViewOf` builds it from a running party service.
 *
 * Who sees what: the view holds only what the party's own service holds (its job store, its
 * own audit log and policy, its own job folder); nothing is fetched from partners. Actions
 * are the service's own methods, so the console can do nothing the API cannot.
 *
 * Methods another branch of the service adds (approve, reject, listJobs) are looked up on
 * the service at run time: where one is missing, the action is absent from the view and the
 * pages do not offer it.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { anchorsFileOf, loadAuditAnchors, readAuditEntries, verifyAuditLog, type AuditAnchor, type AuditEntry, type AuditVerdict } from '../governance/audit.ts';
import { verifyConsent, type ConsentToken } from '../governance/consent.ts';
import type { DataHolderPolicy } from '../governance/policy.ts';
import { loadRuns, type MonitoringRun } from '../score/monitoring.ts';
import type { PartyService } from '../service/party-service.ts';
import type { JobRecord } from '../service/store.ts';

/** Job states of the service, including those the approval queue adds. */
export type ConsoleJobState = 'queued' | 'awaiting-approval' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'rejected' | (string & {});

export interface ProgressView {
  /** Share of the training's batches done, 0 to 1; undefined before training starts. */
  readonly fraction: number | undefined;
  readonly epoch: number | undefined;
  readonly epochs: number | undefined;
  /** Seconds since the console first saw the job running. */
  readonly elapsedSeconds: number;
  /** Mean seconds per epoch, measured from the progress the console saw; undefined until measurable. */
  readonly epochSeconds: number | undefined;
  /** Seconds left at the measured pace; undefined until measurable. */
  readonly etaSeconds: number | undefined;
}

export interface JobView {
  readonly id: string;
  readonly state: ConsoleJobState;
  readonly phase: string;
  readonly kind: string;
  readonly purpose: string | undefined;
  /** The other parties of the job, as this party knows them. */
  readonly partners: readonly string[];
  /** Who opened the job (a partner's job) or undefined (submitted here). */
  readonly from: string | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly progress: ProgressView | undefined;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** Position in the service's queue (1 = next), when queued. */
  readonly queuePosition: number | undefined;
  /** What the job asked this party's operator to approve, and the decision once taken. */
  readonly approval: ApprovalView | undefined;
}

export interface ApprovalView {
  readonly partners: readonly string[];
  readonly purpose: string;
  /** This party's own fields the job uses. */
  readonly fields: readonly string[];
  /** This party's rows the job would use, after consent filtering, where known. */
  readonly rows: number | undefined;
  readonly requestedAt: string | undefined;
  readonly decision: { readonly approved: boolean; readonly operator: string; readonly reason?: string; readonly at: string } | undefined;
}

export interface FileDigest {
  readonly name: string;
  readonly sha256: string;
  readonly bytes: number;
}

export interface JobDetailView extends JobView {
  readonly definition: Record<string, unknown>;
  readonly parameters: Record<string, unknown>;
  readonly result: Record<string, unknown> | null;
  readonly lossCurve: readonly number[];
  /** The ROC curve of the validation rows (label party only, from metrics.json). */
  readonly roc: readonly { readonly falsePositiveRate: number; readonly truePositiveRate: number }[] | undefined;
  readonly modelSlices: readonly FileDigest[];
  readonly checkpoints: readonly FileDigest[];
  readonly hasReport: boolean;
}

export type ActionName = 'cancel' | 'resume' | 'approve' | 'reject';

export interface ActionRequest {
  readonly operator: string;
  readonly reason?: string;
}

/**
 * The service methods behind the buttons; an absent one is an action the service does not
 * offer. Each settles once the action is in the party's audit log and has taken effect.
 */
export interface ConsoleActions {
  readonly cancel?: (jobId: string, request: ActionRequest) => void | Promise<void>;
  readonly resume?: (jobId: string, request: ActionRequest) => void | Promise<void>;
  /** Resolves once the decision is audited and the job moves on. */
  readonly approve?: (jobId: string, request: ActionRequest) => Promise<void>;
  readonly reject?: (jobId: string, request: ActionRequest) => Promise<void>;
}

export interface AuditRow {
  readonly line: number;
  readonly entry: AuditEntry | undefined;
  readonly text: string;
}

export interface AuditView {
  readonly file: string;
  readonly entries: readonly AuditRow[];
  readonly verdict: AuditVerdict;
  /** Anchors of this log's head that partners signed copies of, as far as this service holds them. */
  readonly anchors: readonly AuditAnchor[];
  /** Anchors of partners' logs this party keeps. */
  readonly partnerAnchorsKept: number;
  /** The latest anchor this party keeps of each partner's log (`<store>/anchors/<partner>.jsonl`), as written there. */
  readonly partnerHeads: readonly { readonly partner: string; readonly seq: number; readonly hash: string; readonly job: string; readonly time: string }[];
}

export type ConsentStatus = 'valid' | 'expiring' | 'revoked' | 'expired' | 'not-yet-valid' | 'invalid';

export interface ConsentRow {
  readonly tokenId: string;
  readonly enterprise: string;
  readonly partners: readonly string[];
  readonly purposes: readonly string[];
  readonly notAfter: string;
  readonly status: ConsentStatus;
  readonly why: string | undefined;
}

export interface GovernanceView {
  readonly institution: string;
  readonly policy: DataHolderPolicy | undefined;
  readonly consent: readonly ConsentRow[] | undefined;
  /** Refusals in the audit log, by the rule that refused. */
  readonly refusals: ReadonlyMap<string, number>;
}

export interface ConsoleView {
  readonly party: string;
  readonly role: 'label' | 'features' | 'arbiter';
  readonly actions: ConsoleActions;
  jobs(): readonly JobView[];
  job(id: string): Promise<JobDetailView | undefined>;
  /** The job's self-contained training report (label party), if it wrote one. */
  report(id: string): Promise<string | undefined>;
  /** Jobs waiting for this party's operator. */
  approvals(): readonly JobView[];
  audit(): Promise<AuditView | undefined>;
  governance(): Promise<GovernanceView | undefined>;
  /** Monitoring runs, oldest first. */
  scoring(): Promise<readonly MonitoringRun[]>;
  /** Records that an operator signed in (`console.signed-in` in the party's audit log, by name; never the token). */
  signedIn(operator: string): Promise<void>;
  close(): void;
}

type StoredJob = JobRecord & { position?: number; approval?: unknown };

export interface ConsoleViewOptions {
  /** Where `jinqiao monitor` keeps the runs shown on the scoring page. */
  readonly monitoringDir?: string;
  /** Anchors of this party's log that partners returned (the service's anchor exchange). */
  readonly anchors?: () => Promise<readonly AuditAnchor[]>;
  /** How often running jobs' progress is sampled to measure their pace (ms). */
  readonly sampleMs?: number;
  readonly now?: () => number;
}

const EXPIRING_DAYS = 30;

export function consoleViewOf(service: PartyService, options: ConsoleViewOptions = {}): ConsoleView {
  const config = service.config;
  const now = options.now ?? Date.now;
  const clock = new ProgressClock();
  const records = (): readonly StoredJob[] => {
    const positions = new Map(service.listJobs().map((j) => [j.id, j.position]));
    return service.store.list().map((r) => ({ ...r, position: positions.get(r.id) }));
  };
  const sample = () => {
    for (const r of records()) clock.observe(r, now());
  };
  const timer = setInterval(sample, options.sampleMs ?? 250);
  timer.unref();
  const jobFolder = (id: string) => join(config.store, 'jobs', id.replace(/[^A-Za-z0-9._-]/g, '_'));
  const toView = (r: StoredJob): JobView => {
    const def = r.definition;
    const features = Array.isArray(def.features) ? (def.features as { party?: unknown }[]).map((f) => String(f.party)) : [];
    const parties = Array.isArray(def.parties) ? (def.parties as unknown[]).map(String).filter((p) => p !== config.name) : [];
    const arbiter = typeof def.arbiter === 'string' ? [def.arbiter] : features.length > 0 ? ['arbiter'] : [];
    return {
      id: r.id,
      state: r.state,
      phase: r.phase,
      kind: typeof def.kind === 'string' ? def.kind : 'training',
      purpose: typeof def.purpose === 'string' ? def.purpose : undefined,
      partners: parties.length > 0 ? parties : [...features, ...arbiter],
      from: typeof def.from === 'string' ? def.from : undefined,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      progress: r.state === 'running' ? clock.observe(r, now()) : undefined,
      error: r.error,
      queuePosition: typeof r.position === 'number' ? r.position : undefined,
      approval: approvalOf(r.approval),
    };
  };
  const auditLog = config.governance?.audit;

  const actions: ConsoleActions = {
    cancel: async (jobId, r) => {
      if (!(await service.cancel(jobId, { operator: r.operator }))) throw errors.notRunning(jobId, service.store.get(jobId)?.state ?? 'unknown');
    },
    ...(config.role === 'label' ? { resume: async (jobId: string, r: ActionRequest) => void (await service.resume(jobId, { operator: r.operator })) } : {}),
    approve: async (jobId, r) => void (await service.approve(jobId, { operator: r.operator, ...(r.reason ? { reason: r.reason } : {}) })),
    reject: async (jobId, r) => void (await service.reject(jobId, { operator: r.operator, reason: r.reason ?? '' })),
  };

  return {
    party: config.name,
    role: config.role,
    actions,
    jobs: () => records().map(toView),
    approvals: () => records().filter((r) => (r.state as ConsoleJobState) === 'awaiting-approval').map(toView),
    async job(id) {
      const r = records().find((x) => x.id === id);
      if (!r) return undefined;
      const folder = jobFolder(id);
      const files = await readdir(folder).catch(() => [] as string[]);
      const digests = async (names: string[]) => Promise.all(names.sort().map((name) => digestOf(join(folder, name), name)));
      const metrics = files.includes('metrics.json') ? await readJson(join(folder, 'metrics.json')) : undefined;
      const result = r.result;
      const lossCurve = Array.isArray(result?.lossCurve) ? (result.lossCurve as number[]) : Array.isArray(metrics?.lossCurve) ? (metrics.lossCurve as number[]) : [];
      return {
        ...toView(r),
        definition: r.definition,
        parameters: isObject(r.definition.training) ? r.definition.training : isObject(r.definition.config) ? r.definition.config : {},
        result,
        lossCurve,
        roc: Array.isArray(metrics?.roc) ? (metrics.roc as JobDetailView['roc']) : undefined,
        modelSlices: await digests(files.filter((f) => /^model-.*\.json$/.test(f))),
        checkpoints: await digests(files.filter((f) => /checkpoint/i.test(f))),
        hasReport: files.includes('report.html'),
      };
    },
    async report(id) {
      if (!records().some((x) => x.id === id)) return undefined;
      return readFile(join(jobFolder(id), 'report.html'), 'utf8').catch(() => undefined);
    },
    async audit() {
      if (!auditLog) return undefined;
      const kept = await loadAuditAnchors(anchorsFileOf(auditLog.file), auditLog.publicKey).catch(() => ({ anchors: [] as AuditAnchor[], others: 0 }));
      const returned = options.anchors ? await options.anchors() : [];
      const anchors = [...kept.anchors, ...returned];
      const verdict = await verifyAuditLog(auditLog.file, auditLog.publicKey, anchors).catch((e: Error): AuditVerdict => ({ ok: false, line: 0, seq: undefined, reason: e.message }));
      const partnerHeads = await keptPartnerHeads(join(config.store, 'anchors'));
      return { file: auditLog.file, entries: await readAuditEntries(auditLog.file), verdict, anchors, partnerAnchorsKept: kept.others + partnerHeads.reduce((n, h) => n + h.count, 0), partnerHeads };
    },
    async governance() {
      const g = config.governance;
      if (!g) return undefined;
      const refusals = new Map<string, number>();
      if (g.audit) {
        for (const { entry } of await readAuditEntries(g.audit.file)) {
          if (entry?.type !== 'job.refused') continue;
          const rule = String(entry.details.rule ?? 'unknown');
          refusals.set(rule, (refusals.get(rule) ?? 0) + 1);
        }
      }
      const consent = g.consent;
      return {
        institution: g.institution,
        policy: g.policy,
        consent: consent ? consent.tokens.map((t) => consentRow(t, consent.trustedIssuers, consent.revoked, new Date(now()))) : undefined,
        refusals,
      };
    },
    scoring: async () => (options.monitoringDir ? loadRuns(options.monitoringDir) : []),
    signedIn: async (operator) => void (await auditLog?.append('console.signed-in', { operator })),
    close: () => clearInterval(timer),
  };
}

/** Per partner, the last anchor line of its anchors file, and how many it holds (the service checked each when it kept it). */
async function keptPartnerHeads(folder: string): Promise<(AuditView['partnerHeads'][number] & { count: number })[]> {
  const files = (await readdir(folder).catch(() => [] as string[])).filter((f) => f.endsWith('.jsonl')).sort();
  const heads = [];
  for (const file of files) {
    const lines = (await readFile(join(folder, file), 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '');
    const last = lines.length === 0 ? undefined : (() => {
      try {
        return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    })();
    if (!last) continue;
    heads.push({ partner: typeof last.party === 'string' ? last.party : file.replace(/\.jsonl$/, ''), seq: Number(last.seq), hash: String(last.hash ?? ''), job: String(last.job ?? ''), time: String(last.time ?? ''), count: lines.length });
  }
  return heads;
}

function approvalOf(value: unknown): ApprovalView | undefined {
  if (!isObject(value) || !isObject(value.request)) return undefined;
  const request = value.request;
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  const decision = isObject(value.decision) ? (value.decision as unknown as ApprovalView['decision']) : undefined;
  return {
    partners: list(request.partners),
    purpose: String(request.purpose ?? ''),
    fields: list(request.fields),
    rows: typeof request.rows === 'number' ? request.rows : undefined,
    requestedAt: typeof value.requestedAt === 'string' ? value.requestedAt : undefined,
    decision,
  };
}

/** A token's standing on its own terms: signature, revocation and validity period (a job's partners and fields aside). */
function consentRow(token: unknown, trustedIssuers: Parameters<typeof verifyConsent>[1]['trustedIssuers'], revoked: ReadonlySet<string>, at: Date): ConsentRow {
  const t = (isObject(token) ? token : {}) as Partial<ConsentToken>;
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  const verdict = verifyConsent(token, { trustedIssuers, revoked, now: at, partners: list(t.partners).slice(0, 1).length ? list(t.partners) : ['-'], purpose: list(t.purposes)[0] ?? '-', fields: list(t.fields) });
  let status: ConsentStatus;
  if (verdict.valid) status = Date.parse(verdict.token.notAfter) - at.getTime() < EXPIRING_DAYS * 86_400_000 ? 'expiring' : 'valid';
  else if (verdict.reason === 'revoked' || verdict.reason === 'expired' || verdict.reason === 'not-yet-valid') status = verdict.reason;
  else status = 'invalid';
  return {
    tokenId: String(t.tokenId ?? '?'),
    enterprise: String(t.enterprise ?? '?'),
    partners: list(t.partners),
    purposes: list(t.purposes),
    notAfter: String(t.notAfter ?? ''),
    status,
    why: verdict.valid ? undefined : verdict.message,
  };
}

/**
 * Measures a running job's pace from its progress as the console samples it: when each
 * epoch was first seen to start, and how far the batches had got at the first sample.
 */
export class ProgressClock {
  readonly #jobs = new Map<string, { since: number; state: string; first?: { at: number; fraction: number }; epochStarts: Map<number, number> }>();

  observe(record: Pick<JobRecord, 'id' | 'state' | 'progress'>, at: number): ProgressView {
    let seen = this.#jobs.get(record.id);
    if (!seen || seen.state !== record.state) {
      seen = { since: at, state: record.state, epochStarts: new Map() };
      this.#jobs.set(record.id, seen);
    }
    const p = record.progress as { phase?: string; epoch?: number; epochs?: number; batch?: number; batches?: number };
    let fraction: number | undefined;
    let epoch: number | undefined;
    if (p.phase === 'batch' && num(p.epoch) && num(p.epochs) && num(p.batch) && num(p.batches) && p.epochs > 0 && p.batches > 0) {
      fraction = (p.epoch * p.batches + p.batch + 1) / (p.epochs * p.batches);
      epoch = p.epoch + 1;
      if (!seen.epochStarts.has(p.epoch)) seen.epochStarts.set(p.epoch, at);
    } else if (p.phase === 'epoch' && num(p.epoch) && num(p.epochs) && p.epochs > 0) {
      fraction = (p.epoch + 1) / p.epochs;
      epoch = p.epoch + 1;
    } else if (p.phase === 'evaluate') {
      fraction = 1;
    }
    const epochs = num(p.epochs) ? p.epochs : undefined;
    if (fraction !== undefined && seen.first === undefined) seen.first = { at, fraction };
    let epochSeconds: number | undefined;
    const starts = [...seen.epochStarts.entries()].sort((a, b) => a[0] - b[0]);
    if (starts.length >= 2) {
      const [e0, t0] = starts[0]!;
      const [e1, t1] = starts.at(-1)!;
      epochSeconds = (t1 - t0) / 1000 / (e1 - e0);
    } else if (seen.first && fraction !== undefined && fraction > seen.first.fraction && epochs) {
      epochSeconds = ((at - seen.first.at) / 1000 / (fraction - seen.first.fraction)) / epochs;
    }
    const etaSeconds = epochSeconds !== undefined && fraction !== undefined && epochs ? Math.max(0, (1 - fraction) * epochs * epochSeconds) : undefined;
    return { fraction, epoch, epochs, elapsedSeconds: (at - seen.since) / 1000, epochSeconds, etaSeconds };
  }
}

async function digestOf(file: string, name: string): Promise<FileDigest> {
  const bytes = await readFile(file);
  return { name, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
