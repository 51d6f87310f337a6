/**
 * Chi-square tests on contingency tables: scipy's `chi2_contingency`, and the two-sample test of
 * a categorical column that stays valid when the window holds categories the reference lacks.
 */
import { chi2Sf } from './special.js';
import { pairwiseSum } from './summary.js';
import { invalid } from './validate.js';

/** Result of {@link chi2Contingency}. */
export interface Chi2ContingencyResult {
  /** Pearson's statistic `Σ (o − e)² / e` over every cell (after Yates' correction when applied). */
  statistic: number;
  /** `chi2.sf(statistic, dof)`; 1 when dof is 0. */
  pValue: number;
  /** `(rows − 1)(columns − 1)`. */
  dof: number;
  /** Expected frequencies `row total × column total / total`, row by row. */
  expected: number[][];
}

/**
 * Chi-square test of independence of the variables in a two-way contingency table, as
 * `scipy.stats.chi2_contingency(observed, correction)`:
 *
 * - expected frequencies `e_ij = r_i c_j / N` from the row and column totals;
 * - `dof = (rows − 1)(columns − 1)`; with dof 0 the statistic is 0 and the p-value 1;
 * - with `correction` (default true, as scipy) and dof 1, Yates' correction moves every
 *   observed count half a unit towards its expected count (by at most the difference);
 * - `statistic = Σ (o − e)² / e`, summed pairwise over the cells in row order like numpy;
 *   `pValue = chi2.sf(statistic, dof)`.
 *
 * @param observed the table, one array per row, all rows of the same length (at least 1 × 1);
 *   counts are non-negative and finite
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for an empty or ragged table, a negative, NaN
 *   or infinite count, or a row or column whose total is 0 (scipy: "The internally computed
 *   table of expected frequencies has a zero element")
 *
 * @example
 * ```ts
 * chi2Contingency([[10, 20, 30], [6, 9, 17]]);
 * // { statistic: 0.27157465150403504, pValue: 0.873028283380073, dof: 2, expected: [...] }
 * ```
 */
export function chi2Contingency(observed: ReadonlyArray<ArrayLike<number>>, options: { correction?: boolean } = {}): Chi2ContingencyResult {
  const fn = 'chi2Contingency';
  if (!Array.isArray(observed) || observed.length === 0) throw invalid(`${fn}: observed must be a non-empty array of rows`);
  const rows = observed.length;
  const cols = observed[0]?.length ?? 0;
  if (cols === 0) throw invalid(`${fn}: observed rows must not be empty`);
  const o: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const row = observed[i];
    if (!row || typeof row.length !== 'number' || row.length !== cols)
      throw invalid(`${fn}: every row must have ${cols} counts (row ${i} has ${row?.length ?? 'none'})`);
    const out: number[] = [];
    for (let j = 0; j < cols; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        throw invalid(`${fn}: observed[${i}][${j}] must be a non-negative finite count, got ${String(v)}`);
      out.push(v);
    }
    o.push(out);
  }
  const rowTotals = o.map((r) => pairwiseSum(r));
  const colTotals = Array.from({ length: cols }, (_, j) => pairwiseSum(o.map((r) => r[j]!)));
  const total = pairwiseSum(rowTotals);
  const expected = rowTotals.map((rt) => colTotals.map((ct) => (rt * ct) / total));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      if (!(expected[i]![j]! > 0))
        throw invalid(`${fn}: the table of expected frequencies has a zero at [${i}][${j}]: every row and column needs a positive total`);
    }
  }
  const dof = (rows - 1) * (cols - 1);
  if (dof === 0) return { statistic: 0, pValue: 1, dof, expected };
  const correction = options.correction ?? true;
  const terms = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const e = expected[i]![j]!;
      let obs = o[i]![j]!;
      if (correction && dof === 1) {
        const diff = e - obs;
        obs += Math.sign(diff) * Math.min(0.5, Math.abs(diff));
      }
      const d = obs - e;
      terms[i * cols + j] = (d * d) / e;
    }
  }
  const statistic = pairwiseSum(terms);
  return { statistic, pValue: chi2Sf(statistic, dof), dof, expected };
}

/** Default of {@link CategoricalTestOptions.minExpected}: Cochran's rule of thumb. */
export const CATEGORICAL_MIN_EXPECTED = 5;

/** Options of {@link categoricalTest}. */
export interface CategoricalTestOptions {
  /**
   * A category is a cell of its own when its expected count in the smaller sample is at least
   * this; rarer ones (and every category the reference lacks) share one pooled cell.
   * @default 5
   */
  minExpected?: number;
}

/** Result of {@link categoricalTest}. */
export interface CategoricalTestResult {
  /** Pearson's chi-square of the pooled 2 × cells table (0 with fewer than 2 cells). */
  statistic: number;
  /** `chi2.sf(statistic, cells − 1)`; 1 with fewer than 2 cells (too few values to test). */
  pValue: number;
  dof: number;
  /** Cells of the pooled table. */
  cells: number;
  /** Distinct values of reference and current together. */
  categories: number;
  /** Categories that went into the pooled cell (rare ones and unseen ones). */
  pooled: number;
  /** Current values (categories) that the reference does not have. */
  unseen: number;
  /** Their share of the current sample. */
  unseenShare: number;
  /** Non-missing values compared. */
  referenceCount: number;
  currentCount: number;
  /** The pooled table: reference counts, then current counts, per cell (kept categories first, by decreasing total; the pooled cell last). */
  table: [number[], number[]];
}

type Key = string | number;

/** Counts of each value of a categorical column: see {@link countCategories}. */
export interface CategoryCounts {
  /** Value -> count. */
  readonly counts: ReadonlyMap<string | number, number>;
  /** Non-missing values counted. */
  readonly n: number;
}

/**
 * The counts of each value of a column (null, undefined and non-finite numbers are missing and
 * not counted), to give {@link categoricalTest} a reference counted once.
 */
export function countCategories(values: ArrayLike<string | number | null>): CategoryCounts {
  return countValues(values, 'values', 'countCategories');
}

function countValues(values: ArrayLike<string | number | null>, name: string, fn = 'categoricalTest'): { counts: Map<Key, number>; n: number } {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') throw invalid(`${fn}: ${name} must be an array`);
  const counts = new Map<Key, number>();
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) continue;
    if (typeof v !== 'string' && typeof v !== 'number') throw invalid(`${fn}: ${name}[${i}] is neither a string, a number nor null`);
    counts.set(v, (counts.get(v) ?? 0) + 1);
    n++;
  }
  return { counts, n };
}

function isCounts(v: unknown): v is CategoryCounts {
  return typeof v === 'object' && v !== null && (v as CategoryCounts).counts instanceof Map && typeof (v as CategoryCounts).n === 'number';
}

function compareKeys(a: Key, b: Key): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/**
 * Two-sample chi-square test of a categorical column (the chi-square test of homogeneity of
 * the 2 × k table reference/current, `scipy.stats.chi2_contingency(table, correction=False)`),
 * with rare categories pooled so that no cell's expected count is small. Unlike the
 * goodness-of-fit test against the reference's shares (Evidently's `chisquare`), a value the
 * reference never has does not give p = 0: it is counted in a cell the reference shares.
 *
 * The table is built from the counts of each value (missing values, null and non-finite
 * numbers, are dropped): with `N` and `n` the two sample sizes and `t_j` the total of value
 * `j` in both, its expected count in the smaller sample is `t_j min(N, n) / (N + n)`.
 *
 * 1. A value whose expected count is at least `minExpected` (5) is a cell of its own (a value
 *    the reference lacks too, when the current sample holds it that often).
 * 2. All other values (rare ones, and so the occasional value the reference lacks) share one
 *    pooled cell.
 * 3. A pooled cell whose own expected count is below `minExpected` joins the kept cell with the
 *    smallest total (or is the only cell if none is kept).
 * 4. With fewer than 2 cells there is nothing to test: statistic 0, p-value 1.
 *
 * The cells depend on the totals `t_j` only, which is what the test conditions on, so the
 * pooling keeps its level. Power is lost only on values too rare to be tested at this size.
 *
 * @param reference reference values: strings or numbers (null or NaN missing), or their
 *   {@link countCategories} (to count a reference once for many windows)
 * @param current current values, or their counts
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` when a sample has no values
 *
 * @example
 * ```ts
 * const ref = [...Array(300).fill('a'), ...Array(200).fill('b'), ...Array(100).fill('c')];
 * const win = [...Array(40).fill('a'), ...Array(30).fill('b'), ...Array(25).fill('c'), ...Array(5).fill('new')];
 * categoricalTest(ref, win); // 3 cells (a, b, c + new), pValue ≈ 0.19: 'new' alone is no proof of drift
 * ```
 */
export function categoricalTest(
  reference: ArrayLike<string | number | null> | CategoryCounts,
  current: ArrayLike<string | number | null> | CategoryCounts,
  options: CategoricalTestOptions = {},
): CategoricalTestResult {
  const minExpected = options.minExpected ?? CATEGORICAL_MIN_EXPECTED;
  if (typeof minExpected !== 'number' || !(minExpected >= 0) || !Number.isFinite(minExpected)) {
    throw invalid(`categoricalTest: minExpected must be a finite number >= 0, got ${String(minExpected)}`);
  }
  const ref = isCounts(reference) ? reference : countValues(reference, 'reference');
  const cur = isCounts(current) ? current : countValues(current, 'current');
  if (ref.n === 0) throw invalid('categoricalTest: the reference has no values (all missing)');
  if (cur.n === 0) throw invalid('categoricalTest: the current sample has no values (all missing)');
  const keys = [...new Set<Key>([...ref.counts.keys(), ...cur.counts.keys()])];
  const totalOf = (k: Key) => (ref.counts.get(k) ?? 0) + (cur.counts.get(k) ?? 0);
  keys.sort((a, b) => totalOf(b) - totalOf(a) || compareKeys(a, b));
  const share = Math.min(ref.n, cur.n) / (ref.n + cur.n);
  let unseen = 0;
  let unseenCount = 0;
  for (const [k, c] of cur.counts) {
    if (!ref.counts.has(k)) {
      unseen++;
      unseenCount += c;
    }
  }
  const refCells: number[] = [];
  const curCells: number[] = [];
  let pooledRef = 0;
  let pooledCur = 0;
  let pooled = 0;
  for (const k of keys) {
    const r = ref.counts.get(k) ?? 0;
    const c = cur.counts.get(k) ?? 0;
    if ((r + c) * share >= minExpected) {
      refCells.push(r);
      curCells.push(c);
    } else {
      pooledRef += r;
      pooledCur += c;
      pooled++;
    }
  }
  if (pooled > 0) {
    if ((pooledRef + pooledCur) * share >= minExpected || refCells.length === 0) {
      refCells.push(pooledRef);
      curCells.push(pooledCur);
    } else {
      // the kept cells are in decreasing order of total: the last is the smallest
      const last = refCells.length - 1;
      refCells[last]! += pooledRef;
      curCells[last]! += pooledCur;
    }
  }
  const base = {
    cells: refCells.length,
    categories: keys.length,
    pooled,
    unseen,
    unseenShare: unseenCount / cur.n,
    referenceCount: ref.n,
    currentCount: cur.n,
    table: [refCells, curCells] as [number[], number[]],
  };
  // a cell empty in both samples cannot happen; a cell of one sample only can, and is tested
  if (refCells.length < 2) return { statistic: 0, pValue: 1, dof: 0, ...base };
  const r = chi2Contingency([refCells, curCells], { correction: false });
  return { statistic: r.statistic, pValue: r.pValue, dof: r.dof, ...base };
}
