/**
 * (Label) Weight of evidence and information value of one feature's bins, from per-bin
 * row counts and bad (y = 1) counts.
 *
 *   WOE_i = ln( (goods_i / goods) / (bads_i / bads) ),   goods_i = count_i − bads_i
 *   IV    = Σ_i (goods_i / goods − bads_i / bads) · WOE_i      (the missing bin included)
 *
 * Smoothing: a bin with no goods or no bads would have an infinite WOE. For such a bin
 * only, 0.5 is added to both its goods and its bads (the totals `goods` and `bads` are
 * unchanged), and its IV term uses the same smoothed shares. Every other bin is exact.
 */
import { errors } from '../errors.ts';

export const WOE_SMOOTHING = 0.5;

export interface BinStatistics {
  readonly count: number;
  readonly bads: number;
  readonly woe: number;
}

export interface FeatureEvidence {
  readonly bins: readonly BinStatistics[];
  readonly missing: BinStatistics | null;
  readonly iv: number;
}

/**
 * `counts` and `bads` list the bins in edge order, then the missing-value bin if
 * `hasMissing`. `totalBads` of `totalRows` rows are bad over all aligned rows.
 */
export function featureEvidence(counts: readonly number[], bads: readonly number[], hasMissing: boolean, totalRows: number, totalBads: number): FeatureEvidence {
  const totalGoods = totalRows - totalBads;
  if (totalBads === 0) throw errors.oneClass('weight of evidence', 0);
  if (totalGoods === 0) throw errors.oneClass('weight of evidence', 1);
  let iv = 0;
  const stats = counts.map((count, i): BinStatistics => {
    const b = bads[i]!;
    const g = count - b;
    const smoothing = g === 0 || b === 0 ? WOE_SMOOTHING : 0;
    const goodShare = (g + smoothing) / totalGoods;
    const badShare = (b + smoothing) / totalBads;
    const woe = Math.log(goodShare / badShare);
    iv += (goodShare - badShare) * woe;
    return { count, bads: b, woe };
  });
  return { bins: hasMissing ? stats.slice(0, -1) : stats, missing: hasMissing ? stats[stats.length - 1]! : null, iv };
}
