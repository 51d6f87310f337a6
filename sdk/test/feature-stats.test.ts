import { describe, expect, it } from 'vitest';
import { isCategorical, isWrongType, REFERENCE_BINS, referenceStats, referenceStatsMap, STATS_QUANTILES, windowStats } from '../src/stats/feature-stats.js';
import type { CategoricalFeatureStats, CellValue, FeatureStats, NumericFeatureStats } from '../src/types.js';

const MAX = Number.MAX_VALUE;

function numeric(s: FeatureStats): NumericFeatureStats {
  expect(s.type).toBe('numeric');
  return s as NumericFeatureStats;
}

function categorical(s: FeatureStats): CategoricalFeatureStats {
  expect(s.type).toBe('categorical');
  return s as CategoricalFeatureStats;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Deterministic pseudo-random numbers in [0, 1) (a small LCG), so tests never flake. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** 1, 2, ..., 100 */
const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

describe('referenceStats', () => {
  describe('numeric columns', () => {
    it('counts infinities as missing values, like NaN and null', () => {
      const s = referenceStats([1, 2, Infinity, -Infinity, NaN, null, 3]);
      expect(s).toMatchObject({ type: 'numeric', count: 3, missing: 4, min: 1, max: 3, mean: 2 });
      if (s.type !== 'numeric') throw new Error('numeric expected');
      expect(s.hist.counts.reduce((a, b) => a + b, 0)).toBe(3);
    });

    const s = numeric(referenceStats(oneToHundred));

    it('has 20 bins padded with an open bin at each end: 22 counts, 23 edges', () => {
      expect(REFERENCE_BINS).toBe(20);
      expect(s.hist.counts).toHaveLength(22);
      expect(s.hist.edges).toHaveLength(23);
      expect(s.hist.edges[0]).toBe(-MAX);
      expect(s.hist.edges[22]).toBe(MAX);
      expect(s.hist.counts[0]).toBe(0);
      expect(s.hist.counts[21]).toBe(0);
    });

    it('spans the inner edges from min to max in equal steps', () => {
      const inner = s.hist.edges.slice(1, 22);
      expect(inner[0]).toBe(1);
      expect(inner[20]).toBe(100);
      for (let i = 0; i < 20; i++) expect(inner[i + 1]! - inner[i]!).toBeCloseTo(99 / 20, 10);
    });

    it('counts values into bins as numpy.histogram does (the last bin holds the max)', () => {
      expect(s.hist.counts).toEqual([0, ...new Array<number>(20).fill(5), 0]);
    });

    it('summarizes the column: count, mean, std (ddof 1), min, max, quartiles', () => {
      expect(s).toMatchObject({ type: 'numeric', count: 100, missing: 0, min: 1, max: 100 });
      expect(s.mean).toBe(50.5);
      expect(s.std).toBeCloseTo(Math.sqrt((100 * 101) / 12), 12);
      expect(Object.keys(s.quantiles)).toEqual(STATS_QUANTILES.map(String));
      expect(s.quantiles).toEqual({ '0.25': 25.75, '0.5': 50.5, '0.75': 75.25 });
    });

    it.each([
      ['uniform', (r: () => number) => r() * 10],
      ['skewed', (r: () => number) => -Math.log(1 - r()) * 3],
      ['negative and positive', (r: () => number) => (r() - 0.5) * 1e6],
      ['few distinct values', (r: () => number) => Math.floor(r() * 4)],
    ])('counts every value exactly once (%s)', (_, draw) => {
      const r = lcg(7);
      const values = Array.from({ length: 1_013 }, () => draw(r));
      const st = numeric(referenceStats(values));
      expect(sum(st.hist.counts)).toBe(st.count);
      expect(st.count).toBe(1_013);
      expect(st.hist.counts[0]).toBe(0);
      expect(st.hist.counts[21]).toBe(0);
      for (let i = 1; i < 23; i++) expect(st.hist.edges[i]!).toBeGreaterThan(st.hist.edges[i - 1]!);
    });

    it('gives a constant column the range [v - 0.5, v + 0.5], all values in one bin', () => {
      const c = numeric(referenceStats([5, 5, 5, 5]));
      expect(c).toMatchObject({ count: 4, missing: 0, mean: 5, std: 0, min: 5, max: 5 });
      expect(c.quantiles).toEqual({ '0.25': 5, '0.5': 5, '0.75': 5 });
      expect(c.hist.edges[1]).toBe(4.5);
      expect(c.hist.edges[21]).toBe(5.5);
      expect(sum(c.hist.counts)).toBe(4);
      const bin = c.hist.counts.findIndex((n) => n > 0);
      expect(c.hist.counts[bin]).toBe(4);
      expect(c.hist.edges[bin]!).toBeLessThanOrEqual(5);
      expect(c.hist.edges[bin + 1]!).toBeGreaterThan(5);
    });

    it('gives a single value a NaN std (ddof 1)', () => {
      const one = numeric(referenceStats([3]));
      expect(one).toMatchObject({ count: 1, mean: 3, min: 3, max: 3 });
      expect(one.std).toBeNaN();
      expect(sum(one.hist.counts)).toBe(1);
    });

    it('counts null, undefined and NaN as missing and leaves them out of the statistics', () => {
      const m = numeric(referenceStats([1, null, 2, NaN, 3, undefined as unknown as CellValue, 4]));
      expect(m).toMatchObject({ count: 4, missing: 3, min: 1, max: 4, mean: 2.5 });
      expect(m.std).toBeCloseTo(Math.sqrt(5 / 3), 14);
      expect(sum(m.hist.counts)).toBe(4);
      expect(m.hist.edges[1]).toBe(1);
      expect(m.hist.edges[21]).toBe(4);
    });

    it('reads a Float64Array, NaN as missing', () => {
      const f = numeric(referenceStats(Float64Array.from([2, NaN, 4, 6])));
      expect(f).toMatchObject({ count: 3, missing: 1, min: 2, max: 6, mean: 4 });
      expect(sum(f.hist.counts)).toBe(3);
    });

    it('gives a column of only missing values empty statistics and a 2-bin open histogram', () => {
      const e = numeric(referenceStats([null, NaN, null]));
      expect(e.count).toBe(0);
      expect(e.missing).toBe(3);
      for (const v of [e.mean, e.std, e.min, e.max, ...Object.values(e.quantiles)]) expect(v).toBeNaN();
      expect(e.hist).toEqual({ counts: [0, 0], edges: [-MAX, 0, MAX] });
    });
  });

  describe('categorical columns', () => {
    it('counts the frequency of each value', () => {
      const c = categorical(referenceStats(['red', 'blue', 'red', 'green', 'red']));
      expect(c).toEqual({ type: 'categorical', count: 5, missing: 0, unique: 3, frequencies: { red: 3, blue: 1, green: 1 } });
    });

    it('counts null and NaN as missing', () => {
      expect(referenceStats(['a', null, 'b', NaN, 'a'])).toEqual({
        type: 'categorical',
        count: 3,
        missing: 2,
        unique: 2,
        frequencies: { a: 2, b: 1 },
      });
    });

    it('treats a column with any string as categorical, numbers keyed as text', () => {
      expect(referenceStats([1, 'one', 1, 2.5])).toEqual({
        type: 'categorical',
        count: 4,
        missing: 0,
        unique: 3,
        frequencies: { '1': 2, one: 1, '2.5': 1 },
      });
    });
  });
});

describe('isCategorical', () => {
  it.each([
    [[1, 2, 3], false],
    [[null, NaN], false],
    [[], false],
    [[1, null, 'x'], true],
    [['', null], true],
  ] as Array<[CellValue[], boolean]>)('%j -> %s', (values, expected) => {
    expect(isCategorical(values)).toBe(expected);
  });

  it('is false for a Float64Array', () => {
    expect(isCategorical(new Float64Array([1, 2]))).toBe(false);
  });
});

describe('windowStats', () => {
  const reference = numeric(referenceStats(oneToHundred));

  it('counts the window on the reference edges', () => {
    const values = [1, 2, 3, 50, 51, 99];
    const w = numeric(windowStats(values, reference));
    expect(w.hist.edges).toEqual(reference.hist.edges);
    expect(w.hist.counts).toHaveLength(22);
    const expected = new Array<number>(22).fill(0);
    expected[1] = 3; // [1, 5.95): 1, 2, 3
    expected[10] = 1; // [45.55, 50.5): 50
    expected[11] = 1; // [50.5, 55.45): 51
    expected[20] = 1; // [95.05, 100): 99
    expect(w.hist.counts).toEqual(expected);
    expect(w).toMatchObject({ type: 'numeric', count: 6, missing: 0, min: 1, max: 99 });
  });

  it('puts values outside the reference range in the padding bins', () => {
    const w = numeric(windowStats([-1e9, 0, 0.999, 50, 100.001, 1e6, 1e308, -MAX, MAX], reference));
    expect(w.hist.counts[0]).toBe(4); // -MAX, -1e9, 0, 0.999
    expect(w.hist.counts[21]).toBe(4); // 100.001, 1e6, 1e308, MAX
    expect(sum(w.hist.counts.slice(1, 21))).toBe(1);
    expect(sum(w.hist.counts)).toBe(w.count);
    expect(w.count).toBe(9);
  });

  it('counts every value of a window on reference edges exactly once', () => {
    const r = lcg(11);
    const values = Array.from({ length: 500 }, () => (r() - 0.25) * 150);
    const w = numeric(windowStats(values, reference));
    expect(sum(w.hist.counts)).toBe(500);
    expect(w.hist.counts[0]).toBe(values.filter((v) => v < 1).length);
    // on padded edges a value equal to the reference max is in [max, MAX_VALUE), as numpy.histogram counts it
    expect(w.hist.counts[21]).toBe(values.filter((v) => v >= 100).length);
  });

  it('counts a value equal to the reference max in the upper padding bin (numpy.histogram on the padded edges)', () => {
    const w = numeric(windowStats([100], reference));
    expect(w.hist.counts[21]).toBe(1);
    expect(w.hist.counts[20]).toBe(0);
  });

  it('counts missing values and leaves them out of the histogram', () => {
    const w = numeric(windowStats([10, null, NaN, 20], reference));
    expect(w).toMatchObject({ count: 2, missing: 2, mean: 15, min: 10, max: 20 });
    expect(sum(w.hist.counts)).toBe(2);
  });

  it('gives an empty window zero counts on the reference edges', () => {
    const w = numeric(windowStats([], reference));
    expect(w.count).toBe(0);
    expect(w.hist.counts).toEqual(new Array<number>(22).fill(0));
    expect(w.hist.edges).toEqual(reference.hist.edges);
  });

  it('copies the reference edges', () => {
    const w = numeric(windowStats([5], reference));
    expect(w.hist.edges).not.toBe(reference.hist.edges);
    w.hist.edges[1] = -1;
    expect(reference.hist.edges[1]).toBe(1);
  });

  it('uses its own 20 unpadded bins without a reference', () => {
    const w = numeric(windowStats(oneToHundred));
    expect(w.hist.counts).toEqual(new Array<number>(20).fill(5));
    expect(w.hist.edges).toHaveLength(21);
    expect(w.hist.edges[0]).toBe(1);
    expect(w.hist.edges[20]).toBe(100);
  });

  it('gives an empty window without a reference an empty histogram', () => {
    const w = numeric(windowStats([null, NaN]));
    expect(w).toMatchObject({ count: 0, missing: 2, hist: { counts: [], edges: [] } });
  });

  it('has the same summary as referenceStats, and the count of values of the wrong type it is given', () => {
    const values = [3, 1, 4, 1, 5, 9, 2, 6, null];
    const { hist: _r, ...ref } = numeric(referenceStats(values));
    const { hist: _w, ...win } = numeric(windowStats(values, reference));
    expect(win).toEqual({ ...ref, wrongType: 0 });
    expect(windowStats(values, reference, 1)).toMatchObject({ missing: 1, wrongType: 1 });
  });

  it('counts frequencies of a string window', () => {
    expect(windowStats(['a', 'b', 'a', null], reference)).toEqual({
      type: 'categorical',
      count: 3,
      missing: 1,
      unique: 2,
      frequencies: { a: 2, b: 1 },
      wrongType: 0,
    });
  });

  it('counts frequencies of a numeric window when the reference is categorical', () => {
    const catRef = referenceStats(['1', '2']);
    expect(windowStats([1, 2, 2, null, NaN], catRef)).toEqual({
      type: 'categorical',
      count: 3,
      missing: 2,
      unique: 2,
      frequencies: { '1': 1, '2': 2 },
      wrongType: 0,
    });
  });
});

describe('isWrongType', () => {
  const num = referenceStats([1, 2, 3]);
  const text = referenceStats(['red', 'blue']);
  const mixed = referenceStats(['A1B', 2139, 'x']);

  it('is a string in a numeric column, including one that reads as a number', () => {
    expect(isWrongType('a', num)).toBe(true);
    expect(isWrongType('5.1', num)).toBe(true);
    expect(isWrongType(5.1, num)).toBe(false);
  });

  it('is a number in a text column whose categories are all non-numeric', () => {
    expect(isWrongType(3, text)).toBe(true);
    expect(isWrongType('green', text)).toBe(false);
  });

  it('is not a number in a text column with a category written as a number (a CSV with mixed cells)', () => {
    expect(isWrongType(2139, mixed)).toBe(false);
    expect(isWrongType(7, mixed)).toBe(false);
    // '02139' is text, not a number written out
    expect(isWrongType(1, referenceStats(['02139', 'x']))).toBe(true);
  });

  it('is never a missing value, nor any value of a column without reference statistics', () => {
    expect(isWrongType(null, num)).toBe(false);
    expect(isWrongType(null, text)).toBe(false);
    expect(isWrongType('a', undefined)).toBe(false);
    expect(isWrongType(1, undefined)).toBe(false);
  });
});

describe('referenceStatsMap', () => {
  it('computes reference statistics of every column', () => {
    const m = referenceStatsMap({ x: oneToHundred, colour: ['red', 'blue'], empty: [] });
    expect(Object.keys(m)).toEqual(['x', 'colour', 'empty']);
    expect(m.x).toEqual(referenceStats(oneToHundred));
    expect(categorical(m.colour!).frequencies).toEqual({ red: 1, blue: 1 });
    expect(numeric(m.empty!)).toMatchObject({ count: 0, missing: 0 });
  });
});
