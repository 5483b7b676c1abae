/**
 * Job files: the form users keep in version control. YAML or JSON, paths relative to the
 * file. FATE's role names are accepted as aliases (guest = label, host/hosts = features).
 * Every problem names the file, the field (and for YAML syntax, line and column).
 */
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../data/yaml.ts';
import { errors, shownValue } from '../errors.ts';
import { TRAINING_DEFAULTS, type TrainingConfig } from '../lr/config.ts';
import { AuditLog } from '../governance/audit.ts';
import { loadConsentTokens, loadRevocationList } from '../governance/consent.ts';
import type { PartyGovernance } from '../governance/gate.ts';
import { loadPublicKey, loadSecretKey } from '../governance/keys.ts';
import { loadPolicy } from '../governance/policy.ts';
import type { JobGovernance, LocalTrainingOptions } from './training.ts';
import { checkBinningRule, DEFAULT_BINNING_RULE, type BinningMethod, type BinningRule } from '../binning/bins.ts';

export interface TrainingJob {
  readonly training: LocalTrainingOptions;
  /** Output folder, resolved against the job file; undefined when the file names none. */
  readonly out: string | undefined;
  /** The job's `binning:` section: bin every feature first (outputs in `<out>/binning/`), then train. */
  readonly binning?: BinningJob;
}

/** A job file's `binning:` section. */
export interface BinningJob {
  readonly rule: Partial<BinningRule>;
  readonly minIv?: number;
  /** Train on bin indicators and write scorecard.csv (default), or on the raw features. */
  readonly scorecard: boolean;
}

const BINNING_FIELDS = ['bins', 'method', 'minBinShare', 'minIv', 'scorecard'];

type Json = Record<string, unknown>;

const TRAINING_FIELDS = new Set<keyof TrainingConfig>(
  Object.keys(TRAINING_DEFAULTS).filter((k) => k !== 'he' && k !== 'threads') as (keyof TrainingConfig)[],
);

export async function loadTrainingJob(file: string): Promise<TrainingJob> {
  const root = await readYamlFile(file);
  if (!isObject(root)) throw errors.jobInvalid(file, '(top level)', 'must be a mapping with label, features and training');
  const base = dirname(resolve(file));
  const field = (path: string, why: string) => errors.jobInvalid(file, path, why);
  const known = new Set(['job', 'label', 'guest', 'features', 'host', 'hosts', 'training', 'binning', 'out', 'purpose', 'governance']);
  for (const key of Object.keys(root)) if (!known.has(key)) throw field(key, `unknown field (expected one of: ${[...known].join(', ')})`);

  const labelSpec = root.label ?? root.guest;
  if (!isObject(labelSpec)) throw field('label', 'must describe the label party (file, id, label)');
  const label = {
    ...table(labelSpec, 'label', base, field),
    labelColumn: str(labelSpec.label ?? labelSpec.y, 'label.label', field),
  };
  const featureSpecs = root.features ?? root.hosts ?? (root.host === undefined ? undefined : [root.host]);
  if (!Array.isArray(featureSpecs) || featureSpecs.length === 0) throw field('features', 'must list at least one feature party');
  const features = featureSpecs.map((spec, k) => {
    if (!isObject(spec)) throw field(`features[${k}]`, 'must describe a feature party (file, id)');
    return table(spec, `features[${k}]`, base, field);
  });

  const trainingSpec = root.training ?? {};
  if (!isObject(trainingSpec)) throw field('training', 'must be a mapping of training parameters');
  for (const key of Object.keys(trainingSpec)) {
    if (!TRAINING_FIELDS.has(key as keyof TrainingConfig)) throw field(`training.${key}`, `unknown parameter (expected one of: ${[...TRAINING_FIELDS].join(', ')})`);
  }
  const config: Partial<TrainingConfig> = { ...(trainingSpec as Partial<TrainingConfig>) };
  if (root.job !== undefined) (config as { jobId?: string }).jobId = str(root.job, 'job', field);
  const out = root.out === undefined ? undefined : resolve(base, str(root.out, 'out', field));
  const governance = root.governance === undefined ? undefined : await loadGovernance(root, base, field, [label.name ?? 'label', ...features.map((f) => f.name)]);
  const binning = root.binning === undefined ? undefined : binningSection(root.binning, field);
  return { training: { label, features, config, ...(governance ? { governance } : {}) }, out, ...(binning ? { binning } : {}) };
}

function binningSection(spec: unknown, field: (path: string, why: string) => Error): BinningJob {
  if (!isObject(spec)) throw field('binning', `must be a mapping of binning parameters (${BINNING_FIELDS.join(', ')})`);
  for (const key of Object.keys(spec)) if (!BINNING_FIELDS.includes(key)) throw field(`binning.${key}`, `unknown parameter (expected one of: ${BINNING_FIELDS.join(', ')})`);
  const number = (key: string) => {
    const v = spec[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw field(`binning.${key}`, `must be a number, got ${shownValue(JSON.stringify(v) ?? String(v))}`);
    return v as number | undefined;
  };
  const rule = { ...DEFAULT_BINNING_RULE, ...(number('bins') !== undefined && { bins: number('bins')! }), ...(number('minBinShare') !== undefined && { minBinShare: number('minBinShare')! }), ...(spec.method !== undefined && { method: spec.method as BinningMethod }) };
  try {
    checkBinningRule(rule);
  } catch (e) {
    const option = ((e as { field?: string }).field ?? '').replace(/^--/, '');
    const key = option === 'min-bin-share' ? 'minBinShare' : option === 'method' ? 'method' : 'bins';
    throw field(`binning.${key}`, (e as Error).message.replace(/^[^:]*: /, ''));
  }
  const minIv = number('minIv');
  if (minIv !== undefined && minIv < 0) throw field('binning.minIv', 'must be a number >= 0');
  if (spec.scorecard !== undefined && typeof spec.scorecard !== 'boolean') throw field('binning.scorecard', 'must be true (train on bins, write scorecard.csv) or false (train on the raw features)');
  return { rule, ...(minIv !== undefined ? { minIv } : {}), scorecard: spec.scorecard !== false };
}

function table(spec: Json, path: string, base: string, field: (path: string, why: string) => Error) {
  for (const key of Object.keys(spec)) {
    if (!['name', 'file', 'id', 'label', 'y', 'features'].includes(key)) throw field(`${path}.${key}`, 'unknown field (expected name, file, id, features, and label for the label party)');
  }
  const features = spec.features;
  if (features !== undefined && !(Array.isArray(features) && features.every((f) => typeof f === 'string'))) {
    throw field(`${path}.features`, 'must be a list of column names');
  }
  return {
    ...(spec.name === undefined ? {} : { name: str(spec.name, `${path}.name`, field) }),
    file: resolve(base, str(spec.file, `${path}.file`, field)),
    idColumn: str(spec.id, `${path}.id`, field),
    ...(features === undefined ? {} : { features: features as string[] }),
  };
}

function str(value: unknown, path: string, field: (path: string, why: string) => Error): string {
  if (typeof value !== 'string' || value === '') throw field(path, 'must be a non-empty string');
  return value;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The job file's governance section: per party (by its name in the job), the institution
 * it is, and its policy, consent tokens, trusted issuers, revocation list, audit log and key.
 */
async function loadGovernance(root: Json, base: string, field: (path: string, why: string) => Error, partyNames: readonly (string | undefined)[]): Promise<JobGovernance> {
  const purpose = str(root.purpose, 'purpose', field);
  const spec = root.governance;
  if (!isObject(spec)) throw field('governance', 'must map party names to their governance settings');
  const parties = new Map<string, PartyGovernance>();
  for (const [name, party] of Object.entries(spec)) {
    const at = `governance.${name}`;
    if (!partyNames.includes(name)) throw field(at, `no party of this job is named ${shownValue(name)} (name parties with "name:")`);
    parties.set(name, await loadPartyGovernance(party, name, at, base, field));
  }
  return { purpose, parties };
}

const GOVERNANCE_FIELDS = ['institution', 'policy', 'consent', 'trust', 'revoked', 'audit', 'key', 'approved'];

/**
 * One party's governance settings (in a job file, or in a party service's config): its
 * institution id, policy, consent tokens, trusted issuers, revocation list, audit log and
 * key, and an operator's approval. Paths are relative to `base`.
 */
export async function loadPartyGovernance(party: unknown, name: string, at: string, base: string, field: (path: string, why: string) => Error): Promise<PartyGovernance> {
  if (!isObject(party)) throw field(at, 'must be a mapping');
  for (const key of Object.keys(party)) {
    if (!GOVERNANCE_FIELDS.includes(key)) throw field(`${at}.${key}`, `unknown field (expected one of: ${GOVERNANCE_FIELDS.join(', ')})`);
  }
  const path = (key: string) => resolve(base, str(party[key], `${at}.${key}`, field));
  const key = party.key === undefined ? undefined : await loadSecretKey(path('key'));
  if (party.audit !== undefined && !key) throw field(`${at}.key`, "an audit log needs the party's key to sign its entries");
  const trust = party.trust === undefined ? [] : Array.isArray(party.trust) ? party.trust : [party.trust];
  return {
    institution: str(party.institution, `${at}.institution`, field),
    ...(party.policy === undefined ? {} : { policy: await loadPolicy(path('policy')) }),
    ...(party.consent === undefined
      ? {}
      : {
          consent: {
            tokens: await loadConsentTokens(path('consent')),
            trustedIssuers: await Promise.all(trust.map((t, i) => loadPublicKey(resolve(base, str(t, `${at}.trust[${i}]`, field))))),
            revoked: party.revoked === undefined ? new Set<string>() : await loadRevocationList(path('revoked')),
          },
        }),
    ...(party.audit === undefined ? {} : { audit: await AuditLog.open(path('audit'), { party: name, key: key! }) }),
    ...(party.approved === undefined ? {} : { approved: party.approved === true }),
  };
}
