import { normSf } from './special.js';
import { checkedNumber, invalid } from './validate.js';

/** Result of {@link zTestProportions}. */
export interface ZTestResult {
  /** `z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))` with the pooled proportion p. */
  statistic: number;
  /** Two-sided p-value `2 * norm.sf(|z|)`. */
  pValue: number;
}

/**
 * Two-sided two-proportion z-test with pooled variance, as statsmodels'
 * `proportions_ztest([count1, count2], [n1, n2])` (default `value=0`, `prop_var=False`):
 *
 * `p1 = count1 / n1`, `p2 = count2 / n2`, pooled `p = (count1 + count2) / (n1 + n2)`,
 * `z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`, `pValue = 2 * norm.sf(|z|)`, the normal tail
 * from `erfc` so that tiny p-values keep their relative precision.
 *
 * When the pooled proportion is 0 or 1 (no successes, or no failures, in both samples) the
 * two samples agree exactly and the variance is 0: statsmodels returns NaN there, this function
 * returns `{ statistic: 0, pValue: 1 }`.
 *
 * @param count1 successes in the first sample, `0 <= count1 <= n1`
 * @param n1 size of the first sample, > 0
 * @param count2 successes in the second sample, `0 <= count2 <= n2`
 * @param n2 size of the second sample, > 0
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for non-finite, negative or inconsistent arguments
 *
 * @example
 * ```ts
 * zTestProportions(45, 100, 30, 100); // { statistic: ≈ 2.19089023002, pValue: ≈ 0.0284597369163 }
 * ```
 */
export function zTestProportions(count1: number, n1: number, count2: number, n2: number): ZTestResult {
  const fn = 'zTestProportions';
  checkedNumber(fn, 'count1', count1);
  checkedNumber(fn, 'n1', n1);
  checkedNumber(fn, 'count2', count2);
  checkedNumber(fn, 'n2', n2);
  if (!(n1 > 0)) throw invalid(`${fn}: n1 must be positive, got ${n1}`);
  if (!(n2 > 0)) throw invalid(`${fn}: n2 must be positive, got ${n2}`);
  if (count1 < 0 || count1 > n1) throw invalid(`${fn}: count1 must be between 0 and n1 (${n1}), got ${count1}`);
  if (count2 < 0 || count2 > n2) throw invalid(`${fn}: count2 must be between 0 and n2 (${n2}), got ${count2}`);

  const diff = (count1 * 1) / n1 - (count2 * 1) / n2;
  const pooled = ((count1 + count2) * 1) / (n1 + n2);
  const nobsFact = 1 / n1 + 1 / n2;
  const variance = pooled * (1 - pooled) * nobsFact;
  if (variance === 0) return { statistic: 0, pValue: 1 };
  const statistic = diff / Math.sqrt(variance);
  return { statistic, pValue: normSf(Math.abs(statistic)) * 2 };
}
