/**
 * The built-in apps' tests build their contexts with `@modelwatch/sdk/testing` (the context the
 * host builds), through `createContext`, which adds the few knobs these tests need on top:
 * endpoint feature names that differ from the window's columns, a reference given only as
 * statistics, an explicit ground-truth match count. Plus small helpers for outputs and rates.
 */
import type { MonitoringApplication, MonitoringContext, MonitoringMetric, MonitoringResult } from '@modelwatch/sdk';
import { createTestContext, normalizeAppOutput, type NormalizedOutput, type TestArtifact, type TestLogLine } from '@modelwatch/sdk/testing';

/** A column: numbers (null/NaN missing) or strings (null missing). */
export type Column = ReadonlyArray<number | string | null> | Float64Array;

export type LogLine = TestLogLine;

export interface TestContextOptions<C> {
  /** The window's columns: features, then outputs. */
  sample: Record<string, Column>;
  /** Output names (default none); the other sample columns are the features unless `featureNames` is given. */
  labelNames?: string[];
  /** The endpoint's feature names, when they differ from the window's columns. */
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
  /** @default r0, r1, ... */
  requestIds?: ReadonlyArray<string | null>;
  /** @default one millisecond apart from 2026-01-01 */
  timestamps?: ArrayLike<number>;
  config?: C;
  windowStart?: Date;
  windowEnd?: Date;
  applicationName?: string;
}

/** A MonitoringContext built the way the host builds it, and the log lines and artifacts the app writes. */
export function createContext<C>(o: TestContextOptions<C>): { ctx: MonitoringContext<C>; logs: LogLine[]; artifacts: TestArtifact[] } {
  const artifacts: TestArtifact[] = [];
  const length = Object.values(o.sample)[0]?.length ?? o.timestamps?.length ?? o.latencyMicros?.length ?? 0;
  const t = createTestContext<C>({
    sample: o.sample,
    ...(o.reference ? { reference: o.reference } : {}),
    ...(o.groundTruth ? { groundTruth: o.groundTruth } : {}),
    ...(o.labelNames ? { labelNames: o.labelNames } : {}),
    ...(o.config !== undefined ? { config: o.config } : {}),
    ...(o.windowStart ? { windowStart: o.windowStart } : {}),
    ...(o.windowEnd ? { windowEnd: o.windowEnd } : {}),
    ...(o.latencyMicros ? { latencyMicros: o.latencyMicros } : {}),
    ...(o.applicationName ? { applicationName: o.applicationName } : {}),
    timestamps: o.timestamps ?? Array.from({ length }, (_, i) => Date.UTC(2026, 0, 1) + i),
    requestIds: o.requestIds ?? Array.from({ length }, (_, i) => `r${i}`),
    onArtifact: (a) => artifacts.push(a),
  });
  const { logs, reference, groundTruth, ...ctx } = t;
  return {
    ctx: {
      ...ctx,
      ...(o.featureNames ? { endpoint: { ...ctx.endpoint, featureNames: o.featureNames } } : {}),
      ...(reference && (o.referenceRows ?? true) ? { reference } : {}),
      ...(groundTruth ? { groundTruth: o.matched === undefined ? groundTruth : { ...groundTruth, matched: o.matched } } : {}),
    },
    logs,
    artifacts,
  };
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
