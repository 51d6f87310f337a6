import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { adjustPValues, multipleTests } from '../../src/stats/index.js';
import { driftReference } from './drift-reference.js';

describe('adjustPValues and multipleTests match statsmodels.stats.multitest.multipletests', () => {
  it('cover both methods, ties, zeros and ones', () => {
    expect(new Set(driftReference.multipleTests.map((c) => c.method))).toEqual(new Set(['bh', 'bonferroni']));
    expect(driftReference.multipleTests.length).toBeGreaterThanOrEqual(30);
  });

  for (const c of driftReference.multipleTests) {
    it(c.name, () => {
      // the same operations in the same order as statsmodels: equal to the last bit
      expect(adjustPValues(c.p, c.method)).toEqual(c.pAdjusted);
      const r = multipleTests(c.p, c.alpha, c.method);
      expect(r.reject).toEqual(c.reject);
      expect(r.pAdjusted).toEqual(c.pAdjusted);
      expect(r.minAdjusted).toBe(Math.min(1, ...c.pAdjusted));
    });
  }
});

describe('multiple testing behaviour', () => {
  it("BH's smallest adjusted p-value is Simes' combination: min over i of m p_(i) / i", () => {
    const p = [0.2, 0.011, 0.04, 0.03, 0.5];
    const sorted = [...p].sort((a, b) => a - b);
    const simes = Math.min(...sorted.map((v, i) => (v * p.length) / (i + 1)));
    expect(multipleTests(p, 0.05, 'bh').minAdjusted).toBeCloseTo(simes, 15);
    expect(multipleTests(p, 0.05, 'bonferroni').minAdjusted).toBeCloseTo(0.011 * 5, 15);
  });

  it('accepts typed arrays and an empty family', () => {
    expect(adjustPValues(Float64Array.from([0.01, 0.02]), 'bh')).toEqual(adjustPValues([0.01, 0.02], 'bh'));
    expect(adjustPValues([], 'bh')).toEqual([]);
    expect(multipleTests([], 0.05, 'bonferroni')).toEqual({ reject: [], pAdjusted: [], minAdjusted: 1 });
  });

  it('rejects p-values outside [0, 1], a bad method or alpha, naming them', () => {
    expect(() => adjustPValues([0.1, 1.2], 'bh')).toThrow(ModelwatchSdkError);
    expect(() => adjustPValues([0.1, 1.2], 'bh')).toThrow(/adjustPValues: pValues\[1\] must be a number in \[0, 1\], got 1.2/);
    expect(() => adjustPValues([NaN], 'bonferroni')).toThrow(/pValues\[0\] must be a number in \[0, 1\], got NaN/);
    expect(() => adjustPValues([0.1], 'holm' as never)).toThrow(/method must be 'bh' or 'bonferroni', got holm/);
    expect(() => multipleTests([0.1], 1, 'bh')).toThrow(/multipleTests: alpha must be a number in \(0, 1\), got 1/);
  });
});
