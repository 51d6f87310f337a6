import { kolmogorov, kstwoSf } from './kolmogorov.js';
import { checkedSample, invalid } from './validate.js';

/** Result of {@link ks2samp}. */
export interface Ks2SampResult {
  /** The two-sided statistic `D = max |F_a(x) - F_b(x)|` of the two empirical CDFs. */
  statistic: number;
  /** Two-sided p-value. */
  pValue: number;
  /** The data value at which `D` is reached (scipy's `statistic_location`). */
  statisticLocation: number;
  /** +1 if `F_a - F_b` is largest there, -1 if `F_b - F_a` is (scipy's `statistic_sign`). */
  statisticSign: 1 | -1;
  /** How the p-value was computed: scipy's `'exact'` or `'asymp'` method. */
  method: 'exact' | 'asymp';
}

/** scipy's `MAX_AUTO_N`: with method 'auto', the exact distribution is used up to this size. */
export const KS_MAX_EXACT_N = 10000;

/**
 * Two-sample two-sided Kolmogorov-Smirnov test, as `scipy.stats.ks_2samp(a, b, method=...)`
 * (alternative `'two-sided'`, method `'auto'` unless `options.method` says otherwise):
 *
 * - statistic `D = max_x |F_a(x) - F_b(x)|` over the pooled data, with ties handled as scipy
 *   does (empirical CDFs by `searchsorted(..., side='right')`);
 * - p-value exact when `max(n_a, n_b) <= 10000`: `D` is rounded to `h / lcm(n_a, n_b)` and
 *   `P(D >= h / lcm)` is computed by Hodges' lattice-path method (scipy's
 *   `_compute_prob_outside_square` when the sizes are equal, otherwise Viehmann's
 *   recursion `_compute_outer_prob_inside_method`); if that yields a value outside [0, 1] it
 *   falls back, like scipy, to
 * - the asymptotic p-value `kstwo.sf(D, round(n_a n_b / (n_a + n_b)))` ({@link kstwoSf}),
 *   used directly for larger samples.
 *
 * Infinite values are allowed (they sort to the ends); NaN is rejected.
 *
 * @param a first sample (at least one value)
 * @param b second sample (at least one value)
 * @param options `method`: `'auto'` (default), `'exact'` or `'asymp'`, as scipy's
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for an empty sample or a NaN value
 *
 * @example
 * ```ts
 * const { statistic, pValue } = ks2samp([0.1, 0.4, 0.7, 1.2], [0.5, 0.9, 1.5, 1.9, 2.4]);
 * // statistic 0.6, pValue 0.2857142857142857 (exact)
 * ```
 */
export function ks2samp(a: ArrayLike<number>, b: ArrayLike<number>, options: Ks2SampOptions = {}): Ks2SampResult {
  const data1 = checkedSample('ks2samp', 'a', a, { allowInfinite: true }).sort();
  const data2 = checkedSample('ks2samp', 'b', b, { allowInfinite: true }).sort();
  return ksSorted(data1, data2, options);
}

/** Options of {@link ks2samp} and {@link ks2sampSorted}. */
export interface Ks2SampOptions {
  /**
   * How the p-value is computed, as scipy's `method`: `'exact'`, `'asymp'`, or `'auto'`
   * (exact when `max(n_a, n_b) <= 10000`). An exact computation that fails falls back to the
   * asymptotic one, as in scipy.
   * @default 'auto'
   */
  method?: 'auto' | 'exact' | 'asymp';
  /**
   * With `'auto'`: use the exact distribution only when its cost, the lattice cells it visits
   * (`n` for equal sizes, else about `max(n_a, n_b) · min(min(n_a, n_b), 2·D·min(n_a, n_b))`),
   * is at most this; otherwise the asymptotic one. For apps that test every window against a
   * large reference: the exact p-value of 1,000 rows against 10,000 visits about a million
   * cells, the asymptotic one costs microseconds at that size.
   * @default Infinity (scipy's rule)
   */
  exactCostLimit?: number;
  /**
   * The asymptotic p-value: `'kstwo'`, scipy's `kstwo.sf(D, round(n_a n_b / (n_a + n_b)))` (exact
   * for the one-sample statistic at that size, up to a millisecond around n = 100 to 1,000); or
   * `'stephens'`, the Kolmogorov limit with Stephens' correction, `kolmogorov((sqrt(en) + 0.12 +
   * 0.11 / sqrt(en)) D)` (microseconds, a few percent from it; not scipy's number).
   * @default 'kstwo'
   */
  asymptotic?: 'kstwo' | 'stephens';
}

/**
 * {@link ks2samp} on samples already sorted ascending, without copying or sorting them: for
 * apps that sort a reference column once and test many windows against it. The same numbers as
 * `ks2samp` (and scipy). Both samples are checked in one pass (non-empty, ascending, no NaN).
 *
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for an empty sample, a NaN, or values out of order
 */
export function ks2sampSorted(a: ArrayLike<number>, b: ArrayLike<number>, options: Ks2SampOptions = {}): Ks2SampResult {
  checkSorted(a, 'a');
  checkSorted(b, 'b');
  return ksSorted(a, b, options);
}

function checkSorted(s: ArrayLike<number>, name: string): void {
  if (s === null || typeof s !== 'object' || typeof s.length !== 'number') throw invalid(`ks2sampSorted: ${name} must be an array or typed array of numbers`);
  if (s.length === 0) throw invalid(`ks2sampSorted: ${name} must not be empty`);
  let last = -Infinity;
  for (let i = 0; i < s.length; i++) {
    const v = s[i]!;
    // NaN fails both comparisons
    if (!(v >= last)) {
      if (typeof v !== 'number' || Number.isNaN(v)) throw invalid(`ks2sampSorted: ${name}[${i}] is not a number (${String(v)})`);
      throw invalid(`ks2sampSorted: ${name} is not sorted ascending (${name}[${i}] < ${name}[${i - 1}])`);
    }
    last = v;
  }
}

/**
 * The statistic of sorted samples by one merge walk over the distinct values, with scipy's
 * choice of location: numpy's first arg-max (arg-min) over `concat(data1, data2)`, i.e. the
 * smallest value of `data1` reaching the extreme, else the smallest of `data2`.
 */
function ksSorted(data1: ArrayLike<number>, data2: ArrayLike<number>, options: Ks2SampOptions): Ks2SampResult {
  const requested = options.method ?? 'auto';
  const exactCostLimit = options.exactCostLimit ?? Infinity;
  const n1 = data1.length;
  const n2 = data2.length;
  // extremes of cdf1 - cdf2 over the values of data1 (…1) and of data2 (…2)
  let max1 = -Infinity;
  let max2 = -Infinity;
  let min1 = Infinity;
  let min2 = Infinity;
  let maxLoc1 = NaN;
  let maxLoc2 = NaN;
  let minLoc1 = NaN;
  let minLoc2 = NaN;
  let i = 0;
  let j = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && data1[i]! <= data2[j]!) ? data1[i]! : data2[j]!;
    const in1 = i < n1 && data1[i] === v;
    const in2 = j < n2 && data2[j] === v;
    while (i < n1 && data1[i] === v) i++;
    while (j < n2 && data2[j] === v) j++;
    // numpy.searchsorted(side='right') / n, the same division as scipy
    const diff = i / n1 - j / n2;
    if (in1) {
      if (diff > max1) {
        max1 = diff;
        maxLoc1 = v;
      }
      if (diff < min1) {
        min1 = diff;
        minLoc1 = v;
      }
    }
    if (in2) {
      if (diff > max2) {
        max2 = diff;
        maxLoc2 = v;
      }
      if (diff < min2) {
        min2 = diff;
        minLoc2 = v;
      }
    }
  }
  // ties go to data1, whose values come first in scipy's concat(data1, data2)
  const maxDiff = max1 >= max2 ? max1 : max2;
  const maxLoc = max1 >= max2 ? maxLoc1 : maxLoc2;
  const minDiff = min1 <= min2 ? min1 : min2;
  const minLoc = min1 <= min2 ? minLoc1 : minLoc2;
  const minS = Math.min(Math.max(-minDiff, 0), 1);
  const maxS = maxDiff;
  let d: number;
  let location: number;
  let sign: 1 | -1;
  if (minS > maxS) {
    d = minS;
    location = minLoc;
    sign = -1;
  } else {
    d = maxS;
    location = maxLoc;
    sign = 1;
  }

  let method: 'exact' | 'asymp' = requested === 'asymp' ? 'asymp' : requested === 'exact' || Math.max(n1, n2) <= KS_MAX_EXACT_N ? 'exact' : 'asymp';
  if (method === 'exact' && requested === 'auto' && exactCostLimit < Infinity) {
    const small = Math.min(n1, n2);
    const cost = n1 === n2 ? n1 : Math.max(n1, n2) * Math.min(small + 1, 2 * d * small + 2);
    if (cost > exactCostLimit) method = 'asymp';
  }
  let prob = -Infinity;
  if (method === 'exact') {
    const g = gcd(n1, n2);
    const lcm = (n1 / g) * n2;
    const h = roundHalfEven(d * lcm);
    d = h / lcm;
    if (h === 0) {
      prob = 1.0;
    } else {
      prob = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
      if (!(prob >= 0 && prob <= 1)) method = 'asymp';
    }
  }
  if (method === 'asymp') {
    const m = Math.max(n1, n2);
    const n = Math.min(n1, n2);
    const en = (m * n) / (m + n);
    if (options.asymptotic === 'stephens') {
      const root = Math.sqrt(en);
      prob = kolmogorov((root + 0.12 + 0.11 / root) * d);
    } else prob = kstwoSf(d, roundHalfEven(en));
  }
  prob = Math.min(Math.max(prob, 0), 1);
  return { statistic: d, pValue: prob, statisticLocation: location, statisticSign: sign, method };
}

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y) [x, y] = [y, x % y];
  return x;
}

/** numpy.round: to the nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * scipy's `_compute_prob_outside_square(n, h)`: `P(D_{n,n} >= h/n)`, the proportion of
 * lattice paths that leave the band `|x - y| < h`, by a Horner-like alternating sum.
 */
function probOutsideSquare(n: number, h: number): number {
  let P = 0.0;
  let k = Math.floor(n / h);
  while (k >= 0) {
    let p1 = 1.0;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1.0 - P);
    k -= 1;
  }
  return 2 * P;
}

/**
 * scipy's `_compute_outer_prob_inside_method(m, n, g, h)`: the proportion of lattice paths
 * from (0, 0) to (m, n) that do not stay strictly inside `|x/m - y/n| < h/lcm(m, n)`, with
 * Viehmann's recursion computing `1 - p` directly on a sliding column window.
 */
function outerProbInside(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = Math.trunc(m / g);
  const ng = Math.trunc(n / g);
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  for (let j = minj; j < Math.min(maxj, lenA); j++) A[j] = 0.0;
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.max(Math.floor((ng * i - h) / mg) + 1, 0);
    minj = Math.min(minj, n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1.0;
    let val = minj === 0 ? 0.0 : 1.0;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      const end = Math.min(maxj - minj + (lastlen - curlen), lenA);
      for (let t = maxj - minj; t < end; t++) A[t] = 1;
    }
  }
  return A[maxj - minj - 1]!;
}
