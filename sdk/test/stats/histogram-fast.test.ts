import { describe, expect, it } from 'vitest';
import { histogram, referenceStats } from '../../src/stats/index.js';

/** The straightforward numpy.histogram(values, bins=edges): searchsorted(edges, v, 'right') - 1 per value. */
function reference(values: ArrayLike<number>, edges: ArrayLike<number>): number[] {
  const nb = edges.length - 1;
  const counts = new Array<number>(nb).fill(0);
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (!(v >= edges[0]! && v <= edges[nb]!)) continue;
    if (v === edges[nb]) {
      counts[nb - 1]!++;
      continue;
    }
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

describe('histogram counts exactly as searchsorted on the edges, whatever their spacing', () => {
  let s = 11;
  const rand = () => (s = (s * 48271) % 2147483647) / 2147483647;

  it('padded reference edges (MLRun layout), values on every edge, outside, NaN and infinities', () => {
    for (let t = 0; t < 30; t++) {
      const ref = Float64Array.from({ length: 50 + t * 10 }, () => (rand() - 0.5) * 10 ** ((t % 7) - 3));
      const stats = referenceStats(ref);
      if (stats.type !== 'numeric') throw new Error('numeric');
      const edges = stats.hist.edges;
      const values = [
        ...Array.from({ length: 2000 }, () => (rand() - 0.5) * 3 * 10 ** ((t % 7) - 3)),
        ...edges,
        ...edges.map((x) => x * (1 + 1e-16)),
        ...edges.map((x) => x - Math.abs(x) * 2.3e-16),
        NaN,
        Infinity,
        -Infinity,
        Number.MAX_VALUE,
        -Number.MAX_VALUE,
      ];
      expect(histogram(values, edges)).toEqual(reference(values, edges));
    }
  });

  it('uneven, repeated and two-edge bins; infinite edges', () => {
    const cases: number[][] = [
      [0, 1],
      [0, 0.001, 0.002, 10, 1000],
      [0, 1, 1, 1, 2, 3],
      [-1, 0, 0, 5, 5, 5, 6],
      [-Infinity, 0, 1, 2, Infinity],
      [1e-300, 1e-200, 1e-100, 1, 1e100],
      [3, 3],
    ];
    for (const edges of cases) {
      const values = [...Array.from({ length: 3000 }, () => (rand() - 0.3) * 8), ...edges, 1e-250, -Infinity, Infinity, NaN];
      expect(histogram(values, edges), JSON.stringify(edges)).toEqual(reference(values, edges));
    }
  });
});
