import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { KS_MAX_EXACT_N, ks2samp, ks2sampSorted } from '../../src/stats/index.js';
import { kolmogorov, kstwoSf, smirnov } from '../../src/stats/kolmogorov.js';
import { driftReference } from './drift-reference.js';
import { expectClose, nums, num, reference } from './reference.js';

describe('ks2samp matches scipy.stats.ks_2samp', () => {
  it('covers both methods, ties, identical samples and far tails', () => {
    const methods = new Set(reference.ks2samp.map((c) => c.method));
    expect(methods).toEqual(new Set(['exact', 'asymp']));
    expect(Math.min(...reference.ks2samp.map((c) => c.pValue).filter((p) => p > 0))).toBeLessThan(1e-100);
  });

  for (const c of reference.ks2samp) {
    it(`${c.name} (n=${c.a.length}/${c.b.length}, ${c.method})`, () => {
      const r = ks2samp(nums(c.a), nums(c.b));
      expectClose(r.statistic, c.statistic, 1e-15, 'statistic');
      expectClose(r.pValue, c.pValue, 1e-10, 'pValue');
      expect(r.statisticLocation).toBe(num(c.statisticLocation));
      expect(r.statisticSign).toBe(c.statisticSign);
      expect(r.method).toBe(c.method);
    });
  }
});

describe("ks2samp's method option matches scipy.stats.ks_2samp(method=...)", () => {
  for (const c of driftReference.ksMethods) {
    for (const method of ['exact', 'asymp', 'auto'] as const) {
      it(`${c.name}, method '${method}'`, () => {
        const want = c.results[method];
        const r = ks2samp(c.a, c.b, { method });
        expectClose(r.statistic, want.statistic, 1e-15, 'statistic');
        expectClose(r.pValue, want.pValue, 1e-10, 'pValue');
        expect(r.statisticLocation).toBe(want.statisticLocation);
        expect(r.statisticSign).toBe(want.statisticSign);
        expect(r.method).toBe(method === 'auto' ? (Math.max(c.a.length, c.b.length) <= KS_MAX_EXACT_N ? 'exact' : 'asymp') : method);
      });
    }
  }
});

describe('ks2sampSorted: ks2samp on sorted samples without copying them', () => {
  it('gives exactly what ks2samp gives, on every scipy case', () => {
    for (const c of reference.ks2samp) {
      const a = Float64Array.from(nums(c.a)).sort();
      const b = Float64Array.from(nums(c.b)).sort();
      expect(ks2sampSorted(a, b), c.name).toEqual(ks2samp(nums(c.a), nums(c.b)));
    }
  });

  it('rejects unsorted samples, NaN and empty samples, naming them', () => {
    expect(() => ks2sampSorted([1, 3, 2], [1])).toThrow(/ks2sampSorted: a is not sorted ascending \(a\[2\] < a\[1\]\)/);
    expect(() => ks2sampSorted([1, 2], [0, NaN])).toThrow(/ks2sampSorted: b\[1\] is not a number \(NaN\)/);
    expect(() => ks2sampSorted([], [1])).toThrow(/ks2sampSorted: a must not be empty/);
    expect(() => ks2sampSorted([-Infinity, 0, Infinity], [1])).not.toThrow();
  });
});

describe('ks2samp behaviour', () => {
  it('accepts typed arrays and gives the same result as plain arrays', () => {
    const c = reference.ks2samp.find((k) => k.name.startsWith('integer ties 300'))!;
    const a = nums(c.a);
    const b = nums(c.b);
    const plain = ks2samp(a, b);
    expect(ks2samp(Float64Array.from(a), Int32Array.from(b))).toEqual(plain);
  });

  it('is symmetric: swapping the samples keeps D and p and flips the sign', () => {
    const c = reference.ks2samp.find((k) => k.name.startsWith('unequal 8 vs 13'))!;
    const ab = ks2samp(nums(c.a), nums(c.b));
    const ba = ks2samp(nums(c.b), nums(c.a));
    expect(ba.statistic).toBe(ab.statistic);
    expect(ba.pValue).toBe(ab.pValue);
    expect(ba.statisticSign).toBe(-ab.statisticSign);
  });

  it('does not depend on the input order', () => {
    const a = [3, 1, 2, 5, 4];
    const b = [2.5, 0.5, 9, 7];
    expect(ks2samp(a, b)).toEqual(ks2samp(a.slice().reverse(), b.slice().sort()));
  });

  it('gives D = 0 and p = 1 for identical samples', () => {
    const r = ks2samp([1, 2, 2, 3], [3, 2, 1, 2]);
    expect(r.statistic).toBe(0);
    expect(r.pValue).toBe(1);
  });

  it(`uses the exact distribution up to ${KS_MAX_EXACT_N} values per sample`, () => {
    expect(ks2samp([1, 2, 3], [4, 5, 6]).method).toBe('exact');
    // perfectly separated samples: exact p = 2 / binom(6, 3)
    expect(ks2samp([1, 2, 3], [4, 5, 6]).pValue).toBeCloseTo(0.1, 15);
  });

  it('rejects empty samples and NaN, naming the argument', () => {
    expect(() => ks2samp([], [1, 2])).toThrow(ModelwatchSdkError);
    expect(() => ks2samp([], [1, 2])).toThrow(/ks2samp: a must not be empty/);
    expect(() => ks2samp([1], [])).toThrow(/ks2samp: b must not be empty/);
    expect(() => ks2samp([1, NaN], [1, 2])).toThrow(/a\[1\] is NaN/);
    expect(() => ks2samp([1], new Float64Array([2, NaN]))).toThrow(/b\[1\] is NaN/);
    expect(() => ks2samp(null as unknown as number[], [1])).toThrow(/a must be an array/);
    try {
      ks2samp([], [1]);
    } catch (err) {
      expect((err as ModelwatchSdkError).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('Kolmogorov distributions match scipy', () => {
  const cases: Array<[string, (...args: number[]) => number, number]> = [
    ['kolmogorov', kolmogorov, 1e-14],
    ['smirnov', smirnov, 1e-13],
    ['kstwoSf', kstwoSf, 1e-10],
  ];
  for (const [name, fn, rtol] of cases) {
    it(`${name} (scipy ${name === 'kstwoSf' ? 'stats.kstwo.sf' : `special.${name}`})`, () => {
      const rows = reference.special[name]!;
      expect(rows.length).toBeGreaterThan(10);
      for (const row of rows) {
        const args = nums(row.slice(0, -1));
        expectClose(fn(...args), num(row.at(-1)!), rtol, `${name}(${args.join(', ')})`);
      }
    });
  }

  it('returns NaN outside the domain, like scipy', () => {
    expect(kolmogorov(NaN)).toBeNaN();
    expect(smirnov(2.5, 0.1)).toBeNaN();
    expect(smirnov(10, 1.5)).toBeNaN();
    expect(kstwoSf(0.1, 0)).toBeNaN();
    expect(kstwoSf(0.1, 3.5)).toBeNaN();
    expect(kstwoSf(NaN, 10)).toBeNaN();
  });
});
