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

/**
 * The k-th smallest value (0-based) of `a`, rearranging `a` in place so that `a[k]` holds it,
 * smaller values before and larger after (quickselect, median-of-three pivots, three-way
 * partition): O(n) on average, against O(n log n) for a sort.
 */
export function selectInPlace(a: Float64Array, k: number, left = 0, right = a.length - 1): number {
  while (right > left) {
    // median of three as the pivot; three-way partition so that runs of equal values cost O(n)
    const mid = (left + right) >>> 1;
    const x = a[left]!;
    const y = a[mid]!;
    const z = a[right]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let lt = left;
    let gt = right;
    let i = left;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) swap(a, lt++, i++);
      else if (v > pivot) swap(a, i, gt--);
      else i++;
    }
    // now a[left..lt-1] < pivot, a[lt..gt] == pivot, a[gt+1..right] > pivot
    if (k < lt) right = lt - 1;
    else if (k > gt) left = gt + 1;
    else return pivot;
  }
  return a[k]!;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * Quantiles with numpy's linear interpolation, by selection instead of a sort (what numpy's
 * partition-based quantile does). `values` must hold no NaN; it is copied, not changed.
 */
export function quantilesBySelection(values: ArrayLike<number>, qs: readonly number[]): number[] {
  const n = values.length;
  if (n === 0) return qs.map(() => NaN);
  const a = Float64Array.from(values);
  return qs.map((q) => {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
    const h = (n - 1) * q;
    const lo = Math.floor(h);
    const t = h - lo;
    const x = selectInPlace(a, lo);
    if (lo + 1 >= n) return x;
    // the next value up is the smallest of those after `lo`
    let y = Infinity;
    for (let i = lo + 1; i < n; i++) if (a[i]! < y) y = a[i]!;
    const diff = y - x;
    return t >= 0.5 ? y - diff * (1 - t) : x + diff * t;
  });
}
