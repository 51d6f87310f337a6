/**
 * system-performance: serving latency and error rate of each window.
 *
 * Latency: quantiles of `ctx.sample.latencyMicros` (rows that reported one), linear
 * interpolation as numpy.quantile. Error rate: the host does not carry an error flag per row
 * yet, so a row counts as an error when every output of it is missing (the model server sent
 * no prediction for it). Results `latency_p99` and `error_rate` (kind system_performance)
 * against configured thresholds.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import {
  describeValue,
  readConfig,
  MonitoringApplication,
  ResultKind,
  ResultStatus,
  type JsonValue,
  type MonitoringContext,
  type MonitoringMetric,
  type MonitoringResult,
} from '@modelwatch/sdk';
import { pairwiseSum, quantileSorted } from '@modelwatch/sdk/stats';

/** The app's configuration (`config` in plugin.json); see the README. */
export interface SystemPerformanceConfig {
  /** `latency_p99` above this (microseconds) is detected. */
  latencyP99Micros?: number;
  /** `latency_p99` above this (microseconds) is a potential detection. */
  latencyP99WarnMicros?: number;
  /** `error_rate` above this (a share, 0..1) is detected. */
  errorRate?: number;
  /** `error_rate` above this is a potential detection. */
  errorRateWarn?: number;
  /** Latency quantiles reported as metrics `latency_p<100 q>`. @default [0.5, 0.9, 0.99] */
  latencyQuantiles?: number[];
}

const APP = 'system-performance';
const KEYS = ['latencyP99Micros', 'latencyP99WarnMicros', 'errorRate', 'errorRateWarn', 'latencyQuantiles'] as const;
/** What counts as an error row, said in every error_rate result. */
export const ERROR_PROXY = 'rows whose outputs are all missing (the host does not record a per-row error flag yet)';

export interface ResolvedConfig {
  latencyP99Micros: number | undefined;
  latencyP99WarnMicros: number | undefined;
  errorRate: number | undefined;
  errorRateWarn: number | undefined;
  latencyQuantiles: number[];
}

/**
 * Validate the configuration and fill in defaults.
 * @throws {Error} naming the bad key and value
 */
export function resolveConfig(config: unknown): ResolvedConfig {
  const { cfg, fail } = readConfig(APP, config, KEYS);
  const num = (k: string, max: number): number | undefined => {
    const v = cfg[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) return fail(`config ${k} must be a number from 0 to ${max}, got ${describeValue(v)}`);
    return v;
  };
  const out: ResolvedConfig = {
    latencyP99Micros: num('latencyP99Micros', Number.MAX_VALUE),
    latencyP99WarnMicros: num('latencyP99WarnMicros', Number.MAX_VALUE),
    errorRate: num('errorRate', 1),
    errorRateWarn: num('errorRateWarn', 1),
    latencyQuantiles: [0.5, 0.9, 0.99],
  };
  if (cfg.latencyQuantiles !== undefined) {
    const q = cfg.latencyQuantiles;
    if (!Array.isArray(q) || q.some((x) => typeof x !== 'number' || !(x >= 0 && x <= 1))) {
      fail(`config latencyQuantiles must be an array of numbers in [0, 1], got ${describeValue(q)}`);
    }
    out.latencyQuantiles = q as number[];
  }
  const order = (warn: number | undefined, alert: number | undefined, w: string, a: string) => {
    if (warn !== undefined && alert !== undefined && !(warn < alert)) fail(`config ${w} (${warn}) must be below ${a} (${alert})`);
  };
  order(out.latencyP99WarnMicros, out.latencyP99Micros, 'latencyP99WarnMicros', 'latencyP99Micros');
  order(out.errorRateWarn, out.errorRate, 'errorRateWarn', 'errorRate');
  return out;
}

/** Status of a value against optional warn / alert thresholds (strictly above). */
export function thresholdStatus(value: number, warn: number | undefined, alert: number | undefined): ResultStatus {
  if (alert !== undefined && value > alert) return ResultStatus.Detected;
  if (warn !== undefined && value > warn) return ResultStatus.PotentialDetection;
  return ResultStatus.NoDetection;
}

/** `latency_p99`, `latency_p99_9` for 0.999, ... */
export function quantileName(q: number): string {
  return `latency_p${String(Math.round(q * 1e6) / 1e4).replace('.', '_')}`;
}

/**
 * Output per window: results `latency_p99` and `error_rate` (kind system_performance), and
 * metrics `rows`, `rows_per_second`, `error_rows`, `latency_rows`, `latency_mean`,
 * `latency_max` and the configured latency quantiles.
 */
export default class SystemPerformance extends MonitoringApplication<SystemPerformanceConfig> {
  doTracking(ctx: MonitoringContext<SystemPerformanceConfig>): Array<MonitoringResult | MonitoringMetric> {
    const cfg = resolveConfig(ctx.config);
    const rows = ctx.sample.length;
    const seconds = (ctx.windowEnd.getTime() - ctx.windowStart.getTime()) / 1000;
    const result = (name: string, value: number, status: ResultStatus, extraData: Record<string, JsonValue>): MonitoringResult => ({
      name,
      value,
      kind: ResultKind.SystemPerformance,
      status,
      extraData,
    });
    const out: Array<MonitoringResult | MonitoringMetric> = [
      { name: 'rows', value: rows },
      { name: 'rows_per_second', value: seconds > 0 ? rows / seconds : 0 },
    ];

    // latency
    const lat = ctx.sample.latencyMicros;
    const known = new Float64Array(lat.length);
    let n = 0;
    for (let i = 0; i < lat.length; i++) if (Number.isFinite(lat[i])) known[n++] = lat[i]!;
    const sorted = known.subarray(0, n).sort();
    out.push({ name: 'latency_rows', value: n });
    const latencyThresholds = { latencyP99Micros: cfg.latencyP99Micros ?? null, latencyP99WarnMicros: cfg.latencyP99WarnMicros ?? null };
    if (n === 0) {
      out.push(
        result('latency_p99', 0, ResultStatus.Irrelevant, {
          reason: rows === 0 ? 'window has no rows' : 'no row of the window reports a latency (latencyMicros)',
          rows,
          ...latencyThresholds,
        }),
      );
    } else {
      const quantiles: Record<string, number> = {};
      for (const q of cfg.latencyQuantiles) {
        const name = quantileName(q);
        if (name === 'latency_p99') continue;
        quantiles[name] = quantileSorted(sorted, q);
        out.push({ name, value: quantiles[name] });
      }
      out.push({ name: 'latency_mean', value: pairwiseSum(sorted) / n }, { name: 'latency_max', value: sorted[n - 1]! });
      const p99 = quantileSorted(sorted, 0.99);
      out.push(
        result('latency_p99', p99, thresholdStatus(p99, cfg.latencyP99WarnMicros, cfg.latencyP99Micros), {
          rows,
          latencyRows: n,
          ...latencyThresholds,
          ...(cfg.latencyP99Micros === undefined && cfg.latencyP99WarnMicros === undefined ? { note: 'no threshold configured (latencyP99Micros)' } : {}),
        }),
      );
    }

    // error rate: rows whose outputs are all missing
    const outputs = ctx.endpoint.labelNames.filter((o) => ctx.sample.has(o));
    const errorThresholds = { errorRate: cfg.errorRate ?? null, errorRateWarn: cfg.errorRateWarn ?? null, errorDefinition: ERROR_PROXY };
    if (rows === 0 || outputs.length === 0) {
      out.push(
        result('error_rate', 0, ResultStatus.Irrelevant, {
          reason: rows === 0 ? 'window has no rows' : 'the endpoint has no outputs to tell errors by',
          rows,
          ...errorThresholds,
        }),
      );
      return out;
    }
    const cols = outputs.map((o) => ctx.sample.column(o));
    let errors = 0;
    for (let i = 0; i < rows; i++) {
      let missing = true;
      for (const c of cols) {
        const v = c[i];
        if (v !== null && !(typeof v === 'number' && Number.isNaN(v))) {
          missing = false;
          break;
        }
      }
      if (missing) errors++;
    }
    const rate = errors / rows;
    out.push({ name: 'error_rows', value: errors });
    out.push(
      result('error_rate', rate, thresholdStatus(rate, cfg.errorRateWarn, cfg.errorRate), {
        rows,
        errorRows: errors,
        ...errorThresholds,
        ...(cfg.errorRate === undefined && cfg.errorRateWarn === undefined ? { note: 'no threshold configured (errorRate)' } : {}),
      }),
    );
    return out;
  }
}
