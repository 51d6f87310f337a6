import { describe, expect, it } from 'vitest';
import { quantiles } from '../../src/stats/index.js';
import { quantilesBySelection, selectInPlace } from '../../src/stats/summary.js';
import { seededRandom } from '../../src/testing.js';

describe('quantiles by selection', () => {
  const r = seededRandom(11);
  const cases: Array<[string, number[]]> = [
    ['normal', Array.from({ length: 10_001 }, () => r.normal())],
    ['many ties', Array.from({ length: 5000 }, () => Math.floor(r.uniform() * 7))],
    ['sorted', Array.from({ length: 999 }, (_, i) => i)],
    ['reversed', Array.from({ length: 1000 }, (_, i) => -i)],
    ['constant', new Array<number>(100).fill(3.5)],
    ['one', [42]],
    ['two', [2, 1]],
  ];
  it.each(cases)('equal the sort-based quantiles to the bit: %s', (_, values) => {
    const qs = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999, 1];
    expect(quantilesBySelection(values, qs)).toEqual(quantiles(values, qs));
  });

  it('selectInPlace puts the k-th smallest at k, smaller before and larger after', () => {
    const a = Float64Array.from(Array.from({ length: 2000 }, () => r.uniform()));
    const sorted = Float64Array.from(a).sort();
    for (const k of [0, 1, 999, 1998, 1999]) {
      const b = Float64Array.from(a);
      expect(selectInPlace(b, k)).toBe(sorted[k]);
      for (let i = 0; i < k; i++) expect(b[i]).toBeLessThanOrEqual(b[k]!);
      for (let i = k + 1; i < b.length; i++) expect(b[i]).toBeGreaterThanOrEqual(b[k]!);
    }
  });

  it('is NaN for no values', () => {
    expect(quantilesBySelection([], [0.5])).toEqual([NaN]);
  });
});
