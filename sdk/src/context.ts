/**
 * The `MonitoringContext` an app gets, built in one place for both sides that make one: the
 * sandbox's runtime (inside the isolate, over the window's packed columns, read when first asked
 * for) and `@modelwatch/sdk/testing` (over columns in memory). So apps are tested against the
 * same `ctx` they run with. Sandbox-safe: no Node API, no I/O.
 * @internal
 * @module
 */
import type { ArtifactOptions, CellValue, EndpointInfo, FeatureStatsMap, GroundTruth, JsonValue, Logger, MonitoringContext, Sample } from './types.js';

/** A column's values: numbers (NaN where missing) or strings (null where missing). */
export type ColumnValues = Float64Array | Array<string | null>;

/** Where a sample's columns come from. Each part is read the first time an app asks for it, and once. */
export interface SampleSource {
  readonly length: number;
  /** All column names in order. */
  readonly columns: readonly string[];
  has(name: string): boolean;
  /** The named column; undefined when the sample has no such column. */
  column(name: string): ColumnValues | undefined;
  timestamps(): Float64Array;
  latencyMicros(): Float64Array;
  requestIds(): ReadonlyArray<string | null>;
}

/** A frozen `Sample` over `source`; `what` names it in errors ("the window", "the reference"). */
export function createSample(source: SampleSource, what: string): Sample {
  const n = source.length;
  const columns = Object.freeze(source.columns.slice());
  const cols = new Map<string, ColumnValues>();
  const column = (name: string): ColumnValues => {
    let c = cols.get(name);
    if (c) return c;
    c = source.column(name);
    if (!c) throw new Error(`${what} has no column '${name}' (it has: ${columns.join(', ')})`);
    cols.set(name, c);
    return c;
  };
  const row = (i: number): Record<string, CellValue> => {
    if (!(i >= 0 && i < n)) throw new RangeError(`row index ${i} is out of range (0..${n - 1})`);
    const r: Record<string, CellValue> = {};
    for (const name of columns) {
      const v = column(name)[i]!;
      r[name] = typeof v === 'number' && Number.isNaN(v) ? null : v;
    }
    return r;
  };
  let timestamps: Float64Array | undefined;
  let latencyMicros: Float64Array | undefined;
  let requestIds: ReadonlyArray<string | null> | undefined;
  return Object.freeze({
    length: n,
    columns,
    get timestamps() {
      return (timestamps ??= source.timestamps());
    },
    get latencyMicros() {
      return (latencyMicros ??= source.latencyMicros());
    },
    get requestIds() {
      return (requestIds ??= Object.freeze(source.requestIds()));
    },
    has: (name: string) => source.has(name),
    column,
    row,
    *rows() {
      for (let i = 0; i < n; i++) yield row(i);
    },
  });
}

/** Where the ground truth's columns come from (read when first asked for). */
export interface GroundTruthSource {
  readonly matched: number;
  readonly columns: readonly string[];
  /** The named output's true values; undefined when there is none. */
  column(name: string): ColumnValues | undefined;
}

/** A frozen `GroundTruth` over `source`. */
export function createGroundTruth(source: GroundTruthSource): GroundTruth {
  const names = Object.freeze(source.columns.slice());
  const cols = new Map<string, ColumnValues>();
  return Object.freeze({
    matched: source.matched,
    columns: names,
    has: (name: string) => names.includes(name),
    column: (name: string) => {
      let c = cols.get(name);
      if (c) return c;
      c = source.column(name);
      if (!c) throw new Error(`no ground truth for '${name}' (known: ${names.join(', ')})`);
      cols.set(name, c);
      return c;
    },
  });
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A frozen `Logger` whose four levels all write through `write` (given what the app passed, unchecked). */
export function createLogger(write: (level: LogLevel, message: unknown, fields: Record<string, JsonValue> | undefined) => void): Logger {
  return Object.freeze({
    debug: (message: string, fields?: Record<string, JsonValue>) => write('debug', message, fields),
    info: (message: string, fields?: Record<string, JsonValue>) => write('info', message, fields),
    warn: (message: string, fields?: Record<string, JsonValue>) => write('warn', message, fields),
    error: (message: string, fields?: Record<string, JsonValue>) => write('error', message, fields),
  });
}

/** What a context is made of. The statistics are read when an app first asks for them. */
export interface ContextParts<Config> {
  applicationName: string;
  endpoint: EndpointInfo;
  windowStart: Date;
  windowEnd: Date;
  sample: Sample;
  reference?: Sample | undefined;
  /** Read on each access of `ctx.reference` instead of `reference` (the sandbox's deferred reference). */
  referenceOnRead?: (() => Sample | undefined) | undefined;
  groundTruth?: GroundTruth | undefined;
  sampleStats: () => FeatureStatsMap;
  featureStats: () => FeatureStatsMap;
  config: Config;
  logger: Logger;
  /** `ctx.logArtifact`: `createArtifactLog` of ./artifacts.ts. */
  logArtifact: (name: string, body: string | Uint8Array, options?: ArtifactOptions) => void;
}

/** The frozen `MonitoringContext` of `parts`, with `extra`'s properties (the testing context's `logs`). */
export function createContext<Config, Extra extends object = object>(parts: ContextParts<Config>, extra?: Extra): MonitoringContext<Config> & Extra {
  let sampleStats: FeatureStatsMap | undefined;
  let featureStats: FeatureStatsMap | undefined;
  const ctx = {
    ...extra,
    applicationName: parts.applicationName,
    endpoint: parts.endpoint,
    windowStart: parts.windowStart,
    windowEnd: parts.windowEnd,
    sample: parts.sample,
    get reference() {
      return parts.referenceOnRead ? parts.referenceOnRead() : parts.reference;
    },
    groundTruth: parts.groundTruth,
    // fresh every context: statistics are parsed anew for every window (not frozen and kept: V8
    // stores a frozen array of numbers boxed, which makes every read of a histogram edge slower)
    get sampleStats() {
      return (sampleStats ??= parts.sampleStats());
    },
    get featureStats() {
      return (featureStats ??= parts.featureStats());
    },
    config: parts.config,
    logger: parts.logger,
    logArtifact: parts.logArtifact,
  };
  return Object.freeze(ctx) as MonitoringContext<Config> & Extra;
}
