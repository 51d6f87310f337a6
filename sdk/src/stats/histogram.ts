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
  const counts = new Array<number>(nb).fill(0);
  const first = edges[0]!;
  const last = edges[nb]!;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (!(v >= first && v <= last)) continue;
    if (v === last) {
      counts[nb - 1]!++;
      continue;
    }
    // searchsorted(edges, v, 'right') - 1
    let lo = 0;
    let hi = nb + 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    counts[Math.min(lo - 1, nb - 1)]!++;
  }
  return counts;
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
