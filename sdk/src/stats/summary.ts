/**
 * Sum as numpy does (pairwise summation, blocks of 128 unrolled by 8), so that means and
 * standard deviations agree with numpy and pandas to the last digit.
 */
export function pairwiseSum(values: ArrayLike<number>, start = 0, end = values.length): number {
  const n = end - start;
  if (n < 8) {
    let res = 0;
    for (let i = start; i < end; i++) res += values[i]!;
    return res;
  }
  if (n <= 128) {
    let r0 = values[start]!;
    let r1 = values[start + 1]!;
    let r2 = values[start + 2]!;
    let r3 = values[start + 3]!;
    let r4 = values[start + 4]!;
    let r5 = values[start + 5]!;
    let r6 = values[start + 6]!;
    let r7 = values[start + 7]!;
    let i = start + 8;
    const stop = start + (n - (n % 8));
    for (; i < stop; i += 8) {
      r0 += values[i]!;
      r1 += values[i + 1]!;
      r2 += values[i + 2]!;
      r3 += values[i + 3]!;
      r4 += values[i + 4]!;
      r5 += values[i + 5]!;
      r6 += values[i + 6]!;
      r7 += values[i + 7]!;
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < end; i++) res += values[i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(values, start, start + n2) + pairwiseSum(values, start + n2, end);
}

/** Arithmetic mean (numpy.mean); NaN for no values. */
export function mean(values: ArrayLike<number>): number {
  return values.length === 0 ? NaN : pairwiseSum(values) / values.length;
}

/**
 * Standard deviation with `ddof` delta degrees of freedom (numpy.std; pandas uses ddof=1).
 * @default ddof 1
 */
export function std(values: ArrayLike<number>, ddof = 1): number {
  const n = values.length;
  if (n - ddof <= 0) return NaN;
  const m = mean(values);
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = values[i]! - m;
    sq[i] = d * d;
  }
  return Math.sqrt(pairwiseSum(sq) / (n - ddof));
}

/**
 * Quantiles with linear interpolation (numpy.quantile's default method), NaN when there are
 * no values.
 *
 * @example
 * ```ts
 * quantiles([1, 2, 3, 4], [0.5]); // [2.5]
 * ```
 */
export function quantiles(values: ArrayLike<number>, qs: readonly number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  return qs.map((q) => quantileSorted(sorted, q));
}

/** One quantile of already sorted values (ascending). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const t = h - lo;
  const a = sorted[lo]!;
  if (lo + 1 >= n) return a;
  const b = sorted[lo + 1]!;
  // numpy's _lerp: symmetric form for t >= 0.5, exact at both ends
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}
