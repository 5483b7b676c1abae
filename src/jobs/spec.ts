/**
 * The job as the label party tells each partner of it (the `job.spec` message), and the
 * partner's check of it before it acts: the kind of job, the purpose its admission gate
 * checks, the table it is to use, the arbiter, every party (label first), the ID type the
 * label read, and the training parameters, checked field by field as a job file's are.
 * A binning job carries its binning rule too (`config.binning`: bins, method, minBinShare);
 * its other parameters (seed, ID type, PSI group, HE backend, threads) are the training
 * parameters of the same names.
 */
import { checkBinningRule, type BinningRule } from '../binning/bins.ts';
import { errors } from '../errors.ts';
import type { IdType } from '../ids/normalise.ts';
import { resolveTrainingConfig, type TrainingConfig } from '../lr/config.ts';
import type { Channel } from '../protocol/channel.ts';
import { message, type PlainRecord } from '../protocol/messages.ts';

export type JobKind = 'training' | 'scoring' | 'binning';

export interface JobSpec {
  readonly kind: JobKind;
  readonly jobId: string;
  /** The declared purpose every data holder's policy must accept ('undeclared' when none is). */
  readonly purpose: string;
  /** The receiving party's table, by the name its host knows it ('' for the arbiter). */
  readonly table: string;
  readonly arbiter: string;
  /** Every party of the job, the label first. */
  readonly parties: readonly string[];
  /** How the label party reads IDs: every party must read them the same way. */
  readonly idType: IdType;
  /** Scoring: the training job whose model slices score ('' for training). */
  readonly modelJobId: string;
  readonly config: TrainingConfig;
  /** Binning: how every party bins its features (absent for the other kinds). */
  readonly binning?: BinningRule;
}

/** (Label) Tells a partner its part of the job. */
export async function sendJobSpec(channel: Channel, spec: JobSpec): Promise<void> {
  const { binning, ...rest } = spec;
  const config = Object.fromEntries(Object.entries(spec.config).filter(([, v]) => v !== undefined)) as PlainRecord;
  await channel.send(message('job.spec', { ...rest, parties: [...spec.parties], config: binning ? { ...config, binning: { ...binning } } : config }));
}

/** (Features, arbiter) The job the label opened, checked; a bad field is an E_JOB_INVALID naming it. */
export async function receiveJobSpec(channel: Channel): Promise<JobSpec> {
  const m = await channel.receive('job.spec');
  const bad = (field: string, why: string) => errors.jobInvalid(`job.spec from ${channel.peer}`, field, why);
  if (m.kind !== 'training' && m.kind !== 'scoring' && m.kind !== 'binning') throw bad('kind', `must be training, scoring or binning, got ${JSON.stringify(m.kind)}`);
  if (!/^[A-Za-z0-9._:/-]{1,200}$/.test(m.jobId)) throw bad('jobId', 'must be 1 to 200 letters, digits or ._:/-');
  if (m.idType !== 'uscc' && m.idType !== 'plain') throw bad('idType', `must be uscc or plain, got ${JSON.stringify(m.idType)}`);
  if (m.parties.length < 2 || new Set(m.parties).size !== m.parties.length) throw bad('parties', 'must name the label and at least one other party, each once');
  if (m.kind === 'scoring' && m.modelJobId === '') throw bad('modelJobId', 'a scoring session names the training job of its model');
  const { binning: rule, ...rest } = m.config;
  if ((m.kind === 'binning') !== (rule !== undefined)) throw bad('config.binning', m.kind === 'binning' ? 'a binning job states its binning rule' : `a ${m.kind} job has no binning rule`);
  let config: TrainingConfig;
  try {
    config = resolveTrainingConfig({ ...(rest as Partial<TrainingConfig>), jobId: m.jobId });
  } catch (e) {
    throw bad('config', (e as Error).message);
  }
  let binning: BinningRule | undefined;
  try {
    if (rule !== undefined) binning = binningRuleOf(rule);
  } catch (e) {
    throw bad('config.binning', (e as Error).message);
  }
  return { kind: m.kind, jobId: m.jobId, purpose: m.purpose || 'undeclared', table: m.table, arbiter: m.arbiter, parties: m.parties, idType: m.idType, modelJobId: m.modelJobId, config, ...(binning ? { binning } : {}) };
}

/** The binning rule of a spec, checked as `jinqiao bin` checks its options. */
function binningRuleOf(value: unknown): BinningRule {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw errors.optionInvalid('binning', 'must be a record of bins, method and minBinShare');
  const { bins, method, minBinShare, ...other } = value as Record<string, unknown>;
  if (Object.keys(other).length > 0) throw errors.optionInvalid('binning', `unknown field ${Object.keys(other)[0]}`);
  const rule = { bins, method, minBinShare } as BinningRule;
  checkBinningRule(rule);
  return rule;
}
