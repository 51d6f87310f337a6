import { chi2Sf } from './special.js';
import { pairwiseSum } from './summary.js';
import { checkedSample, invalid } from './validate.js';

/** Result of {@link chiSquare}. */
export interface ChiSquareResult {
  /** Pearson's statistic `sum (observed_i - expected_i)^2 / expected_i`. */
  statistic: number;
  /** `P(X >= statistic)` for X chi-square with `k - 1 - ddof` degrees of freedom. */
  pValue: number;
  /** The degrees of freedom used, `k - 1 - ddof`. */
  dof: number;
}

/** scipy's tolerance on the relative difference of the observed and expected totals, sqrt(eps). */
export const CHI_SQUARE_SUM_RTOL = Math.sqrt(2.220446049250313e-16);

/**
 * Pearson's chi-square goodness-of-fit test, as `scipy.stats.chisquare(observed, expected,
 * ddof)`:
 *
 * `statistic = sum_i (o_i - e_i)^2 / e_i` (summed pairwise like numpy), and
 * `pValue = chi2.sf(statistic, k - 1 - ddof) = Q((k - 1 - ddof)/2, statistic/2)`, the
 * regularized upper incomplete gamma function ({@link chi2Sf}), accurate far in the tail
 * (p-values down to about 1e-300 keep their relative precision).
 *
 * `expected` defaults to the uniform distribution with the observed total (`mean(observed)` in
 * every category). When given, its total must agree with the observed total to a relative
 * tolerance of sqrt(machine epsilon) ≈ 1.49e-8, as scipy checks (`sum_check=True`).
 *
 * @param observed observed frequencies (counts), at least 2 categories, non-negative, positive total
 * @param expected expected frequencies, same length, all positive
 * @param options `ddof`: "delta degrees of freedom" subtracted from `k - 1` (default 0)
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` on empty or mismatched arrays, negative, NaN or
 *   infinite values, a zero expected frequency, totals that disagree, or fewer than 1 degree of freedom
 *
 * @example
 * ```ts
 * chiSquare([16, 18, 16, 14, 12, 12]); // { statistic: 2, pValue: ≈ 0.849145036085, dof: 5 }
 * chiSquare([16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]); // statistic 3.5, pValue ≈ 0.623387627750
 * ```
 */
export function chiSquare(observed: ArrayLike<number>, expected?: ArrayLike<number>, options: { ddof?: number } = {}): ChiSquareResult {
  const fn = 'chiSquare';
  const obs = checkedSample(fn, 'observed', observed, { nonNegative: true });
  const k = obs.length;
  const ddof = options.ddof ?? 0;
  if (!Number.isInteger(ddof) || ddof < 0) throw invalid(`${fn}: ddof must be a non-negative integer, got ${ddof}`);
  const dof = k - 1 - ddof;
  if (dof < 1) {
    throw invalid(`${fn}: need at least 1 degree of freedom (observed has ${k} categories, ddof ${ddof})`);
  }
  const obsSum = pairwiseSum(obs);
  if (!(obsSum > 0)) throw invalid(`${fn}: observed frequencies must have a positive total`);

  let exp: Float64Array;
  if (expected === undefined) {
    exp = new Float64Array(k).fill(obsSum / k);
  } else {
    exp = checkedSample(fn, 'expected', expected, { nonNegative: true });
    if (exp.length !== k) {
      throw invalid(`${fn}: observed and expected must have the same length (${k} != ${exp.length})`);
    }
    for (let i = 0; i < k; i++) {
      if (exp[i] === 0) throw invalid(`${fn}: expected[${i}] is 0; expected frequencies must be positive`);
    }
    const expSum = pairwiseSum(exp);
    const relativeDiff = Math.abs(obsSum - expSum) / Math.min(obsSum, expSum);
    if (relativeDiff > CHI_SQUARE_SUM_RTOL) {
      throw invalid(
        `${fn}: the totals of observed (${obsSum}) and expected (${expSum}) frequencies must agree to a ` +
          `relative tolerance of ${CHI_SQUARE_SUM_RTOL}, but differ by ${relativeDiff}`,
      );
    }
  }

  const terms = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const d = obs[i]! - exp[i]!;
    terms[i] = (d * d) / exp[i]!;
  }
  const statistic = pairwiseSum(terms);
  return { statistic, pValue: chi2Sf(statistic, dof), dof };
}
