import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import {
  columnDrift,
  DRIFT_METHODS,
  INTEGER_CARDINALITY_LIMIT,
  integerCardinalityType,
  isDrift,
  selectDriftMethod,
  wasserstein,
} from '../../src/stats/index.js';
import { binnedDistributions, sturgesEdges } from '../../src/stats/drift.js';
import { wassersteinUnweighted } from '../../src/stats/drift.js';

// Numbers from numpy 2.4 / scipy 1.17 (np.histogram_bin_edges(x, 'sturges'), scipy.stats.chi2_contingency,
// scipy.stats.chisquare, scipy.spatial.distance.jensenshannon). The app-level parity with Evidently's
// choice of test is in plugins/data-drift/test (evidently_reference.py).

describe("selectDriftMethod: Evidently's default choice", () => {
  it('reference <= 1000: KS for numeric with > 5 values, chi-square above 2 values, z-test at 2 or fewer', () => {
    expect(selectDriftMethod('numeric', 1000, 6)).toBe('ks');
    expect(selectDriftMethod('numeric', 1000, 5)).toBe('chisquare');
    expect(selectDriftMethod('numeric', 1000, 3)).toBe('chisquare');
    expect(selectDriftMethod('numeric', 1000, 2)).toBe('z');
    expect(selectDriftMethod('numeric', 10, 1)).toBe('z');
    expect(selectDriftMethod('categorical', 1000, 50)).toBe('chisquare');
    expect(selectDriftMethod('categorical', 1000, 2)).toBe('z');
    expect(selectDriftMethod('categorical', 1000, 3, 'chi2_contingency')).toBe('chi2_contingency');
  });

  it('reference > 1000: normed Wasserstein for numeric with > 5 values, Jensen-Shannon otherwise', () => {
    expect(selectDriftMethod('numeric', 1001, 6)).toBe('wasserstein');
    expect(selectDriftMethod('numeric', 1001, 5)).toBe('jensenshannon');
    expect(selectDriftMethod('categorical', 5000, 2)).toBe('jensenshannon');
  });

  it('counts distinct values of reference and current together, missing values left out', () => {
    const ref = [1, 2, 3, 4, 5, NaN];
    expect(columnDrift(ref, [1, 2, 3]).method).toBe('chisquare');
    expect(columnDrift(ref, [6, NaN]).method).toBe('ks');
    expect(columnDrift(ref, [6, NaN]).uniqueValues).toBe(6);
    expect(columnDrift(['a', null], ['b', null]).method).toBe('z');
  });
});

describe("integerCardinalityType: Evidently's current automatic typing (INTEGER_CARDINALITY_LIMIT)", () => {
  const distinct = (k: number) => Array.from({ length: 3 * k }, (_, i) => i % k);

  it('is categorical for an integer-valued column with at most 10 distinct values, numeric from 11', () => {
    expect(INTEGER_CARDINALITY_LIMIT).toBe(10);
    expect(integerCardinalityType(distinct(1))).toBe('categorical');
    expect(integerCardinalityType(distinct(10))).toBe('categorical');
    expect(integerCardinalityType(distinct(11))).toBe('numeric');
    expect(integerCardinalityType([-3, 0, 1e15, -3])).toBe('categorical');
  });

  it('reads integer-valued from the non-missing values: a missing value does not make a column numeric, one fraction does', () => {
    expect(integerCardinalityType([1, 2, NaN, null, 3])).toBe('categorical');
    expect(integerCardinalityType(new Float64Array([1, 2, NaN, 3]))).toBe('categorical');
    expect(integerCardinalityType([1, 2, 2.5, 3])).toBe('numeric');
    expect(integerCardinalityType([1, 2, 3, 1.0000001])).toBe('numeric');
  });

  it('is numeric for a column without values', () => {
    expect(integerCardinalityType([])).toBe('numeric');
    expect(integerCardinalityType([NaN, null])).toBe('numeric');
  });
});

describe('columnDrift with type categorical: numbers compared as categories', () => {
  it('gives the categorical tests and one bin per value, the values sorted as numbers', () => {
    const ref = [1, 2, 2, 3, 3, 3, 10, 10, NaN];
    const cur = [2, 3, 3, 10, 11, 11];
    const d = columnDrift(ref, cur, { type: 'categorical' });
    expect(d).toMatchObject({ type: 'categorical', method: 'chisquare', referenceCount: 8, currentCount: 6, uniqueValues: 5, bins: 5, unseen: 1 });
    // the same numbers as the strings of their values, but ordered 1 < 2 < 3 < 10 < 11
    const js = columnDrift(ref, cur, { type: 'categorical', method: 'jensenshannon' });
    const asText = columnDrift(
      ref.map((v) => (Number.isNaN(v) ? null : String(v))),
      cur.map(String),
      { method: 'jensenshannon' },
    );
    expect(js.statistic).toBeCloseTo(asText.statistic, 15);
    expect(binnedDistributions(ref, cur).bins).toBe(5);
    // a numeric-only method does not apply
    expect(() => columnDrift(ref, cur, { type: 'categorical', method: 'ks' })).toThrow('columnDrift: ks applies to numeric columns, not to a categorical one');
  });

  it('z-test: the first category is the smallest number', () => {
    const d = columnDrift([10, 10, 2, 2, 2], [10, 2, 2, 2, 2], { type: 'categorical' });
    const text = columnDrift(['10', '10', '2', '2', '2'], ['10', '2', '2', '2', '2']);
    expect(d.method).toBe('z');
    // '10' sorts before '2' as text, 2 before 10 as a number: the sign of z flips, the p-value does not
    expect(d.statistic).toBeCloseTo(-text.statistic, 15);
    expect(d.pValue).toBeCloseTo(text.pValue!, 15);
  });
});

describe('sturgesEdges equals np.histogram_bin_edges(x, "sturges")', () => {
  it.each([
    [
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9.5],
      [0.0, 1.9, 3.8, 5.699999999999999, 7.6, 9.5],
    ],
    [
      [3, 3, 3],
      [2.5, 3.5],
    ],
    [
      [0.001, 0.0025, 0.007, 0.01, 0.011, 0.3],
      [0.001, 0.07575, 0.1505, 0.22525, 0.3],
    ],
    [
      [
        -0.802, -1.324, -0.248, 0.42, 1.136, 0.11, -0.553, -0.785, 0.749, 1.635, 0.273, -1.233, -0.958, 1.6, 0.203, -1.732, -0.084, -1.163, -0.629, -0.488,
        -0.713, 0.553, -0.063, -0.589, 0.41, 0.83, -1.643, -0.257, -0.981, -0.173, -1.289, 0.021, -0.038, -0.304, -1.048, -0.396, -1.091,
      ],
      [-1.732, -1.251, -0.77, -0.2889999999999999, 0.19199999999999995, 0.6729999999999998, 1.1540000000000001, 1.635],
    ],
  ])('%j', (values, edges) => {
    expect(sturgesEdges(values)).toEqual(edges);
  });

  it('rejects empty and non-finite values', () => {
    expect(() => sturgesEdges([])).toThrow(/must not be empty/);
    expect(() => sturgesEdges([1, Infinity])).toThrow(/values\[1\] is not finite/);
  });
});

describe('the tests and distances', () => {
  it('chi2_contingency equals scipy.stats.chi2_contingency(correction=False)', () => {
    const ref = [...Array(30).fill('a'), ...Array(20).fill('b'), ...Array(10).fill('c')];
    const cur = [...Array(10).fill('a'), ...Array(20).fill('b'), ...Array(30).fill('c')];
    const d = columnDrift(ref, cur, { method: 'chi2_contingency' });
    expect(d.statistic).toBe(20);
    expect(d.pValue).toBeCloseTo(4.539992976248486e-5, 15);
    expect(d.drifted).toBe(true);
  });

  it("chisquare: Evidently's goodness of fit, expected = reference counts scaled to the current size", () => {
    // reference shares 1/3 each, current 10/20/30: scipy.stats.chisquare([10, 20, 30], [20, 20, 20])
    const d = columnDrift(['a', 'b', 'c'], [...Array(10).fill('a'), ...Array(20).fill('b'), ...Array(30).fill('c')]);
    expect(d.method).toBe('chisquare');
    expect(d.statistic).toBe(10);
    expect(d.pValue).toBeCloseTo(0.006737946999085468, 15);
  });

  it('a category the reference lacks: chi-square statistic infinite, p-value 0 (scipy); JS over the union', () => {
    const d = columnDrift(['a', 'b', 'a', 'c'], ['a', 'd', 'd', 'b']);
    expect(d).toMatchObject({ method: 'chisquare', statistic: Infinity, pValue: 0, drifted: true, unseen: 1, bins: 4 });
    const js = columnDrift(['a', 'b', 'a', 'c'], ['a', 'd', 'd', 'b'], { method: 'jensenshannon' });
    expect(js.statistic).toBe(0.5302523666231054);
  });

  it('z-test: p = 1 when both samples hold the same single value', () => {
    expect(columnDrift(['x', 'x'], ['x'])).toMatchObject({ method: 'z', statistic: 0, pValue: 1, drifted: false });
  });

  it('normed Wasserstein: W1 / max(std(reference, ddof 0), 0.001)', () => {
    const ref = Array.from({ length: 1200 }, (_, i) => (i % 7) + 0.5 * Math.sin(i));
    const cur = ref.slice(0, 300).map((v) => v + 0.3);
    const d = columnDrift(ref, cur);
    expect(d.method).toBe('wasserstein');
    const mean = ref.reduce((a, b) => a + b, 0) / ref.length;
    const sd = Math.sqrt(ref.reduce((a, b) => a + (b - mean) ** 2, 0) / ref.length);
    expect(d.statistic).toBeCloseTo(wasserstein(ref, cur) / sd, 12);
    const constant = columnDrift(Array(1500).fill(2), [2, 2, 2.01], { method: 'wasserstein' });
    expect(constant.statistic).toBeCloseTo(0.01 / 3 / 0.001, 9);
  });

  it("wassersteinUnweighted gives exactly the numbers of wasserstein (scipy's algorithm)", () => {
    let s = 7;
    const rand = () => (s = (s * 16807) % 2147483647) / 2147483647;
    for (const [n, m] of [
      [1, 1],
      [5, 3],
      [200, 1000],
      [1000, 37],
    ] as const) {
      const u = Float64Array.from({ length: n }, () => Math.round(rand() * 50) / 10);
      const v = Float64Array.from({ length: m }, () => Math.round(rand() * 60) / 10 - 0.5);
      expect(wassersteinUnweighted(u, v)).toBe(wasserstein(u, v));
    }
  });

  it("binned distributions: Evidently's bins and its fill of empty bins (1e-4, or a millionth of the smallest share)", () => {
    const b = binnedDistributions(['a', 'a', 'b'], ['a', 'c'], true);
    expect(Array.from(b.reference)).toEqual([2 / 3, 1 / 3, 0.0001]);
    expect(Array.from(b.current)).toEqual([0.5, 0.0001, 0.5]);
    expect(b.unseen).toBe(1);
    const small = binnedDistributions([...Array(99999).fill('a'), 'b'], ['a', 'c'], true);
    expect(small.reference[2]).toBe(1e-5 / 1e6);
    const numeric = binnedDistributions(
      Array.from({ length: 30 }, (_, i) => i),
      [0, 29, 100],
    );
    expect(numeric.bins).toBe(7); // sturges over 33 values: ceil(log2(33) + 1)
    expect(numeric.edges![0]).toBe(0);
    expect(numeric.edges![7]).toBe(100);
  });

  it('decision rules: ks p <= threshold; other tests p < threshold; distances >= threshold', () => {
    expect(isDrift('ks', 0.05, 0.05)).toBe(true);
    expect(isDrift('chisquare', 0.05, 0.05)).toBe(false);
    expect(isDrift('z', 0.05, 0.05)).toBe(false);
    expect(isDrift('wasserstein', 0.1, 0.1)).toBe(true);
    expect(isDrift('jensenshannon', 0.0999, 0.1)).toBe(false);
    expect(Object.fromEntries(Object.entries(DRIFT_METHODS).map(([k, v]) => [k, v.defaultThreshold]))).toEqual({
      ks: 0.05,
      chisquare: 0.05,
      chi2_contingency: 0.05,
      z: 0.05,
      wasserstein: 0.1,
      jensenshannon: 0.1,
      psi: 0.1,
      kl_div: 0.1,
    });
  });

  it('rejects samples without values, mixed types and methods for the other type', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ModelwatchSdkError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err(() => columnDrift([NaN, NaN], [1]))).toBe('columnDrift: the reference has no values (all missing)');
    expect(err(() => columnDrift([1], [null]))).toBe('columnDrift: the current sample has no values (all missing)');
    expect(err(() => columnDrift([1, 2], ['a']))).toBe('columnDrift: the reference is numeric but the current sample is categorical');
    expect(err(() => columnDrift(['a'], ['b'], { method: 'ks' }))).toBe('columnDrift: ks applies to numeric columns, not to a categorical one');
    expect(err(() => columnDrift([1], [2], { method: 'energy' as never }))).toMatch(/unknown method 'energy'/);
  });
});
