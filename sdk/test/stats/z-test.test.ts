import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { zTestProportions } from '../../src/stats/index.js';
import { expectClose, reference } from './reference.js';

describe('zTestProportions matches statsmodels proportions_ztest (pooled, two-sided)', () => {
  it('includes a far-tail p-value', () => {
    expect(Math.min(...reference.zTestProportions.map((c) => c.pValue).filter((p) => p > 0))).toBeLessThan(1e-250);
  });

  for (const c of reference.zTestProportions) {
    it(`${c.count1}/${c.n1} vs ${c.count2}/${c.n2}`, () => {
      const r = zTestProportions(c.count1, c.n1, c.count2, c.n2);
      expectClose(r.statistic, c.statistic, 1e-14, 'statistic');
      expectClose(r.pValue, c.pValue, 1e-12, 'pValue');
    });
  }
});

describe('zTestProportions behaviour', () => {
  it('is antisymmetric in the two samples', () => {
    const ab = zTestProportions(31, 40, 12, 55);
    const ba = zTestProportions(12, 55, 31, 40);
    expect(ba.statistic).toBe(-ab.statistic);
    expect(ba.pValue).toBe(ab.pValue);
  });

  it('returns statistic 0 and p-value 1 when the pooled proportion is 0 or 1', () => {
    expect(zTestProportions(0, 10, 0, 20)).toEqual({ statistic: 0, pValue: 1 });
    expect(zTestProportions(10, 10, 20, 20)).toEqual({ statistic: 0, pValue: 1 });
  });

  it('rejects invalid arguments, naming them', () => {
    expect(() => zTestProportions(1, 0, 1, 10)).toThrow(ModelwatchSdkError);
    expect(() => zTestProportions(1, 0, 1, 10)).toThrow(/zTestProportions: n1 must be positive/);
    expect(() => zTestProportions(1, 10, 1, -5)).toThrow(/n2 must be positive/);
    expect(() => zTestProportions(11, 10, 1, 10)).toThrow(/count1 must be between 0 and n1/);
    expect(() => zTestProportions(1, 10, -1, 10)).toThrow(/count2 must be between 0 and n2/);
    expect(() => zTestProportions(NaN, 10, 1, 10)).toThrow(/count1 must be a finite number/);
    expect(() => zTestProportions(1, Infinity, 1, 10)).toThrow(/n1 must be a finite number/);
  });
});
