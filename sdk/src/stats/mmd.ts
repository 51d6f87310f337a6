/**
 * Maximum mean discrepancy (Gretton et al. 2012) with a Gaussian kernel: the exact statistic
 * with a permutation p-value, and a linear-time version on random Fourier features whose null
 * comes from the reference alone (so it can be computed once and kept).
 */
import { createRandom, shuffleInPlace } from './random.js';
import { ReferenceNull, type ReferenceNullOptions } from './reference-null.js';
import { selectInPlace } from './summary.js';
import { invalid } from './validate.js';

/** A data set as columns: `d` arrays of the same length, one per feature. */
export type Columns = ReadonlyArray<ArrayLike<number>>;

/** Per-feature location and scale: see {@link standardizer}. */
export interface Standardizer {
  mean: Float64Array;
  /** Standard deviations (ddof 0); 1 for a constant feature. */
  scale: Float64Array;
}

function checkedColumns(fn: string, name: string, columns: Columns, d?: number, minRows = 1): number {
  if (!Array.isArray(columns) || columns.length === 0) throw invalid(`${fn}: ${name} must be a non-empty array of columns`);
  if (d !== undefined && columns.length !== d) throw invalid(`${fn}: ${name} has ${columns.length} columns, expected ${d}`);
  const n = columns[0]!.length;
  for (let j = 0; j < columns.length; j++) {
    const c = columns[j]!;
    if (c === null || typeof c !== 'object' || typeof c.length !== 'number') throw invalid(`${fn}: ${name}[${j}] must be an array of numbers`);
    if (c.length !== n) throw invalid(`${fn}: the columns of ${name} have different lengths (${n} and ${c.length})`);
    for (let i = 0; i < n; i++) {
      const v = c[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${fn}: ${name}[${j}][${i}] is not a finite number (${String(v)})`);
    }
  }
  if (n < minRows) throw invalid(`${fn}: ${name} needs at least ${minRows} rows, got ${n}`);
  return n;
}

/**
 * The mean and standard deviation (ddof 0, as `numpy.std`) of each column of `reference`, to
 * standardize reference and window alike: `(x - mean) / scale`. A constant column gets scale 1.
 */
export function standardizer(reference: Columns): Standardizer {
  const n = checkedColumns('standardizer', 'reference', reference);
  const d = reference.length;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    const c = reference[j]!;
    let s = 0;
    for (let i = 0; i < n; i++) s += c[i]!;
    const m = s / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (c[i]! - m) ** 2;
    const sd = Math.sqrt(ss / n);
    mean[j] = m;
    scale[j] = sd > 0 && Number.isFinite(sd) ? sd : 1;
  }
  return { mean, scale };
}

/** Rows of `columns` standardized, row-major (`n × d`). */
function standardizedRows(columns: Columns, st: Standardizer): Float64Array {
  const d = columns.length;
  const n = columns[0]!.length;
  const out = new Float64Array(n * d);
  for (let j = 0; j < d; j++) {
    const c = columns[j]!;
    const m = st.mean[j]!;
    const s = st.scale[j]!;
    for (let i = 0; i < n; i++) out[i * d + j] = (c[i]! - m) / s;
  }
  return out;
}

/** Squared Euclidean distances of all pairs i < j of row-major rows, in `pdist` order. */
function pairDistances2(rows: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let f = 0; f < d; f++) {
        const t = rows[i * d + f]! - rows[j * d + f]!;
        s += t * t;
      }
      out[k++] = s;
    }
  }
  return out;
}

/** Median of the square roots of squared distances, as `numpy.median(pdist(rows))`; 1 when it is 0. */
function medianDistance(d2: Float64Array): number {
  const n = d2.length;
  if (n === 0) return 1;
  // select on the squares (the order is the same), take the roots of the middle ones
  const a = d2.slice();
  const half = n >>> 1;
  const upper = Math.sqrt(selectInPlace(a, half));
  let med = upper;
  if (n % 2 === 0) {
    // numpy.median: the mean of the two middle values, (a + b) / 2
    let lower = -Infinity;
    for (let i = 0; i < half; i++) if (a[i]! > lower) lower = a[i]!;
    med = (Math.sqrt(lower) + upper) / 2;
  }
  return med > 0 ? med : 1;
}

/**
 * The median heuristic for the Gaussian kernel's bandwidth: the median Euclidean distance
 * between the rows of `columns` (all pairs, `numpy.median(scipy.spatial.distance.pdist(X))`),
 * or 1 when that is 0 (fewer than 2 rows, or all rows equal).
 */
export function medianHeuristic(columns: Columns): number {
  const n = checkedColumns('medianHeuristic', 'columns', columns);
  const d = columns.length;
  const st: Standardizer = { mean: new Float64Array(d), scale: new Float64Array(d).fill(1) };
  return medianDistance(pairDistances2(standardizedRows(columns, st), n, d));
}

/** Options of {@link mmdTest}. */
export interface MmdTestOptions {
  /** Permutations for the p-value. @default 500 */
  permutations?: number;
  /** Seed of the permutations ({@link createRandom}). @default 0 */
  seed?: number;
  /** The kernel's bandwidth sigma; default the median heuristic on the pooled standardized rows. */
  bandwidth?: number;
}

/** Result of {@link mmdTest}. */
export interface MmdTestResult {
  /** The unbiased estimate of MMD² (can be slightly negative). */
  statistic: number;
  /** `(1 + #{permuted statistic >= statistic}) / (1 + permutations)`. */
  pValue: number;
  bandwidth: number;
  permutations: number;
}

/**
 * Two-sample MMD test with a Gaussian kernel `k(x, y) = exp(-|x - y|² / (2 sigma²))`, on the
 * features standardized by the reference (its mean and standard deviation, ddof 0), with a
 * permutation p-value:
 *
 * 1. the `m` reference rows and `n` current rows are standardized and pooled (reference first);
 * 2. sigma is the median distance between pooled rows ({@link medianHeuristic}) unless given;
 * 3. the statistic is the unbiased MMD² `Σ_{i≠j} k(x_i,x_j) / (m(m-1)) + Σ_{i≠j} k(y_i,y_j) /
 *    (n(n-1)) - 2 Σ k(x_i,y_j) / (mn)`;
 * 4. for each of `permutations` permutations, the pooled indices (initially `0 .. m+n-1`) are
 *    shuffled in place by {@link shuffleInPlace} with one {@link createRandom}(seed) stream,
 *    and the first `m` are taken as the reference; `p = (1 + #{T_b >= T}) / (1 + B)`.
 *
 * Cost: `(m + n)² d / 2` for the kernel, `min(m, n)² / 2 + min(m, n)` per permutation (the
 * pairs within the smaller group, with the kernel's row sums: the other sums follow). For a test
 * to run on every window against one reference, see {@link createReferenceMmd}.
 *
 * @param reference reference columns (at least 2 rows), finite values
 * @param current current columns, the same features (at least 2 rows)
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for missing or non-finite values, different
 *   numbers of columns, fewer than 2 rows, or a bad option
 *
 * @example
 * ```ts
 * const r = mmdTest([refAge, refIncome], [winAge, winIncome], { permutations: 200, seed: 1 });
 * if (r.pValue < 0.05) { ... }
 * ```
 */
export function mmdTest(reference: Columns, current: Columns, options: MmdTestOptions = {}): MmdTestResult {
  const fn = 'mmdTest';
  const m = checkedColumns(fn, 'reference', reference, undefined, 2);
  const d = reference.length;
  const n = checkedColumns(fn, 'current', current, d, 2);
  const permutations = options.permutations ?? 500;
  if (!Number.isInteger(permutations) || permutations < 1) throw invalid(`${fn}: permutations must be a positive integer, got ${String(permutations)}`);
  if (options.bandwidth !== undefined && !(options.bandwidth > 0 && Number.isFinite(options.bandwidth))) {
    throw invalid(`${fn}: bandwidth must be a positive number, got ${String(options.bandwidth)}`);
  }
  const st = standardizer(reference);
  const total = m + n;
  const rows = new Float64Array(total * d);
  rows.set(standardizedRows(reference, st));
  rows.set(standardizedRows(current, st), m * d);
  const d2 = pairDistances2(rows, total, d);
  const bandwidth = options.bandwidth ?? medianDistance(d2);
  const gamma = 1 / (2 * bandwidth * bandwidth);
  // the kernel as a full symmetric matrix (zero diagonal: only pairs i != j count), its row sums
  // and its total over pairs i < j
  const kernel = new Float64Array(total * total);
  const rowSums = new Float64Array(total);
  let all = 0;
  for (let i = 0, k = 0; i < total; i++) {
    for (let j = i + 1; j < total; j++) {
      const v = Math.exp(-d2[k++]! * gamma);
      kernel[i * total + j] = v;
      kernel[j * total + i] = v;
      rowSums[i]! += v;
      rowSums[j]! += v;
      all += v;
    }
  }
  // With Y the smaller group: S_YY by its pairs, then S_XY = Σ_{i∈Y} rowSum_i − 2 S_YY and
  // S_XX = all − S_XY − S_YY, so a permutation costs min(m, n)² / 2 instead of (m + n)² / 2.
  const small = Math.min(m, n);
  const smallIsCurrent = n <= m;
  const statistic = (members: Int32Array): number => {
    let yy = 0;
    let rows = 0;
    for (let a = 0; a < small; a++) {
      const i = members[a]!;
      rows += rowSums[i]!;
      const base = i * total;
      for (let b = a + 1; b < small; b++) yy += kernel[base + members[b]!]!;
    }
    const xy = rows - 2 * yy;
    const xx = all - xy - yy;
    const [sx, sy] = smallIsCurrent ? [xx, yy] : [yy, xx];
    return (2 * sx) / (m * (m - 1)) + (2 * sy) / (n * (n - 1)) - (2 * xy) / (m * n);
  };
  const perm = Int32Array.from({ length: total }, (_, i) => i);
  // the observed split: the current rows (m .. m+n-1) or the reference rows, whichever is smaller
  const observed = statistic(smallIsCurrent ? perm.subarray(m) : perm.subarray(0, m));
  const random = createRandom(options.seed ?? 0);
  let above = 0;
  for (let b = 0; b < permutations; b++) {
    shuffleInPlace(perm, random);
    // after a shuffle, the first m indices are the reference, the rest the current sample
    if (statistic(smallIsCurrent ? perm.subarray(m) : perm.subarray(0, m)) >= observed) above++;
  }
  return { statistic: observed, pValue: (1 + above) / (1 + permutations), bandwidth, permutations };
}

/** Options of {@link createReferenceMmd}. */
export interface ReferenceMmdOptions extends ReferenceNullOptions {
  /** Random Fourier features D. @default 64 */
  fourierFeatures?: number;
  /** At most this many reference rows (a seeded sample of them) make the embedding and the null. @default 2000 */
  maxReferenceRows?: number;
  /** Reference rows the median heuristic looks at (a seeded sample). @default 200 */
  bandwidthRows?: number;
}

/** What {@link ReferenceMmd.test} reports. */
export interface ReferenceMmdResult {
  /** `‖mean φ(window) − mean φ(reference)‖²`: the MMD² (biased, V-statistic) on the random features. */
  statistic: number;
  /** `statistic / (1/n + 1/m)`: its null no longer depends on the sizes once they are large. */
  normalized: number;
  pValue: number;
  /** The window sizes whose nulls gave the p-value (one size, or the two powers of two around n). */
  nullSizes: number[];
}

/**
 * MMD of a window against a fixed reference, in linear time, with a null computed from the
 * reference alone (see {@link createReferenceMmd}).
 */
export interface ReferenceMmd {
  /** Features the model was built on. */
  readonly dimension: number;
  readonly bandwidth: number;
  /** Reference rows used (at most `maxReferenceRows`). */
  readonly referenceRows: number;
  readonly fourierFeatures: number;
  readonly standardizer: Standardizer;
  /** Test a window (columns in the reference's order; NaN is taken as the reference mean). */
  test(window: Columns): ReferenceMmdResult;
  /** Bytes held (the embedded reference and the nulls computed so far). */
  bytes(): number;
}

/**
 * A linear-time MMD test against one reference, for apps that test every window:
 *
 * - features standardized by the reference ({@link standardizer}); a missing value (NaN) in a
 *   window is taken as the reference mean;
 * - Gaussian kernel with the median heuristic bandwidth on (a sample of) the standardized
 *   reference, approximated by `D` random Fourier features (Rahimi and Recht 2007):
 *   `φ(x) = sqrt(2/D) cos(W x + b)`, `W ~ N(0, I / sigma²)`, `b ~ U[0, 2π)`, so
 *   `φ(x)·φ(y) ≈ exp(-|x - y|² / (2 sigma²))`;
 * - statistic `T = ‖mean φ(window) − mean φ(reference)‖²`, `normalized = T / (1/n + 1/m)`;
 * - p-value from a {@link ReferenceNull}: at a size `s`, a null statistic is `s·‖mean φ(R*) −
 *   mean φ(reference)‖²` for `s` rows `R*` drawn with replacement from the reference, which
 *   has the distribution of `normalized` for a window of `s` rows from the reference's
 *   population (the reference's own sampling error is the `1/m` term).
 *
 * Building costs `m·D·d` (the embedded reference is kept: `m × D` numbers); a null at size
 * `s` costs `replicates · s · D` once; a window costs `n·D·d`.
 *
 * @param reference reference columns, finite values, at least 2 rows
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` for non-finite reference values or bad options
 */
export function createReferenceMmd(reference: Columns, options: ReferenceMmdOptions = {}): ReferenceMmd {
  const fn = 'createReferenceMmd';
  const total = checkedColumns(fn, 'reference', reference, undefined, 2);
  const d = reference.length;
  const D = options.fourierFeatures ?? 64;
  const maxRows = options.maxReferenceRows ?? 2000;
  const bandwidthRows = options.bandwidthRows ?? 200;
  const seed = options.seed ?? 0;
  for (const [name, v, min] of [
    ['fourierFeatures', D, 1],
    ['maxReferenceRows', maxRows, 2],
    ['bandwidthRows', bandwidthRows, 2],
  ] as const) {
    if (!Number.isInteger(v) || v < min) throw invalid(`${fn}: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  const random = createRandom(seed);
  const st = standardizer(reference);
  const all = standardizedRows(reference, st);
  // the rows in a seeded random order: the first maxRows are embedded, the first bandwidthRows
  // give the bandwidth (a reference sorted by time or class is sampled evenly)
  const m = Math.min(total, maxRows);
  const order = shuffleInPlace(
    Int32Array.from({ length: total }, (_, i) => i),
    random,
  );
  const rows = new Float64Array(m * d);
  for (let i = 0; i < m; i++) rows.set(all.subarray(order[i]! * d, order[i]! * d + d), i * d);
  const b = Math.min(m, bandwidthRows);
  const bandwidth = medianDistance(pairDistances2(rows.subarray(0, b * d), b, d));

  const weights = new Float64Array(D * d);
  const offsets = new Float64Array(D);
  for (let k = 0; k < D; k++) {
    for (let f = 0; f < d; f++) weights[k * d + f] = random.normal() / bandwidth;
    offsets[k] = random.uniform() * 2 * Math.PI;
  }
  const amplitude = Math.sqrt(2 / D);
  const embedRow = (row: ArrayLike<number>, at: number, out: Float64Array, outAt: number, add: boolean): void => {
    for (let k = 0; k < D; k++) {
      let s = offsets[k]!;
      const w = k * d;
      for (let f = 0; f < d; f++) s += weights[w + f]! * row[at + f]!;
      const v = amplitude * Math.cos(s);
      if (add) out[outAt + k]! += v;
      else out[outAt + k] = v;
    }
  };
  const embedded = new Float64Array(m * D);
  for (let i = 0; i < m; i++) embedRow(rows, i * d, embedded, i * D, false);
  const center = new Float64Array(D);
  for (let i = 0; i < m; i++) for (let k = 0; k < D; k++) center[k]! += embedded[i * D + k]!;
  for (let k = 0; k < D; k++) center[k]! /= m;

  const sum = new Float64Array(D);
  const nulls = new ReferenceNull((size, r) => {
    sum.fill(0);
    for (let i = 0; i < size; i++) {
      const at = r.int(m) * D;
      for (let k = 0; k < D; k++) sum[k]! += embedded[at + k]!;
    }
    let t = 0;
    for (let k = 0; k < D; k++) {
      const v = sum[k]! / size - center[k]!;
      t += v * v;
    }
    return t * size;
  }, options);

  return {
    dimension: d,
    bandwidth,
    referenceRows: m,
    fourierFeatures: D,
    standardizer: st,
    test(window: Columns): ReferenceMmdResult {
      if (!Array.isArray(window) || window.length !== d)
        throw invalid(`${fn}: the window must have ${d} columns, got ${Array.isArray(window) ? window.length : 'none'}`);
      const n = window[0]!.length;
      for (const c of window) if (c.length !== n) throw invalid(`${fn}: the window's columns have different lengths`);
      if (n === 0) throw invalid(`${fn}: the window has no rows`);
      const row = new Float64Array(d);
      const acc = new Float64Array(D);
      for (let i = 0; i < n; i++) {
        for (let f = 0; f < d; f++) {
          const v = window[f]![i]!;
          row[f] = Number.isFinite(v) ? (v - st.mean[f]!) / st.scale[f]! : 0;
        }
        embedRow(row, 0, acc, 0, true);
      }
      let statistic = 0;
      for (let k = 0; k < D; k++) {
        const v = acc[k]! / n - center[k]!;
        statistic += v * v;
      }
      const normalized = statistic / (1 / n + 1 / m);
      const p = nulls.pValue(normalized, n);
      return { statistic, normalized, pValue: p.pValue, nullSizes: p.sizes };
    },
    bytes: () => embedded.byteLength + weights.byteLength + nulls.bytes(),
  };
}
