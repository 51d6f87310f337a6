/**
 * The kind of finding a result reports. The numbers are MLRun's, so dashboards and
 * alert rules written for MLRun read modelwatch results unchanged.
 */
export const ResultKind = {
  DataDrift: 0,
  ConceptDrift: 1,
  ModelPerformance: 2,
  SystemPerformance: 3,
  Anomaly: 4,
} as const;
export type ResultKind = (typeof ResultKind)[keyof typeof ResultKind];

/** How bad a result is. The numbers are MLRun's. */
export const ResultStatus = {
  Irrelevant: -1,
  NoDetection: 0,
  PotentialDetection: 1,
  Detected: 2,
} as const;
export type ResultStatus = (typeof ResultStatus)[keyof typeof ResultStatus];

/** Names of {@link ResultKind} values, as stored in tags and shown by the CLI. */
export const resultKindName: Readonly<Record<ResultKind, string>> = {
  0: 'data_drift',
  1: 'concept_drift',
  2: 'model_performance',
  3: 'system_performance',
  4: 'anomaly',
};

/** Names of {@link ResultStatus} values, as shown by the CLI. */
export const resultStatusName: Readonly<Record<ResultStatus, string>> = {
  [-1]: 'irrelevant',
  0: 'no_detection',
  1: 'potential_detection',
  2: 'detected',
};

/** A JSON value, as allowed in `extraData`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * One finding of an app for one window.
 *
 * @example
 * ```ts
 * return {
 *   name: 'general_drift',
 *   value: 0.73,
 *   kind: ResultKind.DataDrift,
 *   status: ResultStatus.Detected,
 *   extraData: { drifted: ['age', 'income'] },
 * };
 * ```
 */
export interface MonitoringResult {
  /** Must match `^[a-zA-Z_][a-zA-Z0-9_]*$`. */
  name: string;
  /** A finite number. */
  value: number;
  kind: ResultKind;
  status: ResultStatus;
  /**
   * Any JSON object. Its JSON text may be at most the plugin's `limits.extraDataBytes`
   * (default 64 KiB); a larger one fails the window with an error that says so.
   * @default {}
   */
  extraData?: { [key: string]: JsonValue };
}

/**
 * A named number for one window, stored as a time series.
 *
 * @example
 * ```ts
 * return { name: 'rows_with_nulls', value: 12 };
 * ```
 */
export interface MonitoringMetric {
  /** Must match `^[a-zA-Z_][a-zA-Z0-9_]*$`. */
  name: string;
  /** A finite number. */
  value: number;
}

/**
 * What `doTracking` may return: a result, a metric, an array of both, or an object of
 * metric names to numbers.
 */
export type AppOutput = MonitoringResult | MonitoringMetric | ReadonlyArray<MonitoringResult | MonitoringMetric> | Readonly<Record<string, number>>;

/** A histogram: `counts[i]` values fell in `[edges[i], edges[i+1])` (the last bin is closed). */
export interface Histogram {
  counts: number[];
  edges: number[];
}

/** Statistics of a numeric column (reference or window). */
export interface NumericFeatureStats {
  type: 'numeric';
  /** Number of non-missing values. */
  count: number;
  /**
   * Number of missing values (null, NaN): `count + missing` is the number of rows. In window
   * statistics this includes the values made missing because of their type (`wrongType`).
   */
  missing: number;
  /**
   * Window statistics only: values that arrived with a type other than the reference's (a
   * string in a numeric column). They are missing in `ctx.sample` and counted in `missing` too.
   * Absent in reference statistics, and 0 when the endpoint has no reference.
   */
  wrongType?: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  /** Quantiles: keys `'0.25'`, `'0.5'`, `'0.75'` (more may be present). */
  quantiles: Record<string, number>;
  /**
   * In reference statistics: 20 equal-width bins over the training data, padded with an
   * open bin at each end (edges `-Number.MAX_VALUE` and `Number.MAX_VALUE`), as MLRun does:
   * 22 counts and 23 edges. In window statistics: the window counted on the reference's edges.
   */
  hist: Histogram;
}

/** Statistics of a categorical (string) column. */
export interface CategoricalFeatureStats {
  type: 'categorical';
  /** Number of non-missing values. */
  count: number;
  /** Number of missing values (null): `count + missing` is the number of rows, `wrongType` included. */
  missing: number;
  /**
   * Window statistics only: values that arrived with a type other than the reference's (a
   * number in a column whose reference categories are all non-numeric text). They are missing
   * in `ctx.sample` and counted in `missing` too. Absent in reference statistics.
   */
  wrongType?: number;
  /** Number of distinct values. */
  unique: number;
  /** Value -> count. */
  frequencies: Record<string, number>;
  /**
   * Stored window profiles only: values in categories beyond the most frequent ones kept (the
   * top 50), which `frequencies` leaves out. Absent elsewhere.
   */
  other?: number;
}

export type FeatureStats = NumericFeatureStats | CategoricalFeatureStats;

/** Column name -> statistics. */
export type FeatureStatsMap = Record<string, FeatureStats>;

/** The model endpoint a window belongs to. */
export interface EndpointInfo {
  /** Stable id: the SHA-1 of the endpoint name, in hex. */
  id: string;
  name: string;
  /** Input feature names, in the order of the rows the model server sends. */
  featureNames: readonly string[];
  /** Output (prediction) names, in order. */
  labelNames: readonly string[];
}

/** A cell of a window's row. `null` is a missing value. */
export type CellValue = number | string | null;

/**
 * The rows of one window, columnar.
 *
 * @example
 * ```ts
 * const age = ctx.sample.column('age'); // Float64Array, NaN where missing
 * let sum = 0;
 * for (let i = 0; i < age.length; i++) sum += age[i]!;
 * ```
 */
export interface Sample {
  /** Number of rows. */
  readonly length: number;
  /** Column names: the endpoint's features, then its labels (outputs). */
  readonly columns: readonly string[];
  /** Event time of each row, in milliseconds since the epoch (NaN in the reference). */
  readonly timestamps: Float64Array;
  /** Serving latency of each row's request in microseconds, NaN where not reported. */
  readonly latencyMicros: Float64Array;
  /** Request id of each row (`<id>#<i>` for the rows of a multi-row request), null where none. */
  readonly requestIds: ReadonlyArray<string | null>;
  /** Whether the window has this column. */
  has(name: string): boolean;
  /**
   * A column's values: a Float64Array for a numeric column (NaN where missing), an
   * array of strings (null where missing) for a categorical one.
   * @throws if the window has no such column
   */
  column(name: string): Float64Array | ReadonlyArray<string | null>;
  /** One row as an object keyed by column name. */
  row(index: number): Record<string, CellValue>;
  /** All rows, as objects. Slower than {@link Sample.column}: prefer columns on large windows. */
  rows(): IterableIterator<Record<string, CellValue>>;
}

/** Where a plugin writes log lines; they reach the host log tagged with plugin, endpoint and window. */
export interface Logger {
  debug(message: string, fields?: Record<string, JsonValue>): void;
  info(message: string, fields?: Record<string, JsonValue>): void;
  warn(message: string, fields?: Record<string, JsonValue>): void;
  error(message: string, fields?: Record<string, JsonValue>): void;
}

/**
 * Ground truth joined to the window's rows by request id (apps with `groundTruth` in
 * plugin.json). Columns are the endpoint's outputs, aligned with `ctx.sample`'s rows: NaN
 * (numeric) or null (strings) where no label arrived.
 */
export interface GroundTruth {
  /** Rows of the window that have a label. */
  readonly matched: number;
  readonly columns: readonly string[];
  has(name: string): boolean;
  column(name: string): Float64Array | ReadonlyArray<string | null>;
}

/** How `ctx.logArtifact` stores an artifact. */
export interface ArtifactOptions {
  /**
   * Its MIME type, as it is served (`text/csv`, `image/svg+xml`, `application/json`).
   * @default 'text/plain; charset=utf-8' for a string, 'application/octet-stream' for bytes
   */
  contentType?: string;
}

/** Everything `doTracking` gets for one window of one endpoint. */
export interface MonitoringContext<Config = Record<string, unknown>> {
  /** The plugin's name. */
  readonly applicationName: string;
  readonly endpoint: EndpointInfo;
  /** Start of the window (inclusive). */
  readonly windowStart: Date;
  /** End of the window (exclusive). */
  readonly windowEnd: Date;
  /** The window's rows. */
  readonly sample: Sample;
  /**
   * The reference (training) rows: only for apps with `"referenceRows": true` in plugin.json, and
   * endpoints with a reference. Read from the store only if the app reads this: in the sandbox, the
   * first window of a version that reads it (on each runner, for each config) throws here once
   * and is run again with the rows. What that first run did is dropped (its output, log lines and
   * artifacts), except module state kept with `"isolation": "version"`, which is not rolled back.
   * Reading every property of `ctx` (`{...ctx}`) reads this too.
   */
  readonly reference?: Sample;
  /** Ground truth for the window's rows: only for apps with `groundTruth` in plugin.json. */
  readonly groundTruth?: GroundTruth;
  /**
   * The window's statistics per column, numeric ones counted on the reference's bins, with the
   * data quality of each column: `missing` values and, of those, `wrongType` ones (values whose
   * type differs from the reference's, made missing).
   */
  readonly sampleStats: FeatureStatsMap;
  /** The endpoint's reference statistics (from its training data); empty when it has none. */
  readonly featureStats: FeatureStatsMap;
  /** The plugin's configuration (`config` in plugin.json, or as set at publish). */
  readonly config: Config;
  readonly logger: Logger;
  /**
   * Attach a file to this window (a drift table as CSV, a plot as SVG, offending rows): stored
   * with the window's output when it succeeds, listed and downloaded with `modelwatch artifacts`
   * and `GET /api/v1/endpoints/:name/artifacts`, always as an attachment. A string is stored as
   * UTF-8.
   *
   * `name` is a file name (1-128 letters, digits, `_`, `.`, `-`; no path separators), once per
   * window. At most `limits.artifactBytes` (1 MiB) each and `limits.windowArtifactBytes` (4 MiB)
   * per window, 32 artifacts a window.
   * @throws ModelwatchSdkError (code `INVALID_ARTIFACT`) naming what is wrong or which limit is passed
   *
   * @example
   * ```ts
   * ctx.logArtifact('drift.csv', 'feature,tvd\nage,0.12\n', { contentType: 'text/csv' });
   * ```
   */
  logArtifact(name: string, body: string | Uint8Array, options?: ArtifactOptions): void;
}
