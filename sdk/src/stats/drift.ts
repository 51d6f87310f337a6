/**
 * Per-column drift between a reference sample and a current sample, with the test chosen the
 * way Evidently chooses it, computed to scipy's numbers. See `sdk/docs/stats.md#column-drift`.
 */
import { chiSquare } from './chi-square.js';
import { jensenShannon } from './divergence.js';
import { equalWidthEdges, histogram } from './histogram.js';
import { ks2samp } from './ks.js';
import { chi2Sf } from './special.js';
import { pairwiseSum, std } from './summary.js';
import { invalid } from './validate.js';
import { zTestProportions } from './z-test.js';

/** The drift methods {@link columnDrift} knows (Evidently's names). */
export type DriftMethod = 'ks' | 'chisquare' | 'chi2_contingency' | 'z' | 'wasserstein' | 'jensenshannon' | 'psi' | 'kl_div';

/** Numeric columns hold numbers (NaN = missing); categorical ones strings (null = missing). */
export type DriftColumnType = 'numeric' | 'categorical';

/** What a drift method is and when it says "drift". */
export interface DriftMethodInfo {
  /** A hypothesis test (its score is a p-value) or a distance (its score is the distance). */
  kind: 'test' | 'distance';
  /** Evidently's default threshold. */
  defaultThreshold: number;
  /** Column types it applies to. */
  types: readonly DriftColumnType[];
  /** How the score is compared with the threshold: `p<=` / `p<` (tests) or `>=` (distances), as Evidently. */
  rule: 'p<=' | 'p<' | '>=';
  /** One line, for extraData and documentation. */
  description: string;
}

/** Every method, with Evidently's default threshold and drift rule. */
export const DRIFT_METHODS: Readonly<Record<DriftMethod, DriftMethodInfo>> = Object.freeze({
  ks: { kind: 'test', defaultThreshold: 0.05, types: ['numeric'], rule: 'p<=', description: 'two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp)' },
  chisquare: {
    kind: 'test',
    defaultThreshold: 0.05,
    types: ['numeric', 'categorical'],
    rule: 'p<',
    description: "Pearson's chi-square goodness of fit of the current counts to the reference proportions (Evidently's chisquare)",
  },
  chi2_contingency: {
    kind: 'test',
    defaultThreshold: 0.05,
    types: ['numeric', 'categorical'],
    rule: 'p<',
    description: 'chi-square test of homogeneity of the 2 x k table reference/current (scipy.stats.chi2_contingency, no continuity correction)',
  },
  z: {
    kind: 'test',
    defaultThreshold: 0.05,
    types: ['numeric', 'categorical'],
    rule: 'p<',
    description: "two-proportion z-test with pooled variance (Evidently's z)",
  },
  wasserstein: {
    kind: 'distance',
    defaultThreshold: 0.1,
    types: ['numeric'],
    rule: '>=',
    description: "first Wasserstein distance divided by max(std(reference), 0.001) (Evidently's normed wasserstein)",
  },
  jensenshannon: {
    kind: 'distance',
    defaultThreshold: 0.1,
    types: ['numeric', 'categorical'],
    rule: '>=',
    description: "Jensen-Shannon distance, natural logarithm, on Evidently's bins (scipy.spatial.distance.jensenshannon)",
  },
  psi: {
    kind: 'distance',
    defaultThreshold: 0.1,
    types: ['numeric', 'categorical'],
    rule: '>=',
    description: "population stability index on Evidently's bins, empty bins filled",
  },
  kl_div: {
    kind: 'distance',
    defaultThreshold: 0.1,
    types: ['numeric', 'categorical'],
    rule: '>=',
    description: "Kullback-Leibler divergence KL(reference || current) on Evidently's bins, empty bins filled (scipy.stats.entropy)",
  },
});

/** Evidently's reference size up to which hypothesis tests are chosen (above it: distances). */
export const DRIFT_SMALL_REFERENCE_ROWS = 1000;
/** A numeric column with more distinct values (reference and current together) than this gets KS or Wasserstein. */
export const DRIFT_NUMERIC_MIN_UNIQUE = 5;
/** Binned methods use Sturges bins for a numeric column whose reference has more distinct values than this. */
export const DRIFT_BINNING_MAX_UNIQUE = 20;
/**
 * Evidently's current automatic typing (`INTEGER_CARDINALITY_LIMIT` in
 * `src/evidently/core/datasets.py`, 0.7): an integer column with at most this many distinct
 * values is categorical. See {@link integerCardinalityType}.
 */
export const INTEGER_CARDINALITY_LIMIT = 10;

/**
 * The type Evidently's current automatic typing (`infer_column_type`, 0.7) gives a numeric
 * reference column: `'categorical'` when it is integer-valued (every non-missing value is an
 * integer) with at most {@link INTEGER_CARDINALITY_LIMIT} distinct values, else `'numeric'`.
 * Evidently reads "integer" from the pandas dtype (`int64`), which a column with a missing value
 * never has; modelwatch holds every number as a float64, so it looks at the values, and a
 * missing value does not make an integer column numeric. A column without values is numeric.
 *
 * @example
 * ```ts
 * integerCardinalityType([0, 1, 2, 2, 3, NaN]); // 'categorical'
 * integerCardinalityType([0, 1, 2.5]);          // 'numeric': not integer-valued
 * ```
 */
export function integerCardinalityType(reference: ArrayLike<number | null>): DriftColumnType {
  const seen = new Set<number>();
  for (let i = 0; i < reference.length; i++) {
    const v = reference[i];
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (!Number.isInteger(v)) return 'numeric';
    seen.add(v);
    if (seen.size > INTEGER_CARDINALITY_LIMIT) return 'numeric';
  }
  return seen.size > 0 ? 'categorical' : 'numeric';
}

/** A column: numbers (NaN, ±Infinity missing) or strings (null missing). */
export type DriftValues = ArrayLike<number> | ReadonlyArray<string | number | null>;

/** Options of {@link columnDrift}. */
export interface ColumnDriftOptions {
  /** The method, or `'auto'` (default) for Evidently's choice ({@link selectDriftMethod}). */
  method?: DriftMethod | 'auto';
  /** The threshold (default: the method's {@link DriftMethodInfo.defaultThreshold}). */
  threshold?: number;
  /** The test `'auto'` uses for categorical columns and numeric ones with few values, when there are more than 2 values. @default 'chisquare' */
  categoricalTest?: 'chisquare' | 'chi2_contingency';
  /**
   * `'categorical'` compares numbers as categories (one bin per value, the tests of
   * categorical columns), as Evidently does for a column it types categorical, e.g. by
   * {@link integerCardinalityType}. Strings are always categorical. @default the values' type
   */
  type?: DriftColumnType;
}

/** The drift of one column. */
export interface ColumnDrift {
  method: DriftMethod;
  type: DriftColumnType;
  kind: 'test' | 'distance';
  /** Evidently's drift score: the p-value of a test, the value of a distance. */
  score: number;
  /**
   * The test statistic or the distance: KS D, chi-square, z, normed W1, JS distance, PSI, KL.
   * `Infinity` for the goodness-of-fit chi-square when the current sample has a value the
   * reference never has (scipy gives `inf` and p = 0 there).
   */
  statistic: number;
  /** Tests: the p-value (same as `score`). */
  pValue?: number;
  threshold: number;
  drifted: boolean;
  /** Non-missing values compared. */
  referenceCount: number;
  currentCount: number;
  /** Distinct values of reference and current together. */
  uniqueValues: number;
  /** Binned and per-value methods: the number of bins or categories. */
  bins?: number;
  /** Per-value methods: current values (categories) that the reference does not have. */
  unseen?: number;
}

interface Cleaned {
  type: DriftColumnType;
  nums: Float64Array;
  /** The values of a categorical column: strings, or numbers compared as categories. */
  cats: Key[];
  count: number;
}

/**
 * Drops missing values: NaN and ±Infinity in numeric columns (as Evidently), null in categorical
 * ones. With `asCategories`, numbers are kept as categories (a categorical column of numbers).
 */
function clean(values: DriftValues, name: string, asCategories = false): Cleaned {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw invalid(`columnDrift: ${name} must be an array or typed array`);
  }
  let categorical = false;
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] === 'string') {
      categorical = true;
      break;
    }
  }
  if (categorical) {
    const cats: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      if (typeof v === 'number' && Number.isNaN(v)) continue;
      cats.push(String(v));
    }
    return { type: 'categorical', nums: new Float64Array(0), cats, count: cats.length };
  }
  const nums = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) nums[n++] = v;
    else if (v !== null && v !== undefined && typeof v !== 'number') {
      throw invalid(`columnDrift: ${name}[${i}] is neither a number, a string nor null`);
    }
  }
  if (asCategories) return { type: 'categorical', nums: new Float64Array(0), cats: Array.from(nums.subarray(0, n)), count: n };
  return { type: 'numeric', nums: nums.slice(0, n), cats: [], count: n };
}

type Key = number | string;

/** Python's default ordering of str (code points), not UTF-16 code units. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

function counts(c: Cleaned): Map<Key, number> {
  const m = new Map<Key, number>();
  const values: ArrayLike<Key> = c.type === 'numeric' ? c.nums : c.cats;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    m.set(v, (m.get(v) ?? 0) + 1);
  }
  return m;
}

function sortedCopy(a: Float64Array): Float64Array {
  return Float64Array.from(a).sort();
}

/** Distinct values of an ascending array. */
function distinctSorted(a: Float64Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (i === 0 || a[i] !== a[i - 1]) n++;
  return n;
}

/** Distinct values of two ascending arrays together. */
function distinctUnion(a: Float64Array, b: Float64Array): number {
  let n = 0;
  let last = NaN;
  for (let i = 0, j = 0; i < a.length || j < b.length;) {
    const v = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (n === 0 || v !== last) n++;
    last = v;
  }
  return n;
}

/** Keys of both maps, sorted (numbers ascending, strings by code point). */
function unionKeys(a: Map<Key, number>, b: Map<Key, number>): Key[] {
  const keys = new Set<Key>(a.keys());
  for (const k of b.keys()) keys.add(k);
  const out = [...keys];
  if (typeof out[0] === 'number') (out as number[]).sort((x, y) => x - y);
  else (out as string[]).sort(compareCodePoints);
  return out;
}

/**
 * Evidently's default choice of test (`_get_default_stattest`), where `referenceCount` is the
 * number of non-missing reference values and `uniqueValues` the number of distinct values of
 * reference and current together:
 *
 * - reference of at most 1000 values: numeric with more than 5 distinct values → `ks`;
 *   otherwise `chisquare` (or `categoricalTest`) when more than 2 distinct values, else `z`;
 * - larger reference: numeric with more than 5 distinct values → `wasserstein`; otherwise
 *   `jensenshannon`.
 */
export function selectDriftMethod(
  type: DriftColumnType,
  referenceCount: number,
  uniqueValues: number,
  categoricalTest: 'chisquare' | 'chi2_contingency' = 'chisquare',
): DriftMethod {
  const manyValues = type === 'numeric' && uniqueValues > DRIFT_NUMERIC_MIN_UNIQUE;
  if (referenceCount <= DRIFT_SMALL_REFERENCE_ROWS) {
    if (manyValues) return 'ks';
    return uniqueValues > 2 ? categoricalTest : 'z';
  }
  return manyValues ? 'wasserstein' : 'jensenshannon';
}

/**
 * Bin edges by Sturges' rule, as `numpy.histogram_bin_edges(values, bins='sturges')` for
 * float64 values: width `ptp / (log2(n) + 1)`, `ceil(ptp / width)` equal bins from min to max
 * (one bin `[v - 0.5, v + 0.5]` for a constant column).
 *
 * @param values finite values, at least one
 */
export function sturgesEdges(values: ArrayLike<number>): number[] {
  const n = values.length;
  if (n === 0) throw invalid('sturgesEdges: values must not be empty');
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw invalid(`sturgesEdges: values[${i}] is not finite (${v})`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const ptp = max - min;
  const width = ptp / (Math.log2(n) + 1.0);
  const bins = width ? Math.ceil(ptp / width) : 1;
  return equalWidthEdges(min, max, bins);
}

/** Evidently's `feel_zeroes`: empty bins get 1e-4, or a millionth of the smallest non-empty bin when that is at most 1e-4. */
function fillZeroes(p: Float64Array): void {
  let min = Infinity;
  for (const v of p) if (v !== 0 && v < min) min = v;
  if (min === Infinity) return;
  const fill = min <= 0.0001 ? min / 10 ** 6 : 0.0001;
  for (let i = 0; i < p.length; i++) if (p[i] === 0) p[i] = fill;
}

/**
 * The two distributions Evidently's binned methods compare (`get_binned_data`): for a numeric
 * column whose reference has more than 20 distinct values, counts on {@link sturgesEdges} of
 * reference and current together; otherwise one bin per value of either sample. Each is
 * divided by its sample size. With `fill`, empty bins are filled as Evidently's `feel_zeroes`.
 */
export function binnedDistributions(
  reference: DriftValues,
  current: DriftValues,
  fill = false,
): { reference: Float64Array; current: Float64Array; bins: number; unseen: number; edges?: number[] } {
  const ref = clean(reference, 'reference');
  const cur = clean(current, 'current');
  if (ref.count === 0 || cur.count === 0) throw invalid('binnedDistributions: reference and current need at least one value each');
  if (ref.type !== cur.type) throw invalid(`binnedDistributions: reference is ${ref.type} but current is ${cur.type}`);
  return binned(ref, cur, fill);
}

function binned(ref: Cleaned, cur: Cleaned, fill: boolean) {
  let refP: Float64Array;
  let curP: Float64Array;
  let unseen = 0;
  let edges: number[] | undefined;
  if (ref.type === 'numeric' && distinctSorted(sortedCopy(ref.nums)) > DRIFT_BINNING_MAX_UNIQUE) {
    const all = new Float64Array(ref.count + cur.count);
    all.set(ref.nums);
    all.set(cur.nums, ref.count);
    edges = sturgesEdges(all);
    refP = Float64Array.from(histogram(ref.nums, edges), (c) => c / ref.count);
    curP = Float64Array.from(histogram(cur.nums, edges), (c) => c / cur.count);
  } else {
    const refCounts = counts(ref);
    const curCounts = counts(cur);
    const keys = unionKeys(refCounts, curCounts);
    refP = Float64Array.from(keys, (k) => (refCounts.get(k) ?? 0) / ref.count);
    curP = Float64Array.from(keys, (k) => (curCounts.get(k) ?? 0) / cur.count);
    for (const k of keys) if (!refCounts.has(k)) unseen++;
  }
  if (fill) {
    fillZeroes(refP);
    fillZeroes(curP);
  }
  return { reference: refP, current: curP, bins: refP.length, unseen, ...(edges ? { edges } : {}) };
}

/**
 * Whether a drift score means drift under a method's rule: a test's p-value at or below
 * (`ks`) or strictly below (`chisquare`, `chi2_contingency`, `z`) the threshold, a distance at
 * or above it, as Evidently decides.
 */
export function isDrift(method: DriftMethod, score: number, threshold: number): boolean {
  const rule = DRIFT_METHODS[method].rule;
  return rule === 'p<=' ? score <= threshold : rule === 'p<' ? score < threshold : score >= threshold;
}

/**
 * The drift of one column between a reference and a current sample, as Evidently computes it
 * (numbers equal to scipy's): missing values are dropped, the method is the given one or
 * Evidently's choice ({@link selectDriftMethod}), and the column drifts when
 *
 * - `ks`: p-value <= threshold (0.05);
 * - `chisquare`, `chi2_contingency`, `z`: p-value < threshold (0.05);
 * - `wasserstein`, `jensenshannon`, `psi`, `kl_div`: distance >= threshold (0.1).
 *
 * Values the reference does not have (unseen categories) are compared over the union of values.
 *
 * @param reference reference values: numbers (NaN missing) or strings (null missing)
 * @param current current values, of the same type
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` when a sample has no values, the types differ, or
 *   the method does not apply to the column type
 *
 * @example
 * ```ts
 * columnDrift([1.2, 0.4, 2.2, 1.9, 0.1, 0.8], [3.1, 2.9, 3.4, 2.7, 3.8, 3.3]);
 * // { method: 'ks', statistic: 1, pValue: 0.0021645021645021645, drifted: true, ... }
 * columnDrift(['a', 'b', 'a', 'c'], ['a', 'd', 'd', 'b'], { method: 'jensenshannon' });
 * ```
 */
export function columnDrift(reference: DriftValues, current: DriftValues, options: ColumnDriftOptions = {}): ColumnDrift {
  if (options.type !== undefined && options.type !== 'numeric' && options.type !== 'categorical') {
    throw invalid(`columnDrift: type must be 'numeric' or 'categorical', got ${String(options.type)}`);
  }
  const asCategories = options.type === 'categorical';
  const ref = clean(reference, 'reference', asCategories);
  const cur = clean(current, 'current', asCategories);
  if (ref.count === 0) throw invalid('columnDrift: the reference has no values (all missing)');
  if (cur.count === 0) throw invalid('columnDrift: the current sample has no values (all missing)');
  if (ref.type !== cur.type) {
    throw invalid(`columnDrift: the reference is ${ref.type} but the current sample is ${cur.type}`);
  }
  const type = ref.type;
  // value counts are built only for the methods that need them (per-value ones, and categorical columns)
  let perValue: { refCounts: Map<Key, number>; curCounts: Map<Key, number>; keys: Key[]; unseen: number } | undefined;
  const values = () => {
    if (!perValue) {
      const refCounts = counts(ref);
      const curCounts = counts(cur);
      const keys = unionKeys(refCounts, curCounts);
      let unseen = 0;
      for (const k of keys) if (!refCounts.has(k)) unseen++;
      perValue = { refCounts, curCounts, keys, unseen };
    }
    return perValue;
  };
  const uniqueValues = type === 'numeric' ? distinctUnion(sortedCopy(ref.nums), sortedCopy(cur.nums)) : values().keys.length;
  const requested = options.method ?? 'auto';
  const method = requested === 'auto' ? selectDriftMethod(type, ref.count, uniqueValues, options.categoricalTest) : requested;
  const info = DRIFT_METHODS[method];
  if (!info) throw invalid(`columnDrift: unknown method '${String(method)}' (known: ${Object.keys(DRIFT_METHODS).join(', ')})`);
  if (!info.types.includes(type)) {
    throw invalid(`columnDrift: ${method} applies to ${info.types.join(' and ')} columns, not to a ${type} one`);
  }
  const threshold = options.threshold ?? info.defaultThreshold;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) throw invalid(`columnDrift: threshold must be a finite number, got ${String(threshold)}`);

  const base = { method, type, kind: info.kind, threshold, referenceCount: ref.count, currentCount: cur.count, uniqueValues };

  const test = (statistic: number, pValue: number, extra: Partial<ColumnDrift> = {}): ColumnDrift => ({
    ...base,
    score: pValue,
    statistic,
    pValue,
    drifted: isDrift(method, pValue, threshold),
    ...extra,
  });
  const distance = (value: number, extra: Partial<ColumnDrift> = {}): ColumnDrift => ({
    ...base,
    score: value,
    statistic: value,
    drifted: isDrift(method, value, threshold),
    ...extra,
  });

  switch (method) {
    case 'ks': {
      const r = ks2samp(ref.nums, cur.nums);
      return test(r.statistic, r.pValue);
    }
    case 'chisquare': {
      const { refCounts, curCounts, keys, unseen } = values();
      const k = keys.length;
      if (k < 2) return test(0, 1, { bins: k, unseen });
      // Evidently: expected = reference count * (n_current / n_reference); scipy.stats.chisquare
      const kNorm = cur.count / ref.count;
      const fExp = keys.map((key) => (refCounts.get(key) ?? 0) * kNorm);
      const fObs = keys.map((key) => curCounts.get(key) ?? 0);
      // a value the reference lacks has expected 0: scipy's statistic is inf and its p-value 0
      if (fExp.some((e) => e === 0)) return test(Infinity, 0, { bins: k, unseen });
      const r = chiSquare(fObs, fExp);
      return test(r.statistic, r.pValue, { bins: k, unseen });
    }
    case 'chi2_contingency': {
      const { refCounts, curCounts, keys, unseen } = values();
      const k = keys.length;
      if (k < 2) return test(0, 1, { bins: k, unseen });
      const n = ref.count + cur.count;
      const terms = new Float64Array(2 * k);
      const rows = [refCounts, curCounts];
      const rowTotals = [ref.count, cur.count];
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < k; j++) {
          const key = keys[j]!;
          const colTotal = (refCounts.get(key) ?? 0) + (curCounts.get(key) ?? 0);
          const e = (rowTotals[i]! * colTotal) / n;
          const d = (rows[i]!.get(key) ?? 0) - e;
          terms[i * k + j] = (d * d) / e;
        }
      }
      const statistic = pairwiseSum(terms);
      return test(statistic, chi2Sf(statistic, k - 1), { bins: k, unseen });
    }
    case 'z': {
      // Evidently: p = 1 when both samples hold the same single value; otherwise the first of the
      // sorted values is 0 and every other value 1
      const { refCounts, curCounts, keys, unseen } = values();
      if (keys.length === 1) return test(0, 1, { bins: 1, unseen });
      const first = keys[0]!;
      const ones1 = ref.count - (refCounts.get(first) ?? 0);
      const ones2 = cur.count - (curCounts.get(first) ?? 0);
      const r = zTestProportions(ones1, ref.count, ones2, cur.count);
      return test(r.statistic, r.pValue, { bins: keys.length, unseen });
    }
    case 'wasserstein': {
      const norm = Math.max(std(ref.nums, 0), 0.001);
      return distance(wassersteinUnweighted(ref.nums, cur.nums) / norm);
    }
    case 'jensenshannon': {
      const b = binned(ref, cur, false);
      return distance(jensenShannon(b.reference, b.current), { bins: b.bins, ...(b.edges ? {} : { unseen: b.unseen }) });
    }
    case 'psi': {
      const b = binned(ref, cur, true);
      // Evidently sums sequentially
      let psi = 0;
      for (let i = 0; i < b.bins; i++) {
        const r = b.reference[i]!;
        const c = b.current[i]!;
        psi += (r - c) * Math.log(r / c);
      }
      return distance(psi, { bins: b.bins, ...(b.edges ? {} : { unseen: b.unseen }) });
    }
    case 'kl_div': {
      const b = binned(ref, cur, true);
      // scipy.stats.entropy(pk, qk): both normalized, sum of rel_entr(pk, qk)
      const pk = normalize(b.reference);
      const qk = normalize(b.current);
      const terms = new Float64Array(b.bins);
      for (let i = 0; i < b.bins; i++) {
        const p = pk[i]!;
        terms[i] = p === 0 ? 0 : p * Math.log(p / qk[i]!);
      }
      return distance(pairwiseSum(terms), { bins: b.bins, ...(b.edges ? {} : { unseen: b.unseen }) });
    }
  }
}

/**
 * `wasserstein(u, v)` without weights, the same numbers as scipy's `_cdf_distance(1, u, v)`
 * (and as {@link wasserstein}), faster: numeric sorts and one merge walk instead of a
 * comparator argsort and binary searches. `u` and `v` are finite and non-empty.
 */
export function wassersteinUnweighted(u: Float64Array, v: Float64Array): number {
  const a = Float64Array.from(u).sort();
  const b = Float64Array.from(v).sort();
  const na = a.length;
  const nb = b.length;
  const all = new Float64Array(na + nb);
  for (let i = 0, j = 0, k = 0; k < all.length; k++) all[k] = j >= nb || (i < na && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
  const terms = new Float64Array(all.length - 1);
  // ia, ib: numpy.searchsorted(sorted, x, side='right'), the number of values <= x
  let ia = 0;
  let ib = 0;
  for (let k = 0; k < terms.length; k++) {
    const x = all[k]!;
    while (ia < na && a[ia]! <= x) ia++;
    while (ib < nb && b[ib]! <= x) ib++;
    terms[k] = Math.abs(ia / na - ib / nb) * (all[k + 1]! - x);
  }
  return pairwiseSum(terms);
}

function normalize(p: Float64Array): Float64Array {
  const total = pairwiseSum(p);
  return Float64Array.from(p, (v) => v / total);
}
