import { describe, expect, it } from 'vitest';
import { equalWidthEdges, histogram, mean, quantiles, std } from '../../src/stats/index.js';
import { expectClose, nums, reference } from './reference.js';

describe('summary helpers match numpy', () => {
  for (const c of reference.summary) {
    it(`${c.name} (n=${c.values.length})`, () => {
      expectClose(mean(c.values), c.mean, 1e-15, 'mean (np.mean)');
      expectClose(std(c.values, 1), c.std, 1e-15, 'std (np.std ddof=1)');
      const edges = equalWidthEdges(c.min, c.max, 20);
      expect(edges).toHaveLength(21);
      edges.forEach((e, i) => expectClose(e, c.edges[i]!, 1e-15, `edges[${i}] (np.histogram bins=20)`));
      expect(histogram(c.values, c.edges)).toEqual(c.counts);
      quantiles(c.values, c.qs).forEach((v, i) => expectClose(v, c.quantiles[i]!, 1e-15, `quantile ${c.qs[i]} (np.quantile)`));
    });
  }

  for (const c of reference.histogram) {
    it(`histogram: ${c.name}`, () => {
      expect(histogram(nums(c.values), c.edges)).toEqual(c.counts);
    });
  }
});
