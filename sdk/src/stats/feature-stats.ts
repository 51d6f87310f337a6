import type { CategoricalFeatureStats, CellValue, FeatureStats, FeatureStatsMap, NumericFeatureStats } from '../types.js';
import { equalWidthEdges, histogram } from './histogram.js';
import { mean, quantilesBySelection, std } from './summary.js';

/** Number of equal-width bins of a reference histogram, before padding (MLRun's default). */
export const REFERENCE_BINS = 20;

/** Quantiles kept in feature statistics. */
export const STATS_QUANTILES = [0.25, 0.5, 0.75] as const;

/** A column's values: numbers (NaN, ±Infinity or null count as missing) or strings (null missing). */
export type ColumnValues = ArrayLike<CellValue> | Float64Array;

/** Whether a column holds strings: any non-missing value that is a string. */
export function isCategorical(values: ColumnValues): boolean {
  for (let i = 0; i < values.length; i++) if (typeof values[i] === 'string') return true;
  return false;
}

/**
 * Reference statistics of one column, as MLRun computes them from training data:
 * count, mean, std (ddof 1), min, max, quartiles and a 20-bin equal-width histogram padded
 * with an open bin at each end. A string column gets value frequencies.
 */
export function referenceStats(values: ColumnValues): FeatureStats {
  if (isCategorical(values)) return categoricalStats(values);
  const nums = finiteValues(values);
  const base = numericSummary(nums, values.length - nums.length);
  if (nums.length === 0) {
    return { ...base, hist: { counts: [0, 0], edges: [-Number.MAX_VALUE, 0, Number.MAX_VALUE] } };
  }
  const edges = equalWidthEdges(base.min, base.max, REFERENCE_BINS);
  const counts = histogram(nums, edges);
  return {
    ...base,
    hist: { counts: [0, ...counts, 0], edges: [-Number.MAX_VALUE, ...edges, Number.MAX_VALUE] },
  };
}

/**
 * A window's statistics of one column: the same summary as {@link referenceStats}, with the
 * histogram counted on the reference's edges when there is a numeric reference, and
 * `wrongType`: how many of the missing values were made missing because of their type (see
 * {@link isWrongType}; the caller counts them, since they are already missing in `values`).
 */
export function windowStats(values: ColumnValues, reference?: FeatureStats, wrongType = 0): FeatureStats {
  if (isCategorical(values) || reference?.type === 'categorical') return { ...categoricalStats(values), wrongType };
  const nums = finiteValues(values);
  const base = { ...numericSummary(nums, values.length - nums.length), wrongType };
  if (reference?.type === 'numeric') {
    return { ...base, hist: { counts: histogram(nums, reference.hist.edges), edges: reference.hist.edges.slice() } };
  }
  if (nums.length === 0) return { ...base, hist: { counts: [], edges: [] } };
  const edges = equalWidthEdges(base.min, base.max, REFERENCE_BINS);
  return { ...base, hist: { counts: histogram(nums, edges), edges } };
}

/** Whether a categorical reference has a category written as a number (such a column takes numbers as categories). */
const takesNumbers = new WeakMap<CategoricalFeatureStats, boolean>();

/**
 * Whether a window value has the wrong type for its column, judged by the column's reference
 * statistics: a string where the reference is numeric, or a number (booleans arrive as 1/0)
 * where the reference is categorical and none of its categories is a number written out
 * (`"42"`, as a CSV reference with mixed cells has them). Missing values and columns without
 * reference statistics never have the wrong type. Such a value is made missing and counted as
 * `wrongType` in the window's statistics.
 *
 * @example
 * ```ts
 * isWrongType('a', { type: 'numeric', ... });                       // true
 * isWrongType(3, { type: 'categorical', frequencies: { red: 5 }, ... }); // true
 * isWrongType(3, { type: 'categorical', frequencies: { '7': 1, red: 5 }, ... }); // false
 * ```
 */
export function isWrongType(value: CellValue | undefined, reference: FeatureStats | undefined): boolean {
  if (value === null || value === undefined || reference === undefined) return false;
  if (reference.type === 'numeric') return typeof value === 'string';
  if (typeof value !== 'number') return false;
  let numbers = takesNumbers.get(reference);
  if (numbers === undefined) {
    numbers = Object.keys(reference.frequencies).some((k) => k.trim() !== '' && String(Number(k)) === k);
    takesNumbers.set(reference, numbers);
  }
  return !numbers;
}

/** Reference statistics of every column. */
export function referenceStatsMap(columns: Record<string, ColumnValues>): FeatureStatsMap {
  const out: FeatureStatsMap = {};
  for (const [name, values] of Object.entries(columns)) out[name] = referenceStats(values);
  return out;
}

function finiteValues(values: ColumnValues): Float64Array {
  const out = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) out[n++] = v;
  }
  return out.subarray(0, n);
}

function numericSummary(nums: Float64Array, missing: number): Omit<NumericFeatureStats, 'hist'> {
  const quantiles: Record<string, number> = {};
  const qs = quantilesBySelection(nums, STATS_QUANTILES);
  STATS_QUANTILES.forEach((q, i) => (quantiles[String(q)] = qs[i]!));
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < nums.length; i++) {
    const v = nums[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return {
    type: 'numeric',
    count: nums.length,
    missing,
    mean: mean(nums),
    std: std(nums, 1),
    min: nums.length ? min : NaN,
    max: nums.length ? max : NaN,
    quantiles,
  };
}

function categoricalStats(values: ColumnValues): CategoricalFeatureStats {
  const frequencies: Record<string, number> = {};
  let count = 0;
  let missing = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) {
      missing++;
      continue;
    }
    const key = String(v);
    frequencies[key] = (frequencies[key] ?? 0) + 1;
    count++;
  }
  return { type: 'categorical', count, missing, unique: Object.keys(frequencies).length, frequencies };
}
