import { pairwiseSum } from './summary.js';
import { searchSortedRight } from './histogram.js';
import { checkedSample, invalid } from './validate.js';

/**
 * First Wasserstein (earth mover's) distance between two 1-D empirical distributions, as
 * `scipy.stats.wasserstein_distance(a, b, aWeights, bWeights)`:
 *
 * `W1 = integral |F_a(x) - F_b(x)| dx = sum_i |F_a(x_i) - F_b(x_i)| (x_{i+1} - x_i)` over the
 * sorted pooled values `x_i`, where `F_a`, `F_b` are the (optionally weighted) empirical CDFs.
 *
 * @param a values of the first distribution (non-empty, finite)
 * @param b values of the second distribution (non-empty, finite)
 * @param aWeights optional weights of `a` (same length, non-negative, positive total); default equal
 * @param bWeights optional weights of `b`, likewise
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for empty arrays, NaN or infinite values, or
 *   invalid weights
 *
 * @example
 * ```ts
 * wasserstein([0, 1, 3], [5, 6, 8]); // 5
 * wasserstein([3.4, 3.9, 7.5, 7.8], [4.5, 1.4], [1.4, 0.9, 3.1, 7.2], [3.2, 3.5]); // ≈ 4.07813314380
 * ```
 */
export function wasserstein(a: ArrayLike<number>, b: ArrayLike<number>, aWeights?: ArrayLike<number>, bWeights?: ArrayLike<number>): number {
  const fn = 'wasserstein';
  const u = checkedSample(fn, 'a', a);
  const v = checkedSample(fn, 'b', b);
  const uw = aWeights === undefined ? undefined : checkedWeights(fn, 'aWeights', aWeights, u.length, 'a');
  const vw = bWeights === undefined ? undefined : checkedWeights(fn, 'bWeights', bWeights, v.length, 'b');

  const uSorter = argsort(u);
  const vSorter = argsort(v);
  const uSorted = Float64Array.from(uSorter, (i) => u[i]!);
  const vSorted = Float64Array.from(vSorter, (i) => v[i]!);
  const all = new Float64Array(u.length + v.length);
  all.set(u);
  all.set(v, u.length);
  all.sort();

  const uCum = uw ? cumulative(uw, uSorter) : undefined;
  const vCum = vw ? cumulative(vw, vSorter) : undefined;
  const terms = new Float64Array(all.length - 1);
  for (let i = 0; i < all.length - 1; i++) {
    const x = all[i]!;
    const ui = searchSortedRight(uSorted, x);
    const vi = searchSortedRight(vSorted, x);
    const uCdf = uCum ? uCum[ui]! / uCum[uCum.length - 1]! : ui / u.length;
    const vCdf = vCum ? vCum[vi]! / vCum[vCum.length - 1]! : vi / v.length;
    terms[i] = Math.abs(uCdf - vCdf) * (all[i + 1]! - x);
  }
  return pairwiseSum(terms);
}

function checkedWeights(fn: string, name: string, w: ArrayLike<number>, n: number, of: string): Float64Array {
  const out = checkedSample(fn, name, w, { nonNegative: true });
  if (out.length !== n) throw invalid(`${fn}: ${name} must have the same length as ${of} (${out.length} != ${n})`);
  const total = pairwiseSum(out);
  if (!(total > 0 && total < Infinity)) throw invalid(`${fn}: ${name} must have a positive finite total`);
  return out;
}

/** Indices that sort `x` ascending (stable). */
function argsort(x: Float64Array): Uint32Array {
  const idx = new Uint32Array(x.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((i, j) => x[i]! - x[j]! || i - j);
}

/** `[0, cumsum(w[sorter])]`, as numpy's sequential cumsum. */
function cumulative(w: Float64Array, sorter: Uint32Array): Float64Array {
  const out = new Float64Array(w.length + 1);
  let s = 0;
  for (let i = 0; i < sorter.length; i++) {
    s += w[sorter[i]!]!;
    out[i + 1] = s;
  }
  return out;
}
