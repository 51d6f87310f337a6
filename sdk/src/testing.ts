/**
 * `@modelwatch/sdk/testing`: run a monitoring app on a window of your own, in your own
 * tests (vitest, node:test, ...), with the same context the host builds.
 *
 * @example
 * ```ts
 * import { runApp } from '@modelwatch/sdk/testing';
 * import MyApp from '../src/index.js';
 *
 * const out = await runApp(MyApp, {
 *   sample: { age: [31, 45, 52], income: [52_000, 61_000, 58_500] },
 *   reference: { age: [30, 41, 38, 50], income: [50_000, 60_000, 55_000, 62_000] },
 *   config: { tolerance: 2 },
 * });
 * expect(out.results[0]).toMatchObject({ name: 'age_shift', status: 0 });
 * ```
 * @module
 */
import type { MonitoringApplication } from './application.js';
import { createArtifactLog, DEFAULT_ARTIFACT_LIMITS, type ArtifactLimits } from './artifacts.js';
import { createContext, createGroundTruth, createLogger, createSample } from './context.js';
import { normalizeAppOutput, type NormalizedOutput } from './output.js';
import { isWrongType, referenceStatsMap, windowStats } from './stats/feature-stats.js';
import { createRandom } from './stats/random.js';
import type { CellValue, FeatureStatsMap, GroundTruth, JsonValue, MonitoringContext, Sample } from './types.js';

/** The validation the host applies to every output (also behind {@link runApp}), for an app's own tests. */
export { normalizeAppOutput, type NormalizeOutputOptions, type NormalizedOutput } from './output.js';

// the SDK's lib has no DOM or Node types: tests run on Node, which has both
const { TextEncoder, TextDecoder } = globalThis as unknown as {
  TextEncoder: new () => { encode(s: string): Uint8Array };
  TextDecoder: new () => { decode(b: Uint8Array): string };
};

/** Columns (name -> values) or rows (objects keyed by column name). */
export type TestTable = Record<string, ArrayLike<CellValue>> | ReadonlyArray<Record<string, CellValue>>;

export interface TestWindowOptions<Config = Record<string, unknown>> {
  /**
   * The window's rows. As on the host, a value whose type differs from the reference's (a
   * string in a numeric column, a number in a text one: `isWrongType` of `@modelwatch/sdk/stats`)
   * is missing in `ctx.sample` and counted in `ctx.sampleStats[column].wrongType`.
   */
  sample: TestTable;
  /** Training rows: reference statistics (`ctx.featureStats`) and `ctx.reference`. */
  reference?: TestTable;
  /** True values per output, aligned with the sample's rows (`ctx.groundTruth`). */
  groundTruth?: Record<string, ArrayLike<CellValue>>;
  /** Output (label) columns of the sample; the other columns are features. @default [] */
  labelNames?: readonly string[];
  /** @default {} */
  config?: Config;
  /** @default 2026-01-01T00:00:00Z */
  windowStart?: Date | number;
  /** @default windowStart + 10 minutes */
  windowEnd?: Date | number;
  /** Per row, ms since the epoch. @default windowStart */
  timestamps?: ArrayLike<number>;
  latencyMicros?: ArrayLike<number>;
  requestIds?: ReadonlyArray<string | null>;
  /** @default 'test-endpoint' */
  endpointName?: string;
  /** @default 'test-app' */
  applicationName?: string;
  /** The limits of `ctx.logArtifact`, as plugin.json's `limits`. @default 1 MiB per artifact, 4 MiB per window */
  artifactLimits?: Partial<ArtifactLimits>;
  /** Called with each artifact the app attaches (`ctx.logArtifact`); {@link runApp} returns them all. */
  onArtifact?: (artifact: TestArtifact) => void;
}

/** An artifact the app attached with `ctx.logArtifact`. */
export interface TestArtifact {
  name: string;
  contentType: string;
  /** Its bytes (a string body as UTF-8). */
  body: Uint8Array;
  /** The body as text (UTF-8). */
  text(): string;
}

/** A log line written through `ctx.logger`. */
export interface TestLogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: Record<string, JsonValue>;
}

export interface TestContext<Config> extends MonitoringContext<Config> {
  /** Everything the app logged. */
  readonly logs: TestLogLine[];
}

export interface TestRun extends NormalizedOutput {
  logs: TestLogLine[];
  /** The artifacts the app attached (`ctx.logArtifact`), in order. */
  artifacts: TestArtifact[];
}

function columnsOf(t: TestTable): Record<string, ArrayLike<CellValue>> {
  if (!Array.isArray(t)) return t as Record<string, ArrayLike<CellValue>>;
  const rows = t as ReadonlyArray<Record<string, CellValue>>;
  const names: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!names.includes(k)) names.push(k);
  const out: Record<string, CellValue[]> = {};
  for (const n of names) out[n] = rows.map((r) => (r[n] === undefined ? null : r[n]!));
  return out;
}

function lengthOf(cols: Record<string, ArrayLike<CellValue>>, what: string): number {
  const lengths = new Set(Object.values(cols).map((c) => c.length));
  if (lengths.size > 1) throw new RangeError(`${what}: columns have different lengths (${[...lengths].join(', ')})`);
  return lengths.size ? [...lengths][0]! : 0;
}

function isStringColumn(values: ArrayLike<CellValue>, stats: FeatureStatsMap, name: string): boolean {
  if (stats[name]?.type === 'categorical') return true;
  for (let i = 0; i < values.length; i++) if (typeof values[i] === 'string') return true;
  return false;
}

function toColumn(values: ArrayLike<CellValue>, asStrings: boolean): Float64Array | Array<string | null> {
  if (asStrings) return Array.from(values, (v) => (v === null || v === undefined ? null : String(v)));
  return Float64Array.from(values, (v) => (typeof v === 'number' ? v : NaN));
}

function makeSample(
  cols: Record<string, ArrayLike<CellValue>>,
  names: readonly string[],
  stats: FeatureStatsMap,
  n: number,
  extra: { timestamps: Float64Array; latencyMicros: Float64Array; requestIds: ReadonlyArray<string | null> },
  what: string,
): Sample {
  const map = new Map<string, Float64Array | Array<string | null>>();
  for (const name of names) map.set(name, toColumn(cols[name]!, isStringColumn(cols[name]!, stats, name)));
  return createSample(
    {
      length: n,
      columns: names,
      has: (name) => map.has(name),
      column: (name) => map.get(name),
      timestamps: () => extra.timestamps,
      latencyMicros: () => extra.latencyMicros,
      // a copy: the sample's request ids are frozen, the caller's array is not
      requestIds: () => extra.requestIds.slice(),
    },
    what,
  );
}

/** Build the context the host would give an app for this window. */
export function createTestContext<Config = Record<string, unknown>>(options: TestWindowOptions<Config>): TestContext<Config> {
  const sampleCols = columnsOf(options.sample);
  const n = lengthOf(sampleCols, 'sample');
  const labels = [...(options.labelNames ?? [])];
  const names = Object.keys(sampleCols);
  const features = names.filter((c) => !labels.includes(c));
  const refCols = options.reference ? columnsOf(options.reference) : undefined;
  const featureStats: FeatureStatsMap = refCols ? referenceStatsMap(Object.fromEntries(Object.entries(refCols).map(([k, v]) => [k, Array.from(v)]))) : {};
  const start = new Date(options.windowStart ?? Date.UTC(2026, 0, 1));
  const end = new Date(options.windowEnd ?? start.getTime() + 600_000);
  // as the host does: a value whose type differs from the reference's is missing, and counted
  const wrongType: Record<string, number> = {};
  const windowCols: Record<string, ArrayLike<CellValue>> = {};
  for (const [name, values] of Object.entries(sampleCols)) {
    const ref = featureStats[name];
    let wrong = 0;
    const out = Array.from(values, (v) => {
      if (!isWrongType(v, ref)) return v === undefined ? null : v;
      wrong++;
      return null;
    });
    windowCols[name] = wrong ? out : values;
    wrongType[name] = wrong;
  }
  const sample = makeSample(
    windowCols,
    [...features, ...labels.filter((l) => l in sampleCols)],
    featureStats,
    n,
    {
      timestamps: options.timestamps ? Float64Array.from(options.timestamps) : new Float64Array(n).fill(start.getTime()),
      latencyMicros: options.latencyMicros ? Float64Array.from(options.latencyMicros) : new Float64Array(n).fill(NaN),
      requestIds: options.requestIds ?? new Array<string | null>(n).fill(null),
    },
    'the window',
  );
  const sampleStats: FeatureStatsMap = {};
  for (const name of sample.columns) sampleStats[name] = windowStats(Array.from(windowCols[name]!), featureStats[name], wrongType[name]);
  let reference: Sample | undefined;
  if (refCols) {
    const m = lengthOf(refCols, 'reference');
    reference = makeSample(
      refCols,
      Object.keys(refCols),
      featureStats,
      m,
      { timestamps: new Float64Array(m).fill(NaN), latencyMicros: new Float64Array(m).fill(NaN), requestIds: new Array<string | null>(m).fill(null) },
      'the reference',
    );
  }
  let groundTruth: GroundTruth | undefined;
  if (options.groundTruth) {
    const gt = new Map<string, Float64Array | Array<string | null>>();
    let matched = 0;
    for (const [k, v] of Object.entries(options.groundTruth)) gt.set(k, toColumn(v, isStringColumn(v, {}, k)));
    for (let i = 0; i < n; i++)
      if (
        [...gt.values()].some((c) => {
          const v = c[i];
          return v !== null && v !== undefined && !(typeof v === 'number' && Number.isNaN(v));
        })
      )
        matched++;
    groundTruth = createGroundTruth({ matched, columns: [...gt.keys()], column: (name) => gt.get(name) });
  }
  const logs: TestLogLine[] = [];
  const logger = createLogger((level, message, fields) => {
    logs.push({ level, message: String(message), ...(fields !== undefined ? { fields } : {}) });
  });
  const logArtifact = createArtifactLog({ ...DEFAULT_ARTIFACT_LIMITS, ...options.artifactLimits }, (a) => {
    const body = typeof a.body === 'string' ? new TextEncoder().encode(a.body) : a.body;
    options.onArtifact?.({ name: a.name, contentType: a.contentType, body, text: () => new TextDecoder().decode(body) });
  });
  return createContext<Config, { logs: TestLogLine[] }>(
    {
      applicationName: options.applicationName ?? 'test-app',
      endpoint: { id: '0'.repeat(40), name: options.endpointName ?? 'test-endpoint', featureNames: features, labelNames: labels },
      windowStart: start,
      windowEnd: end,
      sample,
      reference,
      groundTruth,
      sampleStats: () => sampleStats,
      featureStats: () => featureStats,
      config: (options.config ?? {}) as Config,
      logger,
      logArtifact,
    },
    { logs },
  );
}

/**
 * Run an app (a class or an instance) on a window and return its output validated as the
 * host validates it: an invalid output throws InvalidOutputError naming what is wrong.
 */
export async function runApp<Config = Record<string, unknown>>(
  app: (new () => MonitoringApplication<Config>) | MonitoringApplication<Config>,
  options: TestWindowOptions<Config>,
): Promise<TestRun> {
  const instance = typeof app === 'function' ? new app() : app;
  const artifacts: TestArtifact[] = [];
  const ctx = createTestContext({
    ...options,
    onArtifact: (a) => {
      artifacts.push(a);
      options.onArtifact?.(a);
    },
  });
  const out = await instance.doTracking(ctx);
  return { ...normalizeAppOutput(out), logs: ctx.logs, artifacts };
}

/**
 * Deterministic pseudo-random numbers for tests and demos: `createRandom` of
 * `@modelwatch/sdk/stats` (mulberry32 for uniforms, Box-Muller for normal draws), and a weighted choice. The same seed gives the same sequence everywhere.
 *
 * @example
 * ```ts
 * const r = seededRandom(42);
 * const ages = Array.from({ length: 1000 }, () => r.normal(40, 10));
 * ```
 */
export function seededRandom(seed: number) {
  const { uniform, normal } = createRandom(seed);
  /** One of `values` with the given probabilities. */
  const choice = <T>(values: readonly T[], probs: readonly number[]): T => {
    let u = uniform();
    for (let i = 0; i < values.length - 1; i++) {
      u -= probs[i]!;
      if (u < 0) return values[i]!;
    }
    return values[values.length - 1]!;
  };
  return { uniform, normal, choice };
}
