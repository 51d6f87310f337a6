/**
 * In-process MonitoringContext for the built-in apps' tests: builds ctx.sample, ctx.reference,
 * ctx.groundTruth and the statistics (with the SDK's referenceStats / windowStats, as the host
 * does) from plain columns. To be replaced by `@modelwatch/sdk/testing` when it lands.
 */
import {
  normalizeAppOutput,
  type CellValue,
  type FeatureStatsMap,
  type GroundTruth,
  type JsonValue,
  type Logger,
  type MonitoringApplication,
  type MonitoringContext,
  type MonitoringMetric,
  type MonitoringResult,
  type NormalizedOutput,
  type Sample,
} from '@modelwatch/sdk';
import { referenceStats, windowStats } from '@modelwatch/sdk/stats';

/** A column: numbers (null/NaN missing) or strings (null missing). */
export type Column = ReadonlyArray<number | string | null> | Float64Array;

export interface LogLine {
  level: string;
  message: string;
  fields?: Record<string, JsonValue>;
}

type Stored = Float64Array | Array<string | null>;

function store(values: Column, categorical: boolean): Stored {
  if (values instanceof Float64Array && !categorical) return values;
  const arr = Array.from(values as ArrayLike<number | string | null>);
  if (categorical || arr.some((v) => typeof v === 'string')) {
    return arr.map((v) => (v === null || (typeof v === 'number' && Number.isNaN(v)) ? null : String(v)));
  }
  return Float64Array.from(arr, (v) => (v === null ? NaN : (v as number)));
}

export interface SampleOptions {
  timestamps?: ArrayLike<number>;
  latencyMicros?: ArrayLike<number>;
  requestIds?: ReadonlyArray<string | null>;
  /** Columns to store as strings even when they hold no string (the reference says categorical). */
  categorical?: (name: string) => boolean;
}

/** A Sample over columns, laid out as the sandbox lays it out. */
export function makeSample(columns: Record<string, Column>, opts: SampleOptions = {}): Sample {
  const names = Object.keys(columns);
  const length = names.length > 0 ? columns[names[0]!]!.length : (opts.timestamps?.length ?? opts.latencyMicros?.length ?? 0);
  const stored = new Map<string, Stored>();
  for (const name of names) {
    const values = columns[name]!;
    if (values.length !== length) throw new Error(`column ${name} has ${values.length} rows, expected ${length}`);
    stored.set(name, store(values, opts.categorical?.(name) ?? false));
  }
  const row = (i: number): Record<string, CellValue> => {
    const out: Record<string, CellValue> = {};
    for (const [name, col] of stored) {
      const v = col[i]!;
      out[name] = typeof v === 'number' && Number.isNaN(v) ? null : v;
    }
    return out;
  };
  const fill = (src: ArrayLike<number> | undefined, f: (i: number) => number) => (src ? Float64Array.from(src) : Float64Array.from({ length }, (_, i) => f(i)));
  return {
    length,
    columns: names,
    timestamps: fill(opts.timestamps, (i) => Date.UTC(2026, 0, 1) + i),
    latencyMicros: fill(opts.latencyMicros, () => NaN),
    requestIds: opts.requestIds ? opts.requestIds.slice() : Array.from({ length }, (_, i) => `r${i}`),
    has: (name) => stored.has(name),
    column(name) {
      const col = stored.get(name);
      if (!col) throw new Error(`the window has no column '${name}' (it has: ${names.join(', ')})`);
      return col;
    },
    row,
    *rows() {
      for (let i = 0; i < length; i++) yield row(i);
    },
  };
}

export interface TestContextOptions<C> {
  /** The window's columns: features, then outputs. */
  sample: Record<string, Column>;
  /** Output names (default none); the other sample columns are the features unless `featureNames` is given. */
  labelNames?: string[];
  featureNames?: string[];
  /** Reference columns: their statistics become ctx.featureStats, and (unless `referenceRows` is false) ctx.reference. */
  reference?: Record<string, Column>;
  /** Give ctx.reference (as `"referenceRows": true` does). @default true when `reference` is given */
  referenceRows?: boolean;
  /** Ground truth aligned with the sample rows (missing = null/NaN); gives ctx.groundTruth. */
  groundTruth?: Record<string, Column>;
  /** Override ctx.groundTruth.matched (default: rows with any label). */
  matched?: number;
  latencyMicros?: ArrayLike<number>;
  requestIds?: ReadonlyArray<string | null>;
  timestamps?: ArrayLike<number>;
  config?: C;
  windowStart?: Date;
  windowEnd?: Date;
  applicationName?: string;
}

/** A MonitoringContext built the way the host builds it, and the log lines the app writes. */
export function createContext<C>(o: TestContextOptions<C>): { ctx: MonitoringContext<C>; logs: LogLine[] } {
  const labelNames = o.labelNames ?? [];
  const featureNames = o.featureNames ?? Object.keys(o.sample).filter((n) => !labelNames.includes(n));
  const featureStats: FeatureStatsMap = {};
  for (const [name, values] of Object.entries(o.reference ?? {})) featureStats[name] = referenceStats(Array.from(values));
  const categorical = (name: string) => featureStats[name]?.type === 'categorical';
  const sample = makeSample(o.sample, {
    categorical,
    ...(o.latencyMicros ? { latencyMicros: o.latencyMicros } : {}),
    ...(o.requestIds ? { requestIds: o.requestIds } : {}),
    ...(o.timestamps ? { timestamps: o.timestamps } : {}),
  });
  const sampleStats: FeatureStatsMap = {};
  for (const name of sample.columns) sampleStats[name] = windowStats(sample.column(name), featureStats[name]);
  const reference =
    o.reference && (o.referenceRows ?? true)
      ? makeSample(o.reference, { categorical, timestamps: new Float64Array(Object.values(o.reference)[0]?.length ?? 0).fill(NaN) })
      : undefined;
  let groundTruth: GroundTruth | undefined;
  if (o.groundTruth) {
    const gt = makeSample(o.groundTruth);
    if (gt.length !== sample.length) throw new Error(`ground truth has ${gt.length} rows, the sample ${sample.length}`);
    let matched = 0;
    for (let i = 0; i < gt.length; i++) {
      if (
        gt.columns.some((c) => {
          const v = gt.column(c)[i];
          return v !== null && !(typeof v === 'number' && Number.isNaN(v));
        })
      )
        matched++;
    }
    groundTruth = { matched: o.matched ?? matched, columns: gt.columns, has: (n) => gt.has(n), column: (n) => gt.column(n) };
  }
  const logs: LogLine[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, JsonValue>) => {
    logs.push({ level, message, ...(fields ? { fields } : {}) });
  };
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const windowStart = o.windowStart ?? new Date(Date.UTC(2026, 0, 1));
  const ctx: MonitoringContext<C> = {
    applicationName: o.applicationName ?? 'test-app',
    endpoint: { id: '0'.repeat(40), name: 'test-endpoint', featureNames, labelNames },
    windowStart,
    windowEnd: o.windowEnd ?? new Date(windowStart.getTime() + 600_000),
    sample,
    ...(reference ? { reference } : {}),
    ...(groundTruth ? { groundTruth } : {}),
    sampleStats,
    featureStats,
    config: (o.config ?? {}) as C,
    logger,
  };
  return { ctx, logs };
}

/** Run an app on a context and validate its output as the host does (the app must be synchronous). */
export function runApp<C>(app: MonitoringApplication<C>, ctx: MonitoringContext<C>): NormalizedOutput {
  const raw = app.doTracking(ctx);
  if (raw && typeof (raw as { then?: unknown }).then === 'function') throw new Error('runApp: the app returned a promise');
  return normalizeAppOutput(raw);
}

export function resultOf(out: NormalizedOutput, name: string): MonitoringResult {
  const r = out.results.find((x) => x.name === name);
  if (!r) throw new Error(`no result '${name}' (results: ${out.results.map((x) => x.name).join(', ')})`);
  return r;
}

export function metricOf(out: NormalizedOutput, name: string): MonitoringMetric {
  const m = out.metrics.find((x) => x.name === name);
  if (!m) throw new Error(`no metric '${name}' (metrics: ${out.metrics.map((x) => x.name).join(', ')})`);
  return m;
}

/** Deterministic pseudo-random numbers (the SDK's seededRandom). */
export { seededRandom as rng } from '@modelwatch/sdk/testing';

/** P(X = k) for X ~ Binomial(n, p), k = 0..n, computed in log space (no underflow for large n). */
export function binomialPmf(n: number, p: number): number[] {
  const logs = [n * Math.log1p(-p)];
  for (let k = 0; k < n; k++) logs.push(logs[k]! + Math.log((n - k) / (k + 1)) + Math.log(p / (1 - p)));
  return logs.map(Math.exp);
}

/**
 * The smallest k with P(X > k) <= tail for X ~ Binomial(n, p): a false-alarm count above it
 * has probability at most `tail` when the true rate is p.
 */
export function binomialUpperBound(n: number, p: number, tail: number): number {
  const pmf = binomialPmf(n, p);
  let above = 1;
  for (let k = 0; k <= n; k++) {
    above -= pmf[k]!;
    if (above <= tail) return k;
  }
  return n;
}

/**
 * The largest k with P(X < k) <= tail for X ~ Binomial(n, p): a detection count below it has
 * probability at most `tail` when the true rate is p.
 */
export function binomialLowerBound(n: number, p: number, tail: number): number {
  const pmf = binomialPmf(n, p);
  let below = 0;
  let k = 0;
  while (k < n && below + pmf[k]! <= tail) below += pmf[k++]!;
  return k;
}
