/**
 * (Label) The mini-batch size of a job, chosen once the label knows every party's feature
 * count, and sent to the feature parties in train.start.
 *
 * The rule it enforces: a party that sees F linear projections of a batch's |B| residuals
 * could solve for them (and so for the labels) when |B| is close to F, so every batch must
 * hold at least MIN_ROWS_PER_FEATURE × F rows for the widest party. Batches split an epoch's
 * rows evenly (`epochBatches`), so with batch size b over n rows the smallest batch holds
 * ⌊n / ⌈n/b⌉⌋ rows, which can be close to b/2: the rule is checked on that, not on b.
 */
import { errors } from '../errors.ts';
import { MIN_ROWS_PER_FEATURE } from './config.ts';

/** The default's upper bound: larger batches add little accuracy per epoch on credit data. */
export const DEFAULT_MAX_BATCH = 2048;

/** The fewest rows any batch of an epoch holds, for batch size `batchSize` over `rows` rows. */
export function smallestBatch(rows: number, batchSize: number): number {
  return Math.floor(rows / Math.ceil(rows / batchSize));
}

/**
 * `requested` 'auto' gives up to DEFAULT_MAX_BATCH rows per batch, fewer batches (larger
 * ones) when small data would otherwise break the rule; a stated size is checked, and the
 * error says how far to raise or lower it. Only when no batch at all satisfies the rule
 * (fewer training rows than the rule asks of one batch) is 'auto' an error.
 */
export function chooseBatchSize(requested: number | 'auto', trainRows: number, widestParty: number): number {
  const minRows = MIN_ROWS_PER_FEATURE * widestParty;
  const mostBatches = Math.floor(trainRows / minRows);
  const rule = `${MIN_ROWS_PER_FEATURE} × ${widestParty} (the most features of any party): a party could solve its gradient for the residuals, and so the labels`;
  if (mostBatches < 1) {
    throw errors.tooFewRows(
      `the ${trainRows} training rows are fewer than ${rule}; no batch size is safe`,
      'supply more aligned rows, or fewer features for the party with the most',
    );
  }
  if (requested === 'auto') return Math.ceil(trainRows / Math.min(Math.ceil(trainRows / DEFAULT_MAX_BATCH), mostBatches));
  if (requested > trainRows) {
    throw errors.tooFewRows(`batch size ${requested} exceeds the ${trainRows} training rows`, `lower the batch size (--batch-size, batchSize in a job file) to at most ${trainRows}, or leave it out to adapt it to the data`);
  }
  const smallest = smallestBatch(trainRows, requested);
  if (smallest < minRows) {
    throw errors.tooFewRows(
      `batch size ${requested} gives batches of ${smallest} rows, below ${rule}`,
      `raise the batch size (--batch-size, batchSize in a job file) to at least ${Math.ceil(trainRows / mostBatches)}, or leave it out to adapt it to the data`,
    );
  }
  return requested;
}
