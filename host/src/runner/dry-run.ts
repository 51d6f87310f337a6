import type { CellValue, FeatureStats, FeatureStatsMap, JsonValue } from '@modelwatch/sdk';
import { seededRandom } from '@modelwatch/sdk/testing';
import type { DryRunResult, EndpointRecord, PluginLimits } from '@modelwatch/protocol';
import { errorData, ModelwatchError } from '../errors.js';
import { outputBytesLimit, outputTooLarge } from './output-limit.js';
import type { SampleData, Sandbox, SandboxInput } from './sandbox.js';
import { packColumns, sampleStatsOf, withGroundTruth } from './window-data.js';
import { normalizeAppOutput } from '../sdk-internal.js';

/** Rows of the synthetic window of a dry run. */
export const DRY_RUN_ROWS = 100;
/** Endpoints a dry run at publish covers at most (the first by name). */
export const MAX_DRY_RUN_ENDPOINTS = 20;
/** A dry run starts no further endpoint after this long. */
export const DRY_RUN_BUDGET_MS = 20_000;
/** The time limit of one dry-run window: the plugin's, at most this (the window is small). */
export const DRY_RUN_MAX_TIMEOUT_MS = 30_000;

/** What a dry run needs to know of an endpoint: its columns and reference statistics. */
export type DryRunEndpoint = Pick<EndpointRecord, 'id' | 'name' | 'featureNames' | 'labelNames' | 'featureStats' | 'tags'>;

export { dryRunWarning } from './dry-run-warning.js';

/** The limits a dry run runs under: the plugin's, its time limit capped (a synthetic window is small). */
export function dryRunLimits(limits: PluginLimits): PluginLimits {
  return { ...limits, timeoutMs: Math.min(limits.timeoutMs, DRY_RUN_MAX_TIMEOUT_MS) };
}

/**
 * How long a dry run on `endpoints` endpoints may take: each window at most its time limit plus
 * the sandbox's wall-clock backstop, and no window starts after the budget.
 */
export function dryRunDeadlineMs(limits: PluginLimits, endpoints: number): number {
  const t = dryRunLimits(limits).timeoutMs;
  const perWindow = t + Math.max(t, 2_000);
  return Math.min(DRY_RUN_BUDGET_MS + perWindow, endpoints * perWindow);
}

type Draw = () => CellValue;
type Random = ReturnType<typeof seededRandom>;

/**
 * Values like the reference's: numeric columns drawn from the reference histogram (a bin by its
 * count, then uniformly within it and within [min, max]; whole numbers when the reference's min,
 * max and quartiles are), categorical ones from the reference frequencies, each missing as often
 * as in the reference. A column without reference statistics gets numbers from N(0, 1).
 */
function drawFor(stats: FeatureStats | undefined, r: Random): Draw {
  if (!stats) return () => r.normal();
  const total = stats.count + stats.missing;
  const pMissing = total > 0 ? stats.missing / total : 0;
  const orMissing =
    (draw: Draw): Draw =>
    () =>
      pMissing > 0 && r.uniform() < pMissing ? null : draw();
  if (stats.count === 0) return () => null;
  if (stats.type === 'categorical') {
    const values = Object.keys(stats.frequencies);
    const counts = values.map((v) => stats.frequencies[v]!);
    const sum = counts.reduce((a, b) => a + b, 0);
    if (sum === 0) return () => null;
    const probs = counts.map((c) => c / sum);
    return orMissing(() => r.choice(values, probs));
  }
  const { min, max } = stats;
  const integral = [min, max, ...Object.values(stats.quantiles)].every(Number.isInteger);
  const finish = (v: number) => {
    const x = Math.min(max, Math.max(min, v));
    return integral ? Math.round(x) : x;
  };
  const counts = stats.hist.counts;
  const edges = stats.hist.edges;
  const sum = counts.reduce((a, b) => a + b, 0);
  if (sum === 0 || edges.length !== counts.length + 1) return orMissing(() => finish(r.normal(stats.mean, stats.std || 1)));
  const bins = counts.map((_, i) => i);
  const probs = counts.map((c) => c / sum);
  return orMissing(() => {
    const b = r.choice(bins, probs);
    const lo = Math.max(min, edges[b]!);
    const hi = Math.min(max, edges[b + 1]!);
    return finish(hi > lo ? lo + (hi - lo) * r.uniform() : lo);
  });
}

function seedOf(endpoint: DryRunEndpoint): number {
  const n = Number.parseInt(endpoint.id.slice(0, 8), 16);
  return Number.isFinite(n) ? n : 1;
}

/** `rows` rows of synthetic values for the named columns, consistent with the endpoint's reference statistics. */
export function syntheticColumns(endpoint: DryRunEndpoint, names: readonly string[], rows: number, r: Random): CellValue[][] {
  return names.map((name) => {
    const draw = drawFor(endpoint.featureStats[name], r);
    return Array.from({ length: rows }, draw);
  });
}

function sampleOf(
  endpoint: DryRunEndpoint,
  names: readonly string[],
  cols: CellValue[][],
  rows: number,
  timed: { start: number; end: number } | undefined,
): SampleData {
  const extra = timed
    ? [
        Float64Array.from({ length: rows }, (_, i) => Math.floor(timed.start + ((i + 0.5) * (timed.end - timed.start)) / rows)),
        new Float64Array(rows).fill(NaN),
      ]
    : [];
  const { numeric, strings, packed } = packColumns(
    names,
    rows,
    (c, i) => cols[c]![i] ?? null,
    (name) => endpoint.featureStats[name]?.type === 'categorical',
    extra,
  );
  const requestIds = timed ? Array.from({ length: rows }, (_, i) => `dry-run-${i}`) : new Array<string | null>(rows).fill(null);
  return { length: rows, columns: [...names], numeric, strings, packed, requestIds, timed: timed !== undefined };
}

/** A synthetic reference (no timestamps) from the endpoint's reference statistics: for dry runs without the reference rows at hand. */
export function syntheticReference(endpoint: DryRunEndpoint, rows = 1000): SampleData | undefined {
  if (Object.keys(endpoint.featureStats).length === 0) return undefined;
  const names = [...endpoint.featureNames, ...endpoint.labelNames];
  const r = seededRandom(seedOf(endpoint) ^ 0x5eed);
  return sampleOf(endpoint, names, syntheticColumns(endpoint, names, rows, r), rows, undefined);
}

export interface DryRunInputOptions {
  applicationName: string;
  config: Record<string, JsonValue>;
  windowStart: number;
  windowEnd: number;
  /** The app asks for `ctx.reference`: these rows (the endpoint has none: none, as on a real window). */
  referenceRows?: boolean;
  reference?: SampleData;
  /** The app asks for `ctx.groundTruth`: every row gets a synthetic true value per output. */
  groundTruth?: boolean;
  /** @default DRY_RUN_ROWS */
  rows?: number;
}

/**
 * The input of a dry run on one endpoint: a small synthetic window with the endpoint's features
 * and outputs, values consistent with its reference statistics, the statistics the host would
 * compute for it, and the endpoint's reference statistics. The same seed every time, so a dry
 * run is repeatable.
 */
export function dryRunInput(endpoint: DryRunEndpoint, opts: DryRunInputOptions): SandboxInput {
  const rows = opts.rows ?? DRY_RUN_ROWS;
  const names = [...endpoint.featureNames, ...endpoint.labelNames];
  const r = seededRandom(seedOf(endpoint));
  const sample = sampleOf(endpoint, names, syntheticColumns(endpoint, names, rows, r), rows, { start: opts.windowStart, end: opts.windowEnd });
  const featureStats: FeatureStatsMap = endpoint.featureStats;
  const input: SandboxInput = {
    applicationName: opts.applicationName,
    endpoint: { id: endpoint.id, name: endpoint.name, featureNames: endpoint.featureNames, labelNames: endpoint.labelNames },
    windowStart: opts.windowStart,
    windowEnd: opts.windowEnd,
    sample,
    sampleStats: sampleStatsOf(sample, featureStats),
    featureStats,
    config: opts.config,
  };
  if (opts.referenceRows && opts.reference) input.reference = opts.reference;
  if (opts.groundTruth) {
    const truth = syntheticColumns(endpoint, endpoint.labelNames, rows, r);
    const labels = new Map<string, Record<string, CellValue>>();
    sample.requestIds.forEach((id, i) => {
      labels.set(id!, Object.fromEntries(endpoint.labelNames.map((l, c) => [l, truth[c]![i] ?? null])));
    });
    const joined = withGroundTruth({ ...sample, sampleStats: {} }, endpoint.labelNames, labels);
    input.sample = joined.sample;
    input.groundTruth = joined.groundTruth;
  }
  return input;
}

/**
 * Run one dry-run window in a sandbox; what the app did, never a throw. `maxPayload`: the NATS
 * server's, which a real window's output must fit (a runner's dry run; the CLI's has no server).
 */
export async function runDryWindow(sandbox: Sandbox, input: SandboxInput, limits: PluginLimits, maxPayload?: number): Promise<DryRunResult> {
  const base = { endpoint: input.endpoint.name, rows: input.sample.length };
  const started = performance.now();
  try {
    const json = await sandbox.run(input);
    let out;
    try {
      out = normalizeAppOutput(JSON.parse(json), { maxExtraDataBytes: limits.extraDataBytes });
    } catch (err) {
      throw new ModelwatchError('APP_INVALID_OUTPUT', `${input.applicationName} returned an invalid output: ${(err as Error).message}`);
    }
    if (maxPayload !== undefined) {
      // the app's part of the message (a real window's adds its profile and the host's fields)
      const bytes = Buffer.byteLength(JSON.stringify(out));
      if (bytes > outputBytesLimit(maxPayload)) {
        const { code, message } = outputTooLarge(bytes, maxPayload);
        throw new ModelwatchError(code, `${input.applicationName} ${message}`);
      }
    }
    return { ...base, outcome: 'ok', durationMs: performance.now() - started, results: out.results.length, metrics: out.metrics.length };
  } catch (err) {
    return { ...base, outcome: 'error', durationMs: performance.now() - started, error: errorData(err, 'APP_ERROR') };
  }
}

/** Failures after which a dry run goes no further: the next endpoint would cost as much. */
export function endsDryRun(r: DryRunResult): boolean {
  return r.outcome === 'error' && (r.error?.code === 'APP_TIMEOUT' || r.error?.code === 'APP_MEMORY_LIMIT');
}
