/**
 * `@modelwatch/sdk/thresholds`: thresholds learned from the reference, as NannyML does.
 *
 * Split the reference into chunks the size of a window, compute the metric on every chunk,
 * and call a window's value unusual when it leaves the band `mean ± k·sigma` of the chunk
 * values (k = 3 by default). See `sdk/docs/thresholds.md`.
 *
 * @example
 * ```ts
 * import { adaptiveBand, bandStatus, chunkSample } from '@modelwatch/sdk/thresholds';
 *
 * const chunks = chunkSample(ctx.reference!, ctx.sample.length);
 * const band = adaptiveBand(chunks.map((c) => meanOf(c.column('age') as Float64Array)));
 * const status = bandStatus(meanOf(ctx.sample.column('age') as Float64Array), band);
 * ```
 * @module
 */
import { ModelwatchSdkError } from './errors.js';
import { pairwiseSum } from './stats/summary.js';
import { ResultStatus, type CellValue, type Sample } from './types.js';

/** Default multiplier k of the band `mean ± k·sigma` (NannyML's 3). */
export const DEFAULT_BAND_MULTIPLIER = 3;
/** Default cap on the number of reference chunks (spread evenly over the reference). */
export const DEFAULT_MAX_CHUNKS = 20;
/** Fewest chunk values a band is computed from. */
export const MIN_BAND_VALUES = 2;

/** Rows `[start, end)` of a sample. */
export interface ChunkRange {
  start: number;
  end: number;
}

/** Options of {@link chunkRanges} and {@link chunkSample}. */
export interface ChunkOptions {
  /**
   * Keep at most this many chunks, spread evenly over the sample (first and last included).
   * @default DEFAULT_MAX_CHUNKS (20)
   */
  maxChunks?: number;
}

function invalid(message: string): ModelwatchSdkError {
  return new ModelwatchSdkError('INVALID_ARGUMENT', message);
}

/**
 * Consecutive chunks of `chunkSize` rows of a sample of `length` rows, in row order. The last,
 * incomplete chunk is dropped (so every chunk is comparable with a window of `chunkSize` rows),
 * then at most `maxChunks` are kept, evenly spread.
 *
 * @example
 * ```ts
 * chunkRanges(10, 3); // [{start: 0, end: 3}, {start: 3, end: 6}, {start: 6, end: 9}]
 * ```
 */
export function chunkRanges(length: number, chunkSize: number, options: ChunkOptions = {}): ChunkRange[] {
  if (!Number.isInteger(length) || length < 0) throw invalid(`chunkRanges: length must be a non-negative integer, got ${length}`);
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw invalid(`chunkRanges: chunkSize must be a positive integer, got ${chunkSize}`);
  const maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS;
  if (!Number.isInteger(maxChunks) || maxChunks < 1) throw invalid(`chunkRanges: maxChunks must be a positive integer, got ${maxChunks}`);
  const total = Math.floor(length / chunkSize);
  const pick: number[] = [];
  if (total <= maxChunks) for (let i = 0; i < total; i++) pick.push(i);
  else if (maxChunks === 1) pick.push(0);
  else for (let i = 0; i < maxChunks; i++) pick.push(Math.round((i * (total - 1)) / (maxChunks - 1)));
  return pick.map((i) => ({ start: i * chunkSize, end: (i + 1) * chunkSize }));
}

/**
 * The rows `[start, end)` of a sample as a sample: numeric columns are zero-copy views,
 * string columns and request ids are copied.
 */
export function sliceSample(sample: Sample, start: number, end: number): Sample {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= sample.length)) {
    throw invalid(`sliceSample: [${start}, ${end}) is not a range of rows of a sample of ${sample.length}`);
  }
  return viewOf(sample, end - start, (col) => sliceOf(col, start, end), {
    timestamps: sample.timestamps.subarray(start, end),
    latencyMicros: sample.latencyMicros.subarray(start, end),
    requestIds: sample.requestIds.slice(start, end),
  });
}

/**
 * A sample without the rows `[start, end)` (copied): the rest of the reference that a chunk
 * is compared with when a drift statistic is computed per chunk.
 */
export function sampleWithout(sample: Sample, start: number, end: number): Sample {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= sample.length)) {
    throw invalid(`sampleWithout: [${start}, ${end}) is not a range of rows of a sample of ${sample.length}`);
  }
  const cut = <T extends Float64Array | ReadonlyArray<string | null>>(col: T): T => {
    if (col instanceof Float64Array) {
      const out = new Float64Array(col.length - (end - start));
      out.set(col.subarray(0, start));
      out.set(col.subarray(end), start);
      return out as T;
    }
    return [...col.slice(0, start), ...col.slice(end)] as unknown as T;
  };
  return viewOf(sample, sample.length - (end - start), cut, {
    timestamps: cut(sample.timestamps),
    latencyMicros: cut(sample.latencyMicros),
    requestIds: cut(sample.requestIds),
  });
}

function sliceOf<T extends Float64Array | ReadonlyArray<string | null>>(col: T, start: number, end: number): T {
  return (col instanceof Float64Array ? col.subarray(start, end) : col.slice(start, end)) as T;
}

function viewOf(
  sample: Sample,
  length: number,
  map: (col: Float64Array | ReadonlyArray<string | null>) => Float64Array | ReadonlyArray<string | null>,
  extra: Pick<Sample, 'timestamps' | 'latencyMicros' | 'requestIds'>,
): Sample {
  const columns = sample.columns.slice();
  const cache = new Map<string, Float64Array | ReadonlyArray<string | null>>();
  const column = (name: string) => {
    let c = cache.get(name);
    if (!c) {
      c = map(sample.column(name));
      cache.set(name, c);
    }
    return c;
  };
  const row = (i: number): Record<string, CellValue> => {
    if (!(i >= 0 && i < length)) throw new RangeError(`row index ${i} is out of range (0..${length - 1})`);
    const r: Record<string, CellValue> = {};
    for (const name of columns) {
      const v = column(name)[i]!;
      r[name] = typeof v === 'number' && Number.isNaN(v) ? null : v;
    }
    return r;
  };
  return {
    length,
    columns,
    ...extra,
    has: (name: string) => sample.has(name),
    column,
    row,
    *rows() {
      for (let i = 0; i < length; i++) yield row(i);
    },
  };
}

/**
 * The sample cut into chunks of `chunkSize` rows ({@link chunkRanges}: in row order, the last
 * incomplete chunk dropped, at most `maxChunks` kept), each a {@link Sample} view.
 *
 * The rows are taken in the order of the sample. For a reference that is the training data in
 * time order, each chunk is a stretch of time, as NannyML's chunks are; a reference sorted by
 * some column gives chunks that differ more than windows do.
 */
export function chunkSample(sample: Sample, chunkSize: number, options: ChunkOptions = {}): Sample[] {
  return chunkRanges(sample.length, chunkSize, options).map((r) => sliceSample(sample, r.start, r.end));
}

/** The band of expected values: `mean ± multiplier · std` of the values it was learned from. */
export interface AdaptiveBand {
  /** Mean of the values. */
  mean: number;
  /** Standard deviation of the values (ddof 0, as NannyML's `np.std`). */
  std: number;
  multiplier: number;
  /** `mean - multiplier · std`, raised to `lowerLimit` when given. */
  lower: number;
  /** `mean + multiplier · std`, lowered to `upperLimit` when given. */
  upper: number;
  /** Number of values the band was learned from. */
  count: number;
}

/** Options of {@link adaptiveBand}. */
export interface AdaptiveBandOptions {
  /** The smallest value the metric can take (0 for a distance or a rate): a lower bound below it is raised to it. */
  lowerLimit?: number;
  /** The largest value the metric can take (1 for accuracy): an upper bound above it is lowered to it. */
  upperLimit?: number;
}

/**
 * The band `mean ± multiplier · std` of metric values computed on reference chunks, as
 * NannyML's `StandardDeviationThreshold` (mean, `np.std` with ddof 0, multiplier 3 by
 * default) and its value limits. Non-finite values are left out.
 *
 * @param values the metric on each reference chunk; at least 2 finite values
 * @param multiplier k in `mean ± k·sigma`, >= 0
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` with fewer than 2 finite values or a bad multiplier
 *
 * @example
 * ```ts
 * adaptiveBand([0.91, 0.93, 0.92, 0.9, 0.94]); // { mean: 0.92, std: ≈0.01414, lower: ≈0.8776, upper: ≈0.9624, ... }
 * ```
 */
export function adaptiveBand(values: ArrayLike<number>, multiplier = DEFAULT_BAND_MULTIPLIER, options: AdaptiveBandOptions = {}): AdaptiveBand {
  if (typeof multiplier !== 'number' || !Number.isFinite(multiplier) || multiplier < 0) {
    throw invalid(`adaptiveBand: multiplier must be a finite number >= 0, got ${String(multiplier)}`);
  }
  const finite: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) finite.push(values[i]!);
  if (finite.length < MIN_BAND_VALUES) {
    throw invalid(`adaptiveBand: need at least ${MIN_BAND_VALUES} finite values, got ${finite.length}`);
  }
  const n = finite.length;
  const mean = pairwiseSum(finite) / n;
  const sq = finite.map((v) => (v - mean) * (v - mean));
  const std = Math.sqrt(pairwiseSum(sq) / n);
  let lower = mean - std * multiplier;
  let upper = mean + std * multiplier;
  if (options.lowerLimit !== undefined && lower < options.lowerLimit) lower = options.lowerLimit;
  if (options.upperLimit !== undefined && upper > options.upperLimit) upper = options.upperLimit;
  return { mean, std, multiplier, lower, upper, count: n };
}

/** Which side of the band is bad. */
export type BandSide = 'both' | 'above' | 'below';

/**
 * `Detected` when `value` is outside the band on a bad side (strictly above `upper` for
 * `'above'`, strictly below `lower` for `'below'`, either for `'both'`), else `NoDetection`.
 */
export function bandStatus(value: number, band: AdaptiveBand, side: BandSide = 'both'): ResultStatus {
  const above = value > band.upper;
  const below = value < band.lower;
  const out = side === 'above' ? above : side === 'below' ? below : above || below;
  return out ? ResultStatus.Detected : ResultStatus.NoDetection;
}

/** Result of {@link referenceBand}: the band, or why there is none. */
export type ReferenceBand =
  | { band: AdaptiveBand; values: number[]; chunkSize: number; chunks: number }
  | { band: null; reason: string; values: number[]; chunkSize: number; chunks: number };

/** Options of {@link referenceBand}. */
export interface ReferenceBandOptions extends ChunkOptions, AdaptiveBandOptions {
  /** k in `mean ± k·sigma`. @default 3 */
  multiplier?: number;
  /** Fewest chunks with a finite metric value for a band. @default 3 */
  minChunks?: number;
}

/**
 * Compute `metric` on each chunk of the reference ({@link chunkRanges}) and the band of its
 * values ({@link adaptiveBand}). `metric` gets the chunk and its row range (use
 * {@link sampleWithout} for the rest of the reference); a non-finite return leaves the chunk out.
 * Returns `band: null` with the reason when there are fewer than `minChunks` values.
 */
export function referenceBand(
  reference: Sample,
  chunkSize: number,
  metric: (chunk: Sample, range: ChunkRange) => number,
  options: ReferenceBandOptions = {},
): ReferenceBand {
  const minChunks = options.minChunks ?? 3;
  if (!Number.isInteger(minChunks) || minChunks < MIN_BAND_VALUES) {
    throw invalid(`referenceBand: minChunks must be an integer >= ${MIN_BAND_VALUES}, got ${minChunks}`);
  }
  const ranges = chunkRanges(reference.length, chunkSize, options);
  const values: number[] = [];
  for (const r of ranges) {
    const v = metric(sliceSample(reference, r.start, r.end), r);
    if (Number.isFinite(v)) values.push(v);
  }
  const base = { values, chunkSize, chunks: ranges.length };
  if (values.length < minChunks) {
    const total = Math.floor(reference.length / chunkSize);
    return {
      ...base,
      band: null,
      reason:
        total < minChunks
          ? `the reference has ${reference.length} rows: ${total} chunk(s) of ${chunkSize}, fewer than ${minChunks}`
          : `only ${values.length} of ${ranges.length} reference chunks gave a value, fewer than ${minChunks}`,
    };
  }
  return { ...base, band: adaptiveBand(values, options.multiplier ?? DEFAULT_BAND_MULTIPLIER, options) };
}
