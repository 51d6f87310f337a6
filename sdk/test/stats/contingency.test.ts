import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { categoricalTest, chi2Contingency, columnDrift, createRandom } from '../../src/stats/index.js';
import { binomialUpperBound } from '../../../plugins/test-utils/context.js';
import { driftReference } from './drift-reference.js';
import { expectClose } from './reference.js';

describe('chi2Contingency matches scipy.stats.chi2_contingency', () => {
  for (const c of driftReference.chi2Contingency) {
    it(c.name, () => {
      const r = chi2Contingency(c.observed, { correction: c.correction });
      expectClose(r.statistic, c.statistic, 1e-14, 'statistic');
      expectClose(r.pValue, c.pValue, 1e-11, 'pValue');
      expect(r.dof).toBe(c.dof);
      r.expected.forEach((row, i) => row.forEach((e, j) => expectClose(e, c.expected[i]![j]!, 1e-15, `expected[${i}][${j}]`)));
    });
  }

  it('applies Yates correction by default, as scipy, and only with one degree of freedom', () => {
    expect(
      chi2Contingency([
        [12, 5],
        [7, 15],
      ]),
    ).toEqual(
      chi2Contingency(
        [
          [12, 5],
          [7, 15],
        ],
        { correction: true },
      ),
    );
    expect(
      chi2Contingency([
        [10, 20, 30],
        [6, 9, 17],
      ]),
    ).toEqual(
      chi2Contingency(
        [
          [10, 20, 30],
          [6, 9, 17],
        ],
        { correction: false },
      ),
    );
  });

  it('rejects tables scipy rejects, naming the problem', () => {
    expect(() =>
      chi2Contingency([
        [0, 0],
        [3, 4],
      ]),
    ).toThrow(ModelwatchSdkError);
    expect(() =>
      chi2Contingency([
        [0, 0],
        [3, 4],
      ]),
    ).toThrow(/chi2Contingency: the table of expected frequencies has a zero at \[0\]\[0\]/);
    expect(() => chi2Contingency([[1, 2], [3]])).toThrow(/every row must have 2 counts \(row 1 has 1\)/);
    expect(() =>
      chi2Contingency([
        [1, -2],
        [3, 4],
      ]),
    ).toThrow(/observed\[0\]\[1\] must be a non-negative finite count, got -2/);
    expect(() => chi2Contingency([])).toThrow(/observed must be a non-empty array of rows/);
  });
});

describe('categoricalTest: the pooled two-sample chi-square matches scipy on the pooled table', () => {
  for (const c of driftReference.categoricalTest) {
    it(c.name, () => {
      const r = categoricalTest(c.reference, c.current, { minExpected: c.minExpected });
      expect(r.table).toEqual(c.table);
      expect(r.cells).toBe(c.table[0].length);
      expect(r.pooled).toBe(c.pooled);
      expect(r.unseen).toBe(c.unseen);
      expect(r.unseenShare).toBe(c.unseenShare);
      expect(r.categories).toBe(c.categories);
      expect(r.dof).toBe(c.dof);
      expectClose(r.statistic, c.statistic, 1e-14, 'statistic');
      expectClose(r.pValue, c.pValue, 1e-11, 'pValue');
    });
  }

  it("a value the reference never has is no p = 0 (Evidently's chisquare gives 0)", () => {
    const ref = [...Array<string>(300).fill('a'), ...Array<string>(200).fill('b'), ...Array<string>(100).fill('c')];
    const win = [...Array<string>(48).fill('a'), ...Array<string>(32).fill('b'), ...Array<string>(15).fill('c'), ...Array<string>(5).fill('new')];
    expect(columnDrift(ref, win, { method: 'chisquare' }).pValue).toBe(0);
    const r = categoricalTest(ref, win);
    expect(r.unseen).toBe(1);
    expect(r.pValue).toBeGreaterThan(0.5);
  });

  it('detects a value the reference lacks when the window holds it often', () => {
    const ref = [...Array<string>(300).fill('a'), ...Array<string>(300).fill('b')];
    // 40 of 200: expected 40 × 200 / 800 = 10 in the window, a cell of its own
    const win = [...Array<string>(80).fill('a'), ...Array<string>(80).fill('b'), ...Array<string>(40).fill('new')];
    const r = categoricalTest(ref, win);
    expect(r.table).toEqual([
      [300, 300, 0],
      [80, 80, 40],
    ]);
    expect(r.pValue).toBeLessThan(1e-10);
  });

  it('has nothing to test when every cell would be too small: p = 1, not an artefact', () => {
    const r = categoricalTest(['a', 'b', 'c', 'a'], ['z', 'y']);
    expect(r).toMatchObject({ statistic: 0, pValue: 1, dof: 0, cells: 1, unseen: 2, unseenShare: 1 });
  });

  it('holds its level with a long tail of rare categories, where the goodness-of-fit test does not', async ({ annotate }) => {
    const values = Array.from({ length: 40 }, (_, k) => `v${k}`);
    const weights = values.map((_, k) => 1 / (k + 1) ** 1.2);
    const total = weights.reduce((s, w) => s + w, 0);
    const r = createRandom(11);
    const draw = (n: number) =>
      Array.from({ length: n }, () => {
        let u = r.uniform() * total;
        for (let k = 0; k < values.length; k++) if ((u -= weights[k]!) < 0) return values[k]!;
        return values[values.length - 1]!;
      });
    const trials = 300;
    const rates: string[] = [];
    for (const n of [10, 50, 300]) {
      let pooled = 0;
      let evidently = 0;
      for (let t = 0; t < trials; t++) {
        const ref = draw(1000);
        const win = draw(n);
        if (categoricalTest(ref, win).pValue < 0.05) pooled++;
        if (columnDrift(ref, win, { method: 'chisquare' }).pValue! < 0.05) evidently++;
      }
      rates.push(`n=${n}: pooled ${pooled}/${trials}, Evidently's chisquare ${evidently}/${trials}`);
      expect(pooled, `n=${n}`).toBeLessThanOrEqual(binomialUpperBound(trials, 0.05, 0.001));
      if (n >= 50) expect(evidently, `n=${n}`).toBeGreaterThan(binomialUpperBound(trials, 0.05, 0.001));
    }
    await annotate(rates.join('; '));
  });

  it('drops missing values and rejects empty samples, naming them', () => {
    expect(categoricalTest(['a', null, 'b', 'a'], ['a', 'b', null]).referenceCount).toBe(3);
    expect(categoricalTest([1, NaN, 2], [1, 2]).referenceCount).toBe(2);
    expect(() => categoricalTest([null, null], ['a'])).toThrow(/categoricalTest: the reference has no values \(all missing\)/);
    expect(() => categoricalTest(['a'], [])).toThrow(/the current sample has no values/);
    expect(() => categoricalTest(['a'], ['a'], { minExpected: -1 })).toThrow(/minExpected must be a finite number >= 0, got -1/);
  });
});
