/**
 * Job files: the form users keep in version control. YAML or JSON, paths relative to the
 * file. FATE's role names are accepted as aliases (guest = label, host/hosts = features).
 * The file's shape is schemas/job-file.ts (docs/config-schema.json); this module adds what
 * a schema cannot say and resolves the rest. Every problem names the file, the line and
 * column, and the field.
 */
import { dirname, resolve } from 'node:path';
import { pathText, readYamlSource, type FieldPath } from '../data/yaml.ts';
import { errors, shownValue } from '../errors.ts';
import type { TrainingConfig } from '../lr/config.ts';
import { AuditLog } from '../governance/audit.ts';
import { loadConsentTokens, loadRevocationList } from '../governance/consent.ts';
import type { PartyGovernance } from '../governance/gate.ts';
import { loadPublicKey, loadSecretKey } from '../governance/keys.ts';
import { loadPolicy } from '../governance/policy.ts';
import type { JobGovernance, LocalTrainingOptions } from './training.ts';
import { DEFAULT_BINNING_RULE, type BinningRule } from '../binning/bins.ts';
import { conform } from '../schemas/check.ts';
import type { JobPartyGovernanceFile, ServiceGovernanceFile } from '../schemas/governance.ts';
import { JobFileSchema, type BinningSectionFile } from '../schemas/job-file.ts';

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

export async function loadTrainingJob(file: string): Promise<TrainingJob> {
  const source = await readYamlSource(file);
  const bad = (path: FieldPath, why: string) => errors.jobInvalid(source.locate(path), pathText(path), why);
  const root = source.data;
  conform(JobFileSchema, root, bad);
  const base = dirname(resolve(file));

  const labelAt = root.label !== undefined ? 'label' : 'guest';
  const labelSpec = root.label ?? root.guest;
  if (labelSpec === undefined) throw bad(['label'], 'is missing: describe the label party (file, id, label)');
  const labelColumn = labelSpec.label ?? labelSpec.y;
  if (labelColumn === undefined) throw bad([labelAt, 'label'], 'is missing: name the 0/1 outcome column');
  const label = { ...table(labelSpec, base), labelColumn };
  const featureSpecs = root.features ?? root.hosts ?? (root.host === undefined ? undefined : [root.host]);
  if (featureSpecs === undefined) throw bad(['features'], 'is missing: list at least one feature party (file, id)');
  const features = featureSpecs.map((spec) => table(spec, base));

  const config: Partial<TrainingConfig> = { ...(root.training as Partial<TrainingConfig> | undefined) };
  if (root.job !== undefined) (config as { jobId?: string }).jobId = root.job;
  const out = root.out === undefined ? undefined : resolve(base, root.out);
  // The schema requires purpose with governance.
  const governance = root.governance === undefined ? undefined : await loadGovernance(root.governance, root.purpose!, base, bad, [label.name ?? 'label', ...features.map((f) => f.name)]);
  const binning = root.binning === undefined ? undefined : binningSection(root.binning);
  // A scorecard's points come from the weights in the clear (binning/scorecard-training.ts): refused before binning runs.
  if (binning?.scorecard && config.keepEncrypted === true) {
    throw bad(['training', 'keepEncrypted'], "cannot be true in a scorecard job: the points per bin are computed from every party's final weights in the clear; set binning.scorecard: false to train on the raw features with encrypted weights, or keepEncrypted: false");
  }
  return { training: { label, features, config, ...(governance ? { governance } : {}) }, out, ...(binning ? { binning } : {}) };
}

/** The schema holds the bounds of `checkBinningRule`: the section is valid as it stands. */
function binningSection(spec: BinningSectionFile): BinningJob {
  const rule = { ...DEFAULT_BINNING_RULE, ...(spec.bins !== undefined && { bins: spec.bins }), ...(spec.minBinShare !== undefined && { minBinShare: spec.minBinShare }), ...(spec.method !== undefined && { method: spec.method }) };
  return { rule, ...(spec.minIv !== undefined ? { minIv: spec.minIv } : {}), scorecard: spec.scorecard !== false };
}

function table(spec: { name?: string; file: string; id: string; features?: string[] }, base: string) {
  return {
    ...(spec.name === undefined ? {} : { name: spec.name }),
    file: resolve(base, spec.file),
    idColumn: spec.id,
    ...(spec.features === undefined ? {} : { features: spec.features }),
  };
}

/**
 * The job file's governance section: per party (by its name in the job), the institution
 * it is, and its policy, consent tokens, trusted issuers, revocation list, audit log and key.
 */
async function loadGovernance(spec: Record<string, JobPartyGovernanceFile>, purpose: string, base: string, bad: Bad, partyNames: readonly (string | undefined)[]): Promise<JobGovernance> {
  const parties = new Map<string, PartyGovernance>();
  for (const [name, party] of Object.entries(spec)) {
    if (!partyNames.includes(name)) throw bad(['governance', name], `no party of this job is named ${shownValue(name)} (name parties with "name:")`);
    parties.set(name, await loadPartyGovernance(party, name, base));
  }
  return { purpose, parties };
}

/**
 * One party's governance settings (in a job file, or in a party service's config), checked
 * by its schema (schemas/governance.ts): its institution id, policy, consent tokens, trusted
 * issuers, revocation list, audit log and key, and an operator's approval. Paths are
 * relative to `base`; the files they name are read here, and a bad one names itself.
 */
export async function loadPartyGovernance(party: JobPartyGovernanceFile | ServiceGovernanceFile, name: string, base: string): Promise<PartyGovernance> {
  const path = (file: string) => resolve(base, file);
  const key = party.key === undefined ? undefined : await loadSecretKey(path(party.key));
  const trust = party.trust === undefined ? [] : typeof party.trust === 'string' ? [party.trust] : party.trust;
  const approved = 'approved' in party ? party.approved : undefined;
  return {
    institution: party.institution,
    ...(party.policy === undefined ? {} : { policy: await loadPolicy(path(party.policy)) }),
    ...(party.consent === undefined
      ? {}
      : {
          consent: {
            tokens: await loadConsentTokens(path(party.consent)),
            trustedIssuers: await Promise.all(trust.map((t) => loadPublicKey(path(t)))),
            revoked: party.revoked === undefined ? new Set<string>() : await loadRevocationList(path(party.revoked)),
          },
        }),
    // The schema requires key with audit.
    ...(party.audit === undefined ? {} : { audit: await AuditLog.open(path(party.audit), { party: name, key: key! }) }),
    ...(approved === undefined ? {} : { approved }),
  };
}

type Bad = (path: FieldPath, why: string) => Error;
