/** The parameters of a binning job, shared by every party, with their defaults and checks. */
import { errors } from '../errors.ts';
import type { HeParams } from '../he/backend.ts';
import { DEGREE1_PARAMS } from '../he/params.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { BACKEND_NAMES } from '../psi/backends/index.ts';
import type { BackendName } from '../psi/group.ts';
import { checkBinningRule, DEFAULT_BINNING_RULE, type BinningRule } from './bins.ts';

export interface BinningConfig {
  readonly jobId: string;
  /** Fixes the aligned row order, as in training (not a secret). */
  readonly seed: string;
  readonly rule: BinningRule;
  /** Features under this IV are dropped from binning.json (0: keep every feature). */
  readonly minIv: number;
  readonly idType: IdTypeOption;
  readonly psiBackend: BackendName;
  /** 'mock' only in tests: it hides nothing. */
  readonly he: 'ckks' | 'mock';
  /** Worker threads for PSI and the HE products (0: main thread only). */
  readonly threads: number | undefined;
}

export const BINNING_DEFAULTS: Omit<BinningConfig, 'jobId'> = Object.freeze({
  seed: 'jinqiao',
  rule: DEFAULT_BINNING_RULE,
  minIv: 0,
  idType: 'auto',
  psiBackend: 'x25519',
  he: 'ckks',
  threads: undefined,
});

export function resolveBinningConfig(partial: Partial<Omit<BinningConfig, 'rule'>> & { jobId: string; rule?: Partial<BinningRule> }): BinningConfig {
  const config: BinningConfig = { ...BINNING_DEFAULTS, ...partial, rule: { ...DEFAULT_BINNING_RULE, ...partial.rule } };
  checkBinningRule(config.rule);
  if (!(Number.isFinite(config.minIv) && config.minIv >= 0)) throw errors.optionInvalid('--min-iv', `must be a number >= 0, got ${String(config.minIv)}`);
  if (config.he !== 'ckks' && config.he !== 'mock') throw errors.optionInvalid('he', `must be ckks or mock, got ${String(config.he)}`);
  if (!BACKEND_NAMES.includes(config.psiBackend)) throw errors.optionInvalid('psiBackend', `unknown backend ${String(config.psiBackend)}`);
  return config;
}

/**
 * Degree-1 CKKS parameters. The per-bin sums are coefficient-packed (he/coefficients.ts)
 * and computed at the last level, one 60-bit prime; the keys need no Galois element.
 */
export function binningParams(config: BinningConfig): HeParams {
  return { ...DEGREE1_PARAMS, scheme: config.he };
}
