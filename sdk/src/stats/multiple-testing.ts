import { invalid } from './validate.js';

/** The corrections {@link adjustPValues} knows: statsmodels' `fdr_bh` and `bonferroni`. */
export type PValueCorrection = 'bh' | 'bonferroni';

/** Result of {@link multipleTests}. */
export interface MultipleTestsResult {
  /** Per hypothesis, in input order: rejected at the family's level `alpha`. */
  reject: boolean[];
  /** Adjusted p-values, in input order. */
  pAdjusted: number[];
  /** The smallest adjusted p-value (1 for no hypotheses): the family's p-value. */
  minAdjusted: number;
}

function checkedPValues(fn: string, pValues: ArrayLike<number>): Float64Array {
  if (pValues === null || typeof pValues !== 'object' || typeof pValues.length !== 'number') {
    throw invalid(`${fn}: pValues must be an array or typed array of numbers`);
  }
  const out = new Float64Array(pValues.length);
  for (let i = 0; i < out.length; i++) {
    const p = pValues[i];
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw invalid(`${fn}: pValues[${i}] must be a number in [0, 1], got ${String(p)}`);
    out[i] = p;
  }
  return out;
}

/**
 * Adjusted p-values, as `statsmodels.stats.multitest.multipletests(p, method=...)[1]`:
 *
 * - `'bh'` (Benjamini-Hochberg, statsmodels' `fdr_bh`): with the p-values sorted ascending,
 *   `p_(i) / (i / m)`, made monotone by a running minimum from the largest down, capped at 1.
 *   Controls the false discovery rate; its smallest value is Simes' p-value for "no
 *   hypothesis is false", so `min(adjusted) < alpha` is a level-alpha test of the family
 *   (for independent or positively dependent tests).
 * - `'bonferroni'`: `min(1, m p_i)`. Controls the family-wise error rate under any dependence.
 *
 * An empty input gives an empty array.
 *
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for a p-value outside [0, 1] or NaN
 *
 * @example
 * ```ts
 * adjustPValues([0.01, 0.04, 0.03, 0.2], 'bh');         // [0.04, 0.05333333333333334, 0.05333333333333334, 0.2]
 * adjustPValues([0.01, 0.04, 0.03, 0.2], 'bonferroni'); // [0.04, 0.16, 0.12, 0.8]
 * ```
 */
export function adjustPValues(pValues: ArrayLike<number>, method: PValueCorrection): number[] {
  const p = checkedPValues('adjustPValues', pValues);
  const m = p.length;
  if (method === 'bonferroni') return Array.from(p, (v) => Math.min(v * m, 1));
  if (method !== 'bh') throw invalid(`adjustPValues: method must be 'bh' or 'bonferroni', got ${String(method)}`);
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => p[a]! - p[b]!);
  const out = new Array<number>(m);
  let running = Infinity;
  for (let k = m - 1; k >= 0; k--) {
    const i = order[k]!;
    // statsmodels divides by the empirical CDF (k + 1) / m, in that order of operations
    const raw = p[i]! / ((k + 1) / m);
    if (raw < running) running = raw;
    out[i] = Math.min(running, 1);
  }
  return out;
}

/**
 * A family of tests at level `alpha`: the adjusted p-values of {@link adjustPValues} and the
 * rejections, as `statsmodels.stats.multitest.multipletests(p, alpha, method)`:
 * Bonferroni rejects `p_i <= alpha / m`; Benjamini-Hochberg rejects the `k` smallest
 * p-values, where `k` is the largest `i` with `p_(i) <= alpha i / m`.
 *
 * @example
 * ```ts
 * multipleTests([0.01, 0.04, 0.03, 0.2], 0.05, 'bh');
 * // { reject: [true, false, false, false], pAdjusted: [0.04, 0.0533.., 0.0533.., 0.2], minAdjusted: 0.04 }
 * ```
 */
export function multipleTests(pValues: ArrayLike<number>, alpha: number, method: PValueCorrection): MultipleTestsResult {
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha < 1)) throw invalid(`multipleTests: alpha must be a number in (0, 1), got ${String(alpha)}`);
  const p = checkedPValues('multipleTests', pValues);
  const pAdjusted = adjustPValues(p, method);
  const m = p.length;
  let reject: boolean[];
  if (method === 'bonferroni') {
    const level = alpha / m;
    reject = Array.from(p, (v) => v <= level);
  } else {
    const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => p[a]! - p[b]!);
    let last = -1;
    for (let k = 0; k < m; k++) if (p[order[k]!]! <= ((k + 1) / m) * alpha) last = k;
    reject = new Array<boolean>(m).fill(false);
    for (let k = 0; k <= last; k++) reject[order[k]!] = true;
  }
  let minAdjusted = 1;
  for (const v of pAdjusted) if (v < minAdjusted) minAdjusted = v;
  return { reject, pAdjusted, minAdjusted };
}
