/**
 * A job file (`jinqiao run job.yaml`, local/job-file.ts), as a TypeBox schema: its raw shape,
 * before paths are resolved and aliases merged. FATE's role names are accepted as aliases
 * (guest = label, host/hosts = features).
 *
 * What the schema cannot say stays in the loader: a label party given (as label or guest)
 * with its label column (label or y), feature parties given (features, hosts or host),
 * governance only for parties of the job, files that exist. Training parameters are named
 * here and checked by value where every way of starting a job checks them
 * (lr/config.ts `resolveTrainingConfig`, shared with the CLI options and the API).
 */
import { Type, type Static } from 'typebox';
import { DEFAULT_BINNING_RULE } from '../binning/bins.ts';
import { TRAINING_DEFAULTS } from '../lr/config.ts';
import { JobPartyGovernanceSchema } from './governance.ts';

const tableProperties = {
  name: Type.Optional(Type.String({ minLength: 1, description: "The party's name in this job (governance: names parties by it)" })),
  file: Type.String({ minLength: 1, description: 'Its CSV table, relative to the job file' }),
  id: Type.String({ minLength: 1, description: 'The ID column (e.g. a unified social credit code)' }),
  features: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Feature columns (default: every column but the ID and label)', errorMessage: { type: 'must be a list of column names' } })),
};

const labelTable = (description: string) =>
  Type.Object(
    {
      ...tableProperties,
      label: Type.Optional(Type.String({ minLength: 1, description: 'The 0/1 outcome column (1: defaulted)' })),
      y: Type.Optional(Type.String({ minLength: 1, description: 'FATE spelling of label' })),
    },
    { additionalProperties: false, description, errorMessage: { type: 'must describe the label party (file, id, label)' } },
  );

const featureTable = (description: string) =>
  Type.Object(tableProperties, { additionalProperties: false, description, errorMessage: { type: 'must describe a feature party (file, id)' } });

const featureList = (description: string) =>
  Type.Array(featureTable('A feature party (an agency): its table and ID column'), { minItems: 1, description, errorMessage: 'must list at least one feature party' });

/** The parameters a job file may set; the HE scheme and thread count are the runner's, not the file's. */
export const JOB_FILE_TRAINING_FIELDS = Object.keys(TRAINING_DEFAULTS).filter((k) => k !== 'he' && k !== 'threads');

export const TrainingSectionSchema = Type.Object(Object.fromEntries(JOB_FILE_TRAINING_FIELDS.map((key) => [key, Type.Optional(Type.Unknown())])), {
  additionalProperties: false,
  description: 'Training parameters (README, Training); their values are checked when the job starts',
  errorMessage: { type: 'must be a mapping of training parameters', additionalProperties: 'unknown parameter' },
});

export const BINNING_METHODS = ['quantile', 'equal-width'] as const;
const BINNING_FIELDS = 'bins, method, minBinShare, minIv, scorecard';

/**
 * The `binning:` section: bin every feature first, then train. The bounds are those of
 * binning/bins.ts `checkBinningRule`, which `jinqiao bin`'s options go through (a test keeps
 * the two in step).
 */
export const BinningSectionSchema = Type.Object(
  {
    bins: Type.Optional(Type.Integer({ minimum: 2, maximum: 1000, default: DEFAULT_BINNING_RULE.bins, description: 'Bins per feature at most', errorMessage: 'must be a whole number in 2..1000' })),
    method: Type.Optional(Type.Enum(BINNING_METHODS, { type: 'string', default: DEFAULT_BINNING_RULE.method, description: 'How bin edges are cut' })),
    minBinShare: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 0.5, default: DEFAULT_BINNING_RULE.minBinShare, description: 'The smallest share of aligned rows a bin may hold', errorMessage: 'must be a share in (0, 0.5)' })),
    minIv: Type.Optional(Type.Number({ minimum: 0, default: 0, description: 'Features under this information value are dropped (0: keep every feature)', errorMessage: 'must be a number >= 0' })),
    scorecard: Type.Optional(Type.Boolean({ default: true, description: 'Train on bin indicators and write scorecard.csv (true), or on the raw features (false)', errorMessage: 'must be true (train on bins, write scorecard.csv) or false (train on the raw features)' })),
  },
  {
    additionalProperties: false,
    description: 'Bin every feature first (outputs in <out>/binning/), then train the scorecard on the bins',
    errorMessage: { type: `must be a mapping of binning parameters (${BINNING_FIELDS})`, additionalProperties: 'unknown parameter' },
  },
);
export type BinningSectionFile = Static<typeof BinningSectionSchema>;

/** A job file: what `jinqiao run` reads. */
export const JobFileSchema = Type.Object(
  {
    job: Type.Optional(Type.String({ minLength: 1, description: 'Job id (default: a fresh one)' })),
    label: Type.Optional(labelTable('The label party (the bank): its table, ID column and label column')),
    guest: Type.Optional(labelTable('FATE spelling of label')),
    features: Type.Optional(featureList('The feature parties (agencies)')),
    host: Type.Optional(featureTable('FATE spelling of a single feature party')),
    hosts: Type.Optional(featureList('FATE spelling of features')),
    training: Type.Optional(TrainingSectionSchema),
    binning: Type.Optional(BinningSectionSchema),
    out: Type.Optional(Type.String({ minLength: 1, description: 'Output folder, relative to the job file (or --out)' })),
    purpose: Type.Optional(Type.String({ minLength: 1, description: "The declared purpose (e.g. credit-modeling) every data holder's policy must accept" })),
    governance: Type.Optional(
      Type.Record(Type.String(), JobPartyGovernanceSchema, {
        description: "Each party's admission gate, by its name in the job (name:)",
        errorMessage: 'must map party names to their governance settings',
      }),
    ),
  },
  {
    additionalProperties: false,
    dependentRequired: { governance: ['purpose'] },
    title: 'Job file',
    description: 'A training job run in one process (jinqiao run job.yaml); paths are relative to the file',
    errorMessage: {
      type: 'must be a mapping with label, features and training',
      dependentRequired: "a governed job declares its purpose (e.g. credit-modeling), which each data holder's policy must accept",
    },
  },
);
export type JobFile = Static<typeof JobFileSchema>;
