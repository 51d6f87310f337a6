import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { createRandom, createReferenceMmd, mmdTest, type Columns } from '../../src/stats/index.js';
import { medianHeuristic, standardizer } from '../../src/stats/mmd.js';
import { binomialUpperBound } from '../../../plugins/test-utils/context.js';
import { driftReference } from './drift-reference.js';
import { expectClose } from './reference.js';

describe('mmdTest matches the numpy/scipy permutation test with the same permutations', () => {
  for (const c of driftReference.mmdTest) {
    it(c.name, () => {
      const r = mmdTest(c.reference, c.current, { permutations: c.permutations, seed: c.seed, ...(c.bandwidth !== null ? { bandwidth: c.bandwidth } : {}) });
      expectClose(r.bandwidth, c.expectedBandwidth, 1e-15, 'bandwidth');
      expectClose(r.statistic, c.statistic, 1e-12, 'statistic');
      expect(r.pValue).toBe(c.pValue);
      expect(r.permutations).toBe(c.permutations);
    });
  }
});

const normalColumns = (seed: number, n: number, d: number, shift = 0): Float64Array[] => {
  const r = createRandom(seed);
  return Array.from({ length: d }, (_, j) => Float64Array.from({ length: n }, () => r.normal() + (j === 0 ? shift : 0)));
};

describe('mmdTest behaviour', () => {
  it('does not depend on the units of a feature: standardized by the reference', () => {
    const ref = normalColumns(1, 40, 2);
    const cur = normalColumns(2, 30, 2, 0.5);
    const scaled = (cols: Float64Array[]) => [Float64Array.from(cols[0]!, (v) => v * 1000 + 7), cols[1]!];
    const a = mmdTest(ref, cur, { permutations: 100 });
    const b = mmdTest(scaled(ref), scaled(cur), { permutations: 100 });
    expect(b.statistic).toBeCloseTo(a.statistic, 12);
    expect(b.pValue).toBe(a.pValue);
  });

  it('medianHeuristic is the median pairwise distance (1 when all rows are equal)', () => {
    // rows (0, 0), (3, 4), (0, 8), (6, 8): distances 5, 8, 10, 5, 5, 6; median (5 + 6) / 2
    expect(medianHeuristic([Float64Array.from([0, 3, 0, 6]), Float64Array.from([0, 4, 8, 8])])).toBe(5.5);
    expect(
      medianHeuristic([
        [0, 3, 0],
        [0, 4, 8],
      ]),
    ).toBe(5);
    expect(medianHeuristic([[2, 2, 2]])).toBe(1);
  });

  it('rejects missing values, mismatched columns and too few rows, naming them', () => {
    expect(() => mmdTest([[1, 2, NaN]], [[1, 2]])).toThrow(ModelwatchSdkError);
    expect(() => mmdTest([[1, 2, NaN]], [[1, 2]])).toThrow(/mmdTest: reference\[0\]\[2\] is not a finite number \(NaN\)/);
    expect(() =>
      mmdTest(
        [[1, 2]],
        [
          [1, 2],
          [3, 4],
        ],
      ),
    ).toThrow(/mmdTest: current has 2 columns, expected 1/);
    expect(() => mmdTest([[1]], [[1, 2]])).toThrow(/mmdTest: reference needs at least 2 rows, got 1/);
    expect(() => mmdTest([[1, 2], [1]], [[1, 2]])).toThrow(/the columns of reference have different lengths/);
    expect(() => mmdTest([[1, 2]], [[1, 2]], { permutations: 0 })).toThrow(/permutations must be a positive integer, got 0/);
  });

  it('standardizer: mean and population std per column, 1 for a constant column', () => {
    const s = standardizer([
      [1, 2, 3, 4],
      [5, 5, 5, 5],
    ]);
    expect([...s.mean]).toEqual([2.5, 5]);
    expect([...s.scale]).toEqual([Math.sqrt(1.25), 1]);
  });
});

describe('createReferenceMmd matches its numpy port (same random features, draws and nulls)', () => {
  for (const c of driftReference.referenceMmd) {
    it(c.name, () => {
      const m = createReferenceMmd(c.reference, c.options);
      expectClose(m.bandwidth, c.bandwidth, 1e-15, 'bandwidth');
      c.windows.forEach((w, k) => {
        const r = m.test(w.map((col) => Float64Array.from(col, (v) => (v === null ? NaN : v))));
        const want = c.results[k]!;
        expectClose(r.statistic, want.statistic, 1e-10, `window ${k} statistic`);
        expectClose(r.normalized, want.normalized, 1e-10, `window ${k} normalized`);
        expectClose(r.pValue, want.pValue, 1e-13, `window ${k} pValue`);
        expect(r.nullSizes).toEqual(want.nullSizes);
      });
    });
  }
});

describe('createReferenceMmd: a test of every window against one reference', () => {
  it('keeps its level at every window size (fresh reference and window per trial) and detects a mean shift', async ({ annotate }) => {
    const trials = 200;
    const bound = binomialUpperBound(trials, 0.05, 0.001);
    const lines: string[] = [];
    for (const n of [5, 12, 40, 100]) {
      let alarms = 0;
      let detected = 0;
      for (let t = 0; t < trials; t++) {
        const m = createReferenceMmd(normalColumns(1000 + t, 200, 3), { replicates: 100, fourierFeatures: 32, seed: t });
        if (m.test(normalColumns(5000 + t, n, 3)).pValue < 0.05) alarms++;
        if (t < 100 && m.test(normalColumns(9000 + t, n, 3, 1)).pValue < 0.05) detected++;
      }
      lines.push(`n=${n}: false alarms ${alarms}/${trials}, 1-sigma shift detected ${detected}/100`);
      expect(alarms, `n=${n}`).toBeLessThanOrEqual(bound);
      if (n >= 40) expect(detected, `n=${n}`).toBeGreaterThanOrEqual(90);
    }
    await annotate(lines.join('; '));
  });

  it('computes a null once per power-of-two size and keeps it', () => {
    const m = createReferenceMmd(normalColumns(1, 200, 2), { replicates: 100 });
    const before = m.bytes();
    expect(m.test(normalColumns(2, 16, 2)).nullSizes).toEqual([16]);
    const after16 = m.bytes();
    expect(after16 - before).toBe(100 * 8);
    expect(m.test(normalColumns(3, 20, 2)).nullSizes).toEqual([16, 32]);
    expect(m.bytes() - after16).toBe(100 * 8);
    m.test(normalColumns(4, 30, 2));
    expect(m.bytes() - after16).toBe(100 * 8);
  });

  it('gives the same p-value whatever the order windows come in', () => {
    const ref = normalColumns(1, 200, 2);
    const w1 = normalColumns(2, 20, 2);
    const w2 = normalColumns(3, 100, 2);
    const a = createReferenceMmd(ref);
    const b = createReferenceMmd(ref);
    const a1 = a.test(w1).pValue;
    const a2 = a.test(w2).pValue;
    expect(b.test(w2).pValue).toBe(a2);
    expect(b.test(w1).pValue).toBe(a1);
  });

  it('takes a missing window value as the reference mean, and rejects a window of the wrong shape', () => {
    const m = createReferenceMmd(normalColumns(1, 100, 2));
    const mean = m.standardizer.mean;
    const a = m.test([Float64Array.from([NaN, 0.5]), Float64Array.from([0.1, 0.2])]);
    const b = m.test([Float64Array.from([mean[0]!, 0.5]), Float64Array.from([0.1, 0.2])]);
    expect(a.statistic).toBeCloseTo(b.statistic, 15);
    expect(() => m.test([Float64Array.from([1])])).toThrow(/createReferenceMmd: the window must have 2 columns, got 1/);
    expect(() => m.test([new Float64Array(0), new Float64Array(0)] as Columns)).toThrow(/the window has no rows/);
  });
});
