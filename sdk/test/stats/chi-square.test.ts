import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { chiSquare } from '../../src/stats/index.js';
import { CHI_SQUARE_SUM_RTOL } from '../../src/stats/chi-square.js';
import { expectClose, reference } from './reference.js';

describe('chiSquare matches scipy.stats.chisquare', () => {
  it('includes far-tail p-values', () => {
    const ps = reference.chiSquare.map((c) => c.pValue).filter((p) => p > 0);
    expect(Math.min(...ps)).toBeLessThan(1e-300);
  });

  for (const c of reference.chiSquare) {
    it(c.name, () => {
      const r = chiSquare(c.observed, c.expected ?? undefined, { ddof: c.ddof });
      expectClose(r.statistic, c.statistic, 1e-14, 'statistic');
      expectClose(r.pValue, c.pValue, 1e-11, 'pValue');
      expect(r.dof).toBe(c.observed.length - 1 - c.ddof);
    });
  }
});

describe('chiSquare behaviour', () => {
  it('defaults expected to the uniform distribution', () => {
    const obs = [10, 20, 30, 40];
    expect(chiSquare(obs)).toEqual(chiSquare(obs, [25, 25, 25, 25]));
  });

  it('accepts typed arrays', () => {
    expect(chiSquare(Uint32Array.from([16, 18, 16, 14, 12, 12]))).toEqual(chiSquare([16, 18, 16, 14, 12, 12]));
  });

  it('checks that the totals agree like scipy (relative tolerance sqrt(eps))', () => {
    expect(CHI_SQUARE_SUM_RTOL).toBe(Math.sqrt(Number.EPSILON));
    expect(() => chiSquare([10, 20, 30], [10, 20, 31])).toThrow(ModelwatchSdkError);
    expect(() => chiSquare([10, 20, 30], [10, 20, 31])).toThrow(/chiSquare: the totals of observed \(60\) and expected \(61\) frequencies must agree/);
    expect(() => chiSquare([10, 20, 30], [10, 20, 30.0000001])).not.toThrow();
  });

  it('rejects invalid arguments, naming them', () => {
    expect(() => chiSquare([])).toThrow(/chiSquare: observed must not be empty/);
    expect(() => chiSquare([5])).toThrow(/at least 1 degree of freedom/);
    expect(() => chiSquare([5, 6], undefined, { ddof: 1 })).toThrow(/at least 1 degree of freedom/);
    expect(() => chiSquare([5, 6], undefined, { ddof: -1 })).toThrow(/ddof must be a non-negative integer/);
    expect(() => chiSquare([5, -1, 3])).toThrow(/observed\[1\] is negative/);
    expect(() => chiSquare([5, NaN, 3])).toThrow(/observed\[1\] is NaN/);
    expect(() => chiSquare([5, Infinity, 3])).toThrow(/observed\[1\] is not finite/);
    expect(() => chiSquare([0, 0, 0])).toThrow(/observed frequencies must have a positive total/);
    expect(() => chiSquare([1, 2, 3], [3, 3])).toThrow(/observed and expected must have the same length \(3 != 2\)/);
    expect(() => chiSquare([1, 2, 3], [3, 3, 0])).toThrow(/expected\[2\] is 0/);
    expect(() => chiSquare([1, 2, 3], [3, NaN, 0])).toThrow(/expected\[1\] is NaN/);
    expect(() => chiSquare([1, 2, 3], [3, -3, 6])).toThrow(/expected\[1\] is negative/);
  });
});
