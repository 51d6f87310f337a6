import { ModelwatchSdkError } from '../errors.js';

/**
 * Count `values` into the bins given by `edges`, as `numpy.histogram(values, bins=edges)`:
 * bin i holds `edges[i] <= v < edges[i+1]`, the last bin also holds `v == edges[last]`;
 * values outside the edges and NaN are not counted.
 *
 * @example
 * ```ts
 * histogram([1, 2, 2, 3], [0, 1, 2, 3]); // [0, 1, 3]
 * ```
 */
export function histogram(values: ArrayLike<number>, edges: ArrayLike<number>): number[] {
  const nb = edges.length - 1;
  if (nb < 1) throw new ModelwatchSdkError('INVALID_ARGUMENT', `histogram: need at least 2 edges, got ${edges.length}`);
  for (let i = 0; i < nb; i++) {
    if (!(edges[i + 1]! >= edges[i]!)) {
      throw new ModelwatchSdkError('INVALID_ARGUMENT', `histogram: edges must increase monotonically (edges[${i + 1}] < edges[${i}])`);
    }
  }
  // A guess of the bin from the edges' interior taken as equal-width (it is for the reference
  // histograms: 20 linspace bins between two open padding bins), corrected by one step against
  // the edges, else found by binary search: the bin is always searchsorted(edges, v, 'right') - 1.
  const e = new Float64Array(nb + 1);
  e.set(edges);
  const counts = new Float64Array(nb);
  const first = e[0]!;
  const last = e[nb]!;
  const top = nb - 1;
  const k0 = nb >= 3 ? 1 : 0;
  const k1 = nb >= 3 ? nb - 1 : nb;
  let scale = (k1 - k0) / (e[k1]! - e[k0]!);
  if (!(Number.isFinite(scale) && scale > 0)) scale = 0;
  const offset = scale === 0 ? 0 : k0 - e[k0]! * scale;
  const search = (v: number): number => {
    let lo = 0;
    let hi = nb + 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (e[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return Math.min(lo - 1, top);
  };
  const n = values.length;
  for (let k = 0; k < n; k++) {
    const v = values[k]!;
    if (v >= first && v < last) {
      let i = Math.min(Math.max(v * scale + offset, 0), top) | 0;
      if (e[i]! > v) {
        i--;
        if (i < 0 || e[i]! > v) i = search(v);
      } else if (e[i + 1]! <= v) {
        // i < top here: e[top + 1] is `last`, above v
        i++;
        if (i < top && e[i + 1]! <= v) i = search(v);
      }
      counts[i]!++;
    } else if (v === last) counts[top]!++;
  }
  return Array.from(counts);
}

/**
 * `bins + 1` equal-width edges from `min` to `max`, as `numpy.histogram(values, bins)`
 * chooses them (numpy.linspace; a constant column gets the range `[v - 0.5, v + 0.5]`).
 */
export function equalWidthEdges(min: number, max: number, bins: number): number[] {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new ModelwatchSdkError('INVALID_ARGUMENT', `equalWidthEdges: bins must be a positive integer, got ${bins}`);
  }
  let first = min;
  let last = max;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const step = (last - first) / bins;
  const edges = new Array<number>(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = i * step + first;
  edges[bins] = last;
  return edges;
}

/** numpy.searchsorted(sorted, v, side='right'): the number of elements <= v. */
export function searchSortedRight(sorted: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
